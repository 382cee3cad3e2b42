//! The virtio block driver (PCI transport), on `virtio-drivers`' transport
//! and virtqueue, with our own request handling so that a request can
//! scatter over several memory segments and many requests can be in
//! flight at once.
//!
//! A request is a descriptor chain: the 16-byte header (device-readable),
//! the data segments, the 1-byte status (device-writable). Headers and
//! statuses live in one DMA page, a slot per request. The device signals
//! completions with an MSI-X message (queue 0 on table entry 0, routed by
//! `drivers::pci::enable_msix`), and `poll` reaps the used ring; `poll`
//! is also called between interrupts (a request may complete at once,
//! and revocation polls until the device is done).

use alloc::vec::Vec;
use caps::abi::Error;
use virtio_drivers::queue::VirtQueue;
use virtio_drivers::transport::Transport;
use virtio_drivers::transport::pci::PciTransport;

use super::block::{BlockDevice, Op, RequestId};
use super::dma::{self, KernelHal};
use crate::mem::phys_to_virt;

/// Descriptors in the virtqueue (QEMU's virtio-blk offers 256).
const QUEUE_SIZE: usize = 256;
/// Pages of the DMA pool a virtqueue of `QUEUE_SIZE` takes, at most
/// (virtio 1.2, 2.7: descriptor table 16 bytes an entry, driver area 2,
/// device area 8, each rounded up to pages).
const QUEUE_PAGES: usize = (16 * QUEUE_SIZE).div_ceil(4096)
    + (6 + 2 * QUEUE_SIZE).div_ceil(4096)
    + (6 + 8 * QUEUE_SIZE).div_ceil(4096);
/// Request slots (the most requests in flight).
const SLOTS: usize = 64;
/// Data segments one request may carry (plus header and status): two
/// requests of the largest size fit in the queue at once. The device may
/// allow fewer (`seg_max`, read at set-up).
pub const MAX_SEGMENTS: usize = 126;
/// Bytes per slot in the header page: header (16) + status (1), padded.
const SLOT_BYTES: usize = 32;

// Feature bits (virtio 1.x).
const F_SEG_MAX: u64 = 1 << 2;
const F_RO: u64 = 1 << 5;
const F_FLUSH: u64 = 1 << 9;
const F_VERSION_1: u64 = 1 << 32;

// Request types and statuses.
const T_IN: u32 = 0;
const T_OUT: u32 = 1;
const T_FLUSH: u32 = 4;
const S_OK: u8 = 0;
const S_NOT_READY: u8 = 0xff;

const _: () = assert!(SLOTS * SLOT_BYTES <= 4096 && MAX_SEGMENTS + 2 <= QUEUE_SIZE);

bitflags::bitflags! {
    /// The features we ask for.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Features: u64 {
        const SEG_MAX = F_SEG_MAX;
        const RO = F_RO;
        const FLUSH = F_FLUSH;
        const VERSION_1 = F_VERSION_1;
    }
}

/// A request in flight: the id the block layer gave it, its token, and
/// how many segments of its row of `VirtioBlk::segments` it uses (to give
/// the same buffers back to `pop_used`). Kept small: slots are scanned and
/// moved on every request.
#[derive(Clone, Copy)]
struct Slot {
    id: RequestId,
    token: u16,
    count: u16,
}

/// A virtio-blk device.
pub struct VirtioBlk {
    transport: PciTransport,
    queue: VirtQueue<KernelHal, QUEUE_SIZE>,
    capacity: u64,
    read_only: bool,
    has_flush: bool,
    /// Data segments the device takes in one request.
    max_segments: usize,
    /// Physical address of the header/status page.
    slots_phys: u64,
    slots: [Option<Slot>; SLOTS],
    /// The data segments (address, length) of each slot's request.
    segments: alloc::vec::Vec<[(usize, usize); MAX_SEGMENTS]>,
    /// A flush on a device without a write cache: done at once, reported
    /// by the next `poll`.
    instant: Option<RequestId>,
    /// Cycles spent in doorbell writes, not yet taken.
    doorbell_cycles: u64,
    /// The buffer lists handed to the virtqueue (empty between calls).
    lists: Lists,
}

// SAFETY: the device is only used under the kernel lock (one CPU at a
// time), so moving it between CPUs never lets two use it at once.
unsafe impl Send for VirtioBlk {}

