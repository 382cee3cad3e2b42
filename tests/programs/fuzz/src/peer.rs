//! The fuzzer's IPC peer (`peer=1`): a process that receives on the
//! endpoint the fuzzer gave it ("ep") and answers, so that the fuzzer's
//! sends and calls really deliver, with their handles, under the kernel's
//! authority checks. It answers calls in turn with words, with the handles
//! it got moved back, with long data and copies of them, or through
//! `ipc_reply_recv`; now and then it sends the handles back, or calls the
//! fuzzer (which may answer, drop the reply, or never receive: then the
//! fuzzer's final revoke wakes it with `Revoked`). It keeps nothing it
//! receives: a handle is moved back or closed. A memory object it receives
//! it first maps (never touching the pages), so that the fuzzer's revokes
//! and drops unmap them from another address space, and moving the handle
//! back takes the mapping with it.
//!
//! It ends when its endpoint is revoked or loses its peers, and exits with
//! [`EXIT_BASE`] plus the number of messages it received (so that an exit
//! of any other kind, a panic, is told apart). It never allocates.

use libos::Handle;
use libos::abi::args::MAP_WRITE;
use libos::abi::ipc::{MAX_MSG_BYTES, TAG_CALL, TAG_LONG, TAG_MOVE, Tag};
use libos::abi::layout::PAGE_SIZE;
use libos::abi::{Error, ObjectKind, RawHandle, Syscall};
use libos::sys::{self, IpcRegs};
use libos::{Start, println};

use crate::random::Rng;

/// Added to the count the peer exits with.
pub const EXIT_BASE: i32 = 1 << 24;
/// Most messages the exit code counts.
const MAX_COUNT: i32 = 1 << 20;

/// Where the peer maps the memory objects it receives (a page each).
const MO_AREA: u64 = 0x0000_4500_0000_0000;
const MO_AREA_PAGES: u64 = 64;

/// Errors in a row after which the peer gives up (its quota or table may
/// be spent for good).
const MAX_ERRORS_IN_A_ROW: u32 = 100;

