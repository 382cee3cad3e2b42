//! `ipc_send`, `ipc_recv`, `ipc_call`, `ipc_reply`, `ipc_reply_recv`,
//! `endpoint_create`. Registers and tags: `caps::abi::ipc`; objects and
//! rules: `crate::ipc`.
//!
//! Each call decodes and checks everything (handles, tag, user ranges,
//! the kernel buffer it may need) before it changes anything. A call that
//! blocks re-takes the lock when it is woken and picks up the outcome the
//! waker left in its process record. A call that blocks records the
//! handle it blocked through (`IpcState::via`), so that the death of that
//! capability wakes it with `Revoked` (`crate::ipc::cap_died`).

use caps::Object;
use caps::ObjectId;
use caps::abi::ipc::{
    MAX_MSG_BYTES, MSG_SLOTS, MsgDesc, REPLY_RECV_SLOTS, TAG_LONG, TAG_MOVE, TAG_NONBLOCK, Tag,
};
use caps::abi::{Error, ObjectKind, RawHandle, Rights};

use super::Caller;
use crate::arch::syscall::SyscallFrame;
use crate::ipc::reply::ReplyState;
use crate::ipc::transfer::{Data, check_handles, deliver};
use crate::ipc::{Incoming, Outgoing, Via, endpoint, ensure_buffer, wake};
use crate::mem::user::{UserSlice, read_value};
use crate::proc::{Block, State, sched};
use crate::state::{self, Kernel, KernelGuard};

/// `endpoint_create(memory)`: a new endpoint, one frame charged to the
/// quota of a `Memory` handle with MAP.
pub fn endpoint_create(memory: u64) -> Result<u64, Error> {
    let mut k = state::lock();
    let c = Caller::current(&k);
    let cap =
        k.caps.lookup(c.table, RawHandle::from_raw(memory), ObjectKind::Memory, Rights::MAP)?;
    let Object::Memory(quota) = cap.object else { return Err(Error::WrongKind) };
    endpoint::create(&mut k, c.table, quota)
}

/// `ipc_send(endpoint, tag, slot0, slot1, slot2, slot3)`.
pub fn send(f: &mut SyscallFrame) -> Result<u64, Error> {
    send_or_call(f, false)
}

/// `ipc_call(endpoint, tag, slot0, slot1, slot2, slot3)`: send, then wait for the answer.
pub fn call(f: &mut SyscallFrame) -> Result<u64, Error> {
    send_or_call(f, true)
}

/// `ipc_recv(endpoint, flags, buf, len)`.
pub fn recv(f: &mut SyscallFrame) -> Result<u64, Error> {
    if f.rsi & !TAG_NONBLOCK != 0 {
        return Err(Error::InvalidArgument);
    }
    let mut k = state::lock();
    let c = Caller::current(&k);
    let ep = lookup_endpoint(&k, c, f.rdi, Rights::RECV)?.0;
    let buf = receive_buffer(&k, c, f.rdx, f.r10)?;
    if !matches!(buf, Data::None) {
        ensure_buffer(&mut k, c.pid)?;
    }
    let via = Via { endpoint: ep, handle: RawHandle::from_raw(f.rdi) };
    receive(k, c, via, buf, f.rsi & TAG_NONBLOCK != 0, f)
}

/// `ipc_reply(reply, tag, slot0, slot1, slot2, slot3)`: answers a call and spends the reply.
pub fn reply(f: &mut SyscallFrame) -> Result<u64, Error> {
    let mut k = state::lock();
    let c = Caller::current(&k);
    let tag = Tag(f.rsi).check_send(MSG_SLOTS)?;
    let (out, data) = outgoing(&k, c, tag, [f.rdx, f.r10, f.r8, f.r9])?;
    answer(&mut k, c, f.rdi, &out, data, false).map(|()| 0)
}

