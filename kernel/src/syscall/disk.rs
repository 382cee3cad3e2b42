//! `disk_info`, `disk_read`, `disk_write`, `disk_flush`, `disk_submit`,
//! `disk_complete`: raw sectors through a `DiskRange` capability.
//!
//! Every request is checked in full on every call — the capability (kind,
//! rights), the sectors (relative to the range, overflow-safe), the user
//! buffer (mapped, writable for reads) — before the device sees anything.
//! A synchronous call returns only once the device is done with every part
//! of its transfer (failed parts included). An asynchronous request
//! remembers the capability it was started through: `disk_complete`
//! reports `Revoked`, and copies nothing, once that capability is gone
//! (`caps`, "In-flight operations").

use caps::abi::disk::{
    COMPLETE_NONBLOCK, DiskInfo, MAX_ASYNC_SECTORS, MAX_SECTORS, OP_FLUSH, OP_READ, OP_WRITE,
};
use caps::abi::syscall::calls;
use caps::abi::{Error, ObjectKind, RawHandle, Rights};
use caps::{Object, ObjectId, SectorRange};

use super::{Caller, Next, Outcome};
use crate::arch::cpu::rdtsc;
use crate::diskio::{AsyncRequest, Authority, Bounce, InFlight, SyncTransfer};
use crate::drivers::block::{Op, SECTOR_SIZE};
use crate::mem::user::{UserSlice, write_value};
use crate::proc::Block;
use crate::state::Kernel;

/// Looks `handle` up as a DiskRange with `rights`.
fn range(k: &Kernel, c: Caller, handle: RawHandle, rights: Rights) -> Result<SectorRange, Error> {
    match k.caps.lookup(c.table, handle, ObjectKind::DiskRange, rights)?.object {
        Object::DiskRange(r) => Ok(r),
        _ => Err(Error::WrongKind),
    }
}

/// `disk_info(range, out)`.
pub fn info(k: &Kernel, c: Caller, a: calls::DiskInfo) -> Result<u64, Error> {
    let r = range(k, c, a.range, Rights::READ)?;
    if a.out != 0 {
        let device_sectors = k.devices.sector_count(r.device);
        let (requests, kernel_cycles) = k.devices.stats(r.device);
        let info = DiskInfo {
            sector_size: SECTOR_SIZE as u64,
            sectors: r.count,
            device: r.device as u64,
            device_sectors,
            requests,
            kernel_cycles,
        };
        write_value(c.aspace(&k.procs), a.out, &info)?;
    }
    Ok(r.count)
}

/// `disk_read(range, sector, count, buf)`.
pub fn read(k: &mut Kernel, c: Caller, a: calls::DiskRead) -> Outcome {
    sync_transfer(k, c, Op::Read, a.range, a.sector, a.count, a.buf)
}

/// `disk_write(range, sector, count, buf)`.
pub fn write(k: &mut Kernel, c: Caller, a: calls::DiskWrite) -> Outcome {
    sync_transfer(k, c, Op::Write, a.range, a.sector, a.count, a.buf)
}

/// `disk_flush(range)`: every write completed before it is durable after.
pub fn flush(k: &mut Kernel, c: Caller, a: calls::DiskFlush) -> Outcome {
    sync_transfer(k, c, Op::Flush, a.range, 0, 0, 0)
}

/// Checks a synchronous request in full, starts it, and blocks the caller
/// until the device is done (`Block::Disk`; `iowait` wakes it and
/// [`finish_blocked`] gives the result), unless it is done at once (a
/// RAM disk, an error).
fn sync_transfer(
    kernel: &mut Kernel,
    c: Caller,
    op: Op,
    handle: RawHandle,
    sector: u64,
    count: u64,
    buf: u64,
) -> Outcome {
    let t0 = rdtsc();
    let need = if op == Op::Read { Rights::READ } else { Rights::WRITE };
    let r = range(kernel, c, handle, need)?;
    let (first, len) = if op == Op::Flush {
        (0, 0)
    } else {
        if count > MAX_SECTORS {
            return Err(Error::InvalidArgument);
        }
        (r.translate(sector, count)?, count * SECTOR_SIZE as u64)
    };
    let slice = UserSlice::new(buf, len)?;
    let aspace = c.aspace(&kernel.procs);
    // Every page must be there (a read writes them) before a device sees
    // their addresses. Straight to the user's frames only where nothing
    // can unmap them while the caller is blocked: not a lent page (a
    // ring's, which the holder of its last capability, another process
    // maybe, tears down at any time; a memory object's, which a revoke
    // elsewhere unmaps and may free); those go through a bounce buffer,
    // copied while the caller runs (found by a review: the frames were
    // freed under the device).
    let private = slice.check_for_device(aspace, op == Op::Read)?;
    let direct = private && buf.is_multiple_of(SECTOR_SIZE as u64);
    // Buffers of dead owners' finished requests go back first.
    kernel.async_io.reap_orphans(&mut kernel.devices);
    let mut t = SyncTransfer::new(c.pid, r.device, op, first, buf, len, direct, aspace)?;
    let waited = kernel.devices.waited_cycles;
    t.advance(&mut kernel.devices, aspace, &mut kernel.disk_waits.segments);
    kernel.devices.poll_all();
    t.collect(&mut kernel.devices);
    t.kernel_cycles = rdtsc() - t0 - (kernel.devices.waited_cycles - waited);
    if t.is_done() {
        return finish(kernel, c, t);
    }
    // Revoking the range wakes the caller with `Revoked` once the device
    // is done with what was started (`Kernel::wake_revoked`).
    kernel.sched.tie(c.pid, c.table, handle);
    kernel.disk_waits.sync.push(t);
    Ok(Next::Block(Block::Disk))
}

