//! `ipc_send`, `ipc_recv`, `ipc_call`, `ipc_reply`, `ipc_reply_recv`,
//! `endpoint_create`. Registers and tags: `caps::abi::ipc`; objects and
//! rules: `crate::ipc`.
//!
//! Each call decodes and checks everything (handles, tag, user ranges,
//! the kernel buffer it may need) before it changes anything. A call that
//! blocks returns `Next::Block` with, in its process record, where the
//! answer goes (`IpcState::dest`) and the handle it blocked through
//! (`IpcState::via`, and tied to it in the scheduler: the death of that
//! capability wakes it with `Revoked`, `Kernel::cap_gone`); the waker leaves the outcome in the record and
//! [`finish`] turns it into the call's result when it runs again.

use caps::Object;
use caps::ObjectId;
use caps::abi::ipc::{
    MAX_MSG_BYTES, MSG_SLOTS, MsgDesc, REPLY_RECV_SLOTS, TAG_LONG, TAG_MOVE, TAG_NONBLOCK,
    TAG_TRUNCATED, Tag,
};
use caps::abi::syscall::calls;
use caps::abi::{Error, ObjectKind, RawHandle, Rights};

use super::{Caller, Next, Outcome};
use crate::arch::syscall::SyscallFrame;
use crate::ipc::objects::ReplyState;
use crate::ipc::transfer::{Data, check_handles, deliver};
use crate::ipc::{Incoming, Outgoing, Via, endpoint, ensure_buffer, wake};
use crate::mem::user::{UserSlice, read_value};
use crate::proc::{Block, State};
use crate::state::Kernel;

/// `endpoint_create(memory)`: a new endpoint, one frame charged to the
/// quota of a `Memory` handle with MAP.
pub fn endpoint_create(k: &mut Kernel, c: Caller, a: calls::EndpointCreate) -> Result<u64, Error> {
    let cap = k.caps.lookup(c.table, a.memory, ObjectKind::Memory, Rights::MAP)?;
    let Object::Memory(quota) = cap.object else { return Err(Error::WrongKind) };
    endpoint::create(k, c.table, quota)
}

/// `ipc_send(endpoint, tag, slot0, slot1, slot2, slot3)`.
pub fn send(k: &mut Kernel, c: Caller, a: calls::IpcSend) -> Outcome {
    send_or_call(k, c, a.endpoint, a.tag, [a.slot0, a.slot1, a.slot2, a.slot3], false)
}

/// `ipc_call(endpoint, tag, slot0, slot1, slot2, slot3)`: send, then wait for the answer.
pub fn call(k: &mut Kernel, c: Caller, a: calls::IpcCall) -> Outcome {
    if let Some(done) = super::ipc_fast::call(k, c, &a) {
        return done;
    }
    send_or_call(k, c, a.endpoint, a.tag, [a.slot0, a.slot1, a.slot2, a.slot3], true)
}

/// `ipc_recv(endpoint, flags, buf, len)`.
pub fn recv(k: &mut Kernel, c: Caller, a: calls::IpcRecv) -> Outcome {
    if a.flags & !TAG_NONBLOCK != 0 {
        return Err(Error::InvalidArgument);
    }
    let ep = lookup_endpoint(k, c, a.endpoint, Rights::RECV)?.0;
    let buf = receive_buffer(k, c, a.buf, a.len)?;
    if !matches!(buf, Data::None) {
        ensure_buffer(k, c.pid)?;
    }
    let via = Via { endpoint: ep, handle: a.endpoint };
    receive(k, c, via, buf, a.flags & TAG_NONBLOCK != 0)
}

/// `ipc_reply(reply, tag, slot0, slot1, slot2, slot3)`: answers a call and spends the reply.
pub fn reply(k: &mut Kernel, c: Caller, a: calls::IpcReply) -> Result<u64, Error> {
    let tag = Tag(a.tag).check_send(MSG_SLOTS)?;
    let (out, data) = outgoing(k, c, tag, [a.slot0, a.slot1, a.slot2, a.slot3])?;
    answer(k, c, a.reply, &out, data, false).map(|()| 0)
}

