//! One NVMe namespace as a disk: the block layer's requests turned into
//! READ, WRITE and FLUSH commands (NVM 1.0, 3.2.4, 3.2.6, and Base 2.0,
//! 7.1) on the namespace's I/O queue pairs, one per CPU.
//!
//! **A queue pair per CPU** (the shape of Linux's blk-mq on NVMe): a
//! request goes to the submitting CPU's own pair, whose completion queue
//! interrupts that CPU, so two CPUs doing I/O on one namespace write to
//! different submission queues and doorbells and are answered each on its
//! own CPU. A request finds another CPU's pair only when its own is full,
//! so a single process still has the depth of every pair. A machine with
//! more CPUs than the controller grants queues shares pairs (CPU `i` uses
//! pair `i % pairs`).
//!
//! A request larger than the controller's per-command limit (MDTS) is cut
//! into several commands, each with its own command id and PRP list; the
//! request is reported done once, when its last command completes, and
//! failed (`IoError`) if any of them did. Each pair's request table has
//! one entry per command id, so a request always finds room for its
//! bookkeeping when it finds command ids for its commands.

use alloc::vec::Vec;
use caps::abi::Error;
use caps::abi::disk::MAX_SECTORS;
use kerncore::nvme::{Cursor, PAGE, command_prps};

use super::queue::{Command, MAX_DEPTH, QueuePair};
use crate::drivers::block::{BlockDevice, Op, RequestId, SECTOR_SIZE};
use crate::drivers::dma;

/// I/O command opcodes (NVM 1.0, 3.2; Base 2.0, 7.1).
const OP_FLUSH: u8 = 0x00;
const OP_WRITE: u8 = 0x01;
const OP_READ: u8 = 0x02;

/// A request a pair holds: started, not yet reported done.
#[derive(Clone, Copy)]
struct Pending {
    id: RequestId,
    /// Its commands still in flight.
    commands: u16,
    /// Whether one of its commands failed.
    failed: bool,
}

/// What a namespace's commands have in common, whichever pair carries
/// them.
#[derive(Clone, Copy)]
struct Target {
    nsid: u32,
    /// Whether the controller has a volatile write cache (else a flush has
    /// nothing to do and completes at once).
    write_cache: bool,
    /// Bytes one command may move (MDTS, at most what a PRP list holds).
    max_command_bytes: usize,
}

/// One I/O queue pair of a namespace and the requests it carries.
struct IoQueue {
    io: QueuePair,
    /// The requests in flight, by the tag their commands carry.
    requests: [Option<Pending>; MAX_DEPTH],
    /// Free entries of `requests`, one bit each.
    free_requests: u64,
    /// Entries of `requests` in use (kept, not counted from
    /// `free_requests`: `poll` looks at it on every reap).
    in_flight: usize,
    /// Entries of `requests` done without a command (flushes with no
    /// write cache), reported by the next `poll`.
    instant: u64,
    /// Commands submitted on this pair since boot (the shutdown log).
    submitted: u64,
}

impl IoQueue {
    fn new(io: QueuePair) -> Self {
        let depth = io.depth();
        IoQueue {
            io,
            requests: [None; MAX_DEPTH],
            free_requests: if depth >= MAX_DEPTH { u64::MAX } else { (1 << depth) - 1 },
            in_flight: 0,
            instant: 0,
            submitted: 0,
        }
    }

    /// Takes a free entry of the request table.
    fn claim_request(&mut self) -> Option<usize> {
        if self.free_requests == 0 {
            return None;
        }
        let r = self.free_requests.trailing_zeros() as usize;
        self.free_requests &= !(1 << r);
        self.in_flight += 1;
        Some(r)
    }

    fn release_request(&mut self, r: usize) {
        self.requests[r] = None;
        self.free_requests |= 1 << r;
        self.in_flight -= 1;
    }

