//! A fixed ring of bytes: what the console has received and nobody has
//! read yet (`kernel/src/conin.rs`). Bytes that do not fit are dropped and
//! counted, never written over older ones: the oldest typed byte is read
//! first, and a flood cannot push a line already typed out.

/// A ring of at most `N` bytes.
#[derive(Debug)]
pub struct ByteRing<const N: usize> {
    buf: [u8; N],
    /// Index of the oldest byte.
    head: usize,
    /// Bytes held.
    len: usize,
    /// Bytes refused because the ring was full.
    dropped: u64,
}

impl<const N: usize> Default for ByteRing<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> ByteRing<N> {
    /// An empty ring.
    pub const fn new() -> Self {
        ByteRing { buf: [0; N], head: 0, len: 0, dropped: 0 }
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no byte.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes refused so far because the ring was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Keeps `b` after the others; if the ring is full, drops it (and
    /// counts it) instead.
    pub fn push(&mut self, b: u8) {
        if self.len == N {
            self.dropped = self.dropped.saturating_add(1);
            return;
        }
        self.buf[(self.head + self.len) % N] = b;
        self.len += 1;
    }

    /// Copies the oldest bytes into `out`, as many as fit, without taking
    /// them; returns how many.
    pub fn peek(&self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.len);
        for (i, o) in out[..n].iter_mut().enumerate() {
            *o = self.buf[(self.head + i) % N];
        }
        n
    }

    /// Forgets the `n` oldest bytes (all of them if it holds fewer).
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        if N > 0 {
            self.head = (self.head + n) % N;
        }
        self.len -= n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;
    use std::vec::Vec;

    #[test]
    fn bytes_come_out_in_order_across_the_wrap() {
        let mut r = ByteRing::<4>::new();
        for b in 1..=3 {
            r.push(b);
        }
        let mut out = [0; 2];
        assert_eq!(r.peek(&mut out), 2);
        assert_eq!(out, [1, 2]);
        r.consume(2);
        for b in 4..=6 {
            r.push(b);
        }
        let mut out = [0; 8];
        assert_eq!(r.peek(&mut out), 4);
        assert_eq!(&out[..4], &[3, 4, 5, 6]);
    }

    #[test]
    fn a_full_ring_drops_new_bytes_and_counts_them() {
        let mut r = ByteRing::<2>::new();
        for b in [7, 8, 9, 10] {
            r.push(b);
        }
        assert_eq!((r.len(), r.dropped()), (2, 2));
        let mut out = [0; 2];
        r.peek(&mut out);
        assert_eq!(out, [7, 8], "the oldest bytes stay");
        r.consume(5);
        assert!(r.is_empty());
    }

    #[derive(Clone, Debug)]
    enum Op {
        Push(u8),
        Take(usize),
    }

    proptest! {
        /// Against a queue with a limit: the same bytes, in the same order,
        /// the same drops.
        #[test]
        fn behaves_as_a_bounded_queue(ops in proptest::collection::vec(
            prop_oneof![any::<u8>().prop_map(Op::Push), (0usize..12).prop_map(Op::Take)],
            0..200,
        )) {
            const N: usize = 8;
            let mut r = ByteRing::<N>::new();
            let mut model: VecDeque<u8> = VecDeque::new();
            let mut dropped = 0u64;
            for op in ops {
                match op {
                    Op::Push(b) if model.len() == N => { dropped += 1; r.push(b) }
                    Op::Push(b) => { model.push_back(b); r.push(b) }
                    Op::Take(n) => {
                        let mut out = vec![0u8; n];
                        let got = r.peek(&mut out);
                        let want: Vec<u8> = model.iter().take(n).copied().collect();
                        prop_assert_eq!(&out[..got], &want[..]);
                        r.consume(got);
                        model.drain(..got);
                    }
                }
                prop_assert_eq!(r.len(), model.len());
                prop_assert_eq!(r.dropped(), dropped);
            }
        }
    }
}