/// `ipc_reply_recv(reply, tag, slot0, slot1, slot2, endpoint)` (in the
/// long form `slot0` points to the message, `slot1`/`slot2` give the
/// receive buffer):
/// answers, then receives. A reply whose caller died is spent and the
/// receive goes on. The answer may not move the endpoint handle it then
/// receives through (`InvalidArgument`): the receive would wait through
/// a handle its process no longer holds.
pub fn reply_recv(k: &mut Kernel, c: Caller, a: calls::IpcReplyRecv) -> Outcome {
    if let Some(done) = super::ipc_fast::reply_recv(k, c, &a) {
        return done;
    }
    let tag = Tag(a.tag).check_send(REPLY_RECV_SLOTS)?;
    let ep = lookup_endpoint(k, c, a.endpoint, Rights::RECV)?.0;
    let buf = if tag.has(TAG_LONG) { receive_buffer(k, c, a.slot1, a.slot2)? } else { Data::None };
    let (out, data) = outgoing(k, c, tag, [a.slot0, a.slot1, a.slot2, 0])?;
    if moves(&out, a.endpoint) {
        return Err(Error::InvalidArgument);
    }
    if !matches!(buf, Data::None) {
        ensure_buffer(k, c.pid)?;
    }
    match answer(k, c, a.reply, &out, data, true) {
        Ok(()) | Err(Error::PeerGone) => {}
        Err(e) => return Err(e),
    }
    let via = Via { endpoint: ep, handle: a.endpoint };
    receive(k, c, via, buf, tag.has(TAG_NONBLOCK))
}

/// Whether message `out` moves `handle` away from its sender.
fn moves(out: &Outgoing, handle: RawHandle) -> bool {
    out.tag.has(TAG_MOVE) && out.handles[..out.tag.handles()].contains(&handle.as_raw())
}

/// The endpoint `handle` names, with `right`, and its badge.
fn lookup_endpoint(
    k: &Kernel,
    c: Caller,
    handle: RawHandle,
    right: Rights,
) -> Result<(ObjectId, u64), Error> {
    let cap = k.caps.lookup(c.table, handle, ObjectKind::Endpoint, right)?;
    let Object::Endpoint(ep) = cap.object else { return Err(Error::WrongKind) };
    Ok((ep, cap.badge))
}

/// A receive buffer `(ptr, len)`, checked writable (`len` 0: none).
fn receive_buffer(k: &Kernel, c: Caller, ptr: u64, len: u64) -> Result<Data, Error> {
    if len == 0 {
        return Ok(Data::None);
    }
    let len = len.min(MAX_MSG_BYTES as u64);
    let slice = UserSlice::new(ptr, len)?;
    slice.check_writable(c.aspace(&k.procs))?;
    Ok(Data::User(slice, len as usize))
}

/// Decodes a checked tag's message: words and handles from the slots, or
/// the long form's descriptor and data (checked readable). Checks the
/// handles (live, GRANT).
fn outgoing(
    k: &Kernel,
    c: Caller,
    tag: Tag,
    slots: [u64; MSG_SLOTS],
) -> Result<(Outgoing, Data), Error> {
    let mut out = Outgoing { tag, ..Outgoing::default() };
    let mut data = Data::None;
    let handles: [u64; MSG_SLOTS] = if tag.has(TAG_LONG) {
        let desc: MsgDesc = read_value(c.aspace(&k.procs), slots[0])?;
        if desc.len > MAX_MSG_BYTES as u64 {
            return Err(Error::InvalidArgument);
        }
        let slice = UserSlice::new(desc.data, desc.len)?;
        slice.check_readable(c.aspace(&k.procs))?;
        out.len = desc.len as usize;
        data = Data::User(slice, out.len);
        desc.handles
    } else {
        let w = tag.words();
        out.words[..w].copy_from_slice(&slots[..w]);
        let mut h = [0; MSG_SLOTS];
        h[..tag.handles()].copy_from_slice(&slots[w..w + tag.handles()]);
        h
    };
    out.handles[..tag.handles()].copy_from_slice(&handles[..tag.handles()]);
    check_handles(k, c.table, &out)?;
    Ok((out, data))
}

/// Finishes a send, call or receive that blocked, now that the caller
/// runs again: the outcome its waker left (`PeerGone` if none), and for a
/// message with long data, the data copied from the kernel buffer to the
/// receive buffer recorded when it blocked.
///
/// The message is delivered already (its handles are in the caller's
/// table, a call's reply capability too), so it is returned even if its
/// data cannot be copied — the buffer unmapped since the call blocked (a
/// memory object revoked, a ring torn down by another process): then
/// `TAG_LONG` is clear and `TAG_TRUNCATED` set, and nothing was written
/// (found by a review: the call said `BadAddress` and the message was lost
/// with its handles).
pub fn finish(k: &mut Kernel, c: Caller) -> Outcome {
    let p = k.procs.get_mut(c.pid).expect("the running process exists");
    let dest = core::mem::replace(&mut p.ipc.dest, Data::None);
    let wants_message = core::mem::take(&mut p.ipc.wants_message);
    let mut m = p.ipc.result.take().ok_or(Error::PeerGone)??;
    if !wants_message {
        return Ok(Next::Return(0));
    }
    if m.tag.has(TAG_LONG)
        && let Data::User(_, len) = dest
    {
        let n = m.tag.len().min(len);
        if crate::ipc::transfer::copy_data(k, Data::Kernel(c.pid), dest, n).is_err() {
            m.tag = Tag(m.tag.0 & !TAG_LONG | TAG_TRUNCATED);
        }
    }
    Ok(Next::Message(m))
}