// SAFETY: its fields are private, and the `BlockDevice` methods taking
// `&self` (name, size, read-only, segments, requests in flight) read plain
// fields only; every queue and register access takes `&mut self`, which
// only the holder of the kernel lock for writing has (`state`).
unsafe impl Sync for VirtioBlk {}

impl VirtioBlk {
    /// Sets the device up: feature negotiation, one request queue.
    pub fn new(mut transport: PciTransport) -> Result<Self, &'static str> {
        let features = transport
            .begin_init(Features::SEG_MAX | Features::RO | Features::FLUSH | Features::VERSION_1);
        // Capacity (in 512-byte sectors) is the first field of the config,
        // `seg_max` the third (virtio 1.2, 5.2.4).
        let low: u32 = transport.read_config_space(0).map_err(|_| "config space")?;
        let high: u32 = transport.read_config_space(4).map_err(|_| "config space")?;
        let seg_max: u32 = if features.contains(Features::SEG_MAX) {
            transport.read_config_space(12).map_err(|_| "config space")?
        } else {
            1
        };
        // `virtio-drivers` takes the virtqueue's pages through `Hal::dma_alloc`,
        // which cannot fail: make sure they are there first (a machine with
        // many disks may have spent the pool), so that a shortage skips this
        // disk rather than stopping the boot.
        if dma::free_pages() < QUEUE_PAGES + 1 {
            return Err("DMA pool exhausted");
        }
        let queue = VirtQueue::new(&mut transport, 0, false, false).map_err(|_| "virtqueue")?;
        transport.finish_init();
        let slots_phys = dma::alloc(1).ok_or("DMA pool")?;
        Ok(VirtioBlk {
            transport,
            queue,
            capacity: u64::from(low) | u64::from(high) << 32,
            read_only: features.contains(Features::RO),
            has_flush: features.contains(Features::FLUSH),
            max_segments: (seg_max as usize).clamp(1, MAX_SEGMENTS),
            slots_phys,
            slots: [None; SLOTS],
            // On the heap, built row by row (the table is 126 KiB).
            segments: alloc::vec![[(0, 0); MAX_SEGMENTS]; SLOTS],
            instant: None,
            doorbell_cycles: 0,
            lists: Lists::new(),
        })
    }

    /// The header and status bytes of slot `i`.
    fn slot_bytes(&self, i: usize) -> (&'static mut [u8], &'static mut [u8]) {
        let base = phys_to_virt(x86_64::PhysAddr::new(self.slots_phys + (i * SLOT_BYTES) as u64))
            .as_mut_ptr::<u8>();
        // SAFETY: slot `i`'s 32 bytes of our DMA page; only this slot's
        // request uses them, and the device only while it is in flight.
        unsafe {
            (
                core::slice::from_raw_parts_mut(base, 16),
                core::slice::from_raw_parts_mut(base.add(16), 1),
            )
        }
    }
}

