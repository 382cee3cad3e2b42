//! Which pages of a physically contiguous pool are in use.
//!
//! The kernel's DMA pool is one block of RAM set aside at boot and handed
//! out in whole pages, first fit, for device rings and bounce buffers.
//! This is its bookkeeping: one bit per page, set while in use. It knows
//! addresses (the block's base plus whole pages) but never touches the
//! memory; zeroing what it hands out is the kernel's part.
//!
//! A device may still be using pages that a buggy caller frees twice, so
//! [`PagePool::free`] refuses — and changes nothing — unless every page
//! it is given is in use. The pool does not remember where one allocation
//! ends: freeing pages of two neighbouring allocations at once is allowed.

use caps::abi::layout::PAGE_SIZE;

/// Bits in one word of the bitmap.
const BITS: usize = u64::BITS as usize;

/// Why [`PagePool::free`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// The range is empty, not page-aligned, or not inside the pool.
    OutOfPool,
    /// Some page of the range is not in use (a double free).
    NotInUse,
}

/// A pool of `WORDS * 64` pages at `base`, bytes `[base, base + pages *
/// PAGE_SIZE)`.
pub struct PagePool<const WORDS: usize> {
    base: u64,
    /// One bit per page, set when in use.
    used: [u64; WORDS],
}

impl<const WORDS: usize> Default for PagePool<WORDS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const WORDS: usize> PagePool<WORDS> {
    /// Pages in the pool.
    pub const PAGES: usize = WORDS * BITS;

    /// A pool at address 0 (until [`set_base`](Self::set_base)) with every
    /// page free.
    pub const fn new() -> Self {
        PagePool { base: 0, used: [0; WORDS] }
    }

    /// Places the pool at `base` (page-aligned). Only while nothing is in
    /// use: addresses already handed out would change meaning.
    pub fn set_base(&mut self, base: u64) {
        assert!(base.is_multiple_of(PAGE_SIZE), "pool base {base:#x} not page-aligned");
        assert!(self.used.iter().all(|&w| w == 0), "pool moved while in use");
        self.base = base;
    }

    /// Where the pool starts.
    pub fn base(&self) -> u64 {
        self.base
    }

    fn is_free(&self, page: usize) -> bool {
        self.used[page / BITS] & (1 << (page % BITS)) == 0
    }

    fn mark(&mut self, first: usize, pages: usize, used: bool) {
        for p in first..first + pages {
            if used {
                self.used[p / BITS] |= 1 << (p % BITS);
            } else {
                self.used[p / BITS] &= !(1 << (p % BITS));
            }
        }
    }

    /// Takes the first run of `pages` free pages; returns the address of
    /// its first byte. `None` for 0 pages or when no run is long enough.
    pub fn alloc(&mut self, pages: usize) -> Option<u64> {
        if pages == 0 {
            return None;
        }
        let mut run = 0;
        for p in 0..Self::PAGES {
            run = if self.is_free(p) { run + 1 } else { 0 };
            if run == pages {
                let first = p + 1 - pages;
                self.mark(first, pages, true);
                return Some(self.base + first as u64 * PAGE_SIZE);
            }
        }
        None
    }

    /// Gives back `pages` pages at `addr`, all in use, or refuses and
    /// changes nothing.
    pub fn free(&mut self, addr: u64, pages: usize) -> Result<(), FreeError> {
        let first = self.page_of(addr).ok_or(FreeError::OutOfPool)?;
        match first.checked_add(pages) {
            Some(end) if pages > 0 && end <= Self::PAGES => {}
            _ => return Err(FreeError::OutOfPool),
        }
        if (first..first + pages).any(|p| self.is_free(p)) {
            return Err(FreeError::NotInUse);
        }
        self.mark(first, pages, false);
        Ok(())
    }

    /// Whether the page at `addr` (page-aligned, in the pool) is in use.
    pub fn is_used(&self, addr: u64) -> bool {
        self.page_of(addr).is_some_and(|p| !self.is_free(p))
    }

