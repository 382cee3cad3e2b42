//! Disk I/O on behalf of processes: user buffers turned into device
//! segments, bounce buffers, asynchronous requests and their owners.
//!
//! Synchronous requests on a sector-aligned user buffer go straight to the
//! user's frames (no copy): the pages were checked mapped and writable (for
//! reads) just before, and nothing can unmap them while the CPU waits for
//! the device (one CPU, interrupts off, the kernel lock held until the
//! device has reported every part of the transfer done, failed parts
//! included). Other synchronous requests, and every asynchronous one, go
//! through a bounce buffer from the DMA pool: an asynchronous request
//! outlives the syscall that started it, and the device must never write
//! into a frame the process may have freed. A bounce buffer goes back to
//! the pool only after its device request is done (`Devices::take`
//! returned its result), whether its owner collects it, died, or lost the
//! capability that started it.
//!
//! An asynchronous request remembers the capability that started it; its
//! completion reports `Revoked` and copies nothing when that capability no
//! longer resolves (see `caps`, "In-flight operations").

use caps::abi::Error;
use caps::abi::disk::MAX_ASYNC_REQUESTS;
use caps::abi::layout::PAGE_SIZE;
use caps::abi::{ObjectKind, RawHandle, Rights};
use caps::{CapSpace, Object, ObjectId, SectorRange, TableId};
use x86_64::PhysAddr;

use crate::drivers::block::{Devices, Op, RequestId, SECTOR_SIZE};
use crate::drivers::dma;
use crate::mem::aspace::AddressSpace;
use crate::mem::phys_to_virt;
use crate::objtable::ObjectTable;

/// Checks that every page of the user buffer `[addr, addr + len)` is
/// mapped (writable if `write`), so a transfer cannot fail half-way on a
/// bad page.
pub fn check_user_pages(
    aspace: &AddressSpace,
    addr: u64,
    len: u64,
    write: bool,
) -> Result<(), Error> {
    let mut page = addr & !(PAGE_SIZE - 1);
    while page < addr + len {
        aspace.translate(page, write).ok_or(Error::BadAddress)?;
        page += PAGE_SIZE;
    }
    Ok(())
}

/// The user buffer `[addr, addr + len)` as physical segments, adjacent
/// frames merged. Every page must have been checked (`check_user_pages`).
pub fn user_segments(
    aspace: &AddressSpace,
    addr: u64,
    len: u64,
) -> impl Iterator<Item = (u64, usize)> + '_ {
    let end = addr + len;
    let mut pos = addr;
    core::iter::from_fn(move || {
        if pos >= end {
            return None;
        }
        let first = aspace.translate_any(pos)?.as_u64();
        let mut seg = (first, 0usize);
        while pos < end {
            let in_page = (PAGE_SIZE - pos % PAGE_SIZE).min(end - pos);
            let phys = aspace.translate_any(pos)?.as_u64();
            if phys != seg.0 + seg.1 as u64 {
                break;
            }
            seg.1 += in_page as usize;
            pos += in_page;
        }
        Some(seg)
    })
}

/// A kernel slice over physical memory in the window.
///
/// # Safety
/// `[phys, phys + len)` must be memory nothing else uses as a Rust object
/// while the slice lives (a user frame or a DMA buffer we own).
unsafe fn phys_slice(phys: u64, len: usize) -> &'static mut [u8] {
    // SAFETY: as the caller guarantees; the window maps all RAM.
    unsafe { core::slice::from_raw_parts_mut(phys_to_virt(PhysAddr::new(phys)).as_mut_ptr(), len) }
}

/// A bounce buffer: whole pages of the DMA pool that this value owns, so
/// its bytes are reached through it alone. The pages go back to the pool
/// when it drops. A device is given one only by [`Bounce::transfer`] (for
/// the length of the call) or [`Bounce::lend`] (until [`Lent::reclaim`]).
pub struct Bounce {
    phys: u64,
    pages: usize,
    len: usize,
}