/// `ipc_reply_recv(reply, tag, slot0, slot1, slot2, endpoint)` (in the
/// long form `slot0` points to the message, `slot1`/`slot2` give the
/// receive buffer):
/// answers, then receives. A reply whose caller died is spent and the
/// receive goes on. The answer may not move the endpoint handle it then
/// receives through (`InvalidArgument`): the receive would wait through
/// a handle its process no longer holds.
pub fn reply_recv(f: &mut SyscallFrame) -> Result<u64, Error> {
    let mut k = state::lock();
    let c = Caller::current(&k);
    let tag = Tag(f.rsi).check_send(REPLY_RECV_SLOTS)?;
    let ep = lookup_endpoint(&k, c, f.r9, Rights::RECV)?.0;
    let buf = if tag.has(TAG_LONG) { receive_buffer(&k, c, f.r10, f.r8)? } else { Data::None };
    let (out, data) = outgoing(&k, c, tag, [f.rdx, f.r10, f.r8, 0])?;
    if moves(&out, f.r9) {
        return Err(Error::InvalidArgument);
    }
    if !matches!(buf, Data::None) {
        ensure_buffer(&mut k, c.pid)?;
    }
    match answer(&mut k, c, f.rdi, &out, data, true) {
        Ok(()) | Err(Error::PeerGone) => {}
        Err(e) => return Err(e),
    }
    let via = Via { endpoint: ep, handle: RawHandle::from_raw(f.r9) };
    receive(k, c, via, buf, tag.has(TAG_NONBLOCK), f)
}

/// Whether message `out` moves `handle` away from its sender.
fn moves(out: &Outgoing, handle: u64) -> bool {
    out.tag.has(TAG_MOVE) && out.handles[..out.tag.handles()].contains(&handle)
}

fn aspace(k: &Kernel, c: Caller) -> &crate::mem::aspace::AddressSpace {
    k.procs.get(c.pid).and_then(|p| p.aspace.as_ref()).expect("running process")
}

