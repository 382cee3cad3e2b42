//! ATA commands as an AHCI port sends them: the command FISes, what
//! IDENTIFY DEVICE says about a disk, and the order in which commands may
//! go to the device ([`CommandQueue`]).
//!
//! The AHCI driver (`kernel/src/drivers/ahci/`) writes these bytes into
//! command tables and keeps one [`CommandQueue`] per port. Nothing here
//! touches hardware: the disk's IDENTIFY words and the driver's requests
//! are untrusted input, refused with an error rather than a panic.

/// Bytes in the sectors the block layer speaks of; a disk whose logical
/// sector is any other size is not exposed.
pub const SECTOR_BYTES: u32 = 512;

/// Words in the IDENTIFY DEVICE data (ACS-3, 7.12.7: one 512-byte block).
pub const IDENTIFY_WORDS: usize = 256;

/// ATA command codes (ACS-3, 7.x).
pub mod command {
    /// READ DMA EXT (ACS-3, 7.22).
    pub const READ_DMA_EXT: u8 = 0x25;
    /// WRITE DMA EXT (ACS-3, 7.58).
    pub const WRITE_DMA_EXT: u8 = 0x35;
    /// READ FPDMA QUEUED (ACS-3, 7.23): an NCQ read.
    pub const READ_FPDMA_QUEUED: u8 = 0x60;
    /// WRITE FPDMA QUEUED (ACS-3, 7.59): an NCQ write.
    pub const WRITE_FPDMA_QUEUED: u8 = 0x61;
    /// FLUSH CACHE EXT (ACS-3, 7.11).
    pub const FLUSH_CACHE_EXT: u8 = 0xea;
    /// IDENTIFY DEVICE (ACS-3, 7.12).
    pub const IDENTIFY_DEVICE: u8 = 0xec;
}

/// Bytes of a Register Host-to-Device FIS (SATA 3.2, 10.5.5).
pub const FIS_H2D_BYTES: usize = 20;
/// Its FIS type.
const FIS_TYPE_REG_H2D: u8 = 0x27;
/// Byte 1, bit 7: the FIS carries a command (not a device control).
const FIS_C: u8 = 0x80;
/// The Device field's LBA bit (ACS-3, 7.1.5.2: "shall be set to one").
const DEVICE_LBA: u8 = 0x40;
/// The largest LBA a 48-bit command names, plus one.
pub const LBA48_LIMIT: u64 = 1 << 48;
/// The most sectors one EXT or FPDMA command moves (a count of 0 means
/// this many: ACS-3, 7.22.3.2).
pub const MAX_COMMAND_SECTORS: u32 = 65536;

/// Which way data moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transfer {
    /// Device to memory.
    Read,
    /// Memory to device.
    Write,
}

/// A Register H2D FIS: `command` with its fields (SATA 3.2, 10.5.5,
/// figure 194): byte 3/11 features, bytes 4-6/8-10 the LBA, 7 device,
/// 12/13 count.
fn fis_h2d(command: u8, features: u16, lba: u64, count: u16, device: u8) -> [u8; FIS_H2D_BYTES] {
    let l = lba.to_le_bytes();
    let [f0, f1] = features.to_le_bytes();
    let [c0, c1] = count.to_le_bytes();
    let mut fis = [0u8; FIS_H2D_BYTES];
    fis[..14].copy_from_slice(&[
        FIS_TYPE_REG_H2D,
        FIS_C,
        command,
        f0,
        l[0],
        l[1],
        l[2],
        device,
        l[3],
        l[4],
        l[5],
        f1,
        c0,
        c1,
    ]);
    fis
}

/// The 16-bit count field for `sectors` (1..=65536, 65536 encoded as 0),
/// or `None` out of that range.
fn count_field(sectors: u32) -> Option<u16> {
    match sectors {
        1..MAX_COMMAND_SECTORS => Some(sectors as u16),
        MAX_COMMAND_SECTORS => Some(0),
        _ => None,
    }
}

/// Whether `sectors` sectors at `lba` lie below the 48-bit limit.
fn lba48_fits(lba: u64, sectors: u32) -> bool {
    lba.checked_add(u64::from(sectors)).is_some_and(|end| end <= LBA48_LIMIT)
}

