//! Disk I/O on behalf of processes: user buffers turned into device
//! segments, bounce buffers, asynchronous requests and their owners.
//!
//! Synchronous requests on a sector-aligned user buffer go straight to the
//! user's frames (no copy): the pages were checked mapped and writable (for
//! reads) just before, and nothing can unmap them while the CPU waits for
//! the device (one CPU, interrupts off). Other synchronous requests, and
//! every asynchronous one, go through a bounce buffer from the DMA pool:
//! an asynchronous request outlives the syscall that started it, and the
//! device must never write into a frame the process may have freed.

use alloc::vec::Vec;
use caps::ObjectId;
use caps::abi::Error;
use caps::abi::disk::MAX_ASYNC_REQUESTS;
use caps::abi::layout::PAGE_SIZE;
use x86_64::PhysAddr;

use crate::drivers::block::{Devices, Op, SECTOR_SIZE, Tag};
use crate::drivers::dma;
use crate::mem::aspace::AddressSpace;
use crate::mem::phys_to_virt;
use crate::objtable::ObjectTable;

/// Most segments one transfer is split into (a 1 MiB buffer of scattered
/// pages has 256).
pub const MAX_USER_SEGMENTS: usize = 257;

/// The user buffer `[addr, addr + len)` as kernel slices over its frames,
/// adjacent frames merged; `None` unless it is sector-aligned and every
/// page is mapped (writable if `write`). The slices are valid while the
/// address space keeps those pages mapped.
pub fn user_segments(
    aspace: &AddressSpace,
    addr: u64,
    len: u64,
    write: bool,
    out: &mut Vec<(u64, usize)>,
) -> Result<(), Error> {
    out.clear();
    let mut pos = addr;
    let end = addr + len;
    while pos < end {
        let in_page = (PAGE_SIZE - pos % PAGE_SIZE).min(end - pos);
        let phys = aspace.translate(pos, write).ok_or(Error::BadAddress)?.as_u64();
        match out.last_mut() {
            Some((p, l)) if *p + *l as u64 == phys => *l += in_page as usize,
            _ => out.push((phys, in_page as usize)),
        }
        pos += in_page;
    }
    Ok(())
}

/// A kernel slice over physical memory in the window.
///
/// # Safety
/// `[phys, phys + len)` must be memory nothing else uses as a Rust object
/// while the slice lives (a user frame or a DMA buffer we own).
pub unsafe fn phys_slice(phys: u64, len: usize) -> &'static mut [u8] {
    // SAFETY: as the caller guarantees; the window maps all RAM.
    unsafe { core::slice::from_raw_parts_mut(phys_to_virt(PhysAddr::new(phys)).as_mut_ptr(), len) }
}

/// Moves `len` bytes between device `n` at `sector` and the physical
/// segments, splitting into requests the device accepts. Waits for all.
pub fn transfer_phys(devices: &mut Devices, n: u32, op: Op, sector: u64, segments: &[(u64, usize)]) -> Result<(), Error> {
    const PER_REQUEST: usize = crate::drivers::virtio_blk::MAX_SEGMENTS;
    let mut sector = sector;
    for chunk in segments.chunks(PER_REQUEST) {
        let mut slices: [&mut [u8]; PER_REQUEST] = core::array::from_fn(|_| <&mut [u8]>::default());
        let mut bytes = 0;
        for (i, &(p, l)) in chunk.iter().enumerate() {
            // SAFETY: the caller's segments are user frames it checked, or
            // DMA buffers it owns, unused by anything else until we return.
            slices[i] = unsafe { phys_slice(p, l) };
            bytes += l;
        }
        // SAFETY: the slices stay valid until `transfer` returns.
        unsafe { devices.transfer(n, op, sector, &slices[..chunk.len()]) }?;
        sector += (bytes / SECTOR_SIZE) as u64;
    }
    Ok(())
}

/// A request started by `disk_submit`.
pub struct AsyncRequest {
    /// The process that started it (`None` once it died).
    pub owner: Option<ObjectId>,
    /// Device and tag.
    pub device: u32,
    /// The device's tag.
    pub tag: Tag,
    /// What it does.
    pub op: Op,
    /// The bounce buffer (physical) and its pages.
    pub bounce: u64,
    /// Pages in the bounce buffer.
    pub pages: usize,
    /// Where a read's data goes, and how much.
    pub user_buf: u64,
    /// Bytes moved.
    pub len: u64,
    /// The outcome, once the device is done.
    pub result: Option<Result<(), Error>>,
}

/// Every asynchronous request in the system.
pub struct AsyncIo {
    requests: ObjectTable<AsyncRequest>,
    /// (device, tag) of each request in flight, with its id.
    in_flight: Vec<(u32, Tag, ObjectId)>,
}

/// Most asynchronous requests at once, all processes together.
const MAX_REQUESTS: usize = 256;

impl AsyncIo {
    /// None.
    pub const fn new() -> Self {
        AsyncIo { requests: ObjectTable::new(MAX_REQUESTS), in_flight: Vec::new() }
    }

    /// How many requests `pid` has started and not collected.
    pub fn owned_by(&self, pid: ObjectId) -> usize {
        self.in_flight_or_done(pid)
    }

    fn in_flight_or_done(&self, pid: ObjectId) -> usize {
        self.requests.iter().filter(|(_, r)| r.owner == Some(pid)).count()
    }

    /// Whether `pid` may start another.
    pub fn has_room(&self, pid: ObjectId) -> bool {
        !self.requests.is_full() && self.owned_by(pid) < MAX_ASYNC_REQUESTS
    }

    /// Records a started request.
    pub fn add(&mut self, r: AsyncRequest) -> ObjectId {
        let (device, tag) = (r.device, r.tag);
        let id = self.requests.insert(r).expect("room checked by has_room");
        self.in_flight.push((device, tag, id));
        id
    }

    /// Moves finished results from the devices into their requests, and
    /// frees those whose owner died.
    pub fn collect(&mut self, devices: &mut Devices) {
        devices.poll_all();
        let mut i = 0;
        while i < self.in_flight.len() {
            let (dev, tag, id) = self.in_flight[i];
            if let Some(result) = devices.take_finished(dev, tag) {
                self.in_flight.swap_remove(i);
                let orphan = match self.requests.get_mut(id) {
                    Some(r) => {
                        r.result = Some(result);
                        r.owner.is_none()
                    }
                    None => false,
                };
                if orphan {
                    self.free(id);
                }
            } else {
                i += 1;
            }
        }
    }

    /// The request `id` if `pid` owns it.
    pub fn get(&self, id: ObjectId, pid: ObjectId) -> Option<&AsyncRequest> {
        self.requests.get(id).filter(|r| r.owner == Some(pid))
    }

    /// Frees request `id` and its bounce buffer.
    pub fn free(&mut self, id: ObjectId) {
        if let Some(r) = self.requests.remove(id) {
            dma::free(r.bounce, r.pages);
        }
    }

    /// A process died: its finished requests are freed now, those in
    /// flight when the device is done with them.
    pub fn orphan(&mut self, pid: ObjectId) {
        let mine: Vec<(ObjectId, bool)> = self
            .requests
            .iter()
            .filter(|(_, r)| r.owner == Some(pid))
            .map(|(id, r)| (id, r.result.is_some()))
            .collect();
        for (id, done) in mine {
            if done {
                self.free(id);
            } else if let Some(r) = self.requests.get_mut(id) {
                r.owner = None;
            }
        }
    }
}
