//! Which physical frames are free: a bitmap over the span of usable RAM,
//! handed out next fit.
//!
//! The kernel's frame allocator hands out single 4 KiB frames. Where they
//! come from matters: a disk read DMAs straight into a program's frames,
//! one device segment per run of physically adjacent pages, so a 1 MiB
//! buffer in ascending adjacent frames is one segment and the same buffer in
//! scattered frames is 256. A free list hands frames back last-freed first,
//! which reverses them; after one program exits, the next one's buffers
//! would be scattered and its reads several times slower (issue 13). A
//! program's speed must not depend on what ran before it.
//!
//! So this map keeps one bit per frame and a **next-fit cursor**: an
//! allocation takes the first free frame at or after the frame after the
//! last one handed out, wrapping round once. Consecutive allocations thus
//! return ascending, adjacent frames wherever free runs exist, in whatever
//! order those frames were freed.
//!
//! | operation | cost |
//! |---|---|
//! | [`FrameMap::alloc`] | scans 64 frames per word from the cursor; O(1) amortised while free frames lie ahead of it, O(span / 64) at worst (memory nearly full) |
//! | [`FrameMap::free`] | O(1) |
//! | storage | 2 bits per frame of the span ([`FrameMap::words_for`]) |
//!
//! The storage is a slice handed in by the kernel (carved out of RAM at
//! boot, since its size depends on the machine's memory). It holds two
//! bitmaps: which frames are free, and which are usable RAM at all. Frames
//! below 1 MiB (BIOS data) and holes between usable regions are never
//! usable; [`FrameMap::free`] refuses them, and a double free, and changes
//! nothing — a free that does not match an allocation is a kernel bug the
//! caller logs.
//!
//! The map knows addresses but never touches the frames; zeroing them is
//! the kernel's part.

use core::ops::Range;

use caps::abi::layout::PAGE_SIZE;

/// Bits in one word of a bitmap.
const BITS: u64 = u64::BITS as u64;
/// Frames below this address hold BIOS data and are never handed out.
pub const LOW_MEMORY_END: u64 = 0x10_0000;

/// Why [`FrameMap::new`] refused its storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitError {
    /// The span is empty or not page-aligned.
    BadSpan,
    /// The storage has fewer words than [`FrameMap::words_for`] the span.
    StorageTooSmall,
}

/// Why [`FrameMap::free`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// Not a page-aligned address of usable RAM in the span.
    NotUsable,
    /// The frame is already free (a double free).
    NotInUse,
}

/// The free frames of the physical span `[base, base + frames * PAGE_SIZE)`.
pub struct FrameMap<'a> {
    /// Physical address of the span's first frame.
    base: u64,
    /// Frames in the span.
    frames: u64,
    /// One bit per frame, set while free.
    free: &'a mut [u64],
    /// One bit per frame, set when it is usable RAM (may ever be free).
    usable: &'a mut [u64],
    /// Frames free now.
    free_count: u64,
    /// Index of the frame the next allocation looks at first.
    cursor: u64,
}

impl<'a> FrameMap<'a> {
    /// Words of storage [`new`](Self::new) needs for `span`: two bitmaps of
    /// one bit per 4 KiB frame. 0 for a bad span.
    pub fn words_for(span: &Range<u64>) -> usize {
        let frames = span.end.saturating_sub(span.start) / PAGE_SIZE;
        usize::try_from(frames.div_ceil(BITS) * 2).unwrap_or(usize::MAX)
    }

    /// A map of the frames of `span` (page-aligned physical addresses),
    /// all in use and none usable until [`add_usable`](Self::add_usable).
    /// Uses the first [`words_for`](Self::words_for) words of `storage`,
    /// whatever they held.
    pub fn new(storage: &'a mut [u64], span: Range<u64>) -> Result<Self, InitError> {
        if span.start >= span.end
            || !span.start.is_multiple_of(PAGE_SIZE)
            || !span.end.is_multiple_of(PAGE_SIZE)
        {
            return Err(InitError::BadSpan);
        }
        let words = Self::words_for(&span);
        let storage = storage.get_mut(..words).ok_or(InitError::StorageTooSmall)?;
        storage.fill(0);
        let (free, usable) = storage.split_at_mut(words / 2);
        Ok(FrameMap {
            base: span.start,
            frames: (span.end - span.start) / PAGE_SIZE,
            free,
            usable,
            free_count: 0,
            cursor: 0,
        })
    }

