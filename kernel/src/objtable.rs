//! A table of kernel objects named by generation-checked ids.
//!
//! Processes, quotas, endpoints and replies live in these. An id is the
//! slot index in the low 32 bits and the slot's generation in the high 32,
//! so an id kept after its object died never names the object that reuses
//! the slot.

use caps::ObjectId;
use slab::Slab;

struct Entry<T> {
    generation: u32,
    value: T,
}

/// Objects of one type, by [`ObjectId`].
pub struct ObjectTable<T> {
    slots: Slab<Entry<T>>,
    /// Generation to give the next object put in a slot (bumped every time).
    next_generation: u32,
    limit: usize,
}

impl<T> ObjectTable<T> {
    /// An empty table that holds at most `limit` objects.
    pub const fn new(limit: usize) -> Self {
        ObjectTable { slots: Slab::new(), next_generation: 1, limit }
    }

    /// Adds `value`; `None` when the table is at its limit.
    pub fn insert(&mut self, value: T) -> Option<ObjectId> {
        if self.slots.len() >= self.limit {
            return None;
        }
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1).max(1);
        let index = self.slots.insert(Entry { generation, value });
        Some(ObjectId((generation as u64) << 32 | index as u64))
    }

    fn index(&self, id: ObjectId) -> Option<usize> {
        let index = (id.0 & 0xffff_ffff) as usize;
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

    /// Removes and returns the object `id` names.
    pub fn remove(&mut self, id: ObjectId) -> Option<T> {
        self.index(id).map(|i| self.slots.remove(i).value)
    }

    /// Whether another object would exceed the limit.
    pub fn is_full(&self) -> bool {
        self.slots.len() >= self.limit
    }

    /// Every live object with its id.
    pub fn iter(&self) -> impl Iterator<Item = (ObjectId, &T)> {
        self.slots.iter().map(|(i, e)| (ObjectId((e.generation as u64) << 32 | i as u64), &e.value))
    }
}