    /// Requests in flight on this pair.
    fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Writes the commands of request `id` to the submission queue and
    /// rings its doorbell; `segments` are the request's (device address,
    /// length) pairs and `bytes` their sum. Returns the cycles the
    /// doorbell write took. `Busy` when the pair has no room for all of
    /// the request's commands; on any error nothing of it stays.
    fn start(
        &mut self,
        t: Target,
        id: RequestId,
        op: Op,
        sector: u64,
        segments: &[(u64, usize)],
        bytes: usize,
    ) -> Result<u64, Error> {
        let commands = if op == Op::Flush { 1 } else { bytes.div_ceil(t.max_command_bytes) };
        if self.free_requests == 0 || commands > self.io.free_ids() {
            return Err(Error::Busy);
        }
        let r = self.claim_request().ok_or(Error::Busy)?;
        let written = match op {
            Op::Flush if !t.write_cache => {
                // No volatile write cache: every completed write is
                // already durable.
                self.instant |= 1 << r;
                0
            }
            Op::Flush => {
                let Some(cid) = self.io.claim(r as u16) else {
                    self.release_request(r);
                    return Err(Error::Busy);
                };
                self.io.write(cid, Command::new(OP_FLUSH, t.nsid));
                1
            }
            Op::Read | Op::Write => match self.write_commands(t, r, op, sector, segments, bytes) {
                Ok(n) => n,
                Err(e) => {
                    self.release_request(r);
                    return Err(e);
                }
            },
        };
        self.requests[r] = Some(Pending { id, commands: written, failed: false });
        self.submitted += u64::from(written);
        let t0 = crate::arch::cpu::rdtsc();
        self.io.submit();
        Ok(crate::arch::cpu::rdtsc() - t0)
    }

    /// Writes the commands of a read or write to the submission queue
    /// (not yet submitted), each with a command id tagged `r`; returns
    /// how many. On an error the ids taken are given back and nothing
    /// written stays.
    fn write_commands(
        &mut self,
        t: Target,
        r: usize,
        op: Op,
        sector: u64,
        segments: &[(u64, usize)],
        bytes: usize,
    ) -> Result<u16, Error> {
        let opcode = if op == Op::Read { OP_READ } else { OP_WRITE };
        let mut cursor = Cursor::new(segments);
        let mut done = 0;
        let mut written = [0u16; MAX_DEPTH];
        let mut count = 0;
        let mut result = Ok(());
        while done < bytes {
            let n = t.max_command_bytes.min(bytes - done);
            let Some(cid) = self.io.claim(r as u16) else {
                result = Err(Error::Busy);
                break;
            };
            written[count] = cid;
            count += 1;
            let (list, list_address) = self.io.prp_list(cid);
            let prps = match command_prps(&mut cursor, n, list) {
                Ok(p) => p,
                // `Devices::start` lets no such request through.
                Err(e) => {
                    log::error!("nvme namespace {}: segments refused: {e:?}", t.nsid);
                    result = Err(Error::InvalidArgument);
                    break;
                }
            };
            let mut c = Command::new(opcode, t.nsid);
            c.prp1 = prps.prp1;
            c.prp2 = prps.prp2(list, list_address);
            let lba = sector + (done / SECTOR_SIZE) as u64;
            c.cdw10 = lba as u32;
            c.cdw11 = (lba >> 32) as u32;
            // NLB, 0-based (NVM 1.0, 3.2.4, Figure 43).
            c.cdw12 = (n / SECTOR_SIZE - 1) as u32;
            self.io.write(cid, c);
            done += n;
        }
        if let Err(e) = result {
            self.io.discard();
            for &cid in &written[..count] {
                self.io.release(cid);
            }
            return Err(e);
        }
        Ok(count as u16)
    }

    /// Reports every request of this pair that is done.
    fn poll(&mut self, nsid: u32, done: &mut dyn FnMut(RequestId, Result<(), Error>)) {
        if self.in_flight() == 0 {
            // Nothing to reap (and a completion for no request is a
            // device's bug, which the next poll with a request reports).
            // The other CPUs' idle pairs cost a request about 60
            // instructions each without this (2 CPUs, `-icount`).
            return;
        }
        while self.instant != 0 {
            let r = self.instant.trailing_zeros() as usize;
            self.instant &= !(1 << r);
            if let Some(p) = self.requests[r] {
                self.release_request(r);
                done(p.id, Ok(()));
            }
        }
        while let Some(c) = self.io.pop() {
            let request = self.io.release(c.cid).map(usize::from);
            let Some((r, mut p)) = request.and_then(|r| Some((r, self.requests[r]?))) else {
                log::error!(
                    "nvme namespace {nsid} queue {}: completion of unknown command id {}",
                    self.io.id(),
                    c.cid
                );
                continue;
            };
            if c.status_code() != 0 {
                log::debug!(
                    "nvme namespace {nsid}: command {} failed, status {:#x}",
                    c.cid,
                    c.status_code()
                );
                p.failed = true;
            }
            p.commands = p.commands.saturating_sub(1);
            if p.commands == 0 {
                self.release_request(r);
                done(p.id, if p.failed { Err(Error::IoError) } else { Ok(()) });
            } else {
                self.requests[r] = Some(p);
            }
        }
        self.io.acknowledge();
    }
}