/// [`finish`]'s common case, straight into the caller's registers: an
/// outcome with no long data to copy (a register-only message, a send's
/// bare 0). `false`, having changed nothing, for anything else (an
/// error, a revoke, long data), which [`finish`] then handles. Kept apart
/// because the general path moves the message through three layers of
/// results on every IPC wake-up.
pub(super) fn finish_in_registers(k: &mut Kernel, c: Caller, f: &mut SyscallFrame) -> bool {
    let p = k.procs.get_mut(c.pid).expect("the running process exists");
    if p.revoked || !matches!(p.ipc.dest, Data::None) {
        return false;
    }
    let Some(Ok(m)) = &p.ipc.result else { return false };
    if p.ipc.wants_message {
        super::set_message(f, m);
    } else {
        f.rax = 0;
    }
    p.ipc.result = None;
    p.ipc.wants_message = false;
    true
}

/// Records, in the caller's process record, what [`finish`] needs once it
/// is woken: whether it waits for a message, and where long data goes;
/// for a call waiting for its answer, the reply object (`awaiting`).
pub(super) fn expect(
    k: &mut Kernel,
    c: Caller,
    via: Via,
    wants_message: bool,
    dest: Data,
    awaiting: Option<ObjectId>,
) {
    let p = k.procs.get_mut(c.pid).expect("the running process exists");
    p.ipc.awaiting = awaiting;
    p.ipc.dest = dest;
    p.ipc.wants_message = wants_message;
    p.ipc.result = None;
    p.ipc.via = Some(via);
    k.sched.tie(c.pid, c.table, via.handle);
}

/// Sends or calls through `handle`. A call may not move that
/// handle (`InvalidArgument`): it waits for its answer through it.
fn send_or_call(
    k: &mut Kernel,
    c: Caller,
    handle: RawHandle,
    tag: u64,
    slots: [u64; MSG_SLOTS],
    call: bool,
) -> Outcome {
    let tag = Tag(tag).check_send(MSG_SLOTS)?;
    let (ep, badge) = lookup_endpoint(k, c, handle, Rights::SEND)?;
    let (mut out, data) = outgoing(k, c, tag, slots)?;
    if call && moves(&out, handle) {
        return Err(Error::InvalidArgument);
    }
    out.badge = badge;
    let via = Via { endpoint: ep, handle };
    let buf = if call && tag.has(TAG_LONG) {
        receive_buffer(k, c, slots[1], slots[2])?
    } else {
        Data::None
    };
    let e = k.ipc.endpoints.get(ep).ok_or(Error::PeerGone)?;
    if e.recv_caps == 0 && e.receivers.is_empty() {
        return Err(Error::PeerGone);
    }
    let must_block = !tag.has(TAG_NONBLOCK);
    let receiver_waits = !e.receivers.is_empty();
    // The kernel buffer: for the answer's data (call), or for our own
    // data while we wait for a receiver.
    let needs_buffer =
        !matches!(buf, Data::None) || (tag.has(TAG_LONG) && !receiver_waits && must_block);
    if needs_buffer {
        ensure_buffer(k, c.pid)?;
    }

    let receiver = k.ipc.endpoints.get_mut(ep).expect("checked").receivers.pop(&mut k.procs);
    if let Some(r) = receiver {
        return match deliver(k, c.pid, r, &out, (data, Data::Kernel(r)), call) {
            Ok((msg, reply)) => {
                wake(k, r, Ok(msg), call);
                let Some(reply) = reply else { return Ok(Next::Return(0)) };
                expect(k, c, via, true, buf, Some(reply));
                Ok(Next::Block(Block::Reply(reply)))
            }
            Err(e @ (Error::TableFull | Error::OutOfMemory)) => {
                // No room on the receiver's side: both sides are told, as
                // when the receiver comes second.
                wake(k, r, Err(e), false);
                Err(e)
            }
            Err(e) => {
                if let Some(ep) = k.ipc.endpoints.get_mut(ep) {
                    ep.receivers.push_front(&mut k.procs, r);
                }
                Err(e)
            }
        };
    }
    if !must_block {
        return Err(Error::WouldBlock);
    }
    if tag.has(TAG_LONG) {
        crate::ipc::transfer::copy_data(k, data, Data::Kernel(c.pid), out.len)?;
    }
    expect(k, c, via, call, buf, None);
    let p = k.procs.get_mut(c.pid).expect("running process");
    p.ipc.outgoing = out;
    p.ipc.calling = call;
    let e = k.ipc.endpoints.get_mut(ep).expect("checked");
    e.senders.push_back(&mut k.procs, c.pid);
    if let Some((table, handle)) = e.bound {
        // A bound endpoint tells its receiver a message waits. A
        // notification capability revoked since the binding signals
        // nothing: the binding's owner let it go.
        let _ = crate::notify::signal_through(k, table, handle);
    }
    Ok(Next::Block(Block::Send(ep)))
}

