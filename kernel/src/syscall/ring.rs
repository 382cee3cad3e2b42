//! `ring_create`, `ring_enter`: I/O rings of disk requests
//! (`caps::abi::ring` for the layout and rules, `crate::ring` for the
//! kernel's side).
//!
//! Every submission is checked by the same function as `disk_submit`
//! (`disk::check_async`) when it is consumed, and started by the same one
//! (`disk::start_async`), so a ring can do nothing a single call could
//! not. A bad entry completes at once with its own error; it never stops
//! the ring. When the DMA pool, the device or the kernel's ring-request
//! table has no room, consumption stops and the rest of the submissions
//! stay in the queue for the next `ring_enter` (the call succeeds with the
//! number consumed so far, possibly 0): the program sees `sq_head` stop
//! short of `sq_tail`.

use caps::abi::layout::{MAP_END, PAGE_SIZE, USER_MIN};
use caps::abi::ring::{RingHeader, Sqe, ring_pages, valid_entries};
use caps::abi::syscall::calls;
use caps::abi::{Error, ObjectKind, RawHandle, Rights};
use caps::{Capability, NO_BADGE, Object, ObjectId};

use super::disk::{check_async, start_async};
use super::{Caller, Next, Outcome};
use crate::arch::cpu::rdtsc;
use crate::mem::aspace::Access;
use crate::mem::user::{read_value, write_value};
use crate::proc::Block;
use crate::ring::{
    Done, MAX_RING_REQUESTS_PER_PROCESS, MAX_RINGS_PER_PROCESS, Ring, RingRequest, RingWait, cqe,
};
use crate::state::Kernel;
use kerncore::ring::RingIndices;

/// `ring_create(memory, entries, vaddr)`: maps a new ring of `entries`
/// (a power of two, at most `MAX_RING_ENTRIES`) at `vaddr`, charged to the
/// quota `memory` names (`MAP | READ | WRITE` on it), and returns a handle
/// to it with every ring right. Errors, each its own: the capability's
/// (`BadHandle`, `WrongKind`, `MissingRight`); `InvalidArgument` for a bad
/// `entries` or an unaligned `vaddr`; `BadAddress` when the ring would not
/// lie inside `[USER_MIN, MAP_END)`; `AddressInUse` when a page there is
/// mapped already; `OutOfMemory` when the quota, or the kernel's ring table (or
/// the caller's share of it, `MAX_RINGS_PER_PROCESS`), is full;
/// `TableFull` when the caller's capability table is. A failed call maps
/// and charges nothing.
pub fn create(k: &mut Kernel, c: Caller, a: calls::RingCreate) -> Result<u64, Error> {
    let need = Rights::MAP | Rights::READ | Rights::WRITE;
    let cap = k.caps.lookup(c.table, a.memory, ObjectKind::Memory, need)?;
    let Object::Memory(quota) = cap.object else { return Err(Error::WrongKind) };
    if !valid_entries(a.entries) || !a.vaddr.is_multiple_of(PAGE_SIZE) {
        return Err(Error::InvalidArgument);
    }
    let pages = ring_pages(a.entries);
    let end = a.vaddr.checked_add(pages * PAGE_SIZE);
    if a.vaddr < USER_MIN || end.is_none_or(|e| e > MAP_END) {
        return Err(Error::BadAddress);
    }
    let aspace = c.aspace(&k.procs);
    if (0..pages).any(|i| aspace.is_mapped(a.vaddr + i * PAGE_SIZE)) {
        return Err(Error::AddressInUse);
    }
    if k.rings.rings.is_full() || k.rings.owned_by(c.pid) >= MAX_RINGS_PER_PROCESS {
        return Err(Error::OutOfMemory);
    }
    if !k.caps.table(c.table).is_some_and(|t| t.has_room()) {
        return Err(Error::TableFull);
    }
    let aspace = k.procs.get_mut(c.pid).and_then(|p| p.aspace.as_mut()).expect("running process");
    aspace.map_zeroed(a.vaddr, pages, Access::ReadWrite, quota, &mut k.quotas)?;
    aspace.lend(a.vaddr, pages);
    let Ok(idx) = RingIndices::new(a.entries as u32) else {
        unmap_pages(k, c.pid, a.vaddr, pages);
        return Err(Error::InvalidArgument);
    };
    let ring = Ring { owner: c.pid, vaddr: a.vaddr, pages, idx, refs: 0, attached: true };
    let header = ring.header(0, 0);
    let Some(id) = k.rings.rings.insert(ring) else {
        unmap_pages(k, c.pid, a.vaddr, pages);
        return Err(Error::OutOfMemory);
    };
    let cap = Capability {
        object: Object::IoRing(id),
        rights: ObjectKind::IoRing.valid_rights(),
        badge: NO_BADGE,
    };
    let undo = |k: &mut Kernel| {
        k.rings.rings.remove(id);
        unmap_pages(k, c.pid, a.vaddr, pages);
    };
    if let Err(e) = write_value(c.aspace(&k.procs), a.vaddr, &header) {
        undo(k);
        return Err(e);
    }
    k.mint_new(c.table, cap, undo)
}