/// READ/WRITE DMA EXT of `sectors` (1..=65536) at `lba`: one command the
/// device runs alone. `None` if the count or the LBA is out of range.
pub fn fis_dma_ext(t: Transfer, lba: u64, sectors: u32) -> Option<[u8; FIS_H2D_BYTES]> {
    let command = match t {
        Transfer::Read => command::READ_DMA_EXT,
        Transfer::Write => command::WRITE_DMA_EXT,
    };
    let count = count_field(sectors).filter(|_| lba48_fits(lba, sectors))?;
    Some(fis_h2d(command, 0, lba, count, DEVICE_LBA))
}

/// READ/WRITE FPDMA QUEUED of `sectors` (1..=65536) at `lba` with NCQ tag
/// `tag` (0..32): the count goes in the features field, the tag in bits
/// 7:3 of the count field (SATA 3.2, 13.6.4.1). `None` if anything is out
/// of range.
pub fn fis_fpdma_queued(
    t: Transfer,
    lba: u64,
    sectors: u32,
    tag: u8,
) -> Option<[u8; FIS_H2D_BYTES]> {
    let command = match t {
        Transfer::Read => command::READ_FPDMA_QUEUED,
        Transfer::Write => command::WRITE_FPDMA_QUEUED,
    };
    let count = count_field(sectors).filter(|_| lba48_fits(lba, sectors) && tag < 32)?;
    Some(fis_h2d(command, count, lba, u16::from(tag) << 3, DEVICE_LBA))
}

/// FLUSH CACHE EXT.
pub fn fis_flush_cache_ext() -> [u8; FIS_H2D_BYTES] {
    fis_h2d(command::FLUSH_CACHE_EXT, 0, 0, 0, DEVICE_LBA)
}

/// IDENTIFY DEVICE (512 bytes of PIO data in).
pub fn fis_identify() -> [u8; FIS_H2D_BYTES] {
    fis_h2d(command::IDENTIFY_DEVICE, 0, 0, 0, 0)
}

/// What IDENTIFY DEVICE says about a disk, as far as the driver uses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// User-addressable logical sectors (words 100-103).
    pub sectors: u64,
    /// NCQ queue depth (word 75 + 1) if the disk supports NCQ (word 76
    /// bit 8), else `None`.
    pub ncq_depth: Option<u8>,
}

/// Why a disk's IDENTIFY data is not usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentifyError {
    /// No 48-bit address feature set (word 83 bit 10): the driver only
    /// sends EXT and FPDMA commands.
    NoLba48,
    /// A logical sector of this many bytes (words 106, 117-118), not 512.
    SectorSize(u64),
    /// No sectors at all, or more than 48-bit addresses reach.
    BadCapacity(u64),
}

/// Whether an IDENTIFY word whose bits 15:14 say "valid" (01b) is valid
/// (ACS-3, 7.12.7: words 83, 106 and others).
fn valid(word: u16) -> bool {
    word & 0xc000 == 0x4000
}

/// Reads the disk's capacity, logical sector size and NCQ support from
/// its IDENTIFY DEVICE data (ACS-3, table 45).
pub fn parse_identify(w: &[u16; IDENTIFY_WORDS]) -> Result<Identity, IdentifyError> {
    if !valid(w[83]) || w[83] & (1 << 10) == 0 {
        return Err(IdentifyError::NoLba48);
    }
    // Word 106 bit 12: the logical sector is longer than 256 words, and
    // words 117-118 say how many words.
    if valid(w[106]) && w[106] & (1 << 12) != 0 {
        let words = u64::from(w[117]) | u64::from(w[118]) << 16;
        if words * 2 != u64::from(SECTOR_BYTES) {
            return Err(IdentifyError::SectorSize(words * 2));
        }
    }
    let sectors = (0..4).fold(0u64, |acc, i| acc | u64::from(w[100 + i]) << (16 * i));
    if sectors == 0 || sectors > LBA48_LIMIT {
        return Err(IdentifyError::BadCapacity(sectors));
    }
    // Word 76 is all zeros or all ones on devices that do not report
    // Serial ATA capabilities.
    let ncq = w[76] != 0 && w[76] != 0xffff && w[76] & (1 << 8) != 0;
    let ncq_depth = ncq.then_some((w[75] & 0x1f) as u8 + 1);
    Ok(Identity { sectors, ncq_depth })
}

/// The most command slots an AHCI port has (AHCI 1.3.1, 3.1.1: CAP.NCS).
pub const MAX_SLOTS: usize = 32;