/// A namespace of 512-byte logical blocks, exposed as a block device.
pub struct Namespace {
    target: Target,
    sectors: u64,
    read_only: bool,
    /// Its I/O queue pairs: CPU `i`'s is `queues[i % queues.len()]`;
    /// never empty.
    queues: Vec<IoQueue>,
    /// Cycles spent in doorbell writes, not yet taken.
    doorbell_cycles: u64,
    /// The current request's segments as (device address, length).
    segments: Vec<(u64, usize)>,
}

impl Namespace {
    /// Namespace `nsid` of `sectors` sectors on its I/O queue pairs
    /// `queues` (created on the controller; at least one: CPU `i` submits
    /// on `queues[i % len]`), whose PRP lists hold
    /// `max_command_bytes / PAGE` entries.
    pub fn new(
        nsid: u32,
        sectors: u64,
        read_only: bool,
        write_cache: bool,
        max_command_bytes: usize,
        queues: Vec<QueuePair>,
    ) -> Self {
        assert!(!queues.is_empty(), "an NVMe namespace without an I/O queue");
        Namespace {
            target: Target { nsid, write_cache, max_command_bytes },
            sectors,
            read_only,
            queues: queues.into_iter().map(IoQueue::new).collect(),
            doorbell_cycles: 0,
            // A request of the block layer's largest size, in the most
            // segments a run of pages can have (one per page); allocated
            // once, so starting a request never allocates.
            segments: Vec::with_capacity(MAX_SECTORS as usize * SECTOR_SIZE / PAGE + 1),
        }
    }

    /// Commands in flight at most on one queue pair.
    pub fn depth(&self) -> usize {
        self.queues[0].io.depth()
    }

    /// Its I/O queue pairs.
    pub fn queue_pairs(&self) -> usize {
        self.queues.len()
    }
}

// SAFETY: its fields are private to this module, and what a shared
// reference reaches (`depth`, `queue_pairs` and the `BlockDevice` methods
// taking `&self`: name, size, read-only, requests in flight, commands
// submitted) reads plain fields only; every register and queue access
// takes `&mut self`, which only the holder of the kernel lock for writing
// has (`state`).
unsafe impl Sync for Namespace {}

impl BlockDevice for Namespace {
    fn name(&self) -> &'static str {
        "NVMe"
    }

    fn sector_count(&self) -> u64 {
        self.sectors
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
        // Range, rights and shape: checked by `Devices::start`.
        let bytes: usize = segments.iter().map(|s| s.len()).sum();
        // The segments' device addresses, in a list kept from request to
        // request (it never grows: see `new`).
        let mut segs = core::mem::take(&mut self.segments);
        segs.clear();
        if op != Op::Flush {
            segs.extend(segments.iter().map(|s| (dma::device_address(s.as_ptr()), s.len())));
        }
        // This CPU's own pair first, then the others in turn.
        let pairs = self.queues.len();
        let home = crate::arch::percpu::current().index as usize % pairs;
        let mut result = Err(Error::Busy);
        for q in (0..pairs).map(|i| (home + i) % pairs) {
            result = self.queues[q].start(self.target, id, op, sector, &segs, bytes);
            if result != Err(Error::Busy) {
                break;
            }
        }
        self.segments = segs;
        self.doorbell_cycles += result?;
        Ok(())
    }

    fn poll(&mut self, done: &mut dyn FnMut(RequestId, Result<(), Error>)) {
        let nsid = self.target.nsid;
        for q in &mut self.queues {
            q.poll(nsid, done);
        }
    }

    fn in_flight(&self) -> usize {
        self.queues.iter().map(IoQueue::in_flight).sum()
    }

    fn take_doorbell_cycles(&mut self) -> u64 {
        core::mem::take(&mut self.doorbell_cycles)
    }

    fn commands_per_queue(&self) -> Vec<u64> {
        self.queues.iter().map(|q| q.submitted).collect()
    }
}

/// The PRP list entries a command of `max_command_bytes` needs at most:
/// one per page after the first it touches.
pub fn list_entries(max_command_bytes: usize) -> usize {
    max_command_bytes / PAGE
}