/// Unmaps `pages` at `vaddr` in `pid`'s space (if it still has one),
/// crediting their quota.
fn unmap_pages(k: &mut Kernel, pid: ObjectId, vaddr: u64, pages: u64) {
    if let Some(aspace) = k.procs.get_mut(pid).and_then(|p| p.aspace.as_mut()) {
        let _ = aspace.unmap(vaddr, pages, &mut k.quotas);
    }
}

/// Looks `handle` up as an I/O ring with `WRITE` that the caller owns and
/// whose pages are still mapped.
fn own_ring(k: &Kernel, c: Caller, handle: RawHandle) -> Result<ObjectId, Error> {
    let cap = k.caps.lookup(c.table, handle, ObjectKind::IoRing, Rights::WRITE)?;
    let Object::IoRing(id) = cap.object else { return Err(Error::WrongKind) };
    let ring = k.rings.rings.get(id).ok_or(Error::PeerGone)?;
    if ring.owner != c.pid {
        return Err(Error::NotSupported);
    }
    if !ring.attached {
        return Err(Error::PeerGone);
    }
    Ok(id)
}

/// `ring_enter(ring, to_submit, min_complete, flags)`: posts the
/// completions of the ring's finished requests, consumes up to
/// `to_submit` submissions, then waits (blocked: [`wait`]) until at
/// least `min_complete` completions are unconsumed or none of the ring's
/// requests is in flight. Returns the submissions consumed (bad ones
/// included: they complete at once with their error).
///
/// Consumption stops early, leaving the rest queued, when the completion
/// queue has no slot left for another request (unconsumed completions
/// plus requests in flight fill it), or when the DMA pool, the device or
/// the ring-request tables (`MAX_RING_REQUESTS_PER_PROCESS`) are full.
///
/// Errors (nothing consumed): `InvalidArgument` for flags other than 0 or
/// `min_complete` above the ring's size; the capability's (`BadHandle`,
/// `WrongKind`, `MissingRight`); `NotSupported` from another process than
/// the ring's owner (its memory is the owner's); `PeerGone` when the ring
/// was torn down (its pages unmapped); `OutOfRange` when the header's
/// indices are garbage (`sq_tail - sq_head` or `cq_tail - cq_head` above
/// the ring's size).
pub fn enter(k: &mut Kernel, c: Caller, a: calls::RingEnter) -> Outcome {
    if a.flags != 0 {
        return Err(Error::InvalidArgument);
    }
    let id = own_ring(k, c, a.ring)?;
    let ring = k.rings.rings.get(id).ok_or(Error::PeerGone)?;
    if a.min_complete > u64::from(ring.idx.entries()) {
        return Err(Error::InvalidArgument);
    }
    let header: RingHeader = read_value(c.aspace(&k.procs), ring.vaddr)?;
    let queued = ring.idx.check(header.sq_tail, header.cq_head)?.queued;
    k.rings.reap_orphans(&mut k.devices);
    post_completions(k, c, id)?;
    let want = a.to_submit.min(u64::from(queued));
    let mut consumed = 0;
    while consumed < want {
        let ring = k.rings.rings.get(id).ok_or(Error::PeerGone)?;
        if !ring.idx.has_room(header.cq_head) {
            break;
        }
        let t0 = rdtsc();
        let waited = k.devices.waited_cycles;
        let sqe: Sqe = read_value(c.aspace(&k.procs), ring.sqe_addr())?;
        let started = submit_entry(k, c, id, &sqe);
        if started == Err(Error::Busy) {
            // No room now: the entry stays queued.
            break;
        }
        let ring = k.rings.rings.get_mut(id).ok_or(Error::PeerGone)?;
        ring.idx.consume(started.is_ok());
        consumed += 1;
        let device = match started {
            Ok(device) => Some(device),
            Err(e) => {
                post(k, c, id, sqe.user_data, Err(e), false)?;
                None
            }
        };
        if let Some(device) = device {
            let spent = rdtsc() - t0 - (k.devices.waited_cycles - waited);
            k.devices.account(device, 1, spent);
        }
    }
    publish(k, c, id)?;
    wait(k, c, a.ring, id, a.min_complete as u32, consumed)
}

/// Checks one submission as `disk_submit` would and starts it; returns its
/// device. `Busy` when there is no room (the entry stays queued); any
/// other error is the entry's own.
fn submit_entry(k: &mut Kernel, c: Caller, id: ObjectId, sqe: &Sqe) -> Result<u32, Error> {
    if sqe.flags != 0 {
        return Err(Error::InvalidArgument);
    }
    let handle = RawHandle::from_raw(sqe.range);
    let req = check_async(k, c, handle, u64::from(sqe.op), sqe.sector, sqe.count, sqe.buf)?;
    if k.rings.requests.is_full() || k.rings.in_flight_of(c.pid) >= MAX_RING_REQUESTS_PER_PROCESS {
        return Err(Error::Busy);
    }
    let device = req.device;
    let request =
        RingRequest { ring: Some(id), user_data: sqe.user_data, io: start_async(k, c, req)? };
    if k.rings.requests.insert(request).is_none() {
        // Unreachable (room checked above); the `Lent` dropped with the
        // request leaks its buffer rather than free one the device may
        // write.
        return Err(Error::Busy);
    }
    Ok(device)
}

