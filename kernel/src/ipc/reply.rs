//! Reply objects: the one-shot right to answer one call.
//!
//! A call that meets a receiver creates a `Reply` and mints one capability
//! to it (SEND | GRANT) into the receiver's table. The first use answers
//! the caller and spends the object: the handle used dies, and any copy of
//! it (granted onwards) then gets `BadHandle`. If the caller dies first,
//! the first use spends it with `PeerGone`. If every capability to it dies
//! while the caller still waits, the caller wakes with `PeerGone`. The
//! object lives while a capability names it, so every capability names a
//! live object.
//!
//! **Recycled, not remade.** A reply spent through its only capability
//! does not die: its capability is *parked* in the answerer's table
//! (`CapSpace::park`: the handle is dead, the slot and tree node stay,
//! hidden and uncounted), and the next call delivered to that table takes
//! it back under a new handle with the object re-armed for the new caller.
//! A server answering one call after another so costs a few stores per
//! call where it cost a mint, a drop, and an object made and freed (about
//! a sixth of an IPC round trip's instructions). What user space sees is
//! unchanged: every call brings a new handle, and the one used dies. A
//! parked reply is an object in state `Spent` counting that one hidden
//! capability; its table's destruction removes both.

use caps::abi::{Error, RawHandle};
use caps::{Capability, NO_BADGE, Object, ObjectId, TableId};

use super::objects::{REPLY_RIGHTS, Reply, ReplyState};
use super::wake;
use crate::state::Kernel;

/// Creates a reply for `caller` and mints its capability into `table`
/// (whose room the caller of this function checked). Returns the object
/// and the raw handle. The object is born counting that one capability;
/// if the delivery fails, [`discard`] takes both back.
pub fn create(k: &mut Kernel, caller: ObjectId, table: TableId) -> Result<(ObjectId, u64), Error> {
    if let Some(made) = unpark(k, caller, table) {
        return Ok(made);
    }
    let id = k
        .ipc
        .replies
        .insert(Reply { state: ReplyState::Waiting(caller), caps: 1 })
        .ok_or(Error::OutOfMemory)?;
    match k.caps.mint(table, capability(id)) {
        Ok(h) => Ok((id, h.as_raw())),
        Err(e) => {
            k.ipc.replies.remove(id);
            Err(e)
        }
    }
}

/// Whether [`create`] can make a reply for `table` as far as reply objects
/// go: one is parked there, or the table of replies has room. (A reply
/// table full of calls awaiting answers does not stop a server whose
/// spent reply waits parked.)
pub fn can_create(k: &Kernel, table: TableId) -> bool {
    k.caps.parked(table).is_some() || !k.ipc.replies.is_full()
}

/// The reply parked in `table` (if any, and if the table has room),
/// live again under a new handle and armed for `caller`.
#[inline]
fn unpark(k: &mut Kernel, caller: ObjectId, table: TableId) -> Option<(ObjectId, u64)> {
    let (handle, cap) = k.caps.unpark(table)?;
    let Object::Reply(id) = cap.object else { unreachable!("only replies are parked (`spend`)") };
    let r = k.ipc.replies.get_mut(id).expect("a parked reply's object lives");
    debug_assert!(r.state == ReplyState::Spent && r.caps == 1);
    r.state = ReplyState::Waiting(caller);
    Some((id, handle.as_raw()))
}

/// The capability a new reply `id` is minted as.
fn capability(id: ObjectId) -> Capability {
    Capability { object: Object::Reply(id), rights: REPLY_RIGHTS, badge: NO_BADGE }
}

/// Takes back what [`create`] made (the delivery failed): the capability
/// and the object, with no effect on the caller.
pub fn discard(k: &mut Kernel, id: ObjectId, table: TableId, handle: RawHandle) {
    let _ = k.caps.drop_cap(table, handle);
    k.ipc.replies.remove(id);
}

/// Spends reply `id` through its capability `handle` in `table` (the
/// answer went, or the caller is gone): drops that capability and, if it
/// was the last, the object. The general `Kernel::cap_gone` is not needed
/// here: nothing blocks through a reply's handle (no tie to wake), and a
/// reply maps nothing.
#[inline(never)] // one copy, named in `kernel/hot.ld`
pub fn spend(k: &mut Kernel, id: ObjectId, table: TableId, handle: RawHandle) {
    // Its only capability (no copy granted onwards): parked for the next
    // call, if the table has no parked reply yet.
    if let Some(r) = k.ipc.replies.get_mut(id)
        && r.caps == 1
        && k.caps.park(table, handle).is_ok()
    {
        r.state = ReplyState::Spent;
        return;
    }
    let Ok(removed) = k.caps.drop_cap(table, handle) else { return };
    debug_assert_eq!(removed.capability.object, Object::Reply(id));
    let Some(r) = k.ipc.replies.get_mut(id) else { return };
    r.caps -= 1;
    if r.caps == 0 {
        k.ipc.replies.remove(id);
    } else {
        // Copies granted onwards live on, naming a spent reply.
        r.state = ReplyState::Spent;
    }
}

/// Counts a new capability to reply `id`.
pub fn cap_created(k: &mut Kernel, id: ObjectId) {
    if let Some(r) = k.ipc.replies.get_mut(id) {
        r.caps += 1;
    }
}

/// Counts a capability to reply `id` gone: the last one of a reply still
/// awaited wakes its caller with `PeerGone`; the last one frees it.
pub fn cap_removed(k: &mut Kernel, id: ObjectId) {
    let Some(r) = k.ipc.replies.get_mut(id) else { return };
    r.caps -= 1;
    if r.caps > 0 {
        return;
    }
    let r = k.ipc.replies.remove(id).expect("present");
    if let ReplyState::Waiting(caller) = r.state {
        wake(k, caller, Err(Error::PeerGone), false);
    }
}

/// The caller of reply `id` died: its use will say `PeerGone`.
pub fn caller_gone(k: &mut Kernel, id: ObjectId) {
    if let Some(r) = k.ipc.replies.get_mut(id)
        && matches!(r.state, ReplyState::Waiting(_))
    {
        r.state = ReplyState::CallerGone;
    }
}