/// Slots newly handed to the device by [`CommandQueue::issue`]: the bits
/// to write to PxSACT (`queued`: NCQ commands, SATA 3.2 13.6.4) and then
/// to PxCI (`all`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Issue {
    /// NCQ commands.
    pub queued: u32,
    /// Every command issued (the NCQ ones and at most one other).
    pub all: u32,
}

/// The command slots of one port and the order in which their commands
/// go to the device. A command is *queued* (an NCQ command: several run
/// at once) or runs *alone* (any other ATA command: nothing else may be
/// outstanding meanwhile, since issuing a non-queued command while NCQ
/// commands are outstanding aborts them all: SATA 3.2, 13.6.3.2).
/// Commands are issued in the order they were claimed: one that must run
/// alone waits until the device has finished everything, and everything
/// claimed after it waits for it (a flush drains the queue and holds new
/// commands back until it is done).
///
/// Each state is a bit mask of slots (the shape of PxCI and PxSACT), so
/// what `poll` asks on every interrupt (which slots are issued, which
/// wait) costs a load, not a walk of 32 slots: the walk was most of the
/// kernel's instructions per request (measured under `-icount`).
#[derive(Clone, Debug)]
pub struct CommandQueue {
    /// Slots handed to the device (their PxCI bit written) and not
    /// finished.
    issued: u32,
    /// Of those, the NCQ commands (their PxSACT bit written too).
    issued_queued: u32,
    /// Slots whose command is built and waits its turn.
    waiting: u32,
    /// Of those, the ones that must run alone.
    waiting_alone: u32,
    /// Slots `0..len` exist.
    all: u32,
    /// Each slot's claim number (meaningful while it waits): the waiting
    /// go oldest first.
    seq: [u64; MAX_SLOTS],
    next_seq: u64,
}

impl CommandQueue {
    /// A queue over slots `0..slots` (at most [`MAX_SLOTS`]).
    pub fn new(slots: usize) -> Self {
        let n = slots.min(MAX_SLOTS);
        CommandQueue {
            issued: 0,
            issued_queued: 0,
            waiting: 0,
            waiting_alone: 0,
            all: if n == MAX_SLOTS { u32::MAX } else { (1u32 << n) - 1 },
            seq: [0; MAX_SLOTS],
            next_seq: 0,
        }
    }

    /// A free slot for a new command, now waiting its turn (the caller
    /// builds its command, then calls [`issue`](Self::issue)); `None` if
    /// every slot is taken. The lowest free slot.
    pub fn claim(&mut self, queued: bool) -> Option<usize> {
        let free = self.all & !(self.issued | self.waiting);
        if free == 0 {
            return None;
        }
        let i = free.trailing_zeros() as usize;
        self.waiting |= 1 << i;
        if !queued {
            self.waiting_alone |= 1 << i;
        }
        self.seq[i] = self.next_seq;
        self.next_seq += 1;
        Some(i)
    }

    /// Marks every command that may go to the device now as issued, and
    /// says which: in claim order, queued commands while no command runs
    /// alone, a command that runs alone once nothing is outstanding.
    pub fn issue(&mut self) -> Issue {
        let mut out = Issue::default();
        let mut alone_out = self.issued & !self.issued_queued != 0;
        let mut outstanding = self.issued != 0;
        while let Some(i) = self.oldest_waiting() {
            let bit = 1u32 << i;
            let queued = self.waiting_alone & bit == 0;
            if alone_out || (!queued && outstanding) {
                break;
            }
            self.waiting &= !bit;
            self.waiting_alone &= !bit;
            self.issued |= bit;
            out.all |= bit;
            if queued {
                self.issued_queued |= bit;
                out.queued |= bit;
            } else {
                alone_out = true;
            }
            outstanding = true;
        }
        out
    }

    /// The waiting slot claimed first (a walk of the waiting slots only:
    /// usually the one just claimed).
    fn oldest_waiting(&self) -> Option<usize> {
        slots(self.waiting).min_by_key(|&i| self.seq[i])
    }

    /// Slots handed to the device and not finished.
    pub fn issued(&self) -> u32 {
        self.issued
    }

    /// Slots waiting their turn.
    pub fn waiting(&self) -> u32 {
        self.waiting
    }

    /// Whether the issued commands are NCQ commands (else at most one
    /// command, which runs alone, is issued).
    pub fn issued_queued(&self) -> bool {
        self.issued_queued != 0
    }

    /// Frees slot `i` (its command finished, or was never issued and is
    /// dropped). Slots not in use are left alone.
    pub fn finish(&mut self, i: usize) {
        if i < MAX_SLOTS {
            let keep = !(1u32 << i);
            self.issued &= keep;
            self.issued_queued &= keep;
            self.waiting &= keep;
            self.waiting_alone &= keep;
        }
    }

