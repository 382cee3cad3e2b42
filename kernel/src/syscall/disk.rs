//! `disk_info`, `disk_read`, `disk_write`, `disk_flush`, `disk_submit`,
//! `disk_complete`: raw sectors through a `DiskRange` capability.
//!
//! Every request is checked in full on every call — the capability (kind,
//! rights), the sectors (relative to the range, overflow-safe), the user
//! buffer (mapped, writable for reads) — before the device sees anything.

use caps::abi::disk::{
    COMPLETE_NONBLOCK, DiskInfo, MAX_ASYNC_SECTORS, MAX_SECTORS, OP_FLUSH, OP_READ, OP_WRITE,
};
use caps::abi::layout::PAGE_SIZE;
use caps::abi::{Error, ObjectKind, RawHandle, Rights};
use caps::{Object, ObjectId, SectorRange};

use super::Caller;
use crate::arch::cpu::rdtsc;
use crate::diskio::{AsyncRequest, check_user_pages, phys_slice, transfer_phys, user_segments};
use crate::drivers::block::{Op, SECTOR_SIZE};
use crate::drivers::dma;
use crate::mem::user::{Pod, UserSlice, write_value};
use crate::state::{self, Kernel};

// SAFETY: `DiskInfo` is `repr(C)`, six u64, no padding.
unsafe impl Pod for DiskInfo {}

/// Looks `handle` up as a DiskRange with `rights`.
fn range(k: &Kernel, c: Caller, handle: u64, rights: Rights) -> Result<SectorRange, Error> {
    match k.caps.lookup(c.table, RawHandle::from_raw(handle), ObjectKind::DiskRange, rights)?.object
    {
        Object::DiskRange(r) => Ok(r),
        _ => Err(Error::WrongKind),
    }
}

/// `disk_info(range, out)`.
pub fn info(handle: u64, out: u64) -> Result<u64, Error> {
    let mut k = state::lock();
    let c = Caller::current(&k);
    let r = range(&k, c, handle, Rights::READ)?;
    if out != 0 {
        let device_sectors = k.devices.get(r.device).map_or(0, |d| d.sector_count());
        let (requests, kernel_cycles) = k.devices.stats(r.device);
        let info = DiskInfo {
            sector_size: SECTOR_SIZE as u64,
            sectors: r.count,
            device: r.device as u64,
            device_sectors,
            requests,
            kernel_cycles,
        };
        let aspace = k.procs.get(c.pid).and_then(|p| p.aspace.as_ref()).expect("running process");
        write_value(aspace, out, &info)?;
    }
    Ok(r.count)
}

/// `disk_read(range, sector, count, buf)`.
pub fn read(handle: u64, sector: u64, count: u64, buf: u64) -> Result<u64, Error> {
    sync_transfer(Op::Read, handle, sector, count, buf)
}

/// `disk_write(range, sector, count, buf)`.
pub fn write(handle: u64, sector: u64, count: u64, buf: u64) -> Result<u64, Error> {
    sync_transfer(Op::Write, handle, sector, count, buf)
}

fn sync_transfer(op: Op, handle: u64, sector: u64, count: u64, buf: u64) -> Result<u64, Error> {
    let t0 = rdtsc();
    let mut k = state::lock();
    let c = Caller::current(&k);
    let need = if op == Op::Read { Rights::READ } else { Rights::WRITE };
    let r = range(&k, c, handle, need)?;
    if count > MAX_SECTORS {
        return Err(Error::InvalidArgument);
    }
    let first = r.translate(sector, count)?;
    let len = count * SECTOR_SIZE as u64;
    let slice = UserSlice::new(buf, len)?;
    let kernel = &mut *k;
    let aspace = kernel.procs.get(c.pid).and_then(|p| p.aspace.as_ref()).expect("running process");
    let waited = kernel.devices.waited_cycles;
    if buf.is_multiple_of(SECTOR_SIZE as u64) {
        // Straight to the user's frames: a read writes them.
        // Straight to the user's frames: check every page first (a read
        // writes them), then hand the device their addresses.
        check_user_pages(aspace, buf, len, op == Op::Read)?;
        transfer_phys(&mut kernel.devices, r.device, op, first, user_segments(aspace, buf, len))?;
        let spent = rdtsc() - t0 - (kernel.devices.waited_cycles - waited);
        kernel.devices.account(r.device, 1, spent);
        return Ok(count);
    }
    // Through a bounce buffer.
    if op == Op::Read {
        slice.check_writable(aspace)?;
    } else {
        slice.check_readable(aspace)?;
    }
    let pages = len.div_ceil(PAGE_SIZE) as usize;
    let bounce = dma::alloc(pages).ok_or(Error::Busy)?;
    // SAFETY: the bounce buffer is ours until freed below.
    let bytes = unsafe { phys_slice(bounce, len as usize) };
    let result = (|| {
        if op == Op::Write {
            slice.read(aspace, bytes)?;
        }
        transfer_phys(
            &mut kernel.devices,
            r.device,
            op,
            first,
            core::iter::once((bounce, len as usize)),
        )?;
        if op == Op::Read {
            slice.write(aspace, bytes)?;
        }
        Ok(count)
    })();
    dma::free(bounce, pages);
    let spent = rdtsc() - t0 - (kernel.devices.waited_cycles - waited);
    kernel.devices.account(r.device, 1, spent);
    result
}