impl Bounce {
    /// A zeroed buffer of `len` bytes, in at least one page.
    /// Errors: `Busy` when the DMA pool has no room.
    pub fn new(len: u64) -> Result<Bounce, Error> {
        let pages = (len.div_ceil(PAGE_SIZE) as usize).max(1);
        let phys = dma::alloc(pages).ok_or(Error::Busy)?;
        Ok(Bounce { phys, pages, len: len as usize })
    }

    /// The buffer's `len` bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `self` owns `pages` pages of the pool from `phys` (from
        // `dma::alloc`, given back only when it drops), mapped by the
        // physical window, and `len` fits in them. No device holds them
        // while a `Bounce` is reachable (`lend` moves it into a `Lent`),
        // and the borrow of `self` rules out a `bytes_mut` meanwhile.
        unsafe {
            core::slice::from_raw_parts(phys_to_virt(PhysAddr::new(self.phys)).as_ptr(), self.len)
        }
    }

    /// The buffer's `len` bytes, writable.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`; `&mut self` makes this the only view.
        unsafe {
            core::slice::from_raw_parts_mut(
                phys_to_virt(PhysAddr::new(self.phys)).as_mut_ptr(),
                self.len,
            )
        }
    }

    /// Moves the buffer's bytes to (`Write`) or from (`Read`) device `n`
    /// at `sector` and waits until the device is done, even when it fails.
    /// Errors: the device's, or `BadHandle` if there is no device `n`.
    pub fn transfer(
        &mut self,
        devices: &mut Devices,
        n: u32,
        op: Op,
        sector: u64,
    ) -> Result<(), Error> {
        if self.len == 0 && op != Op::Flush {
            return Ok(());
        }
        let bytes = self.bytes_mut();
        let segments: &[&mut [u8]] =
            if bytes.is_empty() { &[] } else { core::slice::from_ref(&bytes) };
        // SAFETY: the segment is borrowed from `self` until `transfer`
        // returns, and it returns only after the device is done with it.
        unsafe { devices.transfer(n, op, sector, segments) }
    }

    /// Starts `op` on device `n` at `sector` on the buffer's bytes (none
    /// for a flush) and lends the buffer to the device until the request's
    /// result is taken; polls for room while the device has requests in
    /// flight. Errors: as [`Devices::start`], with the buffer given back.
    pub fn lend(
        mut self,
        devices: &mut Devices,
        n: u32,
        op: Op,
        sector: u64,
    ) -> Result<Lent, (Error, Bounce)> {
        let bytes = self.bytes_mut();
        let segments: &[&mut [u8]] =
            if bytes.is_empty() { &[] } else { core::slice::from_ref(&bytes) };
        let started = loop {
            // SAFETY: on success the buffer moves into the `Lent` below,
            // which shows no byte of it and never gives it back to the pool
            // until the device reported the request done (`Lent::reclaim`);
            // a `Lent` dropped before that leaks the pages instead.
            match unsafe { devices.start(n, op, sector, segments) } {
                Err(Error::Busy) if devices.get(n).is_some_and(|d| d.in_flight() > 0) => {
                    devices.poll_all();
                }
                other => break other,
            }
        };
        match started {
            Ok(id) => Ok(Lent { id, bounce: Some(self) }),
            Err(e) => Err((e, self)),
        }
    }
}

impl Drop for Bounce {
    fn drop(&mut self) {
        dma::free(self.phys, self.pages);
    }
}

/// A bounce buffer lent to a device for one request: its bytes cannot be
/// reached until the device is done ([`Lent::reclaim`]).
pub struct Lent {
    id: RequestId,
    /// `None` once reclaimed.
    bounce: Option<Bounce>,
}

impl Lent {
    /// The device request.
    pub fn id(&self) -> RequestId {
        self.id
    }

    /// The buffer back, with the request's result (taken from `devices`),
    /// once the device reported it done; `None` while it is in flight, or
    /// when it was reclaimed already.
    pub fn reclaim(&mut self, devices: &mut Devices) -> Option<(Bounce, Result<(), Error>)> {
        self.bounce.as_ref()?;
        let result = devices.take(self.id)?;
        Some((self.bounce.take()?, result))
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        if let Some(b) = self.bounce.take() {
            // The device may still write into it: leaked, never reused.
            log::error!("DMA pool: {} pages lent to a device leaked", b.pages);
            core::mem::forget(b);
        }
    }
}