    /// After an error: the issued and waiting commands of `mask` wait (the
    /// issued ones again), in their old order and ahead of everything
    /// claimed later, each to run alone (so a failing one fails on its
    /// own). The caller rebuilds them as non-queued commands before they
    /// are issued again.
    pub fn run_alone(&mut self, mask: u32) {
        let m = mask & (self.issued | self.waiting);
        self.issued &= !m;
        self.issued_queued &= !m;
        self.waiting |= m;
        self.waiting_alone |= m;
    }

    /// Whether slot `i` is waiting to run alone.
    pub fn waits_alone(&self, i: usize) -> bool {
        i < MAX_SLOTS && self.waiting_alone & (1 << i) != 0
    }
}

/// The slots of `mask`, lowest first.
fn slots(mut mask: u32) -> impl Iterator<Item = usize> {
    core::iter::from_fn(move || {
        if mask == 0 {
            return None;
        }
        let i = mask.trailing_zeros() as usize;
        mask &= mask - 1;
        Some(i)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn identify() -> [u16; IDENTIFY_WORDS] {
        let mut w = [0u16; IDENTIFY_WORDS];
        w[83] = 0x4000 | 1 << 10;
        w[100] = 0x8000; // 524288 sectors: 256 MiB
        w[75] = 31;
        w[76] = 1 << 8;
        w[106] = 0x4000;
        w
    }

    #[test]
    fn a_qemu_like_disk_is_read() {
        assert_eq!(
            parse_identify(&identify()),
            Ok(Identity { sectors: 0x8000, ncq_depth: Some(32) })
        );
    }

    #[test]
    fn bad_identify_data_is_refused() {
        let mut w = identify();
        w[83] = 0x4000;
        assert_eq!(parse_identify(&w), Err(IdentifyError::NoLba48));
        let mut w = identify();
        w[83] = 0xffff; // not valid: bits 15:14 = 11b
        assert_eq!(parse_identify(&w), Err(IdentifyError::NoLba48));
        let mut w = identify();
        w[106] = 0x4000 | 1 << 12;
        w[117] = 2048; // 4096-byte sectors
        assert_eq!(parse_identify(&w), Err(IdentifyError::SectorSize(4096)));
        let mut w = identify();
        w[100] = 0;
        assert_eq!(parse_identify(&w), Err(IdentifyError::BadCapacity(0)));
        let mut w = identify();
        w[103] = 0xffff;
        assert!(matches!(parse_identify(&w), Err(IdentifyError::BadCapacity(_))));
    }

    #[test]
    fn ncq_needs_word_76_bit_8() {
        let mut w = identify();
        w[76] = 0xffff;
        assert_eq!(parse_identify(&w).unwrap().ncq_depth, None);
        w[76] = 0;
        assert_eq!(parse_identify(&w).unwrap().ncq_depth, None);
        w[76] = 1 << 8;
        w[75] = 3;
        assert_eq!(parse_identify(&w).unwrap().ncq_depth, Some(4));
        // A 512-byte sector said explicitly is fine.
        w[106] = 0x4000 | 1 << 12;
        w[117] = 256;
        assert!(parse_identify(&w).is_ok());
    }

    #[test]
    fn fises_carry_their_fields() {
        let f = fis_fpdma_queued(Transfer::Write, 0x0102_0304_0506, 2048, 5).unwrap();
        assert_eq!(&f[..4], &[0x27, 0x80, 0x61, 0x00]);
        assert_eq!(&f[4..14], &[0x06, 0x05, 0x04, 0x40, 0x03, 0x02, 0x01, 0x08, 5 << 3, 0]);
        let f = fis_dma_ext(Transfer::Read, 7, MAX_COMMAND_SECTORS).unwrap();
        assert_eq!((f[2], f[4], f[7], f[12], f[13]), (0x25, 7, 0x40, 0, 0));
        assert_eq!(fis_dma_ext(Transfer::Read, 0, 0), None);
        assert_eq!(fis_dma_ext(Transfer::Read, 0, MAX_COMMAND_SECTORS + 1), None);
        assert_eq!(fis_dma_ext(Transfer::Read, LBA48_LIMIT - 1, 2), None);
        assert_eq!(fis_fpdma_queued(Transfer::Read, 0, 1, 32), None);
        assert_eq!(fis_flush_cache_ext()[2], 0xea);
    }

    #[test]
    fn a_flush_drains_the_queue_and_holds_later_commands() {
        let mut q = CommandQueue::new(32);
        let a = q.claim(true).unwrap();
        let b = q.claim(true).unwrap();
        assert_eq!(q.issue(), Issue { queued: 1 << a | 1 << b, all: 1 << a | 1 << b });
        let f = q.claim(false).unwrap();
        let c = q.claim(true).unwrap();
        assert_eq!(q.issue(), Issue::default());
        q.finish(a);
        assert_eq!(q.issue(), Issue::default());
        q.finish(b);
        assert_eq!(q.issue(), Issue { queued: 0, all: 1 << f });
        assert_eq!(q.issue(), Issue::default());
        q.finish(f);
        assert_eq!(q.issue(), Issue { queued: 1 << c, all: 1 << c });
    }

    #[test]
    fn commands_reissued_after_an_error_run_one_at_a_time_first() {
        let mut q = CommandQueue::new(4);
        let a = q.claim(true).unwrap();
        let b = q.claim(true).unwrap();
        q.issue();
        let c = q.claim(true).unwrap();
        q.run_alone(1 << a | 1 << b);
        assert!(q.waits_alone(a) && q.waits_alone(b) && !q.waits_alone(c));
        assert_eq!(q.issue().all, 1 << a);
        q.finish(a);
        assert_eq!(q.issue().all, 1 << b);
        q.finish(b);
        assert_eq!(q.issue(), Issue { queued: 1 << c, all: 1 << c });
        assert_eq!(q.claim(true), Some(0));
        assert_eq!(q.claim(true), Some(1));
        assert_eq!(q.claim(true), Some(3));
        assert_eq!(q.claim(true), None);
    }

    #[derive(Clone, Debug)]
    enum Step {
        Claim(bool),
        Issue,
        Finish(usize),
        Reissue(u32),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            any::<bool>().prop_map(Step::Claim),
            Just(Step::Issue),
            (0..8usize).prop_map(Step::Finish),
            any::<u32>().prop_map(Step::Reissue),
        ]
    }

    proptest! {
        /// Against a reference (each slot's claim number and whether it
        /// runs alone): commands are issued oldest first, a command that
        /// runs alone is never outstanding with another, and whenever
        /// nothing is outstanding the oldest waiting command is issued.
        #[test]
        fn issue_order_and_exclusion_hold(steps in proptest::collection::vec(step(), 0..200)) {
            let mut q = CommandQueue::new(8);
            let mut seq = [0u64; 8];
            let mut alone = [false; 8];
            let mut next = 0u64;
            for s in steps {
                match s {
                    Step::Claim(queued) => match q.claim(queued) {
                        Some(i) => {
                            seq[i] = next;
                            alone[i] = !queued;
                            next += 1;
                        }
                        None => prop_assert_eq!(q.issued() | q.waiting(), 0xff),
                    },
                    Step::Issue => {
                        let before = q.issued();
                        let mut waiting: Vec<usize> =
                            (0..8).filter(|i| q.waiting() & (1 << i) != 0).collect();
                        waiting.sort_by_key(|&i| seq[i]);
                        let out = q.issue();
                        prop_assert_eq!(out.all & before, 0);
                        let n = out.all.count_ones() as usize;
                        let oldest = waiting.iter().take(n).fold(0u32, |m, i| m | 1 << i);
                        prop_assert_eq!(out.all, oldest);
                        let queued = (0..8).filter(|&i| out.all & (1 << i) != 0 && !alone[i]);
                        prop_assert_eq!(out.queued, queued.fold(0u32, |m, i| m | 1 << i));
                        if before == 0 && !waiting.is_empty() {
                            prop_assert!(n >= 1);
                        }
                    }
                    Step::Finish(i) => q.finish(i),
                    Step::Reissue(mask) => {
                        for (i, a) in alone.iter_mut().enumerate() {
                            if (q.issued() | q.waiting()) & mask & (1 << i) != 0 {
                                *a = true;
                            }
                        }
                        q.run_alone(mask);
                    }
                }
                let issued = q.issued();
                prop_assert_eq!(issued & q.waiting(), 0);
                if (0..8).any(|i| issued & (1 << i) != 0 && alone[i]) {
                    prop_assert_eq!(issued.count_ones(), 1);
                    prop_assert!(!q.issued_queued());
                }
            }
        }
    }
}