/// Writes completion `(user_data, result)` into the ring's next completion
/// slot (kept free for it: `RingIndices::has_room`) and advances
/// `cq_tail`; `was_in_flight` if it ends a request counted in flight.
fn post(
    k: &mut Kernel,
    c: Caller,
    id: ObjectId,
    user_data: u64,
    result: Result<u64, Error>,
    was_in_flight: bool,
) -> Result<(), Error> {
    let ring = k.rings.rings.get_mut(id).ok_or(Error::PeerGone)?;
    write_value(c.aspace(&k.procs), ring.cqe_addr(), &cqe(user_data, result))?;
    ring.idx.post(was_in_flight);
    Ok(())
}

/// Writes the kernel's indices (`sq_head`, `cq_tail`) into the header.
fn publish(k: &Kernel, c: Caller, id: ObjectId) -> Result<(), Error> {
    let ring = k.rings.rings.get(id).ok_or(Error::PeerGone)?;
    let aspace = c.aspace(&k.procs);
    write_value(aspace, ring.vaddr + HEAD_OFFSET, &ring.idx.sq_head())?;
    write_value(aspace, ring.vaddr + TAIL_OFFSET, &ring.idx.cq_tail())
}

const HEAD_OFFSET: u64 = core::mem::offset_of!(RingHeader, sq_head) as u64;
const TAIL_OFFSET: u64 = core::mem::offset_of!(RingHeader, cq_tail) as u64;
const CQ_HEAD_OFFSET: u64 = core::mem::offset_of!(RingHeader, cq_head) as u64;

/// Posts the completion of every request of ring `id` the device is done
/// with: a read's data is copied to its buffer now (in the owner's
/// context) if the capability it was started through still holds and the
/// device succeeded; otherwise the result says why (`Revoked` first:
/// a program whose capability is gone learns nothing from the request).
/// Returns how many were posted.
fn post_completions(k: &mut Kernel, c: Caller, id: ObjectId) -> Result<u32, Error> {
    const BATCH: usize = 32;
    let mut posted = 0;
    loop {
        let mut done: [Option<Done>; BATCH] = core::array::from_fn(|_| None);
        let n = k.rings.take_done(id, &mut k.devices, &mut done);
        for d in done.iter_mut().take(n) {
            let Some(mut d) = d.take() else { continue };
            let t0 = rdtsc();
            let result = d.deliver(&k.caps, c.aspace(&k.procs));
            let (user_data, device) = (d.request.user_data, d.request.io.device);
            drop(d);
            post(k, c, id, user_data, result, true)?;
            posted += 1;
            k.devices.account(device, 0, rdtsc() - t0);
        }
        if n < BATCH {
            break;
        }
    }
    if posted > 0 {
        publish(k, c, id)?;
    }
    Ok(posted)
}

/// Returns `consumed` once at least `min_complete` completions are
/// waiting in ring `id`'s completion queue, or none of its requests is in
/// flight, posting finished ones while that is not so. Until then the
/// caller blocks
/// (`Block::Ring`, tied to its ring `handle`, so revoking or dropping that
/// wakes it with `Revoked`); `iowait` wakes it when one of the ring's
/// requests is done, and [`resume_wait`] comes back here, since the data
/// can only be copied into the caller's buffers while it runs.
fn wait(
    k: &mut Kernel,
    c: Caller,
    handle: RawHandle,
    id: ObjectId,
    min_complete: u32,
    consumed: u64,
) -> Outcome {
    loop {
        let ring = k.rings.rings.get(id).ok_or(Error::PeerGone)?;
        let cq_head: u32 = read_value(c.aspace(&k.procs), ring.vaddr + CQ_HEAD_OFFSET)?;
        if ring.idx.cq_tail().wrapping_sub(cq_head) >= min_complete || ring.idx.in_flight() == 0 {
            return Ok(Next::Return(consumed));
        }
        if post_completions(k, c, id)? == 0 {
            break;
        }
    }
    k.rings.waiters.push(RingWait { pid: c.pid, ring: id, handle, min_complete, consumed });
    k.sched.tie(c.pid, c.table, handle);
    Ok(Next::Block(Block::Ring(id)))
}

/// Goes on with a `ring_enter` that blocked in [`wait`], now that `iowait`
/// woke it.
pub fn resume_wait(k: &mut Kernel, c: Caller) -> Outcome {
    let w = k.rings.take_waiter(c.pid).ok_or(Error::Revoked)?;
    wait(k, c, w.handle, w.ring, w.min_complete, w.consumed)
}