/// The endpoint `handle` names, with `right`, and its badge.
fn lookup_endpoint(
    k: &Kernel,
    c: Caller,
    handle: u64,
    right: Rights,
) -> Result<(ObjectId, u64), Error> {
    let cap = k.caps.lookup(c.table, RawHandle::from_raw(handle), ObjectKind::Endpoint, right)?;
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
    slice.check_writable(aspace(k, c))?;
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
        let desc: MsgDesc = read_value(aspace(k, c), slots[0])?;
        if desc.len > MAX_MSG_BYTES as u64 {
            return Err(Error::InvalidArgument);
        }
        let slice = UserSlice::new(desc.data, desc.len)?;
        slice.check_readable(aspace(k, c))?;
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

/// Writes a received message into the caller's registers; returns its tag.
fn put(f: &mut SyscallFrame, m: &Incoming) -> u64 {
    f.rdi = m.badge;
    f.rsi = m.reply;
    [f.rdx, f.r10, f.r8, f.r9] = m.slots;
    m.tag.0
}

/// After a blocked receive or call: the outcome left by the waker, long
/// data copied from the kernel buffer to `buf`.
fn resume(f: &mut SyscallFrame, buf: Data) -> Result<u64, Error> {
    let mut k = state::lock();
    let c = Caller::current(&k);
    let p = k.procs.get_mut(c.pid).expect("running process");
    let m = p.ipc.result.take().ok_or(Error::PeerGone)??;
    if m.tag.has(TAG_LONG)
        && let Data::User(_, len) = buf
    {
        let n = m.tag.len().min(len);
        crate::ipc::transfer::copy_data(&mut k, Data::Kernel(c.pid), buf, n)?;
    }
    Ok(put(f, &m))
}

/// Sends or calls through handle `f.rdi`. A call may not move that
/// handle (`InvalidArgument`): it waits for its answer through it.
fn send_or_call(f: &mut SyscallFrame, call: bool) -> Result<u64, Error> {
    let mut k = state::lock();
    let c = Caller::current(&k);
    let tag = Tag(f.rsi).check_send(MSG_SLOTS)?;
    let (ep, badge) = lookup_endpoint(&k, c, f.rdi, Rights::SEND)?;
    let (mut out, data) = outgoing(&k, c, tag, [f.rdx, f.r10, f.r8, f.r9])?;
    if call && moves(&out, f.rdi) {
        return Err(Error::InvalidArgument);
    }
    out.badge = badge;
    let via = Via { endpoint: ep, handle: RawHandle::from_raw(f.rdi) };
    let buf =
        if call && tag.has(TAG_LONG) { receive_buffer(&k, c, f.r10, f.r8)? } else { Data::None };
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
        ensure_buffer(&mut k, c.pid)?;
    }
    let accept = if let Data::User(_, len) = buf { len } else { 0 };

    let kernel = &mut *k;
    let receiver =
        kernel.ipc.endpoints.get_mut(ep).expect("checked").receivers.pop(&mut kernel.procs);
    if let Some(r) = receiver {
        match deliver(&mut k, c.pid, r, &out, (data, Data::Kernel(r)), call) {
            Ok((msg, reply)) => {
                wake(&mut k, r, Ok(msg), call);
                let Some(reply) = reply else { return Ok(0) };
                let kernel = &mut *k;
                let p = kernel.procs.get_mut(c.pid).expect("running process");
                p.ipc.awaiting = Some(reply);
                p.ipc.accept = accept;
                p.ipc.via = Some(via);
                let e = kernel.ipc.endpoints.get_mut(ep).expect("checked");
                e.callers.push_back(&mut kernel.procs, c.pid);
                sched::block_current(k, Block::Reply(reply));
                return resume(f, buf);
            }
            Err(e @ (Error::TableFull | Error::OutOfMemory)) => {
                // No room on the receiver's side: both sides are told, as
                // when the receiver comes second.
                wake(&mut k, r, Err(e), false);
                return Err(e);
            }
            Err(e) => {
                let kernel = &mut *k;
                if let Some(ep) = kernel.ipc.endpoints.get_mut(ep) {
                    ep.receivers.push_front(&mut kernel.procs, r);
                }
                return Err(e);
            }
        }
    }
    if !must_block {
        return Err(Error::WouldBlock);
    }
    if tag.has(TAG_LONG) {
        crate::ipc::transfer::copy_data(&mut k, data, Data::Kernel(c.pid), out.len)?;
    }
    let kernel = &mut *k;
    let p = kernel.procs.get_mut(c.pid).expect("running process");
    p.ipc.outgoing = out;
    p.ipc.calling = call;
    p.ipc.accept = accept;
    p.ipc.result = None;
    p.ipc.via = Some(via);
    kernel.ipc.endpoints.get_mut(ep).expect("checked").senders.push_back(&mut kernel.procs, c.pid);
    sched::block_current(k, Block::Send(ep));
    if call {
        resume(f, buf)
    } else {
        let mut k = state::lock();
        let c = Caller::current(&k);
        let p = k.procs.get_mut(c.pid).expect("running process");
        p.ipc.result.take().ok_or(Error::PeerGone)?.map(|_| 0)
    }
}