/// Receives on endpoint `via.endpoint` (through `via.handle`): takes a
/// waiting sender's message, or waits for one (unless `nonblock`).
///
/// A queued message whose handles died while it waited (they were live
/// with GRANT when it was sent, and only a revoke can kill a blocked
/// process's handle) is refused: its sender wakes with `Revoked`, and the
/// next sender is taken.
fn receive(k: &mut Kernel, c: Caller, via: Via, buf: Data, nonblock: bool) -> Outcome {
    let ep = via.endpoint;
    loop {
        let e = k.ipc.endpoints.get_mut(ep).ok_or(Error::PeerGone)?;
        let Some(s) = e.senders.pop(&mut k.procs) else { break };
        let sender = k.procs.get(s).expect("queued processes exist");
        let (out, calling) = (sender.ipc.outgoing, sender.ipc.calling);
        let alive = sender.table.ok_or(Error::PeerGone).and_then(|t| check_handles(k, t, &out));
        if alive.is_err() {
            wake(k, s, Err(Error::Revoked), false);
            continue;
        }
        match deliver(k, s, c.pid, &out, (Data::Kernel(s), buf), calling) {
            Ok((msg, reply)) => {
                match reply {
                    Some(r) => {
                        // It now waits for the answer, still through the
                        // capability it called through.
                        let p = k.procs.get_mut(s).expect("queued processes exist");
                        p.state = State::Blocked(Block::Reply(r));
                        p.ipc.awaiting = Some(r);
                        p.ipc.next = None;
                    }
                    None => wake(k, s, Ok(Incoming::default()), false),
                }
                return Ok(Next::Message(msg));
            }
            Err(e @ (Error::TableFull | Error::OutOfMemory)) => {
                // No room on our side: the sender's message is refused and
                // we are told.
                wake(k, s, Err(e), false);
                return Err(e);
            }
            // The sender's handles died while it waited: its send fails;
            // take the next one.
            Err(e) => wake(k, s, Err(e), false),
        }
    }
    let e = k.ipc.endpoints.get(ep).ok_or(Error::PeerGone)?;
    if e.send_caps == 0 {
        return Err(Error::PeerGone);
    }
    if nonblock {
        return Err(Error::WouldBlock);
    }
    expect(k, c, via, true, buf, None);
    k.ipc.endpoints.get_mut(ep).expect("checked").receivers.push_back(&mut k.procs, c.pid);
    Ok(Next::Block(Block::Recv(ep)))
}

/// Answers through reply handle `handle`: delivers `out` to the waiting
/// caller and spends the reply (`first`: the caller runs next).
fn answer(
    k: &mut Kernel,
    c: Caller,
    h: RawHandle,
    out: &Outgoing,
    data: Data,
    first: bool,
) -> Result<(), Error> {
    let cap = k.caps.lookup(c.table, h, ObjectKind::Reply, Rights::SEND)?;
    let Object::Reply(id) = cap.object else { return Err(Error::WrongKind) };
    let state = k.ipc.replies.get(id).ok_or(Error::BadHandle)?.state;
    match state {
        ReplyState::Spent => Err(Error::BadHandle),
        ReplyState::CallerGone => {
            crate::ipc::reply::spend(k, id, c.table, h);
            Err(Error::PeerGone)
        }
        ReplyState::Waiting(caller) => {
            let waiting = k
                .procs
                .get(caller)
                .is_some_and(|p| matches!(p.state, State::Blocked(Block::Reply(r)) if r == id));
            if !waiting {
                return Err(Error::PeerGone);
            }
            let (msg, _) = deliver(k, c.pid, caller, out, (data, Data::Kernel(caller)), false)?;
            crate::ipc::reply::spend(k, id, c.table, h);
            wake(k, caller, Ok(msg), first);
            Ok(())
        }
    }
}
