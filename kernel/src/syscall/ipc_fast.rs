//! The IPC fast path: `ipc_call` and `ipc_reply_recv` in their common
//! case, a register-only message (words, no handles, no flags) to a
//! receiver that already waits, then a direct switch to it.
//!
//! Each function checks everything the general path (`syscall::ipc`)
//! would, and the conditions of the common case, before it changes
//! anything; if any fails it returns `None` having changed nothing, and
//! the general path runs the call from the start (and reports the error,
//! if there is one). So the fast path decides no outcome the general path
//! would not: it only skips what a register-only message to a waiting
//! receiver does not need (decoding the long form, checking and
//! transferring handles, the delivery's kernel buffer, a second lookup of
//! each side's table), and touches fewer pages of kernel code and data,
//! which under emulation is most of its cost (every address-space switch
//! empties QEMU's software TLB).
//!
//! What it still does, as the general path: the capability lookups with
//! their rights, the reply object and its capability in the receiver's
//! table, the badge, the caller tied to the handle it called through and
//! queued among the endpoint's callers, the receiver tied to its endpoint
//! handle, and both sides' states.

use caps::Object;
use caps::abi::ipc::{MSG_SLOTS, REPLY_RECV_SLOTS, TAG_CALL, TAG_WORDS_MASK, Tag};
use caps::abi::syscall::calls;
use caps::abi::{ObjectKind, Rights};

use super::ipc::expect;
use super::{Caller, Next, Outcome};
use crate::ipc::objects::ReplyState;
use crate::ipc::transfer::Data;
use crate::ipc::{Incoming, Via, reply, wake};
use crate::proc::{Block, State};
use crate::state::Kernel;

/// Whether `tag` is a register-only message of at most `slots` words (no
/// handles, no flags).
fn words_only(tag: Tag, slots: usize) -> bool {
    tag.0 & !TAG_WORDS_MASK == 0 && tag.words() <= slots
}

/// The first `words` of `slots`, the rest zero. Slot by slot rather than
/// a slice copy: a copy of variable length is a call to `memcpy`.
fn first_words(slots: [u64; MSG_SLOTS], words: usize) -> [u64; MSG_SLOTS] {
    core::array::from_fn(|i| if i < words { slots[i] } else { 0 })
}

/// `ipc_call` of a register-only message through an endpoint a receiver
/// waits on: the message and a new reply capability go to the receiver,
/// which runs next; the caller waits for the answer. `None`: not the
/// common case (nothing changed).
pub fn call(k: &mut Kernel, c: Caller, a: &calls::IpcCall) -> Option<Outcome> {
    let tag = Tag(a.tag);
    // A full reply table sends even a server with a parked reply to the
    // general path (`reply::can_create`): rare, and this check is cheaper
    // (measured: dropping it cost the round trip 8 instructions).
    if !words_only(tag, MSG_SLOTS) || k.ipc.replies.is_full() {
        return None;
    }
    let cap = k.caps.lookup(c.table, a.endpoint, ObjectKind::Endpoint, Rights::SEND).ok()?;
    let (Object::Endpoint(ep), badge) = (cap.object, cap.badge) else { return None };
    let e = k.ipc.endpoints.get_mut(ep)?;
    let r = e.receivers.pop(&mut k.procs)?;
    // The mint checks the room for the reply capability.
    let made = k.procs.get(r).and_then(|p| p.table).map(|table| reply::create(k, c.pid, table));
    let Some(Ok((id, handle))) = made else {
        let e = k.ipc.endpoints.get_mut(ep).expect("present above");
        e.receivers.push_front(&mut k.procs, r);
        return None;
    };
    let words = tag.words();
    let msg = Incoming {
        tag: Tag::received(words, 0, TAG_CALL, 0),
        badge,
        reply: handle,
        slots: first_words([a.slot0, a.slot1, a.slot2, a.slot3], words),
    };
    wake(k, r, Ok(msg), true);
    expect(k, c, Via { endpoint: ep, handle: a.endpoint }, true, Data::None, Some(id));
    Some(Ok(Next::Block(Block::Reply(id))))
}

/// `ipc_reply_recv` with a register-only answer to a caller that waits,
/// then a receive on an endpoint no sender waits on: the caller gets the
/// answer and runs next; this process waits for the next message. `None`:
/// not the common case (nothing changed).
pub fn reply_recv(k: &mut Kernel, c: Caller, a: &calls::IpcReplyRecv) -> Option<Outcome> {
    let tag = Tag(a.tag);
    if !words_only(tag, REPLY_RECV_SLOTS) {
        return None;
    }
    let cap = k.caps.lookup(c.table, a.endpoint, ObjectKind::Endpoint, Rights::RECV).ok()?;
    let Object::Endpoint(ep) = cap.object else { return None };
    let e = k.ipc.endpoints.get(ep)?;
    if !e.senders.is_empty() || e.send_caps == 0 {
        return None;
    }
    let rcap = k.caps.lookup(c.table, a.reply, ObjectKind::Reply, Rights::SEND).ok()?;
    let Object::Reply(id) = rcap.object else { return None };
    let ReplyState::Waiting(caller) = k.ipc.replies.get(id)?.state else { return None };
    let waits = k.procs.get(caller).is_some_and(|p| {
        matches!(p.state, State::Blocked(Block::Reply(r)) if r == id) && p.table.is_some()
    });
    if !waits {
        return None;
    }
    let words = tag.words();
    let msg = Incoming {
        tag: Tag::received(words, 0, 0, 0),
        badge: 0,
        reply: 0,
        slots: first_words([a.slot0, a.slot1, a.slot2, 0], words),
    };
    reply::spend(k, id, c.table, a.reply);
    wake(k, caller, Ok(msg), true);
    expect(k, c, Via { endpoint: ep, handle: a.endpoint }, true, Data::None, None);
    let e = k.ipc.endpoints.get_mut(ep).expect("present above");
    e.receivers.push_back(&mut k.procs, c.pid);
    Some(Ok(Next::Block(Block::Recv(ep))))
}
