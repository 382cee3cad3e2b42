//! The capability space: every table, and the derivation tree across them.
//!
//! One [`CapSpace`] per kernel, behind one lock. Every operation validates
//! everything first and only then changes state: a failed call changes
//! nothing. Operations that remove capabilities report each removal
//! ([`Removed`]) so the kernel can release the objects they named.

use slab::Slab;

use crate::abi::{CapInfo, Error, ObjectKind, RawHandle, Rights};
use crate::object::{Capability, NO_BADGE, Narrow};
use crate::table::CapTable;
use crate::tree::{MAX_NODES, NIL, Tree};

/// Names one table in a [`CapSpace`]: an index plus a generation, so the id
/// of a destroyed table does not name the table that reuses its index (the
/// generation is a 32-bit counter of table creations; table ids are
/// kernel-held, never seen by user space).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableId {
    index: u32,
    generation: u32,
}

impl TableId {
    #[cfg(test)]
    pub(crate) const fn from_parts(index: u32, generation: u32) -> TableId {
        TableId { index, generation }
    }

    /// The id as one number (generation in the high half), for logs.
    pub const fn as_u64(self) -> u64 {
        (self.generation as u64) << 32 | self.index as u64
    }
}

/// One capability, as [`CapSpace::audit`] shows it.
#[derive(Clone, Copy, Debug)]
pub struct Audited<'a> {
    /// Its table.
    pub table: TableId,
    /// Its handle there.
    pub handle: RawHandle,
    /// The capability.
    pub capability: &'a Capability,
    /// The capability it derives from, `None` for a kernel-minted root.
    pub parent: Option<&'a Capability>,
}

/// A capability removed by [`CapSpace::drop_cap`], [`CapSpace::revoke`] or
/// [`CapSpace::destroy_table`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Removed {
    /// The table it was in.
    pub table: TableId,
    /// Its handle there (now dead).
    pub handle: RawHandle,
    /// The capability.
    pub capability: Capability,
}

#[derive(Debug)]
struct TableSlot {
    generation: u32,
    table: CapTable,
}

/// Every capability table and the derivation tree.
#[derive(Debug)]
pub struct CapSpace {
    tables: Slab<TableSlot>,
    tree: Tree,
    max_capabilities: usize,
    next_table_generation: u32,
    /// How many tables hold a parked capability (each has a tree node).
    parked: usize,
}

impl CapSpace {
    /// An empty space holding at most `max_capabilities` capabilities in
    /// all tables together (capped at `u32::MAX - 1`); beyond that, creating
    /// one is `OutOfMemory`.
    pub const fn new(max_capabilities: usize) -> CapSpace {
        CapSpace {
            tables: Slab::new(),
            tree: Tree::new(),
            max_capabilities: if max_capabilities < MAX_NODES {
                max_capabilities
            } else {
                MAX_NODES
            },
            next_table_generation: 0,
            parked: 0,
        }
    }

    /// How many capabilities exist, in all tables (parked ones not
    /// counted: they have no handle).
    pub fn len(&self) -> usize {
        self.tree.len() - self.parked
    }

    /// Whether no capability exists.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many tables exist.
    pub fn table_count(&self) -> usize {
        self.tables.len()
    }

    /// Creates an empty table for a process: at most `quota` capabilities,
    /// handle values keyed by `secret` (give each table fresh randomness).
    /// O(1).
    pub fn create_table(&mut self, quota: u32, secret: u64) -> Result<TableId, Error> {
        let table = CapTable::new(quota, secret)?;
        if self.tables.vacant_key() >= u32::MAX as usize {
            return Err(Error::OutOfMemory);
        }
        let generation = self.next_table_generation;
        self.next_table_generation = generation.wrapping_add(1);
        let index = self.tables.insert(TableSlot { generation, table }) as u32;
        Ok(TableId { index, generation })
    }

    /// The table `id`, if it exists.
    #[inline]
    pub fn table(&self, id: TableId) -> Option<&CapTable> {
        match self.tables.get(id.index as usize) {
            Some(slot) if slot.generation == id.generation => Some(&slot.table),
            _ => None,
        }
    }

    #[inline]
    fn table_ref(&self, id: TableId) -> Result<&CapTable, Error> {
        self.table(id).ok_or(Error::PeerGone)
    }

