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
//! kernel's authority checks verify this after every syscall).
//!
//! A quota lives while anything refers to it: capabilities naming it,
//! processes running on it, frames charged to it, frames reserved for
//! child quotas. The last reference gone, it gives its reservation back
//! to its parent. (A child carved with 0 frames reserves nothing, so it
//! does not keep its parent alive; its parent link may then name a dead
//! quota, to which it has nothing to give back.)
//!
//! Invariants (the property test checks them against a model): for every
//! live quota, `used <= limit`; `used` is its charged frames plus the
//! reservations of its live children; a child's ceiling is within its
//! parent's. A credit or release with nothing to give back is a kernel bug:
//! it changes nothing rather than wrapping a count below zero.

use caps::ObjectId;
use caps::abi::{Error, ObjectKind, Rights};

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
    /// Of `used`, the frames reserved for live child quotas (the rest are
    /// charged frames, which only a credit gives back).
    pub reserved: u64,
    /// Capabilities and processes referring to it.
    pub refs: u64,
    /// The quota this one was carved from, and how many frames it reserved
    /// there.
    pub parent: Option<(ObjectId, u64)>,
    /// The most rights a `Memory` capability naming this quota may hold.
    pub ceiling: Rights,
}

/// Every quota.
pub struct Quotas(pub ObjectTable<Quota>);

impl Default for Quotas {
    fn default() -> Self {
        Self::new()
    }
}

impl Quotas {
    /// No quotas; room for [`MAX_QUOTAS`].
    pub const fn new() -> Self {
        Self::with_limit(MAX_QUOTAS)
    }

    /// No quotas; room for `limit` (tests reach a small limit).
    pub const fn with_limit(limit: usize) -> Self {
        Quotas(ObjectTable::new(limit))
    }

    /// A root quota of `limit` frames (the one init gets), with one
    /// reference and every memory right. `None` when the table is full.
    pub fn root(&mut self, limit: u64) -> Option<ObjectId> {
        let ceiling = ObjectKind::Memory.valid_rights();
        self.0.insert(Quota { limit, used: 0, reserved: 0, refs: 1, parent: None, ceiling })
    }

    /// A quota of `frames` carved from `parent` through a capability with
    /// `rights`, with one reference. Its ceiling is `rights` within the
    /// parent's ceiling. `BadHandle` if `parent` is dead; `OutOfMemory` if
    /// it has fewer than `frames` left or the table is full (nothing
    /// changes then).
    pub fn carve(
        &mut self,
        parent: ObjectId,
        frames: u64,
        rights: Rights,
    ) -> Result<ObjectId, Error> {
        if self.0.is_full() {
            self.0.get(parent).ok_or(Error::BadHandle)?;
            return Err(Error::OutOfMemory);
        }
        let p = self.0.get_mut(parent).ok_or(Error::BadHandle)?;
        if p.limit.saturating_sub(p.used) < frames {
            return Err(Error::OutOfMemory);
        }
        p.used += frames;
        p.reserved += frames;
        let ceiling = rights & p.ceiling;
        let parent = Some((parent, frames));
        let child = Quota { limit: frames, used: 0, reserved: 0, refs: 1, parent, ceiling };
        Ok(self.0.insert(child).expect("room checked above"))
    }

    /// Takes one frame from `quota`; `OutOfMemory` if it is spent or dead.
    /// (The kernel's address spaces reach this and [`credit_frame`]
    /// through their `Charge` trait.)
    ///
    /// [`credit_frame`]: Self::credit_frame
    pub fn charge_frame(&mut self, quota: ObjectId) -> Result<(), Error> {
        let q = self.0.get_mut(quota).ok_or(Error::OutOfMemory)?;
        if q.used >= q.limit {
            return Err(Error::OutOfMemory);
        }
        q.used += 1;
        Ok(())
    }

    /// Takes `frames` frames from `quota` at once (a memory object's
    /// pages): all or nothing. `OutOfMemory` if fewer are left or it is
    /// dead.
    pub fn charge_frames(&mut self, quota: ObjectId, frames: u64) -> Result<(), Error> {
        let q = self.0.get_mut(quota).ok_or(Error::OutOfMemory)?;
        if q.limit.saturating_sub(q.used) < frames {
            return Err(Error::OutOfMemory);
        }
        q.used += frames;
        Ok(())
    }

