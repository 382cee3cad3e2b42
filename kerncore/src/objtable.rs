//! A table of kernel objects named by generation-checked ids.
//!
//! Processes, quotas, endpoints and replies live in these. An id is the
//! slot index in the low 32 bits and a generation in the high 32. Every
//! insert takes a new generation from one counter of the table (never 0),
//! so an id kept after its object died never names the object that reuses
//! the slot — until the counter wraps, after 2^32 - 1 inserts.

use caps::ObjectId;
use slab::Slab;

struct Entry<T> {
    generation: u32,
    value: T,
}

/// Objects of one type, by [`ObjectId`], at most `limit` at once.
pub struct ObjectTable<T> {
    slots: Slab<Entry<T>>,
    /// Generation to give the next object put in a slot (bumped every time).
    next_generation: u32,
    limit: usize,
}

/// The id of the object of `generation` in slot `index`.
fn id(index: usize, generation: u32) -> ObjectId {
    ObjectId(u64::from(generation) << 32 | index as u64)
}

impl<T> ObjectTable<T> {
    /// An empty table that holds at most `limit` objects (at most 2^32: an
    /// id has 32 bits of index).
    pub const fn new(limit: usize) -> Self {
        assert!(limit as u64 <= 1 << 32, "an id has 32 bits of slot index");
        ObjectTable { slots: Slab::new(), next_generation: 1, limit }
    }

