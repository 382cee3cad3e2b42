//! Handle encoding: slot + generation, mixed with a per-table secret.
//!
//! The plain value is `generation << SLOT_BITS | slot`, 63 bits wide. It is
//! scrambled by a keyed bijection of the 63-bit space,
//!
//! ```text
//! raw = ((plain ^ k1) * MULTIPLIER mod 2^63) ^ k2
//! ```
//!
//! where `k1` and `k2` come from the table's secret. Decoding is the
//! inverse (`xor`, `mul`, `and`, `xor`, then a shift and a mask): a few ALU
//! operations, no branch, no memory access. This is obfuscation, not a
//! MAC: it makes values of different tables unrelated and hard to guess by
//! accident. Forgery is prevented by the table check itself: a value only
//! resolves if its slot is live *in the caller's table* with exactly that
//! generation.
//!
//! Raw values are below `2^63`, so they never collide with the error band
//! of `rax`, and never 0: a `(slot, generation)` pair that would encode to
//! 0 is skipped when generations are issued.

/// Bits of the plain value that hold the slot index.
pub const SLOT_BITS: u32 = 24;

/// Bits of the plain value that hold the generation.
pub const GENERATION_BITS: u32 = 63 - SLOT_BITS;

/// The largest number of slots a table can have.
pub const MAX_SLOTS: usize = 1 << SLOT_BITS;

/// The largest generation ever issued; a slot whose generation would pass
/// it is retired for good.
pub const MAX_GENERATION: u64 = (1 << GENERATION_BITS) - 1;

/// The generation a decoder returns for a value that cannot be a handle
/// (bit 63 set). No slot ever holds it.
pub const INVALID_GENERATION: u64 = u64::MAX;

const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;
const VALUE_MASK: u64 = (1 << 63) - 1;

/// An odd constant (the 64-bit golden ratio), so multiplication by it is a
/// bijection modulo any power of two.
const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

/// The inverse of [`MULTIPLIER`] modulo 2^64 (hence modulo 2^63).
const MULTIPLIER_INVERSE: u64 = modular_inverse(MULTIPLIER);

/// The inverse of an odd number modulo 2^64, by Newton's iteration (each
/// step doubles the number of correct low bits: 1, 2, 4, ..., 64).
const fn modular_inverse(odd: u64) -> u64 {
    let mut inverse = odd;
    let mut step = 0;
    while step < 6 {
        inverse = inverse.wrapping_mul(2u64.wrapping_sub(odd.wrapping_mul(inverse)));
        step += 1;
    }
    inverse
}

/// SplitMix64's output function: spreads a secret over all 64 bits.
const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A table's handle encoder/decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandleCodec {
    k1: u64,
    k2: u64,
}

impl HandleCodec {
    /// A codec keyed by `secret` (the kernel supplies a random one per table).
    pub const fn new(secret: u64) -> HandleCodec {
        let k1 = mix(secret);
        let k2 = mix(k1 ^ MULTIPLIER);
        HandleCodec::from_keys(k1, k2)
    }

    /// A codec with the given keys (masked to 63 bits).
    pub(crate) const fn from_keys(k1: u64, k2: u64) -> HandleCodec {
        HandleCodec { k1: k1 & VALUE_MASK, k2: k2 & VALUE_MASK }
    }

    /// The raw value of `(slot, generation)`. Both must be in range.
    #[inline]
    pub const fn encode(&self, slot: usize, generation: u64) -> u64 {
        debug_assert!(slot < MAX_SLOTS && generation <= MAX_GENERATION);
        let plain = generation << SLOT_BITS | slot as u64;
        ((plain ^ self.k1).wrapping_mul(MULTIPLIER) & VALUE_MASK) ^ self.k2
    }

    /// The `(slot, generation)` a raw value stands for. A value with bit 63
    /// set decodes to [`INVALID_GENERATION`], which matches no slot.
    #[inline]
    pub const fn decode(&self, raw: u64) -> (usize, u64) {
        let plain = ((raw ^ self.k2).wrapping_mul(MULTIPLIER_INVERSE) & VALUE_MASK) ^ self.k1;
        // All ones if bit 63 is set, else zero: no branch.
        let poison = (raw >> 63).wrapping_neg();
        ((plain & SLOT_MASK) as usize, (plain >> SLOT_BITS) | (poison & INVALID_GENERATION))
    }

    /// The smallest generation `>= generation` whose value for `slot` is not
    /// 0, or `None` if that passes [`MAX_GENERATION`].
    pub(crate) const fn issuable(&self, slot: usize, generation: u64) -> Option<u64> {
        if generation > MAX_GENERATION {
            return None;
        }
        if self.encode(slot, generation) != 0 {
            return Some(generation);
        }
        // At most one (slot, generation) pair encodes to 0.
        if generation == MAX_GENERATION { None } else { Some(generation + 1) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_is_an_inverse() {
        assert_eq!(MULTIPLIER.wrapping_mul(MULTIPLIER_INVERSE), 1);
    }

    #[test]
    fn encode_decode_round_trip_at_the_edges() {
        let codec = HandleCodec::new(0xDEAD_BEEF);
        for slot in [0, 1, 12345, MAX_SLOTS - 1] {
            for generation in [0, 1, 77, MAX_GENERATION] {
                let raw = codec.encode(slot, generation);
                assert!(raw < 1 << 63);
                assert_eq!(codec.decode(raw), (slot, generation));
            }
        }
    }

    #[test]
    fn values_with_the_top_bit_set_decode_to_no_generation() {
        let codec = HandleCodec::new(1);
        let raw = codec.encode(3, 9);
        let (_, generation) = codec.decode(raw | 1 << 63);
        assert_eq!(generation, INVALID_GENERATION);
        assert_eq!(codec.decode(u64::MAX).1, INVALID_GENERATION);
    }

    #[test]
    fn different_secrets_give_different_values() {
        let a = HandleCodec::new(1);
        let b = HandleCodec::new(2);
        let mut same = 0;
        for slot in 0..1000 {
            if a.encode(slot, 0) == b.encode(slot, 0) {
                same += 1;
            }
        }
        assert_eq!(same, 0);
        // Consecutive slots do not give consecutive values.
        assert_ne!(a.encode(1, 0).wrapping_sub(a.encode(0, 0)), 1);
    }

    #[test]
    fn the_pair_that_encodes_to_zero_is_skipped() {
        // Choose k2 so that (slot 5, generation 3) encodes to exactly 0.
        let k1 = 0x0123_4567_89AB_CDEF;
        let probe = HandleCodec::from_keys(k1, 0);
        let codec = HandleCodec::from_keys(k1, probe.encode(5, 3));
        assert_eq!(codec.encode(5, 3), 0);
        assert_eq!(codec.issuable(5, 3), Some(4));
        assert_eq!(codec.issuable(5, 2), Some(2));
        assert_eq!(codec.issuable(5, MAX_GENERATION + 1), None);
    }
}
