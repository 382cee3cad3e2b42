//! The block-device layer: one trait for every disk, a request model that
//! allows many requests in flight, and the registry of devices.
//!
//! A request moves whole sectors between the device and a list of kernel
//! memory segments (slices in the physical window, so a device can reach
//! them). Every request, synchronous or asynchronous, is named by a
//! [`RequestId`] from one table ([`Devices`]): the device is given the id
//! when the request starts and reports the same id when it is done, and the
//! id's slot is reused only after whoever started the request has taken
//! its result ([`Devices::take`]). So a completion is always credited to
//! the request it belongs to, and a result is never read before its own
//! request is done. Nothing here waits: the caller blocks its process
//! until the completion interrupt (`crate::iowait`), except `settle`, which
//! polls (for a process that dies with a transfer into its own frames in
//! flight, which cannot happen while nothing kills a blocked process).

use alloc::boxed::Box;
use alloc::vec::Vec;
use caps::abi::Error;

/// Bytes per sector.
pub const SECTOR_SIZE: usize = 512;

/// Requests the table holds at once, all devices together: room for every
/// asynchronous request the kernel allows (256 of `disk_submit`'s, 256 of
/// I/O rings') plus the pieces of one synchronous transfer per process
/// (4 x 512). `diskio` and `ring` check at compile time that their limits
/// fit.
pub const MAX_REQUESTS: usize = 256 + 256 + 4 * 512;

/// A disk's size for the boot log: whole MiB (rounded down, as `disk 0:
/// virtio-blk ..., 256 MiB`), or KiB below one MiB (a 1-sector disk is
/// `0.5 KiB`, not `0 MiB`).
pub struct Size(pub u64);

impl core::fmt::Display for Size {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let sectors = self.0;
        let per_mib = (1 << 20) / SECTOR_SIZE as u64;
        if sectors >= per_mib {
            write!(f, "{} MiB", sectors / per_mib)
        } else if sectors.is_multiple_of(2) {
            write!(f, "{} KiB", sectors / 2)
        } else {
            write!(f, "{}.5 KiB", sectors / 2)
        }
    }
}

/// What a request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Device to memory.
    Read,
    /// Memory to device.
    Write,
    /// Make every completed write durable.
    Flush,
}

/// Names one request: its slot in the [`Devices`] request table and the
/// slot's generation when the request started (as an NVMe command id names
/// one command of its queue). The slot is freed only when the result is
/// taken, and every reuse bumps the generation, so an id never names a
/// later request, and a device's report with a stale id is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestId {
    slot: u32,
    generation: u32,
}

/// A disk. `Sync` because the kernel state is shared by the CPUs that
/// hold it for reading (`state::read`); a driver's `&self` methods read
/// plain fields only, and everything that touches the device takes
/// `&mut self`, which only the holder of the kernel lock for writing has.
pub trait BlockDevice: Send + Sync {
    /// A short name for logs.
    fn name(&self) -> &'static str;
    /// Size in sectors.
    fn sector_count(&self) -> u64;
    /// Whether writes are refused.
    fn read_only(&self) -> bool;
    /// Queues request `id` on `segments` (whose lengths are multiples of
    /// `SECTOR_SIZE` and add up to the transfer, at most
    /// `caps::abi::disk::MAX_SECTORS` sectors in at most
    /// [`max_segments`](Self::max_segments) segments; empty for a flush).
    /// Segments have the shape of a run of pages: every segment but the
    /// first starts on a page boundary, every segment but the last ends on
    /// one (NVMe's PRP rule). [`Devices::start`] has checked all of this,
    /// the range (`sector` plus the transfer within `sector_count`) and,
    /// for a write, that the device is not read-only, so each refusal is
    /// the same on every controller; a device checks only its own limits.
    /// A device whose own limit on one command is
    /// smaller splits the request into several commands and reports it
    /// done once, when all are. `Busy` when the device has no room now
    /// (poll, then retry). On an error the device keeps nothing of the
    /// request.
    ///
    /// # Safety
    /// The segments must stay valid, and untouched by the CPU, until `id`
    /// is reported done by `poll`.
    unsafe fn start(
        &mut self,
        id: RequestId,
        op: Op,
        sector: u64,
        segments: &[&mut [u8]],
    ) -> Result<(), Error>;
    /// Reaps finished requests, calling `done` once for each with the id it
    /// was started with. After that call the device no longer touches the
    /// request's segments.
    fn poll(&mut self, done: &mut dyn FnMut(RequestId, Result<(), Error>));
    /// Requests in flight (started and not yet reported by `poll`).
    fn in_flight(&self) -> usize;
    /// The most segments one request may carry.
    fn max_segments(&self) -> usize {
        usize::MAX
    }
    /// TSC cycles spent ringing the device's doorbell since the last call
    /// (under emulation the device does its work inside that write).
    fn take_doorbell_cycles(&mut self) -> u64 {
        0
    }
    /// Commands submitted since boot on each of the device's submission
    /// queues, for a device with a queue per CPU (NVMe: CPU `i` submits on
    /// entry `i` modulo their number; one entry when the CPUs share one
    /// queue); empty for a device that has no such queues.
    fn commands_per_queue(&self) -> Vec<u64> {
        Vec::new()
    }
}