/// `disk_flush(range)`: every write completed before it is durable after.
pub fn flush(handle: u64) -> Result<u64, Error> {
    let mut k = state::lock();
    let c = Caller::current(&k);
    let r = range(&k, c, handle, Rights::WRITE)?;
    transfer_phys(&mut k.devices, r.device, Op::Flush, 0, core::iter::empty())?;
    Ok(0)
}

/// `disk_submit(range, op, sector, count, buf)`: starts a request and
/// returns its id at once.
pub fn submit(handle: u64, op: u64, sector: u64, count: u64, buf: u64) -> Result<u64, Error> {
    let t0 = rdtsc();
    let (op, need) = match op {
        OP_READ => (Op::Read, Rights::READ),
        OP_WRITE => (Op::Write, Rights::WRITE),
        OP_FLUSH => (Op::Flush, Rights::WRITE),
        _ => return Err(Error::InvalidArgument),
    };
    let mut k = state::lock();
    let c = Caller::current(&k);
    let r = range(&k, c, handle, need)?;
    let (first, len) = if op == Op::Flush {
        (0, 0)
    } else {
        if count > MAX_ASYNC_SECTORS {
            return Err(Error::InvalidArgument);
        }
        (r.translate(sector, count)?, count * SECTOR_SIZE as u64)
    };
    let slice = UserSlice::new(buf, len)?;
    let kernel = &mut *k;
    let aspace = kernel.procs.get(c.pid).and_then(|p| p.aspace.as_ref()).expect("running process");
    match op {
        Op::Read => slice.check_writable(aspace)?,
        _ => slice.check_readable(aspace)?,
    }
    if !kernel.async_io.has_room(c.pid) {
        return Err(Error::Busy);
    }
    let pages = (len.div_ceil(PAGE_SIZE) as usize).max(1);
    let bounce = dma::alloc(pages).ok_or(Error::Busy)?;
    // SAFETY: the bounce buffer is ours; the device gets it until the
    // request is collected.
    let bytes = unsafe { phys_slice(bounce, len as usize) };
    if op == Op::Write
        && let Err(e) = slice.read(aspace, bytes)
    {
        dma::free(bounce, pages);
        return Err(e);
    }
    let segments: &[&mut [u8]] = if len == 0 { &[] } else { core::slice::from_ref(&bytes) };
    let started = loop {
        let dev = kernel.devices.get(r.device).ok_or(Error::BadHandle)?;
        // SAFETY: the bounce buffer stays allocated until the request is
        // collected (`AsyncIo::free`), even if its owner dies first.
        match unsafe { dev.start(op, first, segments) } {
            Err(Error::Busy) if kernel.devices.get(r.device).is_some_and(|d| d.in_flight() > 0) => {
                kernel.async_io.collect(&mut kernel.devices);
            }
            other => break other,
        }
    };
    let tag = match started {
        Ok(tag) => tag,
        Err(e) => {
            dma::free(bounce, pages);
            return Err(e);
        }
    };
    let doorbell = kernel.devices.get(r.device).map_or(0, |d| d.take_doorbell_cycles());
    let id = kernel.async_io.add(AsyncRequest {
        owner: Some(c.pid),
        device: r.device,
        tag,
        op,
        bounce,
        pages,
        user_buf: buf,
        len,
        result: None,
    });
    kernel.devices.account(r.device, 1, rdtsc() - t0 - doorbell);
    Ok(id.0)
}

/// `disk_complete(id, flags)`: the result of one of the caller's requests,
/// waiting for it unless `COMPLETE_NONBLOCK`. A read's data is copied to
/// its buffer now.
pub fn complete(id: u64, flags: u64) -> Result<u64, Error> {
    if flags & !COMPLETE_NONBLOCK != 0 {
        return Err(Error::InvalidArgument);
    }
    let id = ObjectId(id);
    loop {
        let mut k = state::lock();
        let c = Caller::current(&k);
        let kernel = &mut *k;
        kernel.async_io.collect(&mut kernel.devices);
        let req = kernel.async_io.get(id, c.pid).ok_or(Error::BadHandle)?;
        let Some(result) = req.result else {
            if flags & COMPLETE_NONBLOCK != 0 {
                return Err(Error::WouldBlock);
            }
            drop(k);
            core::hint::spin_loop();
            continue;
        };
        let t0 = rdtsc();
        let (op, bounce, len, user_buf, device) =
            (req.op, req.bounce, req.len, req.user_buf, req.device);
        let copied = match (result, op) {
            (Ok(()), Op::Read) => {
                let aspace = kernel
                    .procs
                    .get(c.pid)
                    .and_then(|p| p.aspace.as_ref())
                    .expect("running process");
                // SAFETY: the bounce buffer is this request's until freed.
                let bytes = unsafe { phys_slice(bounce, len as usize) };
                UserSlice::new(user_buf, len).and_then(|s| s.write(aspace, bytes))
            }
            (r, _) => r,
        };
        kernel.async_io.free(id);
        kernel.devices.account(device, 0, rdtsc() - t0);
        return copied.map(|()| len / SECTOR_SIZE as u64);
    }
}