    #[inline]
    fn table_mut(&mut self, id: TableId) -> &mut CapTable {
        &mut self.tables[id.index as usize].table
    }

    /// Whether a new capability fits in `table` and in the space.
    fn check_room(&self, table: &CapTable) -> Result<(), Error> {
        if !table.has_room() {
            return Err(Error::TableFull);
        }
        if self.tree.len() >= self.max_capabilities
            || self.tree.vacant_index() as usize >= MAX_NODES
        {
            return Err(Error::OutOfMemory);
        }
        Ok(())
    }

    /// Resolves `handle` in `table` to a capability of kind `kind` holding
    /// at least `rights`. Errors, in order: `PeerGone` (no such table),
    /// `BadHandle`, `WrongKind`, `MissingRight`. O(1), no allocation.
    #[inline]
    pub fn lookup(
        &self,
        table: TableId,
        handle: RawHandle,
        kind: ObjectKind,
        rights: Rights,
    ) -> Result<&Capability, Error> {
        self.table_ref(table)?.lookup(handle, kind, rights)
    }

    /// Resolves `handle` in `table` to a capability of any kind.
    #[inline]
    pub fn get(&self, table: TableId, handle: RawHandle) -> Result<&Capability, Error> {
        self.table_ref(table)?.get(handle)
    }

    /// What `cap_info` returns for `handle`. Needs no right.
    pub fn info(&self, table: TableId, handle: RawHandle) -> Result<CapInfo, Error> {
        self.get(table, handle).map(Capability::info)
    }

    /// Creates a root capability in `table` (for the kernel: boot
    /// capabilities, new endpoints, spawned processes, replies). O(1).
    ///
    /// Errors: `PeerGone`; `InvalidArgument` for rights outside the kind's
    /// [`valid_rights`](ObjectKind::valid_rights), a badge on a kind without
    /// badges, or an empty range; `OutOfRange` for a range past `u64::MAX`;
    /// `TableFull`; `OutOfMemory`.
    #[inline]
    pub fn mint(&mut self, table: TableId, cap: Capability) -> Result<RawHandle, Error> {
        let target = self.table_ref(table)?;
        if !cap.kind().valid_rights().contains(cap.rights) {
            return Err(Error::InvalidArgument);
        }
        if cap.badge != NO_BADGE && !cap.kind().has_badge() {
            return Err(Error::InvalidArgument);
        }
        cap.object.validate()?;
        self.check_room(target)?;
        Ok(self.insert(table, NIL, cap))
    }

    /// Inserts a capability with a new node under `parent`, after checks.
    #[inline]
    fn insert(&mut self, table: TableId, parent: u32, cap: Capability) -> RawHandle {
        let node = self.tree.vacant_index();
        let target = self.table_mut(table);
        let slot = target.vacant_slot();
        let (handle, inserted) = target.insert(cap, node);
        debug_assert_eq!(inserted, slot);
        let created = self.tree.insert(parent, table, slot);
        debug_assert_eq!(created, node);
        handle
    }

    /// Derives a child of `handle` in the same table, with `rights` (a
    /// subset of the parent's) and narrowed as `narrow` says. Needs
    /// `DERIVE`. O(1).
    ///
    /// Errors, in order: `PeerGone`; `BadHandle`; `MissingRight` (no
    /// `DERIVE`, or `rights` not within the parent's); the errors of
    /// [`Narrow::apply`]; `TableFull`; `OutOfMemory`.
    pub fn derive(
        &mut self,
        table: TableId,
        handle: RawHandle,
        rights: Rights,
        narrow: Narrow,
    ) -> Result<RawHandle, Error> {
        let source = self.table_ref(table)?;
        let parent = source.resolve(handle)?;
        if !parent.cap.rights.contains(Rights::DERIVE) || !parent.cap.rights.contains(rights) {
            return Err(Error::MissingRight);
        }
        let (object, badge) = narrow.apply(&parent.cap)?;
        let cap = Capability { object, rights, badge };
        let parent_node = parent.node;
        self.check_room(source)?;
        Ok(self.insert(table, parent_node, cap))
    }

