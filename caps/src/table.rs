//! A process's capability table: handle values to capabilities.
//!
//! Backed by a [`Slab`]: insert, lookup and remove are O(1). Each slot
//! carries a generation that advances when the slot is vacated, so a handle
//! to a dropped capability never resolves again, even after its slot is
//! reused. A slot whose generation is exhausted (after 2^39 reuses) is
//! retired: it stays occupied by a tombstone that no handle matches.
//!
//! A table may also hold one *parked* capability ([`CapTable::park`]):
//! its handle is dead (the generation advanced, as on removal), it is not
//! counted, listed or resolvable, but it keeps its slot and its tree node
//! so that [`CapTable::unpark`] can make it live again, under a new handle,
//! without freeing and allocating both. The kernel parks a spent reply
//! capability and unparks it as the next call's reply (the one-shot
//! reply of every `ipc_call` would otherwise cost a mint and a drop).

use alloc::vec::Vec;
use slab::Slab;

use crate::abi::{Error, ObjectKind, RawHandle, Rights};
use crate::handle::{HandleCodec, MAX_SLOTS};
use crate::object::{Capability, Object};

/// The generation of a retired slot. Decoding never yields it (decoded
/// generations are below 2^39 or all ones), so no handle matches it.
const TOMBSTONE_GENERATION: u64 = 1 << 63;

/// The generation of a parked entry (see the module's documentation): no
/// handle matches it either; its next generation is in `next_generation`.
const PARKED_GENERATION: u64 = 1 << 62;

/// The generation given to a fresh slot (unless it encodes to 0).
const FIRST_GENERATION: u64 = 0;

/// One occupied slot.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    pub(crate) cap: Capability,
    pub(crate) generation: u64,
    /// The capability's node in the derivation tree.
    pub(crate) node: u32,
}

impl Entry {
    const TOMBSTONE: Entry = Entry {
        cap: Capability {
            object: Object::Console(crate::object::ObjectId(0)),
            rights: Rights::empty(),
            badge: 0,
        },
        generation: TOMBSTONE_GENERATION,
        node: crate::tree::NIL,
    };

    pub(crate) const fn is_live(&self) -> bool {
        self.generation < PARKED_GENERATION
    }

    pub(crate) const fn is_parked(&self) -> bool {
        self.generation == PARKED_GENERATION
    }
}

/// A per-process capability table with a quota.
#[derive(Debug)]
pub struct CapTable {
    entries: Slab<Entry>,
    /// For every slot ever used: the generation its next occupant gets.
    next_generation: Vec<u64>,
    codec: HandleCodec,
    quota: u32,
    live: u32,
    /// The slot of the parked entry, if there is one.
    parked: Option<u32>,
}

impl CapTable {
    /// An empty table holding at most `quota` capabilities, its handle
    /// values keyed by `secret`. A quota above [`MAX_SLOTS`] is
    /// `InvalidArgument`.
    pub fn new(quota: u32, secret: u64) -> Result<CapTable, Error> {
        if quota as usize > MAX_SLOTS {
            return Err(Error::InvalidArgument);
        }
        Ok(CapTable {
            entries: Slab::new(),
            next_generation: Vec::new(),
            codec: HandleCodec::new(secret),
            quota,
            live: 0,
            parked: None,
        })
    }

    /// How many capabilities the table holds.
    pub const fn len(&self) -> usize {
        self.live as usize
    }

    /// Whether the table holds no capability.
    pub const fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The most capabilities the table may hold.
    pub const fn quota(&self) -> u32 {
        self.quota
    }

    /// Whether one more capability fits.
    pub fn has_room(&self) -> bool {
        self.live < self.quota && self.entries.vacant_key() < MAX_SLOTS
    }

