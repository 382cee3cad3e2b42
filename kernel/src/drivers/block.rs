//! The block-device layer: one trait for every disk, a request model that
//! allows many requests in flight, and the registry of devices.
//!
//! A request moves whole sectors between the device and a list of kernel
//! memory segments (slices in the physical window, so a device can reach
//! them). `start` queues it and returns a tag; `poll` reaps finished
//! requests; `wait` polls until one tag is done. A synchronous transfer is
//! `start` then `wait`.

use alloc::boxed::Box;
use alloc::vec::Vec;
use caps::abi::Error;

/// Bytes per sector.
pub const SECTOR_SIZE: usize = 512;

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

/// Names a request in flight on one device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tag(pub u32);

/// A disk.
pub trait BlockDevice: Send {
    /// A short name for logs.
    fn name(&self) -> &'static str;
    /// Size in sectors.
    fn sector_count(&self) -> u64;
    /// Whether writes are refused.
    fn read_only(&self) -> bool;
    /// Queues a request on `segments` (whose lengths are multiples of
    /// `SECTOR_SIZE` and add up to the transfer; empty for a flush).
    /// `Busy` when the device has no room now (poll, then retry).
    ///
    /// # Safety
    /// The segments must stay valid, and untouched by the CPU, until the
    /// tag is reaped by `poll`/`wait`.
    unsafe fn start(&mut self, op: Op, sector: u64, segments: &[&mut [u8]]) -> Result<Tag, Error>;
    /// Reaps finished requests, calling `done` for each.
    fn poll(&mut self, done: &mut dyn FnMut(Tag, Result<(), Error>));
    /// Requests in flight.
    fn in_flight(&self) -> usize;
    /// TSC cycles spent ringing the device's doorbell since the last call
    /// (under emulation the device does its work inside that write).
    fn take_doorbell_cycles(&mut self) -> u64 {
        0
    }
}

/// Every block device, by number (the `device` of a `DiskRange`).
pub struct Devices {
    devices: Vec<Box<dyn BlockDevice>>,
    /// Results reaped by a `wait` for another tag, kept for their owner.
    finished: Vec<(usize, Tag, Result<(), Error>)>,
    /// Per device: requests handled and the kernel's own cycles on them.
    stats: Vec<(u64, u64)>,
    /// TSC cycles spent waiting for devices, including the doorbell writes
    /// that hand requests to an emulated device (kept to tell the kernel's
    /// own time from the device's).
    pub waited_cycles: u64,
}

impl Devices {
    /// No devices.
    pub const fn new() -> Self {
        Devices { devices: Vec::new(), finished: Vec::new(), stats: Vec::new(), waited_cycles: 0 }
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

    /// How many devices there are.
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// Reaps every device's finished requests into the finished list.
    pub fn poll_all(&mut self) {
        for (n, dev) in self.devices.iter_mut().enumerate() {
            let finished = &mut self.finished;
            dev.poll(&mut |tag, r| finished.push((n, tag, r)));
        }
    }

    /// Takes the result of `tag` on device `n` if it has finished.
    pub fn take_finished(&mut self, n: u32, tag: Tag) -> Option<Result<(), Error>> {
        let i = self.finished.iter().position(|&(d, t, _)| d == n as usize && t == tag)?;
        Some(self.finished.swap_remove(i).2)
    }

    /// Runs one synchronous transfer on device `n`: starts it (waiting for
    /// room if the device is full) and polls until it is done.
    ///
    /// # Safety
    /// As [`BlockDevice::start`]; the segments are only used until this
    /// returns.
    pub unsafe fn transfer(
        &mut self,
        n: u32,
        op: Op,
        sector: u64,
        segments: &[&mut [u8]],
    ) -> Result<(), Error> {
        let tag = loop {
            let dev = self.get(n).ok_or(Error::BadHandle)?;
            // SAFETY: the caller keeps the segments valid until we return,
            // and we return only after the tag is reaped.
            let started = unsafe { dev.start(op, sector, segments) };
            self.waited_cycles += dev.take_doorbell_cycles();
            match started {
                Err(Error::Busy) => self.poll_all(),
                other => break other?,
            }
        };
        let started = crate::arch::cpu::rdtsc();
        loop {
            self.poll_all();
            if let Some(r) = self.take_finished(n, tag) {
                self.waited_cycles += crate::arch::cpu::rdtsc() - started;
                return r;
            }
            core::hint::spin_loop();
        }
    }
}