/// The checks every request passes before any device sees it (the
/// promises of [`BlockDevice::start`]), in one place so that a refusal is
/// the same on every controller: a write to a read-only device is
/// `MissingRight`; a flush with data, a transfer of no sectors, of more
/// than `MAX_SECTORS`, in more segments than the device takes or not
/// shaped as a run of pages is `InvalidArgument`; one past the device's
/// end is `OutOfRange`.
fn check_request(
    dev: &dyn BlockDevice,
    op: Op,
    sector: u64,
    segments: &[&mut [u8]],
) -> Result<(), Error> {
    if op == Op::Write && dev.read_only() {
        return Err(Error::MissingRight);
    }
    if op == Op::Flush {
        return if segments.is_empty() { Ok(()) } else { Err(Error::InvalidArgument) };
    }
    let bytes: usize = segments.iter().map(|s| s.len()).sum();
    let most = caps::abi::disk::MAX_SECTORS as usize * SECTOR_SIZE;
    if bytes == 0
        || bytes > most
        || segments.len() > dev.max_segments()
        || !page_run_shaped(segments)
    {
        return Err(Error::InvalidArgument);
    }
    let count = (bytes / SECTOR_SIZE) as u64;
    if sector.checked_add(count).is_none_or(|end| end > dev.sector_count()) {
        return Err(Error::OutOfRange);
    }
    Ok(())
}

/// Whether `segments` have the shape [`BlockDevice::start`] promises its
/// devices: each a whole, non-zero number of sectors, every one but the
/// first starting on a page boundary and every one but the last ending on
/// one.
fn page_run_shaped(segments: &[&mut [u8]]) -> bool {
    const PAGE: usize = 4096;
    let last = segments.len().saturating_sub(1);
    segments.iter().enumerate().all(|(i, s)| {
        let start = s.as_ptr() as usize;
        !s.is_empty()
            && s.len().is_multiple_of(SECTOR_SIZE)
            && (i == 0 || start.is_multiple_of(PAGE))
            && (i == last || (start + s.len()).is_multiple_of(PAGE))
    })
}

/// Reads sector 0 of `dev` into a DMA page, polling (boot only: the
/// device must be idle and the request table not involved). `None` if the
/// device refuses, fails or takes longer than `timeout_ns`.
pub fn read_first_sector(dev: &mut dyn BlockDevice, timeout_ns: u64) -> Option<[u8; SECTOR_SIZE]> {
    use x86_64::PhysAddr;
    // An id no request of the table can have (its slot is past the end).
    let id = RequestId { slot: u32::MAX, generation: 0 };
    let phys = super::dma::alloc(1)?;
    // SAFETY: a page of the DMA pool this function owns until it is freed
    // below, after the device reported the request done (or, on a
    // timeout, never: the page is leaked rather than reused while the
    // device may still write it).
    let page = unsafe {
        core::slice::from_raw_parts_mut(
            crate::mem::phys_to_virt(PhysAddr::new(phys)).as_mut_ptr::<u8>(),
            SECTOR_SIZE,
        )
    };
    let segments = [&mut *page];
    // SAFETY: see `page`; the request passed the block layer's checks.
    let ok = check_request(dev, Op::Read, 0, &segments).is_ok()
        && unsafe { dev.start(id, Op::Read, 0, &segments) }.is_ok();
    let mut result = None;
    let answered = ok
        && crate::time::spin_until(timeout_ns, || {
            dev.poll(&mut |done, r| {
                if done == id {
                    result = Some(r);
                }
            });
            result.is_some()
        });
    if ok && !answered {
        log::warn!("{}: no answer to a read of sector 0", dev.name());
        return None;
    }
    let sector = (result == Some(Ok(()))).then(|| {
        let mut copy = [0; SECTOR_SIZE];
        copy.copy_from_slice(page);
        copy
    });
    super::dma::free(phys, 1);
    sector
}

