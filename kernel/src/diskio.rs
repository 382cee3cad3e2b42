//! Disk I/O on behalf of processes: user buffers turned into device
//! segments, synchronous transfers in pieces, bounce buffers, asynchronous
//! requests and their owners.
//!
//! A synchronous request ([`SyncTransfer`]) on a sector-aligned user
//! buffer goes straight to the user's frames (no copy): the pages were
//! checked mapped and writable (for reads) just before, and its process is
//! blocked in the call until the device has reported every piece done
//! (failed ones included), so nothing unmaps them meanwhile; its death
//! waits for the device first ([`SyncTransfer::settle`]). Other synchronous
//! requests, and every asynchronous one, go through a bounce buffer from
//! the DMA pool: an asynchronous request outlives the syscall that started
//! it, and the device must never write into a frame the process may have
//! freed. A bounce buffer goes back to the pool only after its device
//! request is done (`Devices::take` returned its result), whether its
//! owner collects it, died, or lost the capability that started it.
//!
//! An asynchronous request remembers the capability that started it; its
//! completion reports `Revoked` and copies nothing when that capability no
//! longer resolves (see `caps`, "In-flight operations").

use alloc::vec::Vec;
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

/// The user buffer `[addr, addr + len)` as physical segments, adjacent
/// frames merged. Every page must have been checked
/// (`UserSlice::check_for_device`).
pub fn user_segments(
    aspace: &AddressSpace,
    addr: u64,
    len: u64,
) -> impl Iterator<Item = (u64, usize)> + '_ {
    let end = addr + len;
    let mut pos = addr;
    // The frame of `pos`, when the previous segment's walk already found
    // it (it ended that segment): each page is translated once.
    let mut next = None;
    core::iter::from_fn(move || {
        if pos >= end {
            return None;
        }
        let mut seg = (0, 0usize);
        while pos < end {
            let phys = match next.take() {
                Some(phys) => phys,
                None => aspace.translate_any(pos)?.as_u64(),
            };
            if seg.1 == 0 {
                seg.0 = phys;
            } else if phys != seg.0 + seg.1 as u64 {
                next = Some(phys);
                break;
            }
            let in_page = (PAGE_SIZE - pos % PAGE_SIZE).min(end - pos);
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
    /// A buffer of `len` bytes, in at least one page, holding whatever the
    /// pool's pages held: its user fills it first (a write's data is
    /// copied in), or the device does (a read's data is shown only once
    /// the device reported all of it transferred), so no stale byte is
    /// ever shown. Errors: `Busy` when the DMA pool has no room.
    pub fn new(len: u64) -> Result<Bounce, Error> {
        let pages = (len.div_ceil(PAGE_SIZE) as usize).max(1);
        let phys = dma::alloc_unzeroed(pages).ok_or(Error::Busy)?;
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

    /// Starts `op` on device `n` at `sector` on the buffer's bytes (none
    /// for a flush) and lends the buffer to the device until the request's
    /// result is taken. A device with no room is polled once (finished
    /// requests free their slots), never waited for: `Busy` then, for the
    /// caller to report (the kernel does not wait for a device with
    /// interrupts off). Errors: as [`Devices::start`], with the buffer
    /// given back.
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
        let mut started = Err(Error::Busy);
        for _ in 0..2 {
            // SAFETY: on success the buffer moves into the `Lent` below,
            // which shows no byte of it and never gives it back to the pool
            // until the device reported the request done (`Lent::reclaim`);
            // a `Lent` dropped before that leaks the pages instead.
            started = unsafe { devices.start(n, op, sector, segments) };
            if started != Err(Error::Busy) {
                break;
            }
            devices.poll_all();
        }
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

/// An asynchronous request on a device (one of `disk_submit`, or a ring
/// entry): what its completion needs, the same for both.
pub struct InFlight {
    /// The capability it was started through.
    pub authority: Authority,
    /// Its device request, with the bounce buffer lent to the device until
    /// the request's result is taken.
    pub lent: Lent,
    /// The device.
    pub device: u32,
    /// What it does.
    pub op: Op,
    /// Where a read's data goes.
    pub user_buf: u64,
    /// Bytes moved.
    pub len: u64,
    /// Whether its completion was signalled (`disk_bind`).
    pub announced: bool,
}

impl InFlight {
    /// Its device request.
    pub fn id(&self) -> RequestId {
        self.lent.id()
    }

    /// Whether the device still has it while its capability is gone:
    /// `cap_revoke` waits for those when it destroyed a disk range, so that
    /// nothing more reaches a disk through it once it returns.
    pub fn unauthorized_in_flight(&self, caps: &CapSpace, devices: &Devices) -> bool {
        !devices.is_settled(self.id()) && !self.authority.holds(caps)
    }

    /// Marks it announced if the device is done with it and it was not
    /// yet; whether it was news (its `disk_bind` notification is due).
    pub fn announce(&mut self, devices: &Devices) -> bool {
        let news = !self.announced && devices.is_settled(self.id());
        self.announced |= news;
        news
    }
}

/// A record that holds an [`InFlight`] request ([`AsyncRequest`] and the
/// rings' requests), so the two share completion and orphan reaping.
pub trait HoldsInFlight {
    /// The request.
    fn in_flight(&mut self) -> &mut InFlight;
}

/// A request started by `disk_submit`.
pub struct AsyncRequest {
    /// The process that started it (`None` once it died).
    pub owner: Option<ObjectId>,
    /// The request.
    pub io: InFlight,
}

impl HoldsInFlight for AsyncRequest {
    fn in_flight(&mut self) -> &mut InFlight {
        &mut self.io
    }
}

/// A request the device is done with, taken out of its table; its bounce
/// buffer goes back to the pool when this is dropped.
pub struct Finished<R> {
    /// The request.
    pub request: R,
    /// What the device reported.
    pub result: Result<(), Error>,
    bounce: Bounce,
}

impl<R: HoldsInFlight> Finished<R> {
    /// `request` with its result and its buffer back, if the device
    /// reported it done; the request itself if not (its buffer still lent).
    pub fn take(mut request: R, devices: &mut Devices) -> Result<Self, R> {
        match request.in_flight().lent.reclaim(devices) {
            Some((bounce, result)) => Ok(Finished { request, result, bounce }),
            None => Err(request),
        }
    }

    /// What the request's owner learns, with a read's data copied to its
    /// buffer in `aspace` (the owner's, active): the sectors moved, or the
    /// error. `Revoked` first, and nothing copied, when the capability it
    /// was started through is gone: a program whose capability is gone
    /// learns nothing from the request, not even the device's error.
    pub fn deliver(&mut self, caps: &CapSpace, aspace: &AddressSpace) -> Result<u64, Error> {
        let io = self.request.in_flight();
        if !io.authority.holds(caps) {
            return Err(Error::Revoked);
        }
        self.result?;
        if io.op == Op::Read {
            crate::mem::user::UserSlice::new(io.user_buf, io.len)?
                .write(aspace, self.bounce.bytes())?;
        }
        Ok(io.len / SECTOR_SIZE as u64)
    }
}

/// Frees the requests of `table` that `orphaned` says nobody will collect
/// and whose device is done with them: their buffers go back to the pool.
/// Returns how many. O(requests); no allocation.
pub fn reap_orphans<R: HoldsInFlight>(
    table: &mut ObjectTable<R>,
    devices: &mut Devices,
    orphaned: impl Fn(&mut R) -> bool,
) -> usize {
    devices.poll_all();
    let mut freed = 0;
    table.retain(|_, r| {
        if !orphaned(r) || !devices.is_settled(r.in_flight().id()) {
            return true;
        }
        // Dropping the reclaimed buffer gives it back to the pool.
        drop(r.in_flight().lent.reclaim(devices));
        freed += 1;
        false
    });
    freed
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
// the pieces of one synchronous transfer per process.
const _: () = assert!(
    MAX_ASYNC_TOTAL + MAX_PIECES * crate::proc::kstack::MAX_STACKS
        <= crate::drivers::block::MAX_REQUESTS
);

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
    ) -> Result<Option<Finished<AsyncRequest>>, Error> {
        let io = self.get(id, pid).ok_or(Error::BadHandle)?.io.id();
        devices.poll_all();
        if !devices.is_settled(io) {
            return Ok(None);
        }
        let request = self.requests.remove(id).ok_or(Error::BadHandle)?;
        // Settled, so it reclaims; were it not so, the dropped request's
        // `Lent` keeps its buffer from the pool rather than free it.
        Finished::take(request, devices).map(Some).map_err(|_| Error::BadHandle)
    }

    /// Marks `pid`'s requests the device is done with as announced;
    /// whether any was not yet (its `disk_bind` notification is due).
    /// O(requests).
    pub fn announce_done(&mut self, pid: ObjectId, devices: &Devices) -> bool {
        let mut news = false;
        for (_, r) in self.requests.iter_mut().filter(|(_, r)| r.owner == Some(pid)) {
            news |= r.io.announce(devices);
        }
        news
    }

    /// Frees the requests whose owner died and whose device is done with
    /// them. O(requests) when there are orphans, O(1) otherwise; no
    /// allocation.
    pub fn reap_orphans(&mut self, devices: &mut Devices) {
        if self.orphans > 0 {
            self.orphans -= reap_orphans(&mut self.requests, devices, |r| r.owner.is_none());
        }
    }

    /// Adds to `out` the device requests still in flight whose capability
    /// no longer resolves (revoked, dropped, or its owner dead): `cap_revoke`
    /// waits for them when it destroyed a disk range, so that nothing more
    /// reaches a disk through it once it returns. O(requests).
    pub fn unauthorized_in_flight(
        &self,
        caps: &CapSpace,
        devices: &Devices,
        out: &mut Vec<RequestId>,
    ) {
        let lost = self.requests.iter().filter(|(_, r)| r.io.unauthorized_in_flight(caps, devices));
        out.extend(lost.map(|(_, r)| r.io.id()));
    }

    /// A process died: its requests the device is done with are freed now,
    /// the others when the device is done with them (`reap_orphans`): the
    /// device may still write into their bounce buffers until then.
    pub fn orphan(&mut self, pid: ObjectId, devices: &mut Devices) {
        for (_, r) in self.requests.iter_mut().filter(|(_, r)| r.owner == Some(pid)) {
            r.owner = None;
            self.orphans += 1;
        }
        self.reap_orphans(devices);
    }
}

/// Data segments one device request of a synchronous transfer carries at
/// most (a virtio-blk request may carry up to `virtio_blk::MAX_SEGMENTS`;
/// the device may allow fewer, see [`BlockDevice::max_segments`]).
///
/// [`BlockDevice::max_segments`]: crate::drivers::block::BlockDevice::max_segments
pub const PER_REQUEST: usize = crate::drivers::virtio_blk::MAX_SEGMENTS;

/// Device requests one synchronous transfer keeps in flight at once. A
/// 1 MiB buffer whose frames merge into no run at all needs 256 segments,
/// 3 requests of [`PER_REQUEST`]: they all go to the device together, so a
/// program whose buffer is scattered in physical memory reads about as
/// fast as one whose buffer is contiguous.
pub const MAX_PIECES: usize = 4;

/// Where a synchronous transfer's bytes are.
enum Target {
    /// Straight in the user's frames at `buf` (sector-aligned buffers):
    /// the pages were checked, and the process is blocked in this call, so
    /// nothing unmaps them before the device is done (process death
    /// settles the transfer first: [`SyncTransfer::settle`]). Not for
    /// pages another process can unmap: a ring's, which the holder of its
    /// last capability tears down (`syscall::disk`, `sync_transfer`).
    User {
        /// The user buffer's address.
        buf: u64,
    },
    /// In a bounce buffer (unaligned user buffers); a read's bytes are
    /// copied to `buf` when the transfer ends.
    Bounce {
        /// The bounce buffer.
        bounce: Bounce,
        /// The user buffer's address.
        buf: u64,
    },
}

/// A `disk_read`, `disk_write` or `disk_flush` in progress: the caller
/// blocks until the device has done every piece (or one failed and the
/// others ended), then [`SyncTransfer::finish`] gives its result.
pub struct SyncTransfer {
    /// The process waiting for it (tied to the capability the transfer
    /// runs through: revoking it settles the transfer, see
    /// `Kernel::wake_revoked`).
    pub pid: ObjectId,
    device: u32,
    op: Op,
    /// Device sector where the bytes begin.
    first: u64,
    /// Bytes in all.
    len: u64,
    /// Bytes handed to the device so far.
    started: u64,
    /// Whether the flush request (a flush has no bytes) was started.
    flush_started: bool,
    target: Target,
    in_flight: [Option<RequestId>; MAX_PIECES],
    /// The first failure: nothing more is started after it.
    result: Result<(), Error>,
    /// TSC cycles the kernel spent on this transfer so far, device waits
    /// and doorbells excluded.
    pub kernel_cycles: u64,
}

impl SyncTransfer {
    /// A transfer of `len` bytes (whole sectors; 0 for a flush) between
    /// `device` at sector `first` and the user buffer at `buf` (checked by
    /// the caller: mapped, writable for a read): straight to the user's
    /// frames if `direct` (the caller's judgement: a sector-aligned buffer
    /// whose pages nobody else can unmap while the caller is blocked),
    /// else through a bounce buffer. Nothing starts yet
    /// ([`advance`](Self::advance)). Errors: `Busy` when the DMA pool has
    /// no room for a bounce buffer.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        pid: ObjectId,
        device: u32,
        op: Op,
        first: u64,
        buf: u64,
        len: u64,
        direct: bool,
        aspace: &AddressSpace,
    ) -> Result<SyncTransfer, Error> {
        let target = if direct || len == 0 {
            Target::User { buf }
        } else {
            let mut bounce = Bounce::new(len)?;
            if op == Op::Write {
                crate::mem::user::UserSlice::new(buf, len)?.read(aspace, bounce.bytes_mut())?;
            }
            Target::Bounce { bounce, buf }
        };
        Ok(SyncTransfer {
            pid,
            device,
            op,
            first,
            len,
            started: 0,
            flush_started: false,
            target,
            in_flight: [None; MAX_PIECES],
            result: Ok(()),
            kernel_cycles: 0,
        })
    }

    /// Starts as many further pieces as the device and [`MAX_PIECES`]
    /// allow. A refusal other than `Busy` ends the transfer with that
    /// error (pieces in flight still run to their end); `Busy` is retried
    /// when a piece completes, or is the transfer's error when nothing of
    /// the device's is in flight to complete. `aspace` is the owner's;
    /// `segments` a list to build each request's segments in (kept from
    /// call to call with room for [`PER_REQUEST`]: building a fresh array
    /// of that size costs more than the rest of a 4 KiB request).
    pub fn advance(
        &mut self,
        devices: &mut Devices,
        aspace: &AddressSpace,
        segments: &mut Vec<&'static mut [u8]>,
    ) {
        while self.result.is_ok() && self.has_more() {
            let Some(free) = self.in_flight.iter().position(Option::is_none) else { return };
            segments.clear();
            let mut bytes = 0u64;
            let offset = self.started;
            let remaining = self.len - offset;
            let sector = self.first + offset / SECTOR_SIZE as u64;
            let mut add = |(p, l): (u64, usize)| {
                // SAFETY: user frames the caller checked, which stay
                // mapped while their process is blocked here, or the bounce
                // buffer this transfer owns; neither is touched by the CPU
                // until the device reported the piece done.
                segments.push(unsafe { phys_slice(p, l) });
                bytes += l as u64;
            };
            match &self.target {
                _ if self.op == Op::Flush => {}
                Target::User { buf } => {
                    let most = PER_REQUEST.min(devices.max_segments(self.device));
                    for seg in user_segments(aspace, buf + offset, remaining).take(most) {
                        add(seg);
                    }
                }
                Target::Bounce { bounce, .. } => {
                    add((bounce.phys + offset, remaining as usize));
                }
            }
            let count = segments.len();
            if count == 0 && self.op != Op::Flush {
                // A page vanished under a blocked process: a kernel bug.
                self.result = Err(Error::BadAddress);
                return;
            }
            // SAFETY: see `add`: the slices stay valid and untouched until
            // the device reports this request done (`collect`), and a
            // transfer is never dropped with pieces in flight (`settle`).
            let started = unsafe { devices.start(self.device, self.op, sector, segments) };
            segments.clear();
            match started {
                Ok(id) => {
                    self.in_flight[free] = Some(id);
                    self.started += bytes;
                    self.flush_started |= self.op == Op::Flush;
                }
                Err(Error::Busy) if devices.in_flight(self.device) > 0 => return,
                Err(e) => {
                    self.result = Err(e);
                    return;
                }
            }
        }
    }

    fn has_more(&self) -> bool {
        if self.op == Op::Flush { !self.flush_started } else { self.started < self.len }
    }

    /// Takes the results of the pieces the device is done with (poll the
    /// devices first).
    pub fn collect(&mut self, devices: &mut Devices) {
        for piece in &mut self.in_flight {
            if let Some(id) = *piece
                && let Some(r) = devices.take(id)
            {
                *piece = None;
                if self.result.is_ok() {
                    self.result = r;
                }
            }
        }
    }

    /// Whether every piece ended and nothing more will start.
    pub fn is_done(&self) -> bool {
        self.in_flight.iter().all(Option::is_none) && (self.result.is_err() || !self.has_more())
    }

    /// Its capability died: nothing more starts, the pieces in flight run
    /// to their end, and the transfer's result is `Revoked`.
    pub fn revoke(&mut self) {
        self.result = Err(Error::Revoked);
    }

    /// Whether it was revoked ([`revoke`](Self::revoke)).
    pub fn is_revoked(&self) -> bool {
        self.result == Err(Error::Revoked)
    }

    /// Its device requests still in flight.
    pub fn in_flight(&self) -> impl Iterator<Item = RequestId> + '_ {
        self.in_flight.iter().flatten().copied()
    }

    /// Waits (polling, interrupts off) until the device is done with every
    /// piece in flight, and starts nothing more: for a process that dies
    /// while its transfer runs (its frames are freed right after).
    pub fn settle(&mut self, devices: &mut Devices) {
        for id in self.in_flight.iter().flatten() {
            devices.settle(*id);
        }
        self.collect(devices);
        if self.result.is_ok() && self.has_more() {
            self.result = Err(Error::Revoked);
        }
    }

    /// The transfer's outcome once [`is_done`](Self::is_done): sectors
    /// moved, a read through a bounce buffer copied to the user (`aspace`,
    /// the owner's, active).
    pub fn finish(self, aspace: &AddressSpace) -> Result<u64, Error> {
        debug_assert!(self.is_done());
        self.result?;
        if let (Target::Bounce { bounce, buf }, Op::Read) = (&self.target, self.op) {
            crate::mem::user::UserSlice::new(*buf, self.len)?.write(aspace, bounce.bytes())?;
        }
        Ok(self.len / SECTOR_SIZE as u64)
    }

    /// The device it runs on.
    pub fn device(&self) -> u32 {
        self.device
    }

    /// The user buffer `(addr, len)` the device reads or writes directly,
    /// if it does (not through a bounce buffer): the authority checks
    /// verify it stays mapped while the transfer runs.
    #[cfg(feature = "authority-checks")]
    pub fn direct_buffer(&self) -> Option<(u64, u64)> {
        match self.target {
            Target::User { buf } if self.len > 0 => Some((buf, self.len)),
            _ => None,
        }
    }
}

impl Drop for SyncTransfer {
    fn drop(&mut self) {
        if self.in_flight.iter().any(Option::is_some)
            && let Target::Bounce { bounce, .. } = &self.target
        {
            // The device may still write into it: leaked, never reused.
            log::error!("DMA pool: {} pages of a dropped transfer leaked", bounce.pages);
            core::mem::forget(core::mem::replace(&mut self.target, Target::User { buf: 0 }));
        }
    }
}

/// Every process blocked on a disk: in a synchronous transfer, or in
/// `disk_complete` for one request. The completion interrupt
/// (`iowait::on_completion`) goes through these, so their number is the
/// blocked processes', not the requests'.
pub struct DiskWaits {
    /// Transfers in progress, one per blocked process.
    pub sync: Vec<SyncTransfer>,
    /// Processes in `disk_complete`, with the device request they wait for.
    pub complete: Vec<(ObjectId, RequestId)>,
    /// Where [`SyncTransfer::advance`] builds a request's segments (empty
    /// between calls).
    pub segments: Vec<&'static mut [u8]>,
    /// Processes in `cap_revoke`, waiting for the device requests that ran
    /// through what they destroyed.
    pub settles: Vec<Settle>,
    /// Processes whose asynchronous completions signal a notification
    /// (`disk_bind`), with the handle (in their own table) to signal
    /// through.
    pub bound: Vec<(ObjectId, RawHandle)>,
}

/// A `cap_revoke` that destroyed disk ranges with requests in flight: it
/// returns once the devices are done with them (`Block::Settle`).
pub struct Settle {
    /// The revoking process.
    pub pid: ObjectId,
    /// The requests it waits for.
    pub requests: Vec<RequestId>,
    /// What its `cap_revoke` returns: the capabilities it destroyed.
    pub revoked: u64,
}

impl DiskWaits {
    /// Nobody waits.
    pub fn new() -> Self {
        DiskWaits {
            sync: Vec::new(),
            complete: Vec::new(),
            segments: Vec::with_capacity(PER_REQUEST),
            settles: Vec::new(),
            bound: Vec::new(),
        }
    }

    /// Takes `pid`'s revoke-in-waiting out.
    pub fn take_settle(&mut self, pid: ObjectId) -> Option<Settle> {
        let i = self.settles.iter().position(|s| s.pid == pid)?;
        Some(self.settles.swap_remove(i))
    }

    /// `pid`'s transfer.
    pub fn sync_of(&mut self, pid: ObjectId) -> Option<&mut SyncTransfer> {
        self.sync.iter_mut().find(|t| t.pid == pid)
    }

    /// Takes `pid`'s transfer out.
    pub fn take_sync(&mut self, pid: ObjectId) -> Option<SyncTransfer> {
        let i = self.sync.iter().position(|t| t.pid == pid)?;
        Some(self.sync.swap_remove(i))
    }
}