    /// Gives `frames` frames back to `quota` at once, as `frames` calls of
    /// [`credit_frame`](Self::credit_frame) would (never below the
    /// reservations).
    pub fn credit_frames(&mut self, quota: ObjectId, frames: u64) {
        if let Some(q) = self.0.get_mut(quota) {
            q.used -= frames.min(q.used - q.reserved);
        }
        self.free_unused(quota);
    }

    /// Gives one frame back to `quota`; frees it (and then its ancestors)
    /// if nothing refers to it any more. A quota with nothing charged (its
    /// `used` all reservations) is left alone: a kernel bug, which must not
    /// eat into the children's reservations.
    pub fn credit_frame(&mut self, quota: ObjectId) {
        if let Some(q) = self.0.get_mut(quota)
            && q.used > q.reserved
        {
            q.used -= 1;
        }
        self.free_unused(quota);
    }

    /// Adds a reference (a new capability naming the quota).
    pub fn hold(&mut self, id: ObjectId) {
        if let Some(q) = self.0.get_mut(id) {
            q.refs += 1;
        }
    }

    /// Drops a reference; frees the quota (and then its ancestors) if
    /// nothing refers to it any more.
    pub fn release(&mut self, id: ObjectId) {
        if let Some(q) = self.0.get_mut(id) {
            q.refs = q.refs.saturating_sub(1);
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
                p.used = p.used.saturating_sub(reserved);
                p.reserved = p.reserved.saturating_sub(reserved);
            }
            id = parent;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::vec::Vec;

    use proptest::prelude::*;

    fn used(qs: &Quotas, id: ObjectId) -> Option<u64> {
        qs.0.get(id).map(|q| q.used)
    }

    #[test]
    fn charge_stops_at_the_limit() {
        let mut qs = Quotas::new();
        let r = qs.root(2).unwrap();
        assert_eq!(qs.charge_frame(r), Ok(()));
        assert_eq!(qs.charge_frame(r), Ok(()));
        assert_eq!(qs.charge_frame(r), Err(Error::OutOfMemory));
        assert_eq!(used(&qs, r), Some(2));
    }

    #[test]
    fn a_credit_with_nothing_charged_does_not_go_negative() {
        let mut qs = Quotas::new();
        let r = qs.root(2).unwrap();
        qs.credit_frame(r);
        assert_eq!(used(&qs, r), Some(0));
        assert_eq!(qs.charge_frame(r), Ok(()));
        assert_eq!(qs.charge_frame(r), Ok(()));
        assert_eq!(
            qs.charge_frame(r),
            Err(Error::OutOfMemory),
            "the bad credit gave no extra frame"
        );
    }

    #[test]
    fn a_carve_reserves_in_the_parent_until_the_child_dies() {
        let mut qs = Quotas::new();
        let r = qs.root(10).unwrap();
        let c = qs.carve(r, 4, Rights::all()).unwrap();
        assert_eq!(used(&qs, r), Some(4));
        assert_eq!(qs.carve(r, 7, Rights::all()), Err(Error::OutOfMemory));
        qs.charge_frame(c).unwrap();
        qs.release(c);
        assert_eq!(used(&qs, r), Some(4), "a charged child lives on");
        qs.credit_frame(c);
        assert!(qs.0.get(c).is_none(), "empty and unreferenced: freed");
        assert_eq!(used(&qs, r), Some(0));
    }

    #[test]
    fn freeing_a_child_frees_an_unreferenced_empty_parent() {
        let mut qs = Quotas::new();
        let r = qs.root(10).unwrap();
        let c = qs.carve(r, 4, Rights::all()).unwrap();
        qs.release(r);
        assert!(qs.0.get(r).is_some(), "the child's reservation keeps it");
        qs.release(c);
        assert!(qs.0.get(c).is_none() && qs.0.get(r).is_none());
        assert!(qs.0.is_empty());
    }

    #[test]
    fn a_credit_does_not_eat_a_childs_reservation() {
        let mut qs = Quotas::new();
        let r = qs.root(10).unwrap();
        let c = qs.carve(r, 4, Rights::all()).unwrap();
        qs.credit_frame(r);
        assert_eq!(used(&qs, r), Some(4));
        qs.release(c);
        assert_eq!(used(&qs, r), Some(0));
    }

    #[test]
    fn a_child_of_zero_frames_does_not_keep_its_parent() {
        let mut qs = Quotas::new();
        let r = qs.root(10).unwrap();
        let c = qs.carve(r, 0, Rights::all()).unwrap();
        qs.release(r);
        assert!(qs.0.get(r).is_none(), "nothing reserved, nothing referring");
        qs.release(c);
        assert!(qs.0.is_empty());
    }

    #[test]
    fn a_release_too_many_does_not_wrap_the_count() {
        let mut qs = Quotas::new();
        let r = qs.root(10).unwrap();
        qs.charge_frame(r).unwrap();
        qs.release(r);
        qs.release(r);
        assert_eq!(qs.0.get(r).map(|q| q.refs), Some(0));
        qs.credit_frame(r);
        assert!(qs.0.get(r).is_none());
    }

    #[test]
    fn the_ceiling_only_shrinks() {
        let mut qs = Quotas::new();
        let r = qs.root(10).unwrap();
        let c = qs.carve(r, 4, Rights::READ | Rights::DERIVE).unwrap();
        let g = qs.carve(c, 1, Rights::all()).unwrap();
        assert_eq!(qs.0.get(g).unwrap().ceiling, Rights::READ | Rights::DERIVE);
    }

    #[test]
    fn a_carve_into_a_full_table_changes_nothing() {
        let mut qs = Quotas::with_limit(1);
        let r = qs.root(10).unwrap();
        assert_eq!(qs.carve(r, 4, Rights::all()), Err(Error::OutOfMemory));
        assert_eq!(used(&qs, r), Some(0));
        assert_eq!(qs.carve(ObjectId(1), 4, Rights::all()), Err(Error::BadHandle));
    }

    /// The model: a quota's charged frames and references, apart.
    #[derive(Clone, Debug)]
    struct Model {
        limit: u64,
        charged: u64,
        refs: u64,
        parent: Option<ObjectId>,
        ceiling: Rights,
    }

    #[derive(Clone, Debug)]
    enum Op {
        Root(u64),
        Carve(usize, u64, u8),
        Charge(usize),
        Credit(usize),
        Hold(usize),
        Release(usize),
        ChargeMany(usize, u64),
        CreditMany(usize, u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            1 => (0u64..20).prop_map(Op::Root),
            3 => (any::<usize>(), 0u64..8, any::<u8>()).prop_map(|(p, f, r)| Op::Carve(p, f, r)),
            4 => any::<usize>().prop_map(Op::Charge),
            3 => any::<usize>().prop_map(Op::Credit),
            2 => any::<usize>().prop_map(Op::Hold),
            3 => any::<usize>().prop_map(Op::Release),
            2 => (any::<usize>(), 0u64..12).prop_map(|(i, n)| Op::ChargeMany(i, n)),
            2 => (any::<usize>(), 0u64..12).prop_map(|(i, n)| Op::CreditMany(i, n)),
        ]
    }

    /// The model's `used`: charged frames plus live children's limits.
    fn model_used(m: &BTreeMap<ObjectId, Model>, id: ObjectId) -> u64 {
        m[&id].charged + m.values().filter(|c| c.parent == Some(id)).map(|c| c.limit).sum::<u64>()
    }

    /// Frees, in the model, every quota with no references, nothing
    /// charged and nothing reserved for children (repeating until nothing
    /// changes).
    fn model_collect(m: &mut BTreeMap<ObjectId, Model>) {
        loop {
            let dead = m.keys().copied().find(|&id| m[&id].refs == 0 && model_used(m, id) == 0);
            match dead {
                Some(id) => {
                    m.remove(&id);
                }
                None => return,
            }
        }
    }

    proptest! {
        /// Against a model that keeps charges, references and children
        /// apart: every result agrees; `used` is always charges plus child
        /// reservations, never above the limit, never negative; quotas
        /// die exactly when nothing refers to them; ceilings only shrink.
        #[test]
        fn agrees_with_a_model(ops in prop::collection::vec(op(), 0..150)) {
            let mut qs = Quotas::with_limit(8);
            let mut m: BTreeMap<ObjectId, Model> = BTreeMap::new();
            let mut given: Vec<ObjectId> = Vec::new();
            let pick = |given: &Vec<ObjectId>, i: usize| given.get(i % given.len().max(1)).copied();
            for op in ops {
                match op {
                    Op::Root(limit) => {
                        let r = qs.root(limit);
                        prop_assert_eq!(r.is_some(), m.len() < 8);
                        if let Some(id) = r {
                            given.push(id);
                            let ceiling = ObjectKind::Memory.valid_rights();
                            m.insert(id, Model { limit, charged: 0, refs: 1, parent: None, ceiling });
                        }
                    }
                    Op::Carve(p, frames, bits) => {
                        let Some(parent) = pick(&given, p) else { continue };
                        let rights = Rights::from_bits_truncate(u32::from(bits));
                        let r = qs.carve(parent, frames, rights);
                        let expect = match m.get(&parent) {
                            None => Err(Error::BadHandle),
                            Some(_) if m.len() >= 8 => Err(Error::OutOfMemory),
                            Some(pm) if pm.limit - model_used(&m, parent) < frames => Err(Error::OutOfMemory),
                            Some(_) => Ok(()),
                        };
                        prop_assert_eq!(r.map(|_| ()), expect);
                        if let Ok(id) = r {
                            given.push(id);
                            let ceiling = rights & m[&parent].ceiling;
                            m.insert(id, Model { limit: frames, charged: 0, refs: 1, parent: Some(parent), ceiling });
                        }
                    }
                    Op::Charge(i) => {
                        let Some(id) = pick(&given, i) else { continue };
                        let expect = match m.get(&id) {
                            Some(q) if model_used(&m, id) < q.limit => Ok(()),
                            _ => Err(Error::OutOfMemory),
                        };
                        prop_assert_eq!(qs.charge_frame(id), expect);
                        if expect.is_ok() {
                            m.get_mut(&id).unwrap().charged += 1;
                        }
                    }
                    Op::Credit(i) => {
                        let Some(id) = pick(&given, i) else { continue };
                        qs.credit_frame(id);
                        if let Some(q) = m.get_mut(&id) {
                            q.charged = q.charged.saturating_sub(1);
                        }
                    }
                    Op::ChargeMany(i, n) => {
                        let Some(id) = pick(&given, i) else { continue };
                        let expect = match m.get(&id) {
                            Some(q) if q.limit - model_used(&m, id) >= n => Ok(()),
                            _ => Err(Error::OutOfMemory),
                        };
                        prop_assert_eq!(qs.charge_frames(id, n), expect);
                        if expect.is_ok() {
                            m.get_mut(&id).unwrap().charged += n;
                        }
                    }
                    Op::CreditMany(i, n) => {
                        let Some(id) = pick(&given, i) else { continue };
                        qs.credit_frames(id, n);
                        if let Some(q) = m.get_mut(&id) {
                            q.charged = q.charged.saturating_sub(n);
                        }
                    }
                    Op::Hold(i) => {
                        let Some(id) = pick(&given, i) else { continue };
                        qs.hold(id);
                        if let Some(q) = m.get_mut(&id) {
                            q.refs += 1;
                        }
                    }
                    Op::Release(i) => {
                        let Some(id) = pick(&given, i) else { continue };
                        qs.release(id);
                        if let Some(q) = m.get_mut(&id) {
                            q.refs = q.refs.saturating_sub(1);
                        }
                    }
                }
                model_collect(&mut m);
                prop_assert_eq!(qs.0.len(), m.len());
                for &id in &given {
                    let (real, model) = (qs.0.get(id), m.get(&id));
                    prop_assert_eq!(real.is_some(), model.is_some(), "quota {:#x} alive?", id.0);
                    let (Some(q), Some(mq)) = (real, model) else { continue };
                    prop_assert_eq!(q.used, model_used(&m, id));
                    prop_assert_eq!(q.used - q.reserved, mq.charged);
                    prop_assert!(q.used <= q.limit);
                    prop_assert_eq!(q.refs, mq.refs);
                    prop_assert_eq!(q.ceiling, mq.ceiling);
                    if let Some((p, reserved)) = q.parent {
                        prop_assert_eq!(reserved, q.limit);
                        if let Some(pm) = m.get(&p) {
                            prop_assert!(pm.ceiling.contains(q.ceiling));
                        }
                    }
                }
            }
        }
    }
}
