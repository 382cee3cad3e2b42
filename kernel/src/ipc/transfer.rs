//! Delivering one message: data, handles and (for a call) the reply
//! capability, all or nothing.
//!
//! Order: everything that can fail without changing state first (the
//! receiver's room for every new capability, the sender's handles still
//! live with GRANT, the long data copied into a buffer nobody else sees),
//! then the reply capability, then the handles (copies are undone if the
//! capability space runs out half-way; moves cannot fail once checked),
//! and only then are the new capabilities counted.

use caps::abi::ipc::{
    MAX_HANDLES, MAX_MSG_BYTES, MSG_SLOTS, TAG_CALL, TAG_LONG, TAG_MOVE, TAG_TRUNCATED, Tag,
};
use caps::abi::{Error, RawHandle, Rights};
use caps::{Object, ObjectId, TableId};

pub use super::message::Data;
use super::{Incoming, Outgoing, reply};
use crate::state::Kernel;

/// Checks that every handle `out` carries is live in `table` with GRANT,
/// and that a move names no handle twice.
pub fn check_handles(k: &Kernel, table: TableId, out: &Outgoing) -> Result<(), Error> {
    let handles = &out.handles[..out.tag.handles()];
    for (i, &h) in handles.iter().enumerate() {
        let cap = k.caps.get(table, RawHandle::from_raw(h))?;
        if !cap.rights.contains(Rights::GRANT) {
            return Err(Error::MissingRight);
        }
        if out.tag.has(TAG_MOVE) && handles[..i].contains(&h) {
            return Err(Error::InvalidArgument);
        }
    }
    Ok(())
}

/// Free slots in `table`.
fn room(k: &Kernel, table: TableId) -> usize {
    k.caps.table(table).map_or(0, |t| (t.quota() as usize).saturating_sub(t.len()))
}

fn table_of(k: &Kernel, pid: ObjectId) -> Result<TableId, Error> {
    k.procs.get(pid).and_then(|p| p.table).ok_or(Error::PeerGone)
}

/// How many bytes of long data `dst` takes.
fn accepts(k: &Kernel, dst: Data) -> usize {
    match dst {
        Data::None => 0,
        Data::User(_, len) => len.min(MAX_MSG_BYTES),
        Data::Kernel(pid) => k
            .procs
            .get(pid)
            .filter(|p| p.ipc.buf.is_some())
            .map_or(0, |p| p.ipc.accepts().min(MAX_MSG_BYTES)),
    }
}

/// Copies `n` bytes from `src` to `dst`; one side is the running process's
/// user memory, the other a blocked process's kernel buffer.
pub fn copy_data(k: &mut Kernel, src: Data, dst: Data, n: usize) -> Result<(), Error> {
    if n == 0 {
        return Ok(());
    }
    let running = k.sched.here().current.ok_or(Error::PeerGone)?;
    let (user, kernel_pid, to_user) = match (src, dst) {
        (Data::User(s, _), Data::Kernel(pid)) => (s, pid, false),
        (Data::Kernel(pid), Data::User(s, _)) => (s, pid, true),
        _ => return Err(Error::InvalidArgument),
    };
    let mut buf =
        k.procs.get_mut(kernel_pid).and_then(|p| p.ipc.buf.take()).ok_or(Error::OutOfMemory)?;
    let aspace = k.procs.get(running).and_then(|p| p.aspace.as_ref()).ok_or(Error::PeerGone)?;
    let part = user.sub(0, n as u64);
    let r = part.and_then(|part| {
        if to_user { part.write(aspace, &buf[..n]) } else { part.read(aspace, &mut buf[..n]) }
    });
    k.procs.get_mut(kernel_pid).expect("present above").ipc.buf = Some(buf);
    r
}

/// Delivers `out` from process `from` to process `to` (exactly one of them
/// is running; `src`/`dst` say where long data is and goes). With `call`,
/// creates the reply capability for `from` in `to`'s table. Returns what
/// the receiver gets, and the reply object. On error nothing changed.
///
/// Errors: `PeerGone` (a side has no table), `TableFull` (no room in the
/// receiver's table for every new capability), the errors of
/// [`check_handles`], `OutOfMemory` (reply objects or capabilities
/// exhausted), `BadAddress`.
pub fn deliver(
    k: &mut Kernel,
    from: ObjectId,
    to: ObjectId,
    out: &Outgoing,
    (src, dst): (Data, Data),
    call: bool,
) -> Result<(Incoming, Option<ObjectId>), Error> {
    let from_table = table_of(k, from)?;
    let to_table = table_of(k, to)?;
    let count = out.tag.handles();
    if room(k, to_table) < count + usize::from(call) {
        return Err(Error::TableFull);
    }
    check_handles(k, from_table, out)?;
    if call && !reply::can_create(k, to_table) {
        return Err(Error::OutOfMemory);
    }
    let long = out.tag.has(TAG_LONG);
    let n = if long { out.len.min(accepts(k, dst)) } else { 0 };
    copy_data(k, src, dst, n)?;

    let made = if call { Some(reply::create(k, from, to_table)?) } else { None };
    let mut new = [RawHandle::from_raw(0); MAX_HANDLES];
    let moving = out.tag.has(TAG_MOVE);
    for i in 0..count {
        let h = RawHandle::from_raw(out.handles[i]);
        let r = if moving {
            k.caps.move_cap(from_table, h, to_table)
        } else {
            let rights = k.caps.get(from_table, h).map(|c| c.rights)?;
            k.caps.grant(from_table, h, to_table, rights)
        };
        match r {
            Ok(n) => new[i] = n,
            Err(e) => {
                // Only a copy can fail here (the space is full): undo.
                for &n in &new[..i] {
                    let _ = k.caps.drop_cap(to_table, n);
                }
                if let Some((id, h)) = made {
                    reply::discard(k, id, to_table, RawHandle::from_raw(h));
                }
                return Err(e);
            }
        }
    }
    if moving {
        // What the sender mapped through a memory object's capability goes
        // with the capability (the mapping lives as long as it, in its
        // holder's hands).
        for (i, &n) in new[..count].iter().enumerate() {
            if let Some(Object::MemoryObject(_)) = k.caps.get(to_table, n).ok().map(|c| c.object) {
                let key = crate::memobj::cap_key(from_table, RawHandle::from_raw(out.handles[i]));
                crate::memobj::unmap_cap(k, key);
            }
        }
    } else {
        for &n in &new[..count] {
            let cap = *k.caps.get(to_table, n).expect("just granted");
            k.cap_created(&cap);
        }
    }

    let words = if long { 0 } else { out.tag.words() };
    let mut flags = 0;
    if long {
        flags |= TAG_LONG;
        if n < out.len {
            flags |= TAG_TRUNCATED;
        }
    }
    if call {
        flags |= TAG_CALL;
    }
    let mut msg = Incoming {
        tag: Tag::received(words, count, flags, if long { out.len } else { 0 }),
        badge: out.badge,
        reply: made.map_or(0, |(_, h)| h),
        slots: [0; MSG_SLOTS],
    };
    msg.slots[..words].copy_from_slice(&out.words[..words]);
    for (slot, h) in msg.slots[words..].iter_mut().zip(&new[..count]) {
        *slot = h.as_raw();
    }
    Ok((msg, made.map(|(id, _)| id)))
}