/// Moves data between device `n` at `sector` and the physical segments
/// (whose lengths are whole sectors), in requests the device accepts.
/// Waits for all.
pub fn transfer_phys(
    devices: &mut Devices,
    n: u32,
    op: Op,
    sector: u64,
    segments: impl Iterator<Item = (u64, usize)>,
) -> Result<(), Error> {
    const PER_REQUEST: usize = crate::drivers::virtio_blk::MAX_SEGMENTS;
    let mut sector = sector;
    let mut segments = segments.peekable();
    loop {
        let mut slices: [&mut [u8]; PER_REQUEST] = Default::default();
        let (mut count, mut bytes) = (0, 0);
        while count < PER_REQUEST
            && let Some((p, l)) = segments.next()
        {
            // SAFETY: the caller's segments are user frames it checked, or
            // DMA buffers it owns, unused by anything else until we return.
            slices[count] = unsafe { phys_slice(p, l) };
            count += 1;
            bytes += l;
        }
        if count == 0 && op != Op::Flush {
            return Ok(());
        }
        // SAFETY: the slices stay valid until `transfer` returns.
        unsafe { devices.transfer(n, op, sector, &slices[..count]) }?;
        sector += (bytes / SECTOR_SIZE) as u64;
        if segments.peek().is_none() {
            return Ok(());
        }
    }
}

/// The capability a request was started through, remembered so its
/// completion can tell whether the authority still exists.
#[derive(Clone, Copy, Debug)]
pub struct Authority {
    /// The table it was looked up in (the owner's).
    pub table: TableId,
    /// Its handle there.
    pub handle: RawHandle,
    /// The rights the request needed.
    pub rights: Rights,
    /// The range it named.
    pub range: SectorRange,
}

impl Authority {
    /// Whether the capability still resolves, with the same range and the
    /// rights the request needed. A handle never revives (generation
    /// checked), so this is false for good once the capability was revoked
    /// (through any ancestor), dropped, moved away, or its table destroyed.
    /// O(1).
    pub fn holds(&self, caps: &CapSpace) -> bool {
        caps.lookup(self.table, self.handle, ObjectKind::DiskRange, self.rights)
            .is_ok_and(|c| c.object == Object::DiskRange(self.range))
    }
}

/// A request started by `disk_submit`.
pub struct AsyncRequest {
    /// The process that started it (`None` once it died).
    pub owner: Option<ObjectId>,
    /// The capability it was started through.
    pub authority: Authority,
    /// Its device request, with the bounce buffer lent to the device until
    /// the request's result is taken.
    pub io: Lent,
    /// The device.
    pub device: u32,
    /// What it does.
    pub op: Op,
    /// Where a read's data goes.
    pub user_buf: u64,
    /// Bytes moved.
    pub len: u64,
}

/// A request the device is done with, taken out of [`AsyncIo`]; its bounce
/// buffer goes back to the pool when this is dropped.
pub struct Finished {
    /// The request.
    pub request: AsyncRequest,
    /// What the device reported.
    pub result: Result<(), Error>,
    bounce: Bounce,
}

impl Finished {
    /// The bounce buffer's bytes (`len` of them), until this is dropped.
    pub fn bytes(&self) -> &[u8] {
        self.bounce.bytes()
    }
}

/// Every asynchronous request in the system.
pub struct AsyncIo {
    requests: ObjectTable<AsyncRequest>,
    /// Requests whose owner died before the device was done with them.
    orphans: usize,
}

/// Most asynchronous requests at once, all processes together (orphans
/// included).
pub const MAX_ASYNC_TOTAL: usize = 256;

// The device layer's request table holds every asynchronous request plus
// one synchronous transfer.
const _: () = assert!(MAX_ASYNC_TOTAL < crate::drivers::block::MAX_REQUESTS);

