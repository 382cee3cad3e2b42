//! Memory quotas: how many frames a process (or a group of them) may use.
//!
//! A `Memory` capability names a quota. Every frame given to a process —
//! user pages, page tables, its kernel stack — is charged to one, so what
//! a process makes the kernel hold on its behalf is bounded. A child's
//! quota is carved out of its parent's at spawn: the pages it may use are
//! reserved in the parent's quota until the child's quota dies.
//!
//! Each quota also has a rights *ceiling*: the rights of the capability it
//! was carved through (within its parent's ceiling). Every `Memory`
//! capability naming it holds rights within that ceiling, so a child can
//! never get a right over memory that its parent's handle lacked (the
//! authority checks verify this after every syscall).
//!
//! A quota lives while anything refers to it: capabilities naming it,
//! processes running on it, frames charged to it, child quotas. The last
//! reference gone, it gives its reservation back to its parent.

use caps::ObjectId;
use caps::abi::{Error, ObjectKind, Rights};

use crate::mem::aspace::Charge;
use crate::objtable::ObjectTable;

/// Most quota objects at once.
pub const MAX_QUOTAS: usize = 1024;

/// One quota.
#[derive(Debug)]
pub struct Quota {
    /// Frames that may be charged.
    pub limit: u64,
    /// Frames charged now (including reservations for child quotas).
    pub used: u64,
    /// Capabilities and processes referring to it.
    pub refs: u64,
    /// The quota this one was carved from, and how much it reserved there.
    pub parent: Option<(ObjectId, u64)>,
    /// The most rights a `Memory` capability naming this quota may hold.
    pub ceiling: Rights,
}

/// Every quota.
pub struct Quotas(pub ObjectTable<Quota>);

impl Quotas {
    /// No quotas.
    pub const fn new() -> Self {
        Quotas(ObjectTable::new(MAX_QUOTAS))
    }

    /// A root quota of `limit` frames (the one init gets), with one
    /// reference and every memory right.
    pub fn root(&mut self, limit: u64) -> Option<ObjectId> {
        let ceiling = ObjectKind::Memory.valid_rights();
        self.0.insert(Quota { limit, used: 0, refs: 1, parent: None, ceiling })
    }

    /// A quota of `frames` carved from `parent` through a capability with
    /// `rights`, with one reference. Its ceiling is `rights` within the
    /// parent's ceiling.
    pub fn carve(
        &mut self,
        parent: ObjectId,
        frames: u64,
        rights: Rights,
    ) -> Result<ObjectId, Error> {
        let p = self.0.get_mut(parent).ok_or(Error::BadHandle)?;
        if p.limit - p.used < frames {
            return Err(Error::OutOfMemory);
        }
        p.used += frames;
        let ceiling = rights & p.ceiling;
        match self.0.insert(Quota {
            limit: frames,
            used: 0,
            refs: 1,
            parent: Some((parent, frames)),
            ceiling,
        }) {
            Some(id) => Ok(id),
            None => {
                self.0.get_mut(parent).expect("checked above").used -= frames;
                Err(Error::OutOfMemory)
            }
        }
    }

    /// Adds a reference (a new capability naming the quota).
    pub fn hold(&mut self, id: ObjectId) {
        if let Some(q) = self.0.get_mut(id) {
            q.refs += 1;
        }
    }

    /// Drops a reference; frees the quota if nothing refers to it any more.
    pub fn release(&mut self, id: ObjectId) {
        if let Some(q) = self.0.get_mut(id) {
            q.refs -= 1;
        }
        self.free_unused(id);
    }

    /// Frees `id` and then its ancestors while they are unreferenced and
    /// empty. Iterative: a deep chain of quotas costs no stack.
    fn free_unused(&mut self, mut id: ObjectId) {
        loop {
            let Some(q) = self.0.get(id) else { return };
            if q.refs != 0 || q.used != 0 {
                return;
            }
            let q = self.0.remove(id).expect("present");
            let Some((parent, reserved)) = q.parent else { return };
            if let Some(p) = self.0.get_mut(parent) {
                p.used -= reserved;
            }
            id = parent;
        }
    }
}

impl Charge for Quotas {
    fn charge(&mut self, quota: ObjectId) -> Result<(), Error> {
        let q = self.0.get_mut(quota).ok_or(Error::OutOfMemory)?;
        if q.used >= q.limit {
            return Err(Error::OutOfMemory);
        }
        q.used += 1;
        Ok(())
    }

    fn credit(&mut self, quota: ObjectId) {
        if let Some(q) = self.0.get_mut(quota) {
            q.used -= 1;
        }
        self.free_unused(quota);
    }
}