/// A disk that refuses writes: the boot disk (the system's own image,
/// which nothing should change while it runs).
pub struct ReadOnly(pub Box<dyn BlockDevice>);

impl BlockDevice for ReadOnly {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn sector_count(&self) -> u64 {
        self.0.sector_count()
    }
    fn read_only(&self) -> bool {
        true
    }
    unsafe fn start(
        &mut self,
        id: RequestId,
        op: Op,
        sector: u64,
        segments: &[&mut [u8]],
    ) -> Result<(), Error> {
        // A write never gets here: `check_request` refuses it
        // (`read_only`), before any device sees it.
        // SAFETY: the caller's promise, passed on.
        unsafe { self.0.start(id, op, sector, segments) }
    }
    fn poll(&mut self, done: &mut dyn FnMut(RequestId, Result<(), Error>)) {
        self.0.poll(done)
    }
    fn in_flight(&self) -> usize {
        self.0.in_flight()
    }
    fn max_segments(&self) -> usize {
        self.0.max_segments()
    }
    fn take_doorbell_cycles(&mut self) -> u64 {
        self.0.take_doorbell_cycles()
    }
    fn commands_per_queue(&self) -> Vec<u64> {
        self.0.commands_per_queue()
    }
}

/// Where a request of the table is.
#[derive(Clone, Copy, Debug)]
enum Request {
    /// Unused; the next free slot (`NO_SLOT` at the end of the list).
    Free(u32),
    /// On device `.0`, not reported done yet: its memory is the device's.
    InFlight(u32),
    /// Reported done; the result waits to be taken.
    Done(Result<(), Error>),
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    generation: u32,
    request: Request,
}

/// The end of the free list.
const NO_SLOT: u32 = u32::MAX;

/// Every block device, by number (the `device` of a `DiskRange`), and
/// every request in flight on them.
pub struct Devices {
    devices: Vec<Box<dyn BlockDevice>>,
    /// The request table: `MAX_REQUESTS` slots, allocated once (on the
    /// heap: at 27 KiB it is too big to build on the boot stack), so
    /// starting a request never allocates.
    requests: Box<[Slot]>,
    /// First free slot (a list through `Request::Free`).
    free: u32,
    /// Per device: requests handled and the kernel's own cycles on them.
    stats: Vec<(u64, u64)>,
    /// TSC cycles spent waiting for devices, including the doorbell writes
    /// that hand requests to an emulated device (kept to tell the kernel's
    /// own time from the device's).
    pub waited_cycles: u64,
}

impl Devices {
    /// No devices.
    pub fn new() -> Self {
        let requests = (0..MAX_REQUESTS)
            .map(|i| {
                let next = if i + 1 < MAX_REQUESTS { i as u32 + 1 } else { NO_SLOT };
                Slot { generation: 0, request: Request::Free(next) }
            })
            .collect();
        Devices { devices: Vec::new(), requests, free: 0, stats: Vec::new(), waited_cycles: 0 }
    }

    /// Adds a device; returns its number.
    pub fn add(&mut self, device: Box<dyn BlockDevice>) -> u32 {
        self.devices.push(device);
        self.stats.push((0, 0));
        (self.devices.len() - 1) as u32
    }

    /// Device `n`.
    pub fn get(&mut self, n: u32) -> Option<&mut Box<dyn BlockDevice>> {
        self.devices.get_mut(n as usize)
    }

    /// Counts `requests` on device `n` that cost the kernel `cycles`.
    pub fn account(&mut self, n: u32, requests: u64, cycles: u64) {
        if let Some(s) = self.stats.get_mut(n as usize) {
            s.0 += requests;
            s.1 += cycles;
        }
    }

    /// (requests, kernel cycles) of device `n`.
    pub fn stats(&self, n: u32) -> (u64, u64) {
        self.stats.get(n as usize).copied().unwrap_or((0, 0))
    }

    /// Device `n`'s size in sectors (0 if there is none).
    pub fn sector_count(&self, n: u32) -> u64 {
        self.devices.get(n as usize).map_or(0, |d| d.sector_count())
    }

    /// Requests in flight on device `n` (0 if there is none).
    pub fn in_flight(&self, n: u32) -> usize {
        self.devices.get(n as usize).map_or(0, |d| d.in_flight())
    }