/// Runs the peer; returns its exit code (messages received).
pub fn run(start: &Start) -> i32 {
    let Some(ep) = start.handle::<libos::kind::Endpoint>("ep").map(|h| h.raw()) else {
        println!("fuzz-peer: no endpoint");
        return 1;
    };
    let seed = start.arg("seed").and_then(|s| s.parse().ok()).unwrap_or(1);
    let mut rng = Rng::new(seed);
    let mut buf = [0u8; MAX_MSG_BYTES];
    let mut got: i32 = 0;
    let mut errors = 0;
    let mut next: Option<Result<IpcRegs, Error>> = None;
    loop {
        let r = match next.take() {
            Some(r) => r,
            None => {
                let len = rng.pick(&[0, 16, MAX_MSG_BYTES]);
                sys::ipc_recv(ep, 0, &mut buf[..len])
            }
        };
        let m = match r {
            Ok(m) => m,
            // Our capability (or every sender) is gone: the run is over.
            Err(Error::Revoked | Error::PeerGone | Error::BadHandle) => break,
            Err(_) => {
                errors += 1;
                if errors > MAX_ERRORS_IN_A_ROW {
                    break;
                }
                continue;
            }
        };
        errors = 0;
        got = got.saturating_add(1);
        let words = if m.tag.has(TAG_LONG) { 0 } else { m.tag.words() };
        let count = m.tag.handles().min(4 - words);
        let mut handles = [0u64; 4];
        handles[..count].copy_from_slice(&m.slots[words..words + count]);
        let handles = &handles[..count];
        for &h in handles {
            map_object(&mut rng, h);
        }
        if m.tag.has(TAG_CALL) {
            let reply = RawHandle::from_raw(m.reply);
            let first = match rng.below(4) {
                0 => sys::ipc_send(Syscall::IpcReply, reply, Tag::new(2, 0).0, [m.badge, 1, 0, 0]),
                1 => reply_moving(reply, handles),
                2 => {
                    let n = rng.pick(&[0, 1, 100, MAX_MSG_BYTES]);
                    sys::ipc_send_long(Syscall::IpcReply, reply, 0, &buf[..n], handles)
                }
                _ => {
                    // Answer moving the handles back (at most three fit),
                    // and receive the next message in the same call.
                    let n = handles.len().min(3);
                    let mut slots = [0; 3];
                    slots[..n].copy_from_slice(&handles[..n]);
                    let r = sys::ipc_reply_recv(reply, Tag::new(0, n).with(TAG_MOVE).0, slots, ep);
                    let went = r.is_ok();
                    next = Some(r);
                    // On an error, whether the answer went or not is not
                    // known here; the fallback below is refused harmlessly
                    // if it did.
                    if went { Ok(()) } else { Err(Error::InvalidArgument) }
                }
            };
            if let Err(e) = first
                && e != Error::PeerGone
                && sys::ipc_send(Syscall::IpcReply, reply, Tag::new(1, 0).0, [0; 4]).is_err()
            {
                // Never leave a caller waiting: closing the reply wakes it.
                let _ = sys::cap_drop(reply);
            }
        } else if rng.chance(12) && (1..=3).contains(&handles.len()) {
            // Send the handles back; this waits until someone receives, or
            // our capability is revoked.
            let mut slots = [7; 4];
            slots[1..1 + handles.len()].copy_from_slice(handles);
            let tag = Tag::new(1, handles.len()).with(TAG_MOVE).0;
            if let Err(Error::Revoked | Error::BadHandle) =
                sys::ipc_send(Syscall::IpcSend, ep, tag, slots)
            {
                break;
            }
        } else if rng.chance(5) {
            // Call the fuzzer; it may answer, drop the reply, or never
            // receive (then the final revoke wakes us with `Revoked`).
            match sys::ipc_call(ep, Tag::new(1, 0).0, [got as u64, 0, 0, 0]) {
                Ok(a) => drop_all(&a),
                Err(Error::Revoked | Error::BadHandle) => break,
                Err(_) => {}
            }
        }
        // Keep nothing: the handles moved back are dead already (closing
        // them is refused), the others are closed.
        for &h in handles {
            let _ = sys::cap_drop(RawHandle::from_raw(h));
        }
    }
    EXIT_BASE + got.min(MAX_COUNT)
}

/// Maps page 0 of `handle` at a random page of [`MO_AREA`], read-only or
/// writable, if it is a memory object (a refusal, such as a page there in
/// use or a right missing, is fine).
fn map_object(rng: &mut Rng, handle: u64) {
    let h = RawHandle::from_raw(handle);
    if !matches!(sys::cap_kind(h), Ok((Some(ObjectKind::MemoryObject), _))) {
        return;
    }
    let vaddr = MO_AREA + rng.below(MO_AREA_PAGES) * PAGE_SIZE;
    let flags = if rng.chance(50) { 0 } else { MAP_WRITE };
    let _ = sys::shm::mo_map(Handle::from_raw(h), 0, 1, vaddr, flags);
}

/// Answers through `reply` moving `handles` back (a word if there are
/// none).
fn reply_moving(reply: RawHandle, handles: &[u64]) -> Result<(), Error> {
    let mut slots = [0; 4];
    slots[..handles.len()].copy_from_slice(handles);
    let tag = Tag::new(0, handles.len()).with(TAG_MOVE);
    let tag = if handles.is_empty() { Tag::new(1, 0) } else { tag };
    sys::ipc_send(Syscall::IpcReply, reply, tag.0, slots)
}

/// Closes the handles an answer brought.
fn drop_all(m: &IpcRegs) {
    let words = if m.tag.has(TAG_LONG) { 0 } else { m.tag.words() };
    for &h in &m.slots[words..(words + m.tag.handles()).min(4)] {
        let _ = sys::cap_drop(RawHandle::from_raw(h));
    }
}