/// Receives on endpoint `via.endpoint` (through `via.handle`): takes a
/// waiting sender's message, or waits for one (unless `nonblock`).
///
/// A queued message whose handles died while it waited (they were live
/// with GRANT when it was sent, and only a revoke can kill a blocked
/// process's handle) is refused: its sender wakes with `Revoked`, and the
/// next sender is taken.
fn receive(
    mut k: KernelGuard,
    c: Caller,
    via: Via,
    buf: Data,
    nonblock: bool,
    f: &mut SyscallFrame,
) -> Result<u64, Error> {
    let ep = via.endpoint;
    loop {
        let kernel = &mut *k;
        let e = kernel.ipc.endpoints.get_mut(ep).ok_or(Error::PeerGone)?;
        let Some(s) = e.senders.pop(&mut kernel.procs) else { break };
        let sender = k.procs.get(s).expect("queued processes exist");
        let (out, calling) = (sender.ipc.outgoing, sender.ipc.calling);
        let alive = sender.table.ok_or(Error::PeerGone).and_then(|t| check_handles(&k, t, &out));
        if alive.is_err() {
            wake(&mut k, s, Err(Error::Revoked), false);
            continue;
        }
        match deliver(&mut k, s, c.pid, &out, (Data::Kernel(s), buf), calling) {
            Ok((msg, reply)) => {
                match reply {
                    Some(r) => {
                        // It now waits for the answer, still through the
                        // capability it called through.
                        let kernel = &mut *k;
                        let p = kernel.procs.get_mut(s).expect("queued processes exist");
                        p.state = State::Blocked(Block::Reply(r));
                        p.ipc.awaiting = Some(r);
                        p.ipc.next = None;
                        let e = kernel.ipc.endpoints.get_mut(ep).expect("present above");
                        e.callers.push_back(&mut kernel.procs, s);
                    }
                    None => wake(&mut k, s, Ok(Incoming::default()), false),
                }
                return Ok(put(f, &msg));
            }
            Err(e @ (Error::TableFull | Error::OutOfMemory)) => {
                // No room on our side: the sender's message is refused and
                // we are told.
                wake(&mut k, s, Err(e), false);
                return Err(e);
            }
            // The sender's handles died while it waited: its send fails;
            // take the next one.
            Err(e) => wake(&mut k, s, Err(e), false),
        }
    }
    let e = k.ipc.endpoints.get(ep).ok_or(Error::PeerGone)?;
    if e.send_caps == 0 {
        return Err(Error::PeerGone);
    }
    if nonblock {
        return Err(Error::WouldBlock);
    }
    let kernel = &mut *k;
    let p = kernel.procs.get_mut(c.pid).expect("running process");
    p.ipc.accept = if let Data::User(_, len) = buf { len } else { 0 };
    p.ipc.result = None;
    p.ipc.via = Some(via);
    kernel
        .ipc
        .endpoints
        .get_mut(ep)
        .expect("checked")
        .receivers
        .push_back(&mut kernel.procs, c.pid);
    sched::block_current(k, Block::Recv(ep));
    resume(f, buf)
}

/// Answers through reply handle `handle`: delivers `out` to the waiting
/// caller and spends the reply (`first`: the caller runs next).
fn answer(
    k: &mut Kernel,
    c: Caller,
    handle: u64,
    out: &Outgoing,
    data: Data,
    first: bool,
) -> Result<(), Error> {
    let h = RawHandle::from_raw(handle);
    let cap = k.caps.lookup(c.table, h, ObjectKind::Reply, Rights::SEND)?;
    let Object::Reply(id) = cap.object else { return Err(Error::WrongKind) };
    let state = k.ipc.replies.get(id).ok_or(Error::BadHandle)?.state;
    match state {
        ReplyState::Spent => Err(Error::BadHandle),
        ReplyState::CallerGone => {
            spend(k, c, id, h);
            Err(Error::PeerGone)
        }
        ReplyState::Waiting(caller) => {
            let waiting =
                k.procs.get(caller).is_some_and(|p| p.state == State::Blocked(Block::Reply(id)));
            if !waiting {
                return Err(Error::PeerGone);
            }
            let (msg, _) = deliver(k, c.pid, caller, out, (data, Data::Kernel(caller)), false)?;
            spend(k, c, id, h);
            wake(k, caller, Ok(msg), first);
            Ok(())
        }
    }
}

/// Marks reply `id` spent and closes the handle used.
fn spend(k: &mut Kernel, c: Caller, id: ObjectId, h: RawHandle) {
    if let Some(r) = k.ipc.replies.get_mut(id) {
        r.state = ReplyState::Spent;
    }
    if let Ok(removed) = k.caps.drop_cap(c.table, h) {
        k.cap_gone(&removed);
    }
}