    /// Copies `handle` from table `from` into table `to` with `rights` (a
    /// subset of the source's), as a child of the source: revoking the
    /// source (or an ancestor) takes the copy away. Needs `GRANT`. O(1).
    ///
    /// Errors, in order: `PeerGone` (either table missing);
    /// `InvalidArgument` (`from == to`: use `derive`); `BadHandle`;
    /// `MissingRight` (no `GRANT`, or `rights` not within the source's);
    /// `TableFull` (in `to`); `OutOfMemory`.
    pub fn grant(
        &mut self,
        from: TableId,
        handle: RawHandle,
        to: TableId,
        rights: Rights,
    ) -> Result<RawHandle, Error> {
        let source = self.table_ref(from)?;
        let target = self.table_ref(to)?;
        if from == to {
            return Err(Error::InvalidArgument);
        }
        let parent = source.resolve(handle)?;
        if !parent.cap.rights.contains(Rights::GRANT) || !parent.cap.rights.contains(rights) {
            return Err(Error::MissingRight);
        }
        let cap = Capability { rights, ..parent.cap };
        let parent_node = parent.node;
        self.check_room(target)?;
        Ok(self.insert(to, parent_node, cap))
    }

    /// Moves `handle` from table `from` into table `to`: the old handle dies,
    /// the capability keeps its place in the derivation tree (so revoking
    /// an ancestor still reaches it) and its rights. Needs `GRANT`. O(1).
    ///
    /// Errors, in order: `PeerGone`; `InvalidArgument` (`from == to`);
    /// `BadHandle`; `MissingRight`; `TableFull` (in `to`).
    pub fn move_cap(
        &mut self,
        from: TableId,
        handle: RawHandle,
        to: TableId,
    ) -> Result<RawHandle, Error> {
        let source = self.table_ref(from)?;
        let target = self.table_ref(to)?;
        if from == to {
            return Err(Error::InvalidArgument);
        }
        let (slot, entry) = source.resolve_slot(handle)?;
        if !entry.cap.rights.contains(Rights::GRANT) {
            return Err(Error::MissingRight);
        }
        if !target.has_room() {
            return Err(Error::TableFull);
        }
        let entry = self.table_mut(from).remove(slot);
        let target = self.table_mut(to);
        let (new_handle, new_slot) = target.insert(entry.cap, entry.node);
        self.tree.relocate(entry.node, to, new_slot);
        Ok(new_handle)
    }

    /// Closes `handle` in `table` and returns what it held. Needs no right.
    /// Capabilities derived from it live on: they are re-parented to its
    /// parent (or become roots), so a revoke higher up still reaches them.
    /// O(number of its direct children).
    ///
    /// Errors: `PeerGone`; `BadHandle`.
    #[inline]
    pub fn drop_cap(&mut self, table: TableId, handle: RawHandle) -> Result<Removed, Error> {
        let (slot, _) = self.table_ref(table)?.resolve_slot(handle)?;
        let entry = self.table_mut(table).remove(slot);
        self.tree.remove(entry.node);
        Ok(Removed { table, handle, capability: entry.cap })
    }

    /// Parks `handle` in `table` (see `table`'s module documentation):
    /// the handle dies, as if dropped, but the capability keeps its slot
    /// and tree node until [`unpark`](Self::unpark) brings it back under a
    /// new handle, or its table is destroyed (which reports it removed
    /// like the others). Only a capability with no relatives can be
    /// parked: a root with no children, so no revoke reaches it and none
    /// can derive from it while it has no handle. One per table. Needs
    /// no right.
    ///
    /// For a kernel that hands out the same kind of capability again and
    /// again (a reply per call): parking and unparking are a few stores
    /// where a drop and a mint each free and allocate a slot and a node.
    ///
    /// Errors (nothing changed; drop it instead): `PeerGone`; `BadHandle`;
    /// `InvalidArgument` (it has a parent or children); `TableFull` (the
    /// table already holds a parked capability, or the slot's generations
    /// are exhausted).
    #[inline]
    pub fn park(&mut self, table: TableId, handle: RawHandle) -> Result<(), Error> {
        let (slot, entry) = self.table_ref(table)?.resolve_slot(handle)?;
        let node = self.tree.get(entry.node).ok_or(Error::BadHandle)?;
        if node.parent != NIL || node.first_child != NIL {
            return Err(Error::InvalidArgument);
        }
        if !self.table_mut(table).park(slot) {
            return Err(Error::TableFull);
        }
        self.parked += 1;
        Ok(())
    }

