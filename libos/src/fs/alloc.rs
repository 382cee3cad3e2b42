//! Free-space management: an in-memory bitmap mirrored to disk through the
//! journal, and a set of block ranges.
//!
//! A [`Bitmap`] keeps two bit arrays. `bits` is the persistent map (what is
//! journaled). `busy` is `bits` plus blocks that are free in the newest state
//! but may still be referenced by a committed state or by a journal
//! transaction not yet checkpointed: those are *pending* and are not handed
//! out again until [`Bitmap::release`] is called after a checkpoint.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec;
use alloc::vec::Vec;

use super::layout::{BITS_PER_BLOCK, BLOCK_SIZE};

/// A bitmap of `len` items stored in `blocks` on-disk blocks.
#[derive(Debug, Clone)]
pub struct Bitmap {
    bits: Vec<u8>,
    busy: Vec<u8>,
    len: u64,
    free: u64,
    available: u64,
    dirty: BTreeSet<u64>,
    cursor: u64,
}

fn get(v: &[u8], i: u64) -> bool {
    v[(i / 8) as usize] & (1 << (i % 8)) != 0
}

fn set(v: &mut [u8], i: u64, on: bool) {
    let byte = &mut v[(i / 8) as usize];
    if on {
        *byte |= 1 << (i % 8);
    } else {
        *byte &= !(1 << (i % 8));
    }
}

impl Bitmap {
    /// Builds from the on-disk bytes (`blocks * BLOCK_SIZE` of them) for
    /// `len` items. Bits past `len` are ignored.
    pub fn from_bytes(bytes: Vec<u8>, len: u64) -> Bitmap {
        let mut bm = Bitmap {
            busy: bytes.clone(),
            bits: bytes,
            len,
            free: 0,
            available: 0,
            dirty: BTreeSet::new(),
            cursor: 0,
        };
        let whole = (len / 8) as usize;
        let used: u64 = bm.bits[..whole].iter().map(|b| u64::from(b.count_ones())).sum::<u64>()
            + (whole as u64 * 8..len).filter(|&i| get(&bm.bits, i)).count() as u64;
        bm.free = len - used;
        bm.available = bm.free;
        bm
    }

    /// An all-free bitmap for `len` items.
    pub fn new(len: u64) -> Bitmap {
        let blocks = len.div_ceil(BITS_PER_BLOCK).max(1) as usize;
        Bitmap::from_bytes(vec![0; blocks * BLOCK_SIZE], len)
    }

    /// Items free in the persistent map (pending ones count as free).
    pub fn free_count(&self) -> u64 {
        self.free
    }

    /// Items that may be allocated now (free and not pending).
    pub fn available(&self) -> u64 {
        self.available
    }

    /// Whether item `i` is marked used in the persistent map.
    pub fn is_used(&self, i: u64) -> bool {
        i < self.len && get(&self.bits, i)
    }

    /// Finds a run of up to `max` items that may be allocated, starting the
    /// search at `hint` and wrapping around. Does not mark them.
    pub fn find_run(&self, hint: u64, max: u64) -> Option<(u64, u64)> {
        if max == 0 || self.len == 0 {
            return None;
        }
        let start = if hint < self.len { hint } else { self.cursor };
        let first = self.next_free(start, self.len).or_else(|| self.next_free(0, start))?;
        let mut end = first + 1;
        while end < self.len && end - first < max && !get(&self.busy, end) {
            end += 1;
        }
        Some((first, end - first))
    }

    fn next_free(&self, from: u64, to: u64) -> Option<u64> {
        let mut i = from;
        while i < to {
            if i.is_multiple_of(64) && i + 64 <= to {
                let w = (i / 8) as usize;
                if self.busy[w..w + 8].iter().all(|&b| b == 0xFF) {
                    i += 64;
                    continue;
                }
            }
            if !get(&self.busy, i) {
                return Some(i);
            }
            i += 1;
        }
        None
    }

    /// Marks `[start, start+n)` used.
    pub fn mark_used(&mut self, start: u64, n: u64) {
        for i in start..start + n {
            debug_assert!(!get(&self.busy, i));
            if !get(&self.bits, i) {
                self.free -= 1;
            }
            if !get(&self.busy, i) {
                self.available -= 1;
            }
            set(&mut self.bits, i, true);
            set(&mut self.busy, i, true);
            self.dirty.insert(i / BITS_PER_BLOCK);
        }
        self.cursor = start + n;
    }

    /// Marks `[start, start+n)` free. With `reusable`, the items may be
    /// allocated again at once; otherwise they stay busy until released.
    pub fn free(&mut self, start: u64, n: u64, reusable: bool) {
        for i in start..start + n {
            if get(&self.bits, i) {
                self.free += 1;
            }
            set(&mut self.bits, i, false);
            if reusable && get(&self.busy, i) {
                set(&mut self.busy, i, false);
                self.available += 1;
            }
            self.dirty.insert(i / BITS_PER_BLOCK);
        }
    }

