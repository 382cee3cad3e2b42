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
pub unsafe fn phys_slice(phys: u64, len: usize) -> &'static mut [u8] {
    // SAFETY: as the caller guarantees; the window maps all RAM.
    unsafe { core::slice::from_raw_parts_mut(phys_to_virt(PhysAddr::new(phys)).as_mut_ptr(), len) }
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
