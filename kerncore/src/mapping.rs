//! Where memory objects are mapped: the kernel's record of every mapping
//! of a memory object's pages into a process's address space.
//!
//! A mapping is made through one capability (`mo_map`) and lives as long
//! as that capability, as a frame's mapping lives with its capability in
//! seL4: when the capability dies (dropped, revoked from above, or its
//! table destroyed with its process) the kernel takes its mappings out
//! here ([`Mappings::take_cap`]) and unmaps each page before the call that
//! killed it returns. A holder may also unmap part of a mapping itself
//! (`mem_unmap`), which cuts the record ([`Mappings::cut`]), splitting it
//! when the hole is in the middle.
//!
//! The records also answer the questions the kernel asks before it acts:
//! is any page of a buffer shared (a device must not write there directly:
//! [`Mappings::maps_any`]), would a new mapping make a page writable in one
//! place and executable in another ([`Mappings::conflicts_wx`]).
//!
//! Bounded: at most [`MAX_MAPPINGS`] records; every operation is one pass.

use alloc::vec::Vec;
use caps::ObjectId;

/// Most mappings of memory objects at once, in all processes.
pub const MAX_MAPPINGS: usize = 4096;

/// The capability a mapping was made through: its table and handle, as
/// numbers (`caps::TableId::as_u64`, `RawHandle::as_raw`).
pub type CapKey = (u64, u64);

/// One mapping: `pages` pages of object `object`, from its page `first`,
/// at `vaddr` in process `holder`'s address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The process whose address space holds it.
    pub holder: ObjectId,
    /// The capability it was made through (in `holder`'s table).
    pub cap: CapKey,
    /// The memory object.
    pub object: ObjectId,
    /// The first user address (page-aligned).
    pub vaddr: u64,
    /// The object's page mapped at `vaddr`.
    pub first: u64,
    /// Pages mapped (at least 1).
    pub pages: u64,
    /// Mapped writable.
    pub writable: bool,
    /// Mapped executable.
    pub exec: bool,
}

const PAGE: u64 = 4096;

impl Mapping {
    fn end(&self) -> u64 {
        self.vaddr + self.pages * PAGE
    }

    /// Whether it covers any of `[vaddr, vaddr + len)` in `holder`'s space.
    fn overlaps(&self, holder: ObjectId, vaddr: u64, len: u64) -> bool {
        self.holder == holder && self.vaddr < vaddr.saturating_add(len) && vaddr < self.end()
    }

    /// The part of it in `[from, to)` (page-aligned, overlapping it).
    fn piece(&self, from: u64, to: u64) -> Mapping {
        let start = from.max(self.vaddr);
        let end = to.min(self.end());
        Mapping {
            vaddr: start,
            first: self.first + (start - self.vaddr) / PAGE,
            pages: (end - start) / PAGE,
            ..*self
        }
    }
}

/// Every mapping of a memory object.
#[derive(Debug, Default)]
pub struct Mappings {
    list: Vec<Mapping>,
}

impl Mappings {
    /// No mappings.
    pub const fn new() -> Self {
        Mappings { list: Vec::new() }
    }

    /// How many records there are.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Every record.
    pub fn iter(&self) -> impl Iterator<Item = &Mapping> {
        self.list.iter()
    }

    /// Whether a record can be added.
    pub fn has_room(&self) -> bool {
        self.list.len() < MAX_MAPPINGS
    }

    /// Records `m`. The caller checked [`has_room`](Self::has_room), that
    /// `m.pages >= 1` and that nothing is mapped there.
    pub fn insert(&mut self, m: Mapping) {
        debug_assert!(m.pages >= 1 && self.has_room());
        self.list.push(m);
    }

    /// How many records `holder` has.
    pub fn count_holder(&self, holder: ObjectId) -> usize {
        self.list.iter().filter(|m| m.holder == holder).count()
    }

    /// Whether `holder` may add a record: the table has room and it holds
    /// fewer than `per_holder`.
    pub fn has_room_for(&self, holder: ObjectId, per_holder: usize) -> bool {
        self.has_room() && self.count_holder(holder) < per_holder
    }

    /// Whether any page of `[vaddr, vaddr + len)` of `holder`'s space is a
    /// memory object's.
    pub fn maps_any(&self, holder: ObjectId, vaddr: u64, len: u64) -> bool {
        self.list.iter().any(|m| m.overlaps(holder, vaddr, len))
    }

    /// Whether mapping pages `[first, first + pages)` of `object` with
    /// this access would break W^X across mappings: a page writable in one
    /// mapping and executable in another.
    pub fn conflicts_wx(
        &self,
        object: ObjectId,
        first: u64,
        pages: u64,
        writable: bool,
        exec: bool,
    ) -> bool {
        let end = first.saturating_add(pages);
        self.list.iter().any(|m| {
            m.object == object
                && m.first < end
                && first < m.first + m.pages
                && ((writable && m.exec) || (exec && m.writable))
        })
    }

    /// How many records map object `object` (0: nothing maps it).
    pub fn count_object(&self, object: ObjectId) -> usize {
        self.list.iter().filter(|m| m.object == object).count()
    }