    /// Marks the whole frames of `region` usable and free, except those
    /// below [`LOW_MEMORY_END`] or outside the span and those already
    /// usable. Returns how many frames became free.
    pub fn add_usable(&mut self, region: Range<u64>) -> u64 {
        let end = (region.end & !(PAGE_SIZE - 1)).min(self.base + self.frames * PAGE_SIZE);
        let start = region.start.max(LOW_MEMORY_END).max(self.base);
        if start >= end {
            return 0;
        }
        // Below `end`, itself a frame boundary, so rounding up cannot wrap.
        let mut addr = start.next_multiple_of(PAGE_SIZE);
        let mut added = 0;
        while addr < end {
            let i = (addr - self.base) / PAGE_SIZE;
            if !bit(self.usable, i) {
                set(self.usable, i, true);
                set(self.free, i, true);
                added += 1;
            }
            addr += PAGE_SIZE;
        }
        self.free_count += added;
        added
    }

    /// Takes the first free frame at or after the cursor, wrapping round
    /// once; returns its physical address. `None` when no frame is free.
    pub fn alloc(&mut self) -> Option<u64> {
        if self.free_count == 0 {
            return None;
        }
        let words = self.free.len() as u64;
        let first = self.cursor / BITS;
        // The cursor's own word is looked at twice: its bits from the
        // cursor on first, and after the wrap its bits below the cursor.
        let from_cursor = !0u64 << (self.cursor % BITS);
        for step in 0..=words {
            let w = (first + step) % words;
            let mask = match step {
                0 => from_cursor,
                s if s == words => !from_cursor,
                _ => !0,
            };
            let bits = self.free[w as usize] & mask;
            if bits != 0 {
                let i = w * BITS + u64::from(bits.trailing_zeros());
                set(self.free, i, false);
                self.free_count -= 1;
                self.cursor = if i + 1 < self.frames { i + 1 } else { 0 };
                return Some(self.base + i * PAGE_SIZE);
            }
        }
        // free_count > 0 promises a set bit; reaching here means the count
        // and the bitmap disagree, so report nothing rather than guess.
        None
    }

    /// Gives back the frame at `addr`, which must be in use, or refuses
    /// and changes nothing.
    pub fn free(&mut self, addr: u64) -> Result<(), FreeError> {
        let i = self.index_of(addr).ok_or(FreeError::NotUsable)?;
        if !bit(self.usable, i) {
            return Err(FreeError::NotUsable);
        }
        if bit(self.free, i) {
            return Err(FreeError::NotInUse);
        }
        set(self.free, i, true);
        self.free_count += 1;
        Ok(())
    }

    /// Whether the frame at `addr` is free now.
    pub fn is_free(&self, addr: u64) -> bool {
        self.index_of(addr).is_some_and(|i| bit(self.free, i))
    }

    /// Frames free now.
    pub fn free_count(&self) -> u64 {
        self.free_count
    }

    /// The frame index of `addr`, if it is a frame boundary in the span.
    fn index_of(&self, addr: u64) -> Option<u64> {
        let offset = addr.checked_sub(self.base)?;
        if !offset.is_multiple_of(PAGE_SIZE) {
            return None;
        }
        let i = offset / PAGE_SIZE;
        (i < self.frames).then_some(i)
    }
}

fn bit(map: &[u64], i: u64) -> bool {
    map[(i / BITS) as usize] & (1 << (i % BITS)) != 0
}