/// The result of a finished synchronous transfer, counted in the device's
/// statistics.
fn finish(kernel: &mut Kernel, c: Caller, t: SyncTransfer) -> Outcome {
    let t0 = rdtsc();
    let (device, cycles) = (t.device(), t.kernel_cycles);
    let result = t.finish(c.aspace(&kernel.procs));
    kernel.devices.account(device, 1, cycles + (rdtsc() - t0));
    result.map(Next::Return)
}

/// Finishes the caller's synchronous transfer once `iowait` woke it.
pub fn finish_blocked(kernel: &mut Kernel, c: Caller) -> Outcome {
    let t = kernel.disk_waits.take_sync(c.pid).ok_or(Error::Revoked)?;
    finish(kernel, c, t)
}

/// An asynchronous request that passed every check of `disk_submit`,
/// ready to start: what [`check_async`] returns.
pub struct CheckedRequest {
    /// What it does.
    pub op: Op,
    /// The device.
    pub device: u32,
    /// The first sector on the device (the range's sector translated).
    pub first: u64,
    /// Bytes moved (0 for a flush).
    pub len: u64,
    /// The caller's buffer.
    pub slice: UserSlice,
    /// Its address.
    pub buf: u64,
    /// The capability it goes through, remembered for its completion.
    pub authority: Authority,
}

/// The checks of an asynchronous request (`disk_submit`, and every entry
/// an I/O ring consumes: one function, so the two cannot drift), in this
/// order: the op (`InvalidArgument` if undefined), the capability (as
/// `CapSpace::lookup`: `BadHandle`, `WrongKind`, `MissingRight` — `READ`
/// for a read, `WRITE` for a write or flush), the count (`InvalidArgument`
/// above `MAX_ASYNC_SECTORS`), the sectors (`OutOfRange`, or
/// `InvalidArgument` for a zero count), the buffer (`BadAddress` unless
/// every page is mapped, writable for a read). Changes nothing.
pub fn check_async(
    kernel: &Kernel,
    c: Caller,
    handle: RawHandle,
    op: u64,
    sector: u64,
    count: u64,
    buf: u64,
) -> Result<CheckedRequest, Error> {
    let (op, need) = match op {
        OP_READ => (Op::Read, Rights::READ),
        OP_WRITE => (Op::Write, Rights::WRITE),
        OP_FLUSH => (Op::Flush, Rights::WRITE),
        _ => return Err(Error::InvalidArgument),
    };
    let r = range(kernel, c, handle, need)?;
    let (first, len) = if op == Op::Flush {
        (0, 0)
    } else {
        if count > MAX_ASYNC_SECTORS {
            return Err(Error::InvalidArgument);
        }
        (r.translate(sector, count)?, count * SECTOR_SIZE as u64)
    };
    let slice = UserSlice::new(buf, len)?;
    let aspace = c.aspace(&kernel.procs);
    match op {
        Op::Read => slice.check_writable(aspace)?,
        _ => slice.check_readable(aspace)?,
    }
    Ok(CheckedRequest {
        op,
        device: r.device,
        first,
        len,
        slice,
        buf,
        authority: Authority { table: c.table, handle, rights: need, range: r },
    })
}

