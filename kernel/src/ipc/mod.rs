//! IPC: endpoints, one-shot replies, and messages that carry capabilities.
//!
//! The ABI (registers, tags, flags) is `caps::abi::ipc`; the syscalls are
//! in `syscall/ipc.rs`. This module holds the objects and the rules:
//!
//! - **Rendezvous.** A message moves only when a sender meets a receiver.
//!   Whoever comes first blocks in an endpoint queue (intrusive, linked
//!   through the process records: no allocation) with its message in its
//!   own process record; so the kernel holds at most one message per
//!   blocked process, and an untrusted sender cannot make it queue more.
//! - **Buffers.** Words and handles travel in registers and in the
//!   process record. Long data (up to `MAX_MSG_BYTES`) is copied once from
//!   the running side's user memory into the blocked side's kernel buffer
//!   ([`IpcState::buf`], allocated on first use and charged one frame to
//!   the process's own quota until it ends), and out from there once.
//! - **Handles** are checked when sent (GRANT) and again when delivered;
//!   delivery is all or nothing ([`transfer`]).
//! - **Objects count their capabilities** ([`endpoint`], [`reply`]): the
//!   last RECV (SEND) capability of an endpoint gone wakes its blocked
//!   senders (receivers) with `PeerGone`; an endpoint nobody names is
//!   freed and its frame credited; a reply nobody can use any more wakes
//!   its caller with `PeerGone`.
//! - **Waiters are tied to their capability** ([`Via`]). A process
//!   blocked sending, calling (queued, or waiting for the answer) or
//!   receiving is tied to the handle it blocked through; when that
//!   capability dies (revoke, drop, its table destroyed),
//!   `Kernel::cap_gone` wakes it with `Revoked` and nothing is delivered to or from it. A
//!   queued message whose carried handles died meanwhile is refused the
//!   same way when a receiver comes (they were live when it was sent).
//! - **Direct switch.** A call whose receiver waits, and an answer whose
//!   answerer then waits, put the woken process at the front of the run
//!   queue before blocking, so the CPU goes straight to it.
//!
//! A woken process finds its outcome in [`IpcState::result`]; the syscall
//! wrapper finishes the blocked call with it when the process runs again
//! (`syscall::ipc::finish`).

pub mod endpoint;
pub mod message;
pub mod objects;
pub mod reply;
pub mod transfer;

pub use message::{Incoming, IpcState, Outgoing, Via};

use alloc::boxed::Box;
use caps::ObjectId;
use caps::abi::Error;
use caps::abi::ipc::MAX_MSG_BYTES;

use crate::mem::aspace::Charge;
use crate::proc::sched::Place;
use crate::proc::{Block, State};
use crate::state::Kernel;

/// Gives process `pid` its kernel buffer if it has none, charging one
/// frame to its own quota (`OutOfMemory` if the quota is spent).
pub fn ensure_buffer(k: &mut Kernel, pid: ObjectId) -> Result<(), Error> {
    let p = k.procs.get_mut(pid).ok_or(Error::PeerGone)?;
    if p.ipc.buf.is_some() {
        return Ok(());
    }
    let own = p.own_quota;
    k.quotas.charge(own)?;
    let p = k.procs.get_mut(pid).expect("checked above");
    p.ipc.buf = Some(Box::new([0; MAX_MSG_BYTES]));
    Ok(())
}

/// Wakes blocked process `pid` with `result`; `first` puts it at the
/// front of the run queue (the direct switch of a call or an answer).
///
/// A process queued on an endpoint must have been taken out of that queue
/// by the caller.
pub fn wake(k: &mut Kernel, pid: ObjectId, result: Result<Incoming, Error>, first: bool) {
    let Some(p) = k.procs.get_mut(pid) else { return };
    let State::Blocked(block) = p.state else { return };
    p.ipc.via = None;
    p.ipc.result = Some(result);
    p.ipc.awaiting = None;
    p.ipc.next = None;
    p.state = State::Ready;
    k.sched.forget_blocked(pid, block);
    let place = if first { Place::Here } else { Place::Back };
    k.sched.enqueue(p, pid, place);
}

/// Cleans a dying process out of IPC: out of the endpoint queue it waits
/// in, its pending reply marked as having no caller, its kernel buffer
/// freed and credited. Called by `lifecycle::terminate` before its table goes.
pub fn on_terminate(k: &mut Kernel, pid: ObjectId) {
    let Some(p) = k.procs.get_mut(pid) else { return };
    let state = p.state;
    let buf = p.ipc.buf.take();
    let awaiting = p.ipc.awaiting.take();
    p.ipc.via = None;
    let own = p.own_quota;
    match state {
        State::Blocked(Block::Send(ep)) => endpoint::unlink_sender(k, ep, pid),
        State::Blocked(Block::Recv(ep)) => endpoint::unlink_receiver(k, ep, pid),
        _ => {}
    }
    if let Some(r) = awaiting {
        reply::caller_gone(k, r);
    }
    if buf.is_some() {
        k.quotas.credit(own);
    }
}