    /// Makes `table`'s parked capability live again under a new handle
    /// and returns both. `None` (nothing changed) if it has none or is
    /// full.
    #[inline]
    pub fn unpark(&mut self, table: TableId) -> Option<(RawHandle, Capability)> {
        self.table(table)?;
        let (handle, entry) = self.table_mut(table).unpark()?;
        let cap = entry.cap;
        self.parked -= 1;
        Some((handle, cap))
    }

    /// `table`'s parked capability, if it has one (for audits).
    pub fn parked(&self, table: TableId) -> Option<&Capability> {
        self.table(table)?.parked().map(|(_, entry)| &entry.cap)
    }

    /// Destroys every capability derived from `handle` (transitively, in
    /// every table), leaving `handle` itself alone. Needs `REVOKE`. Calls
    /// `on_removed` once per destroyed capability, leaves first, and
    /// returns how many there were.
    ///
    /// O(size of the revoked subtree), independent of every other
    /// capability; constant stack; no allocation.
    ///
    /// Errors: `PeerGone`; `BadHandle`; `MissingRight`.
    pub fn revoke(
        &mut self,
        table: TableId,
        handle: RawHandle,
        mut on_removed: impl FnMut(Removed),
    ) -> Result<usize, Error> {
        let entry = self.table_ref(table)?.resolve(handle)?;
        if !entry.cap.rights.contains(Rights::REVOKE) {
            return Err(Error::MissingRight);
        }
        let root = entry.node;
        let tables = &mut self.tables;
        let mut count = 0;
        self.tree.remove_descendants(root, |node| {
            let owner = &mut tables[node.table.index as usize].table;
            let slot = node.slot as usize;
            let entry = owner.remove(slot);
            let handle = owner.handle_of(slot, &entry);
            count += 1;
            on_removed(Removed { table: node.table, handle, capability: entry.cap });
        });
        Ok(count)
    }

    /// Destroys table `table` (process exit): drops every capability in
    /// it, calling `on_removed` for each, and returns how many there were.
    /// Capabilities derived from them in other tables live on, re-parented
    /// as by [`drop_cap`](Self::drop_cap). O(capabilities in the table +
    /// children re-parented).
    ///
    /// Errors: `PeerGone` (no such table).
    pub fn destroy_table(
        &mut self,
        table: TableId,
        mut on_removed: impl FnMut(Removed),
    ) -> Result<usize, Error> {
        self.table_ref(table)?;
        let slot = self.tables.remove(table.index as usize);
        if slot.table.parked().is_some() {
            self.parked -= 1;
        }
        let mut count = 0;
        for (handle, entry) in slot.table.into_entries() {
            self.tree.remove(entry.node);
            count += 1;
            on_removed(Removed { table, handle, capability: entry.cap });
        }
        Ok(count)
    }

    /// Every capability in every table, with the capability it was derived
    /// from (`None` for a root the kernel minted). For audits (the kernel's
    /// authority checks): O(all capabilities).
    pub fn audit(&self) -> impl Iterator<Item = Audited<'_>> + '_ {
        self.tables().flat_map(move |(table, t)| {
            t.entries().map(move |(slot, entry)| {
                let parent = self.tree.get(entry.node).and_then(|n| {
                    let p = self.tree.get(n.parent)?;
                    let pt = self.tables.get(p.table.index as usize)?;
                    pt.table.entry(p.slot as usize).map(|e| &e.cap)
                });
                Audited { table, handle: t.handle_of(slot, entry), capability: &entry.cap, parent }
            })
        })
    }

    pub(crate) fn tables(&self) -> impl Iterator<Item = (TableId, &CapTable)> + '_ {
        self.tables.iter().map(|(index, slot)| {
            (TableId { index: index as u32, generation: slot.generation }, &slot.table)
        })
    }

    pub(crate) fn tree(&self) -> &Tree {
        &self.tree
    }

    #[cfg(test)]
    pub(crate) fn parts_for_test(&mut self, id: TableId) -> (&mut CapTable, &mut Tree) {
        (&mut self.tables[id.index as usize].table, &mut self.tree)
    }
}