    /// Resolves `handle` to a capability of kind `kind` holding at least
    /// `rights`. Errors, in this order: `BadHandle` (not a live handle of
    /// this table), `WrongKind`, `MissingRight`. O(1), no allocation.
    #[inline]
    pub fn lookup(
        &self,
        handle: RawHandle,
        kind: ObjectKind,
        rights: Rights,
    ) -> Result<&Capability, Error> {
        let entry = self.resolve(handle)?;
        if entry.cap.kind() != kind {
            return Err(Error::WrongKind);
        }
        if !entry.cap.rights.contains(rights) {
            return Err(Error::MissingRight);
        }
        Ok(&entry.cap)
    }

    /// Resolves `handle` to a capability of any kind (`BadHandle` if it is
    /// not a live handle of this table).
    #[inline]
    pub fn get(&self, handle: RawHandle) -> Result<&Capability, Error> {
        self.resolve(handle).map(|entry| &entry.cap)
    }

    /// Every capability with its handle, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (RawHandle, &Capability)> + '_ {
        self.entries
            .iter()
            .filter(|(_, entry)| entry.is_live())
            .map(|(slot, entry)| (self.handle_of(slot, entry), &entry.cap))
    }

    #[inline]
    pub(crate) fn resolve(&self, handle: RawHandle) -> Result<&Entry, Error> {
        self.resolve_slot(handle).map(|(_, entry)| entry)
    }

    #[inline]
    pub(crate) fn resolve_slot(&self, handle: RawHandle) -> Result<(usize, &Entry), Error> {
        let (slot, generation) = self.codec.decode(handle.as_raw());
        match self.entries.get(slot) {
            Some(entry) if entry.generation == generation => Ok((slot, entry)),
            _ => Err(Error::BadHandle),
        }
    }

    pub(crate) fn handle_of(&self, slot: usize, entry: &Entry) -> RawHandle {
        RawHandle::from_raw(self.codec.encode(slot, entry.generation))
    }

    /// The slot the next insertion will use.
    pub(crate) fn vacant_slot(&self) -> usize {
        self.entries.vacant_key()
    }

    /// Stores `cap` (tree node `node`) in [`vacant_slot`](Self::vacant_slot).
    /// The caller has checked [`has_room`](Self::has_room).
    #[inline]
    pub(crate) fn insert(&mut self, cap: Capability, node: u32) -> (RawHandle, usize) {
        debug_assert!(self.has_room());
        let slot = self.entries.vacant_key();
        let generation = match self.next_generation.get(slot) {
            Some(&generation) => generation,
            None => {
                let generation = match self.codec.issuable(slot, FIRST_GENERATION) {
                    Some(generation) => generation,
                    None => FIRST_GENERATION + 1,
                };
                self.next_generation.push(generation);
                generation
            }
        };
        let entry = Entry { cap, generation, node };
        let inserted = self.entries.insert(entry);
        debug_assert_eq!(inserted, slot);
        self.live += 1;
        (self.handle_of(slot, &entry), slot)
    }

    /// Empties `slot` (which must be live), advancing its generation or
    /// retiring it.
    #[inline]
    pub(crate) fn remove(&mut self, slot: usize) -> Entry {
        let entry = self.entries[slot];
        debug_assert!(entry.is_live());
        match self.codec.issuable(slot, entry.generation + 1) {
            Some(next) => {
                self.next_generation[slot] = next;
                self.entries.remove(slot);
            }
            None => self.entries[slot] = Entry::TOMBSTONE,
        }
        self.live -= 1;
        entry
    }

    /// Parks the live entry in `slot`: its handle dies as on removal, it
    /// is no longer counted, listed or resolvable, and it keeps its slot
    /// and tree node for [`unpark`](Self::unpark). `false` (nothing
    /// changed) if the table already has a parked entry or the slot's
    /// generations are exhausted (then remove it instead).
    #[inline]
    pub(crate) fn park(&mut self, slot: usize) -> bool {
        let entry = &mut self.entries[slot];
        debug_assert!(entry.is_live());
        if self.parked.is_some() {
            return false;
        }
        let Some(next) = self.codec.issuable(slot, entry.generation + 1) else { return false };
        entry.generation = PARKED_GENERATION;
        self.next_generation[slot] = next;
        self.parked = Some(slot as u32);
        self.live -= 1;
        true
    }

    /// Makes the parked entry live again under a new handle. `None`
    /// (nothing changed) if there is none or the table is full.
    #[inline]
    pub(crate) fn unpark(&mut self) -> Option<(RawHandle, &Entry)> {
        let slot = self.parked? as usize;
        if self.live >= self.quota {
            return None;
        }
        let entry = &mut self.entries[slot];
        debug_assert!(entry.is_parked());
        entry.generation = self.next_generation[slot];
        self.parked = None;
        self.live += 1;
        let entry = &self.entries[slot];
        Some((RawHandle::from_raw(self.codec.encode(slot, entry.generation)), entry))
    }

    /// The parked entry and its slot, if there is one.
    pub(crate) fn parked(&self) -> Option<(usize, &Entry)> {
        let slot = self.parked? as usize;
        self.entries.get(slot).map(|entry| (slot, entry))
    }

    /// The live entry in `slot`, if any.
    pub(crate) fn entry(&self, slot: usize) -> Option<&Entry> {
        self.entries.get(slot).filter(|entry| entry.is_live())
    }

    /// Every live entry with its slot.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (usize, &Entry)> + '_ {
        self.entries.iter().filter(|(_, entry)| entry.is_live())
    }

    /// Consumes the table, yielding every live entry with its handle, and
    /// the parked one (with the dead handle it would have had next).
    pub(crate) fn into_entries(self) -> impl Iterator<Item = (RawHandle, Entry)> {
        let codec = self.codec;
        let next = self.next_generation;
        self.entries.into_iter().filter(|(_, entry)| entry.is_live() || entry.is_parked()).map(
            move |(slot, entry)| {
                let generation = if entry.is_parked() { next[slot] } else { entry.generation };
                (RawHandle::from_raw(codec.encode(slot, generation)), entry)
            },
        )
    }

    /// The entry in `slot`, for tests that corrupt the table on purpose.
    #[cfg(test)]
    pub(crate) fn entry_mut(&mut self, slot: usize) -> &mut Entry {
        &mut self.entries[slot]
    }

    /// Overrides the quota, for tests that corrupt the table on purpose.
    #[cfg(test)]
    pub(crate) fn set_quota_for_test(&mut self, quota: u32) {
        self.quota = quota;
    }

    /// Makes `slot`'s next generation the last one, so that its next
    /// removal retires it (tests of retirement only).
    #[cfg(test)]
    pub(crate) fn age_slot(&mut self, slot: usize) {
        self.next_generation[slot] = crate::handle::MAX_GENERATION;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::ObjectId;

    fn console() -> Capability {
        Capability { object: Object::Console(ObjectId(1)), rights: Rights::WRITE, badge: 0 }
    }

    #[test]
    fn quota_above_the_slot_space_is_refused() {
        assert_eq!(CapTable::new(MAX_SLOTS as u32 + 1, 0).unwrap_err(), Error::InvalidArgument);
        assert!(CapTable::new(MAX_SLOTS as u32, 0).is_ok());
    }

    #[test]
    fn reused_slots_get_new_generations() {
        let mut table = CapTable::new(4, 99).unwrap();
        let (first, slot) = table.insert(console(), 0);
        table.remove(slot);
        let (second, again) = table.insert(console(), 0);
        assert_eq!(slot, again);
        assert_ne!(first, second);
        assert_eq!(table.get(first), Err(Error::BadHandle));
        assert!(table.get(second).is_ok());
    }

    #[test]
    fn an_exhausted_slot_is_retired_for_good() {
        let mut table = CapTable::new(4, 7).unwrap();
        let (old, slot) = table.insert(console(), 0);
        table.remove(slot);
        table.age_slot(slot);
        let (last, same) = table.insert(console(), 0);
        assert_eq!(same, slot);
        assert!(table.get(last).is_ok());
        table.remove(slot);
        // The slot now holds a tombstone: no handle resolves, it is not
        // counted, and the next insertion uses a fresh slot.
        assert_eq!(table.len(), 0);
        assert_eq!(table.get(last), Err(Error::BadHandle));
        assert_eq!(table.get(old), Err(Error::BadHandle));
        assert_eq!(table.entry(slot).map(|e| e.node), None);
        assert_eq!(table.iter().count(), 0);
        let (fresh, other) = table.insert(console(), 0);
        assert_ne!(other, slot);
        assert!(table.get(fresh).is_ok());
        assert_eq!(table.into_entries().count(), 1);
    }

    #[test]
    fn a_parked_entry_is_dead_uncounted_and_comes_back_under_a_new_handle() {
        let mut table = CapTable::new(2, 5).unwrap();
        let (first, slot) = table.insert(console(), 7);
        let (other, other_slot) = table.insert(console(), 8);
        assert!(table.park(slot));
        assert_eq!(table.len(), 1);
        assert_eq!(table.get(first), Err(Error::BadHandle));
        assert_eq!(table.entry(slot).map(|e| e.node), None);
        assert_eq!(table.iter().count(), 1);
        assert_eq!(table.parked().map(|(s, e)| (s, e.node)), Some((slot, 7)));
        // One parked entry at a time.
        assert!(!table.park(other_slot));
        assert!(table.get(other).is_ok());
        // Its slot is not reused while parked.
        assert!(table.has_room());
        let (third, third_slot) = table.insert(console(), 9);
        assert_ne!(third_slot, slot);
        // A full table does not take it back.
        assert!(table.unpark().is_none());
        table.remove(third_slot);
        let (again, node) = table.unpark().map(|(h, e)| (h, e.node)).unwrap();
        assert_eq!(node, 7);
        assert_ne!(again, first);
        assert!(table.get(again).is_ok());
        assert_eq!(table.get(first), Err(Error::BadHandle));
        assert_eq!(table.get(third), Err(Error::BadHandle));
        assert_eq!(table.len(), 2);
        assert!(table.unpark().is_none());
        assert!(table.parked().is_none());
    }

    #[test]
    fn a_parked_entry_is_handed_back_when_the_table_goes() {
        let mut table = CapTable::new(2, 5).unwrap();
        let (first, slot) = table.insert(console(), 7);
        table.insert(console(), 8);
        assert!(table.park(slot));
        let entries: Vec<_> = table.into_entries().collect();
        assert_eq!(entries.len(), 2);
        assert!(entries.iter().all(|(h, _)| *h != first));
        assert!(entries.iter().any(|(_, e)| e.node == 7));
    }

    #[test]
    fn lookup_reports_each_failure_distinctly() {
        let mut table = CapTable::new(4, 1).unwrap();
        let (handle, _) = table.insert(console(), 0);
        assert!(table.lookup(handle, ObjectKind::Console, Rights::WRITE).is_ok());
        assert_eq!(table.lookup(handle, ObjectKind::Timer, Rights::empty()), Err(Error::WrongKind));
        assert_eq!(
            table.lookup(handle, ObjectKind::Console, Rights::READ),
            Err(Error::MissingRight)
        );
        assert_eq!(
            table.lookup(RawHandle::INVALID, ObjectKind::Console, Rights::empty()),
            Err(Error::BadHandle)
        );
        let forged = RawHandle::from_raw(handle.as_raw() | 1 << 63);
        assert_eq!(table.get(forged), Err(Error::BadHandle));
        assert_eq!(table.get(RawHandle::from_raw(handle.as_raw() ^ 1)), Err(Error::BadHandle));
    }
}