impl BlockDevice for VirtioBlk {
    fn name(&self) -> &'static str {
        "virtio-blk"
    }

    fn sector_count(&self) -> u64 {
        self.capacity
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    unsafe fn start(
        &mut self,
        id: RequestId,
        op: Op,
        sector: u64,
        segments: &[&mut [u8]],
    ) -> Result<(), Error> {
        // Range, rights, shape and `max_segments`: checked by
        // `Devices::start`.
        let Some(i) = self.slots.iter().position(Option::is_none) else { return Err(Error::Busy) };
        if op == Op::Flush && !self.has_flush {
            // No write cache: nothing to make durable.
            if self.instant.is_some() {
                return Err(Error::Busy);
            }
            self.instant = Some(id);
            return Ok(());
        }
        if self.queue.available_desc() < segments.len() + 2 {
            return Err(Error::Busy);
        }
        let (header, status) = self.slot_bytes(i);
        let kind = match op {
            Op::Read => T_IN,
            Op::Write => T_OUT,
            Op::Flush => T_FLUSH,
        };
        header[0..4].copy_from_slice(&kind.to_le_bytes());
        header[4..8].copy_from_slice(&0u32.to_le_bytes());
        header[8..16].copy_from_slice(&sector.to_le_bytes());
        status[0] = S_NOT_READY;
        let mut slot = Slot { id, token: 0, count: segments.len() as u16 };
        for (k, s) in segments.iter().enumerate() {
            self.segments[i][k] = (s.as_ptr() as usize, s.len());
        }
        let token = {
            self.lists.fill(&self.segments[i][..segments.len()], header, status, op);
            // SAFETY: the header/status are this slot's; the caller keeps
            // the segments valid until the tag is reaped (`poll`).
            let added = unsafe { self.queue.add(&self.lists.inputs, &mut self.lists.outputs) };
            self.lists.clear();
            added.map_err(|_| Error::Busy)?
        };
        slot.token = token;
        self.slots[i] = Some(slot);
        if self.queue.should_notify() {
            let t0 = crate::arch::cpu::rdtsc();
            self.transport.notify(0);
            self.doorbell_cycles += crate::arch::cpu::rdtsc() - t0;
        }
        Ok(())
    }

    fn poll(&mut self, done: &mut dyn FnMut(RequestId, Result<(), Error>)) {
        if let Some(id) = self.instant.take() {
            done(id, Ok(()));
        }
        while let Some(token) = self.queue.peek_used() {
            let Some(i) = self.slots.iter().position(|s| s.is_some_and(|s| s.token == token))
            else {
                log::error!("virtio-blk: the device completed an unknown request {token}");
                return;
            };
            let slot = self.slots[i].take().expect("found above");
            let popped = {
                let (header, status) = self.slot_bytes(i);
                let op = match u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) {
                    T_IN => Op::Read,
                    T_OUT => Op::Write,
                    _ => Op::Flush,
                };
                let segments = &self.segments[i][..usize::from(slot.count)];
                self.lists.fill(segments, header, status, op);
                let (inputs, outputs) = self.lists.for_pop();
                // SAFETY: the same buffers `start` added for this token.
                let popped = unsafe { self.queue.pop_used(token, inputs, outputs) };
                self.lists.clear();
                popped
            };
            let (_, status) = self.slot_bytes(i);
            let result = match (popped, status[0]) {
                (Ok(_), S_OK) => Ok(()),
                _ => Err(Error::IoError),
            };
            done(slot.id, result);
        }
    }

    fn max_segments(&self) -> usize {
        self.max_segments
    }

    fn in_flight(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count() + usize::from(self.instant.is_some())
    }

    fn take_doorbell_cycles(&mut self) -> u64 {
        core::mem::take(&mut self.doorbell_cycles)
    }
}

/// The buffer lists of one request, as the virtqueue wants them: kept
/// from request to request (their capacity reserved at set-up), so that
/// filling them costs one store per buffer — building fresh arrays of the
/// largest size cost ~2,600 instructions per request, half the kernel's
/// whole time on a 4 KiB read (measured under `-icount`).
struct Lists {
    inputs: Vec<&'static [u8]>,
    outputs: Vec<&'static mut [u8]>,
}

impl Lists {
    fn new() -> Self {
        Lists {
            inputs: Vec::with_capacity(MAX_SEGMENTS + 1),
            outputs: Vec::with_capacity(MAX_SEGMENTS + 1),
        }
    }

    /// The device-readable and device-writable buffers of a request: the
    /// header, the data segments, the status.
    fn fill(
        &mut self,
        segments: &[(usize, usize)],
        header: &'static mut [u8],
        status: &'static mut [u8],
        op: Op,
    ) {
        self.inputs.clear();
        self.outputs.clear();
        self.inputs.push(header);
        for &(ptr, len) in segments {
            // SAFETY: a segment `start` was given, which its caller keeps
            // valid until the request is reaped; the lists are cleared
            // before it is.
            let seg = unsafe { core::slice::from_raw_parts_mut(ptr as *mut u8, len) };
            if op == Op::Write {
                self.inputs.push(seg);
            } else {
                self.outputs.push(seg);
            }
        }
        self.outputs.push(status);
    }

    /// The lists as `VirtQueue::pop_used` takes them, whose one lifetime
    /// for the list and its buffers cannot be `'static` for a list we keep.
    fn for_pop(&mut self) -> (&[&[u8]], &mut [&mut [u8]]) {
        let (ptr, len) = (self.outputs.as_mut_ptr(), self.outputs.len());
        // SAFETY: a view of `outputs`' elements with their lifetime
        // shortened to the borrow of `self`; `pop_used` only reads the list
        // (to match it with the chain it recycles), so no shorter-lived
        // reference is ever stored into the `'static` list.
        let outputs = unsafe { core::slice::from_raw_parts_mut(ptr.cast::<&mut [u8]>(), len) };
        (&self.inputs, outputs)
    }

    /// Forgets the buffers (so no reference outlives its request).
    fn clear(&mut self) {
        self.inputs.clear();
        self.outputs.clear();
    }
}