fn set(map: &mut [u64], i: u64, on: bool) {
    let word = &mut map[(i / BITS) as usize];
    if on {
        *word |= 1 << (i % BITS);
    } else {
        *word &= !(1 << (i % BITS));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::vec;
    use std::vec::Vec;

    use proptest::prelude::*;

    /// The test span: 1 MiB below the low-memory line up to 200 frames
    /// above it, so that it covers frames that are never usable.
    const SPAN: Range<u64> = 0..LOW_MEMORY_END + 200 * PAGE_SIZE;

    fn at(frame: u64) -> u64 {
        LOW_MEMORY_END + frame * PAGE_SIZE
    }

    fn storage() -> Vec<u64> {
        vec![!0; FrameMap::words_for(&SPAN)]
    }

    /// Usable frames 0..60 and 70..200 above 1 MiB (a hole at 60..70),
    /// plus the whole first MiB, which must stay unusable.
    fn map(storage: &mut [u64]) -> FrameMap<'_> {
        let mut m = FrameMap::new(storage, SPAN).unwrap();
        assert_eq!(m.add_usable(0..at(60)), 60);
        assert_eq!(m.add_usable(at(70)..at(200)), 130);
        m
    }

    fn usable(frame: u64) -> bool {
        frame < 60 || (70..200).contains(&frame)
    }

    /// Whether `got` is a rotation of an ascending sequence: ascending
    /// with at most one step down (where the cursor wrapped round).
    fn ascending_but_one_wrap(got: &[u64]) -> bool {
        match got.windows(2).filter(|w| w[1] < w[0]).count() {
            0 => true,
            1 => got[got.len() - 1] < got[0],
            _ => false,
        }
    }

    #[test]
    fn storage_too_small_or_bad_span_is_refused() {
        let mut s = vec![0; FrameMap::words_for(&SPAN) - 1];
        assert_eq!(FrameMap::new(&mut s, SPAN).err(), Some(InitError::StorageTooSmall));
        let mut s = storage();
        assert_eq!(FrameMap::new(&mut s, 0..0).err(), Some(InitError::BadSpan));
        assert_eq!(FrameMap::new(&mut s, 8..PAGE_SIZE * 4).err(), Some(InitError::BadSpan));
        let backwards = Range { start: 2 * PAGE_SIZE, end: PAGE_SIZE };
        assert_eq!(FrameMap::new(&mut s, backwards).err(), Some(InitError::BadSpan));
    }

    #[test]
    fn low_memory_holes_and_overlaps_are_not_free() {
        let mut s = storage();
        let mut m = map(&mut s);
        assert_eq!(m.free_count(), 190);
        // Adding a region again, or one reaching past the span, adds only
        // the new frames of the span.
        assert_eq!(m.add_usable(at(50)..at(65)), 5);
        assert_eq!(m.add_usable(at(199)..at(400)), 0);
        assert_eq!(m.free_count(), 195);
        assert!(!m.is_free(0) && !m.is_free(LOW_MEMORY_END - PAGE_SIZE));
        assert!(!m.is_free(at(66)) && m.is_free(at(64)));
    }

    #[test]
    fn allocations_ascend_and_skip_holes() {
        let mut s = storage();
        let mut m = map(&mut s);
        let got: Vec<u64> = (0..190).map(|_| m.alloc().unwrap()).collect();
        let want: Vec<u64> = (0..200).filter(|&f| usable(f)).map(at).collect();
        assert_eq!(got, want);
        assert_eq!(m.alloc(), None);
        assert_eq!(m.free_count(), 0);
    }

    #[test]
    fn a_double_free_or_unusable_frame_is_refused() {
        let mut s = storage();
        let mut m = map(&mut s);
        let a = m.alloc().unwrap();
        assert_eq!(m.free(a), Ok(()));
        assert_eq!(m.free(a), Err(FreeError::NotInUse));
        assert_eq!(m.free(at(5)), Err(FreeError::NotInUse), "never handed out");
        assert_eq!(m.free(at(65)), Err(FreeError::NotUsable), "a hole");
        assert_eq!(m.free(0x1000), Err(FreeError::NotUsable), "below 1 MiB");
        assert_eq!(m.free(at(200)), Err(FreeError::NotUsable), "past the span");
        assert_eq!(m.free(at(3) + 8), Err(FreeError::NotUsable), "not page-aligned");
        assert_eq!(m.free(u64::MAX), Err(FreeError::NotUsable));
        assert_eq!(m.free_count(), 190);
    }

    /// Issue 13: frames freed in reverse came back in reverse, so a
    /// program started after another got its buffers in descending frames
    /// (one DMA segment per page).
    #[test]
    fn frames_freed_in_reverse_come_back_ascending() {
        let mut s = storage();
        let mut m = map(&mut s);
        let first: Vec<u64> = (0..100).map(|_| m.alloc().unwrap()).collect();
        for &f in first.iter().rev() {
            m.free(f).unwrap();
        }
        // Ahead of the cursor, then round to the freed ones, ascending.
        let second: Vec<u64> = (0..150).map(|_| m.alloc().unwrap()).collect();
        let ahead: Vec<u64> = (0..200).filter(|&f| usable(f)).map(at).skip(100).collect();
        assert_eq!(&second[..90], &ahead[..]);
        assert_eq!(&second[90..], &first[..60]);
    }

    #[test]
    fn the_cursor_wraps_within_its_own_word() {
        let mut s = storage();
        let mut m = map(&mut s);
        let all: Vec<u64> = (0..190).map(|_| m.alloc().unwrap()).collect();
        // Free two frames of one word, below and above where the cursor
        // will stand; the one above comes first.
        m.free(all[10]).unwrap();
        m.free(all[40]).unwrap();
        m.free(all[20]).unwrap();
        assert_eq!(m.alloc(), Some(all[10]));
        assert_eq!(m.alloc(), Some(all[20]));
        m.free(all[5]).unwrap();
        assert_eq!(m.alloc(), Some(all[40]));
        assert_eq!(m.alloc(), Some(all[5]));
        assert_eq!(m.alloc(), None);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Alloc,
        /// Free any frame of the span (usable or not, in use or not).
        Free(u64),
        /// Free one of the frames handed out.
        FreeLive(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => Just(Op::Alloc),
            1 => (0u64..210).prop_map(Op::Free),
            2 => any::<usize>().prop_map(Op::FreeLive),
        ]
    }

    proptest! {
        /// Against a set of free frames: the same free count; a frame is
        /// handed out only if free and usable, never twice; a free
        /// succeeds exactly when the frame is usable and in use.
        #[test]
        fn agrees_with_a_set_of_free_frames(ops in prop::collection::vec(op(), 0..400)) {
            let mut s = storage();
            let mut m = map(&mut s);
            let mut model: BTreeSet<u64> = (0..200).filter(|&f| usable(f)).map(at).collect();
            let mut live: Vec<u64> = Vec::new();
            for op in ops {
                match op {
                    Op::Alloc => match m.alloc() {
                        Some(a) => {
                            prop_assert!(model.remove(&a), "{:#x} handed out but not free", a);
                            live.push(a);
                        }
                        None => prop_assert!(model.is_empty()),
                    },
                    Op::Free(f) => {
                        let a = at(f);
                        let ok = usable(f) && !model.contains(&a);
                        prop_assert_eq!(m.free(a).is_ok(), ok);
                        if ok {
                            model.insert(a);
                            live.retain(|&l| l != a);
                        }
                    }
                    Op::FreeLive(i) if !live.is_empty() => {
                        let a = live.swap_remove(i % live.len());
                        prop_assert_eq!(m.free(a), Ok(()));
                        model.insert(a);
                    }
                    _ => {}
                }
                prop_assert_eq!(m.free_count(), model.len() as u64);
            }
            for f in 0..210 {
                prop_assert_eq!(m.is_free(at(f)), model.contains(&at(f)));
            }
        }

        /// With every frame in use, any set of frames freed in any order
        /// comes back, by as many allocations, as exactly that set in
        /// ascending order but for one wrap of the cursor (so a run of
        /// adjacent frames comes back adjacent unless the wrap splits it).
        #[test]
        fn freed_frames_come_back_ascending(
            start in 0usize..190,
            picks in prop::collection::btree_set(0usize..190, 1..120)
                .prop_map(|s| s.into_iter().collect::<Vec<_>>())
                .prop_shuffle(),
        ) {
            let mut s = storage();
            let mut m = map(&mut s);
            // Put the cursor anywhere: take `start` frames, free them, take
            // the rest (which takes those `start` last, after the wrap).
            let head: Vec<u64> = (0..start).map(|_| m.alloc().unwrap()).collect();
            for &a in &head {
                m.free(a).unwrap();
            }
            let mut all: Vec<u64> = (0..190).map(|_| m.alloc().unwrap()).collect();
            prop_assert_eq!(m.alloc(), None);
            all.sort_unstable();
            for &p in &picks {
                m.free(all[p]).unwrap();
            }
            let got: Vec<u64> = (0..picks.len()).map(|_| m.alloc().unwrap()).collect();
            let mut want: Vec<u64> = picks.iter().map(|&p| all[p]).collect();
            want.sort_unstable();
            let mut sorted = got.clone();
            sorted.sort_unstable();
            prop_assert_eq!(&sorted, &want);
            prop_assert!(ascending_but_one_wrap(&got), "{:x?}", got);
            prop_assert_eq!(m.alloc(), None);
        }
    }
}