    /// Adds `value`; `None` when the table is at its limit.
    pub fn insert(&mut self, value: T) -> Option<ObjectId> {
        if self.is_full() {
            return None;
        }
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1).max(1);
        let index = self.slots.insert(Entry { generation, value });
        Some(id(index, generation))
    }

    fn index(&self, id: ObjectId) -> Option<usize> {
        let index = usize::try_from(id.0 & 0xffff_ffff).ok()?;
        let entry = self.slots.get(index)?;
        (entry.generation == (id.0 >> 32) as u32).then_some(index)
    }

    /// The object `id` names, if it is alive.
    pub fn get(&self, id: ObjectId) -> Option<&T> {
        self.index(id).map(|i| &self.slots[i].value)
    }

    /// The object `id` names, if it is alive.
    pub fn get_mut(&mut self, id: ObjectId) -> Option<&mut T> {
        self.index(id).map(|i| &mut self.slots[i].value)
    }

    /// Removes and returns the object `id` names; `None` (and no change)
    /// if it is not alive.
    pub fn remove(&mut self, id: ObjectId) -> Option<T> {
        self.index(id).map(|i| self.slots.remove(i).value)
    }

    /// Whether another object would exceed the limit.
    pub fn is_full(&self) -> bool {
        self.slots.len() >= self.limit
    }

    /// Live objects.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no object is alive.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Every live object with its id, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (ObjectId, &T)> {
        self.slots.iter().map(|(i, e)| (id(i, e.generation), &e.value))
    }

    /// Every object, mutably, with its id.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (ObjectId, &mut T)> {
        self.slots.iter_mut().map(|(i, e)| (id(i, e.generation), &mut e.value))
    }

    /// Keeps the objects `keep` says yes to and removes the others (their
    /// ids die, as with [`remove`](Self::remove)); `keep` sees each object
    /// once, mutably, and may act on one it drops. No allocation.
    pub fn retain(&mut self, mut keep: impl FnMut(ObjectId, &mut T) -> bool) {
        self.slots.retain(|i, e| keep(id(i, e.generation), &mut e.value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::vec::Vec;

    use proptest::prelude::*;

    #[test]
    fn retain_removes_what_it_is_told_and_their_ids_die() {
        let mut t = ObjectTable::new(8);
        let ids: Vec<ObjectId> = (0..5u32).map(|v| t.insert(v).expect("room")).collect();
        let mut seen = 0;
        t.retain(|_, v| {
            seen += 1;
            *v % 2 == 0
        });
        assert_eq!(seen, 5);
        let left: Vec<ObjectId> = t.iter().map(|(i, _)| i).collect();
        assert_eq!(left, [ids[0], ids[2], ids[4]]);
        assert!(t.get(ids[1]).is_none() && t.get(ids[3]).is_none());
        // A removed object's slot is reused under a new generation.
        let again = t.insert(9).expect("room");
        assert!(again != ids[1] && again != ids[3]);
    }

    #[test]
    fn iter_mut_changes_every_live_object() {
        let mut t = ObjectTable::new(8);
        let ids: Vec<ObjectId> = (0..4u32).map(|v| t.insert(v).expect("room")).collect();
        t.remove(ids[1]);
        for (_, v) in t.iter_mut() {
            *v += 10;
        }
        let got: Vec<(ObjectId, u32)> = t.iter().map(|(i, v)| (i, *v)).collect();
        assert_eq!(got, [(ids[0], 10), (ids[2], 12), (ids[3], 13)]);
    }

    #[test]
    fn a_reused_slot_does_not_answer_to_the_old_id() {
        let mut t = ObjectTable::new(4);
        let a = t.insert("a").unwrap();
        assert_eq!(t.remove(a), Some("a"));
        let b = t.insert("b").unwrap();
        assert_eq!(a.0 & 0xffff_ffff, b.0 & 0xffff_ffff, "the slot is reused");
        assert_ne!(a, b);
        assert_eq!(t.get(a), None);
        assert_eq!(t.remove(a), None);
        assert_eq!(t.get(b), Some(&"b"));
    }

    #[test]
    fn the_limit_holds_and_frees_room() {
        let mut t = ObjectTable::new(2);
        let a = t.insert(1).unwrap();
        t.insert(2).unwrap();
        assert!(t.is_full());
        assert_eq!(t.insert(3), None);
        t.remove(a);
        assert!(t.insert(3).is_some());
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn a_zero_limit_table_takes_nothing() {
        let mut t = ObjectTable::<()>::new(0);
        assert!(t.is_full());
        assert_eq!(t.insert(()), None);
    }

    #[test]
    fn generation_zero_is_never_given() {
        let mut t = ObjectTable::new(1);
        t.next_generation = u32::MAX;
        let a = t.insert(()).unwrap();
        assert_eq!(a.0 >> 32, u64::from(u32::MAX));
        t.remove(a);
        let b = t.insert(()).unwrap();
        assert_eq!(b.0 >> 32, 1, "wraps past 0");
        assert_eq!(t.get(ObjectId(0)), None);
    }

    #[test]
    fn ids_with_garbage_indexes_name_nothing() {
        let mut t = ObjectTable::new(4);
        let a = t.insert(7).unwrap();
        assert_eq!(t.get(ObjectId(a.0 | 0xffff_ffff)), None);
        assert_eq!(t.get(ObjectId(a.0 + 1)), None);
        assert_eq!(t.get(ObjectId(u64::MAX)), None);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u32),
        /// Remove the id picked (live or dead) among all ids ever given.
        Remove(usize),
        Get(usize),
        Garbage(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => any::<u32>().prop_map(Op::Insert),
            2 => any::<usize>().prop_map(Op::Remove),
            2 => any::<usize>().prop_map(Op::Get),
            1 => any::<u64>().prop_map(Op::Garbage),
        ]
    }

    proptest! {
        /// Against a map from id to value: every id ever given names its
        /// object while it lives and nothing after; ids are never given
        /// twice; the limit holds; `iter` lists exactly the live objects.
        #[test]
        fn behaves_like_a_map_of_unique_ids(limit in 0usize..6, ops in prop::collection::vec(op(), 0..120)) {
            let mut t = ObjectTable::new(limit);
            let mut model: BTreeMap<u64, u32> = BTreeMap::new();
            let mut given: Vec<ObjectId> = Vec::new();
            for op in ops {
                match op {
                    Op::Insert(v) => {
                        let r = t.insert(v);
                        prop_assert_eq!(r.is_some(), model.len() < limit);
                        if let Some(id) = r {
                            prop_assert!(!given.contains(&id), "id {:#x} given twice", id.0);
                            given.push(id);
                            model.insert(id.0, v);
                        }
                    }
                    Op::Remove(pick) if !given.is_empty() => {
                        let id = given[pick % given.len()];
                        prop_assert_eq!(t.remove(id), model.remove(&id.0));
                    }
                    Op::Get(pick) if !given.is_empty() => {
                        let id = given[pick % given.len()];
                        prop_assert_eq!(t.get(id), model.get(&id.0));
                    }
                    Op::Garbage(raw) => {
                        prop_assert_eq!(t.get(ObjectId(raw)), model.get(&raw));
                    }
                    _ => {}
                }
                prop_assert_eq!(t.len(), model.len());
                prop_assert_eq!(t.is_full(), model.len() >= limit);
                let live: BTreeMap<u64, u32> = t.iter().map(|(id, v)| (id.0, *v)).collect();
                prop_assert_eq!(&live, &model);
                for id in &given {
                    prop_assert_eq!(t.get(*id), model.get(&id.0));
                }
            }
        }
    }
}