    /// Pages in use.
    pub fn used_pages(&self) -> usize {
        self.used.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The page index of `addr`, if it is a page boundary in the pool.
    fn page_of(&self, addr: u64) -> Option<usize> {
        let offset = addr.checked_sub(self.base)?;
        if !offset.is_multiple_of(PAGE_SIZE) {
            return None;
        }
        let page = usize::try_from(offset / PAGE_SIZE).ok()?;
        (page < Self::PAGES).then_some(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    use proptest::prelude::*;

    const BASE: u64 = 0x20_0000;

    fn pool() -> PagePool<2> {
        let mut p = PagePool::new();
        p.set_base(BASE);
        p
    }

    fn at(page: usize) -> u64 {
        BASE + page as u64 * PAGE_SIZE
    }

    #[test]
    fn first_fit_skips_a_gap_too_small() {
        let mut p = pool();
        assert_eq!(p.alloc(1), Some(at(0)));
        assert_eq!(p.alloc(2), Some(at(1)));
        assert_eq!(p.alloc(1), Some(at(3)));
        p.free(at(1), 2).unwrap();
        assert_eq!(p.alloc(3), Some(at(4)), "the 2-page hole is too small");
        assert_eq!(p.alloc(2), Some(at(1)));
    }

    #[test]
    fn a_double_free_is_refused() {
        let mut p = pool();
        let a = p.alloc(2).unwrap();
        let b = p.alloc(1).unwrap();
        assert_eq!(p.free(a, 2), Ok(()));
        assert_eq!(p.free(a, 2), Err(FreeError::NotInUse));
        // Overlapping a used page and a free one: refused, b still in use.
        assert_eq!(p.free(a + PAGE_SIZE, 2), Err(FreeError::NotInUse));
        assert!(p.is_used(b));
        assert_eq!(p.used_pages(), 1);
    }

    #[test]
    fn frees_outside_the_pool_are_refused() {
        let mut p = pool();
        let all = PagePool::<2>::PAGES;
        assert_eq!(p.alloc(all), Some(at(0)));
        assert_eq!(p.alloc(1), None);
        assert_eq!(p.free(BASE - PAGE_SIZE, 1), Err(FreeError::OutOfPool));
        assert_eq!(p.free(at(all), 1), Err(FreeError::OutOfPool));
        assert_eq!(p.free(at(all - 1), 2), Err(FreeError::OutOfPool), "runs past the end");
        assert_eq!(p.free(at(0) + 8, 1), Err(FreeError::OutOfPool), "not page-aligned");
        assert_eq!(p.free(at(0), usize::MAX), Err(FreeError::OutOfPool));
        assert_eq!(p.free(at(0), 0), Err(FreeError::OutOfPool));
        assert_eq!(p.used_pages(), all);
        assert_eq!(p.free(at(0), all), Ok(()));
        assert_eq!(p.used_pages(), 0);
    }

    #[test]
    fn zero_pages_and_too_many_are_not_given() {
        let mut p = pool();
        assert_eq!(p.alloc(0), None);
        assert_eq!(p.alloc(PagePool::<2>::PAGES + 1), None);
        assert_eq!(p.used_pages(), 0);
    }

    #[test]
    fn a_run_across_a_word_boundary() {
        let mut p = pool();
        assert_eq!(p.alloc(60), Some(at(0)));
        assert_eq!(p.alloc(10), Some(at(60)));
        assert!(p.is_used(at(63)) && p.is_used(at(64)) && p.is_used(at(69)));
        assert!(!p.is_used(at(70)));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Alloc(usize),
        /// Free a range (first page, pages) that may or may not be in use.
        Free(usize, usize),
        /// Free one of the live allocations.
        FreeLive(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0usize..20).prop_map(Op::Alloc),
            1 => (0usize..140, 0usize..10).prop_map(|(f, n)| Op::Free(f, n)),
            2 => any::<usize>().prop_map(Op::FreeLive),
        ]
    }

    /// The model's first fit: the lowest start of `pages` free pages.
    fn first_fit(m: &[bool], pages: usize) -> Option<usize> {
        if pages == 0 {
            return None;
        }
        (0..m.len()).find(|&s| s + pages <= m.len() && m[s..s + pages].iter().all(|u| !u))
    }

    proptest! {
        /// Against a vector of booleans: allocations land where first fit
        /// says, on free pages only; a free succeeds exactly when every
        /// page is in the pool and in use; the bitmap always equals the
        /// model.
        #[test]
        fn agrees_with_a_vector_of_pages(ops in prop::collection::vec(op(), 0..150)) {
            let mut p = pool();
            let n = PagePool::<2>::PAGES;
            let mut m = vec![false; n];
            let mut live: Vec<(usize, usize)> = Vec::new();
            for op in ops {
                match op {
                    Op::Alloc(pages) => {
                        let want = first_fit(&m, pages);
                        prop_assert_eq!(p.alloc(pages), want.map(at));
                        if let Some(s) = want {
                            m[s..s + pages].fill(true);
                            live.push((s, pages));
                        }
                    }
                    Op::Free(first, pages) => {
                        let ok = pages > 0 && first + pages <= n && m[first..first + pages].iter().all(|&u| u);
                        prop_assert_eq!(p.free(at(first), pages).is_ok(), ok);
                        if ok {
                            m[first..first + pages].fill(false);
                            live.retain(|&(s, c)| s + c <= first || first + pages <= s);
                        }
                    }
                    Op::FreeLive(i) if !live.is_empty() => {
                        let (s, c) = live.swap_remove(i % live.len());
                        prop_assert_eq!(p.free(at(s), c), Ok(()));
                        m[s..s + c].fill(false);
                    }
                    _ => {}
                }
                for (page, &u) in m.iter().enumerate() {
                    prop_assert_eq!(p.is_used(at(page)), u, "page {}", page);
                }
                prop_assert_eq!(p.used_pages(), m.iter().filter(|&&u| u).count());
            }
        }
    }
}