    /// Makes pending-free items `[start, start+n)` allocatable again (items
    /// that were used again in the meantime are left alone).
    pub fn release(&mut self, start: u64, n: u64) {
        for i in start..(start + n).min(self.len) {
            if !get(&self.bits, i) && get(&self.busy, i) {
                set(&mut self.busy, i, false);
                self.available += 1;
            }
        }
    }

    /// Marks items busy without touching the persistent map (used at mount
    /// for blocks named by the journal).
    pub fn hold(&mut self, start: u64, n: u64) {
        for i in start..(start + n).min(self.len) {
            if !get(&self.busy, i) {
                set(&mut self.busy, i, true);
                self.available -= 1;
            }
        }
    }

    /// Indexes of the bitmap blocks changed since the last
    /// [`Bitmap::clear_dirty`].
    pub fn dirty_blocks(&self) -> impl Iterator<Item = u64> + '_ {
        self.dirty.iter().copied()
    }

    /// Forgets which blocks changed.
    pub fn clear_dirty(&mut self) {
        self.dirty.clear();
    }

    /// The bytes of bitmap block `k`.
    pub fn block_bytes(&self, k: u64) -> &[u8] {
        let s = k as usize * BLOCK_SIZE;
        &self.bits[s..s + BLOCK_SIZE]
    }
}

/// A set of `u64` values stored as disjoint ranges.
#[derive(Debug, Clone, Default)]
pub struct RangeSet {
    map: BTreeMap<u64, u64>,
}

impl RangeSet {
    /// An empty set.
    pub fn new() -> RangeSet {
        RangeSet::default()
    }

    /// Whether `v` is in the set.
    pub fn contains(&self, v: u64) -> bool {
        self.map.range(..=v).next_back().is_some_and(|(&s, &l)| v < s + l)
    }

    /// Adds `[start, start+len)`.
    pub fn insert(&mut self, start: u64, len: u64) {
        if len == 0 {
            return;
        }
        let mut s = start;
        let mut e = start + len;
        if let Some((&ps, &pl)) = self.map.range(..=s).next_back()
            && ps + pl >= s
        {
            s = ps;
            e = e.max(ps + pl);
            self.map.remove(&ps);
        }
        while let Some((&ns, &nl)) = self.map.range(s..=e).next() {
            e = e.max(ns + nl);
            self.map.remove(&ns);
        }
        self.map.insert(s, e - s);
    }

    /// Removes `[start, start+len)`.
    pub fn remove(&mut self, start: u64, len: u64) {
        if len == 0 {
            return;
        }
        let end = start + len;
        let mut pieces = Vec::new();
        let first = self.map.range(..start).next_back().map(|(&s, _)| s).unwrap_or(start);
        for (&s, &l) in self.map.range(first..end) {
            if s + l > start {
                pieces.push((s, l));
            }
        }
        for (s, l) in pieces {
            self.map.remove(&s);
            if s < start {
                self.map.insert(s, start - s);
            }
            if s + l > end {
                self.map.insert(end, s + l - end);
            }
        }
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// Whether the set is empty.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The ranges as `(start, len)`, ascending.
    #[cfg(test)]
    pub fn ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.map.iter().map(|(&s, &l)| (s, l))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmap_allocates_runs_and_counts() {
        let mut b = Bitmap::new(200);
        assert_eq!(b.free_count(), 200);
        b.mark_used(0, 10);
        assert_eq!(b.find_run(0, 5), Some((10, 5)));
        b.mark_used(12, 1);
        assert_eq!(b.find_run(0, 5), Some((10, 2)));
        assert_eq!(b.free_count(), 189);
        assert!(b.dirty_blocks().eq([0]));
    }

    #[test]
    fn pending_frees_are_not_reused_until_released() {
        let mut b = Bitmap::new(100);
        b.mark_used(0, 100);
        b.free(40, 2, false);
        assert_eq!(b.free_count(), 2);
        assert_eq!(b.available(), 0);
        assert_eq!(b.find_run(0, 1), None);
        b.release(40, 2);
        assert_eq!(b.available(), 2);
        assert_eq!(b.find_run(0, 9), Some((40, 2)));
        b.free(70, 1, true);
        assert_eq!(b.find_run(50, 1), Some((70, 1)));
    }

    #[test]
    fn find_run_wraps_around() {
        let mut b = Bitmap::new(300);
        b.mark_used(100, 200);
        assert_eq!(b.find_run(150, 10), Some((0, 10)));
        assert_eq!(b.find_run(299, 1000), Some((0, 100)));
    }

    #[test]
    fn range_set_merges_and_splits() {
        let mut r = RangeSet::new();
        r.insert(10, 5);
        r.insert(15, 5);
        r.insert(30, 2);
        assert!(r.ranges().eq([(10, 10), (30, 2)]));
        r.remove(12, 3);
        assert!(r.ranges().eq([(10, 2), (15, 5), (30, 2)]));
        assert!(r.contains(11) && !r.contains(12) && r.contains(19) && !r.contains(20));
        r.insert(0, 100);
        assert!(r.ranges().eq([(0, 100)]));
        r.remove(0, 100);
        assert!(r.is_empty());
    }
}