impl AsyncIo {
    /// None.
    pub const fn new() -> Self {
        AsyncIo { requests: ObjectTable::new(MAX_ASYNC_TOTAL), orphans: 0 }
    }

    /// How many requests `pid` has started and not collected.
    pub fn owned_by(&self, pid: ObjectId) -> usize {
        self.requests.iter().filter(|(_, r)| r.owner == Some(pid)).count()
    }

    /// Whether `pid` may start another.
    pub fn has_room(&self, pid: ObjectId) -> bool {
        !self.requests.is_full() && self.owned_by(pid) < MAX_ASYNC_REQUESTS
    }

    /// Records a started request; `None` (nothing recorded) if the table is
    /// full, which `has_room` rules out.
    pub fn add(&mut self, r: AsyncRequest) -> Option<ObjectId> {
        self.requests.insert(r)
    }

    /// The request `id` if `pid` owns it.
    pub fn get(&self, id: ObjectId, pid: ObjectId) -> Option<&AsyncRequest> {
        self.requests.get(id).filter(|r| r.owner == Some(pid))
    }

    /// Takes request `id` of `pid` out if its device is done with it
    /// (polling the devices first). `Err(BadHandle)` if `pid` has no such
    /// request, `Ok(None)` while it is in flight.
    pub fn take_done(
        &mut self,
        id: ObjectId,
        pid: ObjectId,
        devices: &mut Devices,
    ) -> Result<Option<Finished>, Error> {
        let io = self.get(id, pid).ok_or(Error::BadHandle)?.io.id();
        devices.poll_all();
        if !devices.is_settled(io) {
            return Ok(None);
        }
        let mut request = self.requests.remove(id).ok_or(Error::BadHandle)?;
        let (bounce, result) = request.io.reclaim(devices).ok_or(Error::BadHandle)?;
        Ok(Some(Finished { request, result, bounce }))
    }

    /// Frees the requests whose owner died and whose device is done with
    /// them. O(requests) when there are orphans, O(1) otherwise; no
    /// allocation.
    pub fn reap_orphans(&mut self, devices: &mut Devices) {
        const BATCH: usize = 32;
        if self.orphans == 0 {
            return;
        }
        devices.poll_all();
        loop {
            let mut batch = [ObjectId(0); BATCH];
            let mut n = 0;
            for (id, r) in self.requests.iter() {
                if n == BATCH {
                    break;
                }
                if r.owner.is_none() && devices.is_settled(r.io.id()) {
                    batch[n] = id;
                    n += 1;
                }
            }
            for &id in &batch[..n] {
                if let Some(mut r) = self.requests.remove(id) {
                    // Dropping the reclaimed buffer gives it back to the pool.
                    drop(r.io.reclaim(devices));
                    self.orphans -= 1;
                }
            }
            if n < BATCH {
                return;
            }
        }
    }

    /// Waits until the devices are done with every request whose
    /// capability no longer resolves (revoked, dropped, or its owner dead),
    /// so that nothing more reaches a disk through it. `cap_revoke` calls
    /// this when it destroyed a disk range. O(requests) when there are any.
    pub fn settle_unauthorized(&self, caps: &CapSpace, devices: &mut Devices) {
        for (_, r) in self.requests.iter() {
            if !r.authority.holds(caps) {
                devices.settle(r.io.id());
            }
        }
    }

    /// A process died: its requests the device is done with are freed now,
    /// the others when the device is done with them (`reap_orphans`): the
    /// device may still write into their bounce buffers until then.
    pub fn orphan(&mut self, pid: ObjectId, devices: &mut Devices) {
        let mut ids = [ObjectId(0); MAX_ASYNC_REQUESTS];
        let mut n = 0;
        for (id, r) in self.requests.iter() {
            if r.owner == Some(pid) && n < ids.len() {
                ids[n] = id;
                n += 1;
            }
        }
        for &id in &ids[..n] {
            if let Some(r) = self.requests.get_mut(id) {
                r.owner = None;
                self.orphans += 1;
            }
        }
        self.reap_orphans(devices);
    }
}