    /// Takes out every mapping made through capability `cap`, for the
    /// caller to unmap.
    pub fn take_cap(&mut self, cap: CapKey) -> Vec<Mapping> {
        let mut taken = Vec::new();
        self.list.retain(|m| {
            let hit = m.cap == cap;
            if hit {
                taken.push(*m);
            }
            !hit
        });
        taken
    }

    /// Takes out the parts of `holder`'s mappings inside `[vaddr, vaddr +
    /// len)` (page-aligned), for the caller to unmap; what lies outside
    /// stays recorded, as one or two records. A hole strictly inside one
    /// record splits it in two, one record more: `None` (and nothing
    /// changes) if that would pass [`MAX_MAPPINGS`] or give `holder` more
    /// than `per_holder`. (A cut across several records never adds one.)
    pub fn cut(
        &mut self,
        holder: ObjectId,
        vaddr: u64,
        len: u64,
        per_holder: usize,
    ) -> Option<Vec<Mapping>> {
        let to = vaddr.saturating_add(len);
        let splits =
            self.list.iter().any(|m| m.holder == holder && m.vaddr < vaddr && to < m.end());
        if splits && !self.has_room_for(holder, per_holder) {
            return None;
        }
        let mut taken = Vec::new();
        let mut kept = Vec::new();
        self.list.retain(|m| {
            if !m.overlaps(holder, vaddr, len) {
                return true;
            }
            taken.push(m.piece(vaddr, to));
            if m.vaddr < vaddr {
                kept.push(m.piece(m.vaddr, vaddr));
            }
            if to < m.end() {
                kept.push(m.piece(to, m.end()));
            }
            false
        });
        self.list.extend(kept);
        Some(taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;
    use proptest::prelude::*;

    const A: ObjectId = ObjectId(1);
    const B: ObjectId = ObjectId(2);
    const BASE: u64 = 0x10_0000;

    fn m(holder: ObjectId, cap: u64, vaddr_page: u64, first: u64, pages: u64) -> Mapping {
        Mapping {
            holder,
            cap: (holder.0, cap),
            object: ObjectId(9),
            vaddr: BASE + vaddr_page * PAGE,
            first,
            pages,
            writable: true,
            exec: false,
        }
    }

    #[test]
    fn a_hole_in_the_middle_splits_a_mapping() {
        let mut ms = Mappings::new();
        ms.insert(m(A, 1, 0, 10, 8));
        let taken = ms.cut(A, BASE + 2 * PAGE, 3 * PAGE, usize::MAX).unwrap();
        assert_eq!(taken, [m(A, 1, 2, 12, 3)]);
        let mut left: Vec<_> = ms.iter().copied().collect();
        left.sort_by_key(|m| m.vaddr);
        assert_eq!(left, [m(A, 1, 0, 10, 2), m(A, 1, 5, 15, 3)]);
        assert!(!ms.maps_any(A, BASE + 2 * PAGE, 3 * PAGE));
        assert!(ms.maps_any(A, BASE + 4 * PAGE, 2 * PAGE));
    }

    #[test]
    fn a_split_past_the_limit_is_refused_and_changes_nothing() {
        let mut ms = Mappings::new();
        for i in 0..MAX_MAPPINGS as u64 {
            ms.insert(m(A, 1, 4 * i, 0, 3));
        }
        assert!(!ms.has_room());
        assert_eq!(ms.cut(A, BASE + PAGE, PAGE, usize::MAX), None);
        assert_eq!(ms.len(), MAX_MAPPINGS);
        // Cutting a whole record, or an end of one, adds nothing.
        assert_eq!(ms.cut(A, BASE, PAGE, usize::MAX).map(|t| t.len()), Some(1));
        assert_eq!(ms.cut(A, BASE + 4 * PAGE, 3 * PAGE, usize::MAX).map(|t| t.len()), Some(1));
        assert_eq!(ms.len(), MAX_MAPPINGS - 1);
    }

    #[test]
    fn a_holder_at_its_own_limit_cannot_split_or_add() {
        let mut ms = Mappings::new();
        ms.insert(m(A, 1, 0, 0, 3));
        ms.insert(m(A, 1, 4, 0, 3));
        ms.insert(m(B, 1, 0, 0, 3));
        assert!(!ms.has_room_for(A, 2));
        assert!(ms.has_room_for(B, 2));
        assert_eq!(ms.cut(A, BASE + PAGE, PAGE, 2), None);
        assert_eq!(ms.count_holder(A), 2);
        // An end off a record adds none: allowed at the limit.
        assert_eq!(ms.cut(A, BASE, PAGE, 2).map(|t| t.len()), Some(1));
        assert_eq!(ms.cut(B, BASE + PAGE, PAGE, 2).map(|t| t.len()), Some(1));
        assert_eq!(ms.count_holder(B), 2);
    }

    #[test]
    fn cuts_touch_only_the_holder() {
        let mut ms = Mappings::new();
        ms.insert(m(A, 1, 0, 0, 4));
        ms.insert(m(B, 1, 0, 0, 4));
        assert_eq!(ms.cut(A, 0, u64::MAX, usize::MAX).unwrap().len(), 1);
        assert!(ms.maps_any(B, BASE, PAGE));
        assert!(!ms.maps_any(A, BASE, PAGE));
    }

    #[test]
    fn taking_a_capability_takes_all_its_mappings_and_nothing_else() {
        let mut ms = Mappings::new();
        ms.insert(m(A, 1, 0, 0, 1));
        ms.insert(m(A, 2, 4, 0, 1));
        ms.insert(m(A, 1, 8, 3, 2));
        let taken = ms.take_cap((A.0, 1));
        assert_eq!(taken.len(), 2);
        assert_eq!(ms.len(), 1);
        assert_eq!(ms.count_object(ObjectId(9)), 1);
        assert!(ms.take_cap((A.0, 1)).is_empty());
    }

    #[test]
    fn wx_conflicts_are_per_page_of_the_same_object() {
        let mut ms = Mappings::new();
        ms.insert(m(A, 1, 0, 4, 2)); // object pages 4, 5 writable
        assert!(ms.conflicts_wx(ObjectId(9), 5, 1, false, true));
        assert!(!ms.conflicts_wx(ObjectId(9), 6, 4, false, true));
        assert!(!ms.conflicts_wx(ObjectId(9), 0, 4, false, true));
        assert!(!ms.conflicts_wx(ObjectId(8), 4, 2, false, true));
        assert!(!ms.conflicts_wx(ObjectId(9), 4, 2, true, false));
        assert!(!ms.conflicts_wx(ObjectId(9), 4, 2, false, false));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Map { holder: bool, cap: u64, page: u64, first: u64, pages: u64 },
        Cut { holder: bool, page: u64, pages: u64 },
        TakeCap { holder: bool, cap: u64 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (any::<bool>(), 0u64..3, 0u64..32, 0u64..16, 1u64..8)
                .prop_map(|(holder, cap, page, first, pages)| Op::Map { holder, cap, page, first, pages }),
            2 => (any::<bool>(), 0u64..32, 0u64..10)
                .prop_map(|(holder, page, pages)| Op::Cut { holder, page, pages }),
            1 => (any::<bool>(), 0u64..3).prop_map(|(holder, cap)| Op::TakeCap { holder, cap }),
        ]
    }

    proptest! {
        /// Against a model that keeps one entry per mapped page (holder,
        /// address) → (capability, object page): the pages the records
        /// cover, and what each take or cut hands back, agree page for
        /// page; records never overlap and are never empty.
        #[test]
        fn agrees_with_a_per_page_model(ops in prop::collection::vec(op(), 0..120)) {
            let mut ms = Mappings::new();
            let mut model: BTreeMap<(u64, u64), (u64, u64)> = BTreeMap::new();
            let who = |h: bool| if h { A } else { B };
            let expand = |list: &[Mapping]| {
                let mut pages = BTreeMap::new();
                for r in list {
                    for i in 0..r.pages {
                        pages.insert((r.holder.0, r.vaddr + i * PAGE), (r.cap.1, r.first + i));
                    }
                }
                pages
            };
            for op in ops {
                match op {
                    Op::Map { holder, cap, page, first, pages } => {
                        let h = who(holder);
                        let vaddr = BASE + page * PAGE;
                        if ms.maps_any(h, vaddr, pages * PAGE) {
                            prop_assert!((0..pages).any(|i| model.contains_key(&(h.0, vaddr + i * PAGE))));
                            continue;
                        }
                        ms.insert(Mapping { cap: (h.0, cap), ..m(h, cap, page, first, pages) });
                        for i in 0..pages {
                            model.insert((h.0, vaddr + i * PAGE), (cap, first + i));
                        }
                    }
                    Op::Cut { holder, page, pages } => {
                        let h = who(holder);
                        let (from, len) = (BASE + page * PAGE, pages * PAGE);
                        let taken = ms.cut(h, from, len, usize::MAX).unwrap();
                        let want: BTreeMap<_, _> = model
                            .range((h.0, from)..(h.0, from + len))
                            .map(|(k, v)| (*k, *v))
                            .collect();
                        prop_assert_eq!(expand(&taken), want.clone());
                        for k in want.keys() {
                            model.remove(k);
                        }
                    }
                    Op::TakeCap { holder, cap } => {
                        let h = who(holder);
                        let taken = ms.take_cap((h.0, cap));
                        let want: BTreeMap<_, _> = model
                            .iter()
                            .filter(|(k, v)| k.0 == h.0 && v.0 == cap)
                            .map(|(k, v)| (*k, *v))
                            .collect();
                        prop_assert_eq!(expand(&taken), want.clone());
                        for k in want.keys() {
                            model.remove(k);
                        }
                    }
                }
                let all: Vec<Mapping> = ms.iter().copied().collect();
                prop_assert!(all.iter().all(|r| r.pages >= 1));
                let pages = expand(&all);
                prop_assert_eq!(pages.len() as u64, all.iter().map(|r| r.pages).sum::<u64>(), "records overlap");
                prop_assert_eq!(pages, model.clone());
            }
        }
    }
}