    /// The most segments one request to device `n` may carry.
    pub fn max_segments(&self, n: u32) -> usize {
        self.devices.get(n as usize).map_or(1, |d| d.max_segments())
    }

    /// Requests in flight on every device together.
    pub fn in_flight_total(&self) -> usize {
        self.devices.iter().map(|d| d.in_flight()).sum()
    }

    /// How many devices there are.
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// Starts a request on device `n` and returns its id. O(1), no
    /// allocation. Errors: `BadHandle` (no such device), `Busy` (the device
    /// or the table is full: poll, then retry), or the device's own; on an
    /// error nothing was started.
    ///
    /// # Safety
    /// As [`BlockDevice::start`]: the segments stay valid and untouched by
    /// the CPU until [`take`](Self::take) returns this id's result.
    pub unsafe fn start(
        &mut self,
        n: u32,
        op: Op,
        sector: u64,
        segments: &[&mut [u8]],
    ) -> Result<RequestId, Error> {
        let dev = self.devices.get_mut(n as usize).ok_or(Error::BadHandle)?;
        check_request(&**dev, op, sector, segments)?;
        let slot = self.free;
        let Some(entry) = self.requests.get_mut(slot as usize) else { return Err(Error::Busy) };
        // The free list holds free slots only; anything else would be a
        // kernel bug, refused rather than trusted.
        let Request::Free(next) = entry.request else { return Err(Error::Busy) };
        let id = RequestId { slot, generation: entry.generation };
        // SAFETY: the caller keeps the segments valid until the id is
        // taken, which is after the device reported it done.
        let started = unsafe { dev.start(id, op, sector, segments) };
        self.waited_cycles += dev.take_doorbell_cycles();
        started?;
        entry.request = Request::InFlight(n);
        self.free = next;
        Ok(id)
    }

    /// Logs, for each device with a submission queue per CPU, the
    /// commands each queue carried (at power-off: `disk 0: commands per
    /// CPU's queue pair: 120 96`).
    pub fn log_queues(&self) {
        for (n, dev) in self.devices.iter().enumerate() {
            let counts = dev.commands_per_queue();
            if !counts.is_empty() {
                let mut line = alloc::string::String::new();
                for c in counts {
                    use core::fmt::Write;
                    let _ = write!(line, " {c}");
                }
                log::info!("disk {n}: commands per CPU's queue pair:{line}");
            }
        }
    }

    /// Reaps every device's finished requests into the request table.
    pub fn poll_all(&mut self) {
        let requests = &mut self.requests;
        for (n, dev) in self.devices.iter_mut().enumerate() {
            dev.poll(&mut |id, result| match requests.get_mut(id.slot as usize) {
                Some(s)
                    if s.generation == id.generation
                        && matches!(s.request, Request::InFlight(d) if d as usize == n) =>
                {
                    s.request = Request::Done(result);
                }
                // A driver bug; the request it names is not in flight there,
                // so crediting the report to it could only be wrong.
                _ => log::error!("disk {n}: completion of an unknown request {id:?}"),
            });
        }
    }

    /// The result of request `id` once its device reported it done (the id
    /// dies then, and its slot may be reused); `None` while it is in flight.
    /// An id that names no request (already taken) gives `BadHandle`.
    pub fn take(&mut self, id: RequestId) -> Option<Result<(), Error>> {
        let s = match self.requests.get_mut(id.slot as usize) {
            Some(s) if s.generation == id.generation => s,
            _ => return Some(Err(Error::BadHandle)),
        };
        match s.request {
            Request::InFlight(_) => None,
            Request::Free(_) => Some(Err(Error::BadHandle)),
            Request::Done(result) => {
                s.generation = s.generation.wrapping_add(1);
                s.request = Request::Free(self.free);
                self.free = id.slot;
                Some(result)
            }
        }
    }

    /// Whether [`take`](Self::take) would give `id`'s result now: its
    /// device reported it done, or `id` names no request any more.
    pub fn is_settled(&self, id: RequestId) -> bool {
        !self.requests.get(id.slot as usize).is_some_and(|s| {
            s.generation == id.generation && matches!(s.request, Request::InFlight(_))
        })
    }

    /// Polls the devices until the device is done with request `id`,
    /// leaving its result for [`take`](Self::take).
    pub fn settle(&mut self, id: RequestId) {
        let started = crate::arch::cpu::rdtsc();
        while !self.is_settled(id) {
            self.poll_all();
            core::hint::spin_loop();
        }
        self.waited_cycles += crate::arch::cpu::rdtsc() - started;
    }
}
