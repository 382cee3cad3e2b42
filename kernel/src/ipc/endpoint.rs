//! Endpoints: where senders meet receivers.
//!
//! An endpoint has two queues of blocked processes (senders and
//! receivers; at most one of them is non-empty), linked through the
//! processes' records, and counts the capabilities naming it:
//! all of them, those with SEND, those with RECV. It is charged one frame
//! to the quota it was created from, and freed (the frame credited) when
//! no capability names it. It may be bound to a notification capability
//! (`Endpoint::bound`, set by `endpoint_bind`), which a sender that has to
//! queue signals through (`syscall::ipc`, `notify::signal_through`).

use super::objects::{ENDPOINT_RIGHTS, Endpoint, Queue};
use super::wake;
use crate::mem::aspace::Charge;
use crate::state::Kernel;
use caps::abi::{Error, Rights};
use caps::{Capability, NO_BADGE, Object, ObjectId};

/// Creates an endpoint charged to `quota` and mints a capability to it
/// with every right in `table`. All or nothing.
pub fn create(k: &mut Kernel, table: caps::TableId, quota: ObjectId) -> Result<u64, Error> {
    if k.ipc.endpoints.is_full() {
        return Err(Error::OutOfMemory);
    }
    if !k.caps.table(table).is_some_and(|t| t.has_room()) {
        return Err(Error::TableFull);
    }
    k.quotas.charge(quota)?;
    let ep = Endpoint {
        quota,
        caps: 0,
        send_caps: 0,
        recv_caps: 0,
        senders: Queue::default(),
        receivers: Queue::default(),
        bound: None,
    };
    let id = k.ipc.endpoints.insert(ep).expect("room checked above");
    k.quotas.hold(quota);
    let cap = Capability { object: Object::Endpoint(id), rights: ENDPOINT_RIGHTS, badge: NO_BADGE };
    k.mint_new(table, cap, |k| free(k, id))
}

/// Counts a new capability to endpoint `id`.
pub fn cap_created(k: &mut Kernel, id: ObjectId, rights: Rights) {
    if let Some(ep) = k.ipc.endpoints.get_mut(id) {
        ep.caps += 1;
        ep.send_caps += u32::from(rights.contains(Rights::SEND));
        ep.recv_caps += u32::from(rights.contains(Rights::RECV));
    }
}

/// Counts a capability to endpoint `id` gone: the last RECV one wakes the
/// blocked senders with `PeerGone`, the last SEND one the blocked
/// receivers; the last one frees the endpoint.
pub fn cap_removed(k: &mut Kernel, id: ObjectId, rights: Rights) {
    let Some(ep) = k.ipc.endpoints.get_mut(id) else { return };
    ep.caps -= 1;
    if rights.contains(Rights::SEND) {
        ep.send_caps -= 1;
        if ep.send_caps == 0 {
            let mut q = core::mem::take(&mut ep.receivers);
            while let Some(pid) = q.pop(&mut k.procs) {
                wake(k, pid, Err(Error::PeerGone), false);
            }
        }
    }
    let ep = k.ipc.endpoints.get_mut(id).expect("still there");
    if rights.contains(Rights::RECV) {
        ep.recv_caps -= 1;
        if ep.recv_caps == 0 {
            let mut q = core::mem::take(&mut ep.senders);
            while let Some(pid) = q.pop(&mut k.procs) {
                wake(k, pid, Err(Error::PeerGone), false);
            }
        }
    }
    if k.ipc.endpoints.get(id).is_some_and(|ep| ep.caps == 0) {
        free(k, id);
    }
}

/// Frees endpoint `id` (nobody names it; its queues are empty).
fn free(k: &mut Kernel, id: ObjectId) {
    if let Some(ep) = k.ipc.endpoints.remove(id) {
        debug_assert!(ep.senders.is_empty() && ep.receivers.is_empty());
        k.quotas.credit(ep.quota);
        k.quotas.release(ep.quota);
    }
}

/// Takes a dying (or woken) sender out of endpoint `id`'s queue.
pub fn unlink_sender(k: &mut Kernel, id: ObjectId, pid: ObjectId) {
    if let Some(ep) = k.ipc.endpoints.get_mut(id) {
        ep.senders.remove(&mut k.procs, pid);
    }
}

/// Takes a dying (or woken) receiver out of endpoint `id`'s queue.
pub fn unlink_receiver(k: &mut Kernel, id: ObjectId, pid: ObjectId) {
    if let Some(ep) = k.ipc.endpoints.get_mut(id) {
        ep.receivers.remove(&mut k.procs, pid);
    }
}