/// Starts a checked request through a bounce buffer (a write's data copied
/// in first) and lends the buffer to the device until the request's
/// result is taken, even if its owner dies first. Errors: `Busy` when the
/// DMA pool or the device's request table has no room; the device's own.
/// On an error nothing was started.
pub fn start_async(kernel: &mut Kernel, c: Caller, req: CheckedRequest) -> Result<InFlight, Error> {
    let mut bounce = Bounce::new(req.len)?;
    if req.op == Op::Write {
        req.slice.read(c.aspace(&kernel.procs), bounce.bytes_mut())?;
    }
    let lent =
        bounce.lend(&mut kernel.devices, req.device, req.op, req.first).map_err(|(e, _)| e)?;
    Ok(InFlight {
        authority: req.authority,
        lent,
        device: req.device,
        op: req.op,
        user_buf: req.buf,
        len: req.len,
        announced: false,
    })
}

/// `disk_submit(range, op, sector, count, buf)`: starts a request and
/// returns its id at once.
pub fn submit(kernel: &mut Kernel, c: Caller, a: calls::DiskSubmit) -> Result<u64, Error> {
    let t0 = rdtsc();
    let req = check_async(kernel, c, a.range, a.op, a.sector, a.count, a.buf)?;
    kernel.async_io.reap_orphans(&mut kernel.devices);
    if !kernel.async_io.has_room(c.pid) {
        return Err(Error::Busy);
    }
    let waited = kernel.devices.waited_cycles;
    let device = req.device;
    let request = AsyncRequest { owner: Some(c.pid), io: start_async(kernel, c, req)? };
    // `has_room` was checked above and nothing since took a place.
    let Some(id) = kernel.async_io.add(request) else {
        // Unreachable; if it were not, the dropped request's `Lent` keeps
        // the buffer from the pool (leaked) while the device may write it.
        return Err(Error::Busy);
    };
    let spent = rdtsc() - t0 - (kernel.devices.waited_cycles - waited);
    kernel.devices.account(device, 1, spent);
    Ok(id.0)
}

/// `disk_complete(id, flags)`: the result of one of the caller's requests,
/// waiting for it unless `COMPLETE_NONBLOCK`. A read's data is copied to
/// its buffer now, if the capability the request was started through still
/// exists; otherwise the result is `Revoked` and nothing is copied.
///
/// Waiting blocks the caller (`Block::DiskComplete`) until the device is
/// done with the request (`iowait`); the call then runs again.
pub fn complete(kernel: &mut Kernel, c: Caller, a: calls::DiskComplete) -> Outcome {
    if a.flags & !COMPLETE_NONBLOCK != 0 {
        return Err(Error::InvalidArgument);
    }
    let id = ObjectId(a.id);
    kernel.async_io.reap_orphans(&mut kernel.devices);
    let Some(mut done) = kernel.async_io.take_done(id, c.pid, &mut kernel.devices)? else {
        if a.flags & COMPLETE_NONBLOCK != 0 {
            return Err(Error::WouldBlock);
        }
        let request = kernel.async_io.get(id, c.pid).ok_or(Error::BadHandle)?.io.id();
        kernel.disk_waits.complete.push((c.pid, request));
        return Ok(Next::Block(Block::DiskComplete(request)));
    };
    let t0 = rdtsc();
    let result = done.deliver(&kernel.caps, c.aspace(&kernel.procs));
    let device = done.request.io.device;
    drop(done);
    kernel.devices.account(device, 0, rdtsc() - t0);
    result.map(Next::Return)
}

/// `disk_bind(notification)`: the caller's asynchronous requests (its
/// `disk_submit`s and its rings' entries) signal through `notification`
/// (SEND needed; its badge) when the device finishes them, at most once
/// each (one the owner collects before the kernel reaps it is not: the
/// owner has it already), so
/// that a process can wait for disk completions and other events in one
/// `notify_wait` (seL4 binds a notification to a thread; io_uring rings an
/// eventfd). A `notification` of 0 unbinds; a new binding replaces the
/// old. The handle is looked up at each signal: once it is revoked or
/// dropped, completions signal nothing.
pub fn bind(k: &mut Kernel, c: Caller, a: calls::DiskBind) -> Result<u64, Error> {
    // Checked before anything changes: a refused call keeps the earlier
    // binding (found by a review).
    if a.notification != RawHandle::INVALID {
        k.caps.lookup(c.table, a.notification, ObjectKind::Notification, Rights::SEND)?;
    }
    k.disk_waits.bound.retain(|&(pid, _)| pid != c.pid);
    if a.notification != RawHandle::INVALID {
        k.disk_waits.bound.push((c.pid, a.notification));
    }
    Ok(0)
}
