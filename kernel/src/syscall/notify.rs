//! `notify_create`, `notify_signal`, `notify_wait`, `endpoint_bind`: the
//! notification calls. Objects and rules: `crate::notify`.
//!
//! Each call looks up every handle with the kind and right it needs before
//! it changes anything. A `notify_wait` that blocks is tied to the handle
//! it waits through (the death of that capability wakes it with
//! `Revoked`); its signaller leaves the bits in its process record
//! (`Process::notified`) and the wrapper returns them when it runs again.

use caps::Object;
use caps::abi::args::NOTIFY_NONBLOCK;
use caps::abi::syscall::calls;
use caps::abi::{Error, ObjectKind, RawHandle, Rights};

use super::{Caller, Next, Outcome};
use crate::notify;
use crate::proc::Block;
use crate::state::Kernel;

/// `notify_create(memory)`: a new notification, one frame charged to the
/// quota of a `Memory` handle with MAP (as `endpoint_create`).
pub fn create(k: &mut Kernel, c: Caller, a: calls::NotifyCreate) -> Result<u64, Error> {
    let cap = k.caps.lookup(c.table, a.memory, ObjectKind::Memory, Rights::MAP)?;
    let Object::Memory(quota) = cap.object else { return Err(Error::WrongKind) };
    notify::create(k, c.table, quota)
}

/// `notify_signal(notification)`: ORs the capability's badge (bit 0 if it
/// has none) into the word, or hands the word to the first waiter. Needs
/// SEND.
pub fn signal(k: &mut Kernel, c: Caller, a: calls::NotifySignal) -> Result<u64, Error> {
    notify::signal_through(k, c.table, a.notification).map(|()| 0)
}

/// `notify_wait(notification, flags)`: the word, cleared; waits while it
/// is 0 unless `NOTIFY_NONBLOCK` (then `WouldBlock`). Needs WAIT.
pub fn wait(k: &mut Kernel, c: Caller, a: calls::NotifyWait) -> Outcome {
    if a.flags & !NOTIFY_NONBLOCK != 0 {
        return Err(Error::InvalidArgument);
    }
    let cap = k.caps.lookup(c.table, a.notification, ObjectKind::Notification, Rights::WAIT)?;
    let Object::Notification(id) = cap.object else { return Err(Error::WrongKind) };
    if let Some(bits) = notify::take(k, id)? {
        return Ok(Next::Return(bits));
    }
    if a.flags & NOTIFY_NONBLOCK != 0 {
        return Err(Error::WouldBlock);
    }
    let p = k.procs.get_mut(c.pid).expect("the running process exists");
    p.notified = 0;
    notify::enqueue(k, id, c.pid);
    k.sched.tie(c.pid, c.table, a.notification);
    Ok(Next::Block(Block::Notify(id)))
}

/// `endpoint_bind(endpoint, notification)`: from now on a sender that has
/// to queue on the endpoint (no receiver waiting) signals through the
/// notification capability, with its badge; a `notification` of 0
/// unbinds. Needs RECV on the endpoint (binding is the receiver's choice)
/// and SEND on the notification. One binding per endpoint: a new one
/// replaces the old.
///
/// The binding records the caller's table and handle, not the object: it
/// is looked up at each signal, so once that capability is revoked or
/// dropped the endpoint silently stops signalling (and a later capability
/// in the same slot never inherits it: handles carry a generation).
pub fn bind(k: &mut Kernel, c: Caller, a: calls::EndpointBind) -> Result<u64, Error> {
    let cap = k.caps.lookup(c.table, a.endpoint, ObjectKind::Endpoint, Rights::RECV)?;
    let Object::Endpoint(ep) = cap.object else { return Err(Error::WrongKind) };
    let bound = if a.notification == RawHandle::INVALID {
        None
    } else {
        k.caps.lookup(c.table, a.notification, ObjectKind::Notification, Rights::SEND)?;
        Some((c.table, a.notification))
    };
    k.ipc.endpoints.get_mut(ep).ok_or(Error::PeerGone)?.bound = bound;
    Ok(0)
}
