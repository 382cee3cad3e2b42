//! I/O rings: the kernel's side of the shared submission and completion
//! queues (`caps::abi::ring`), their requests in flight, and their end.
//!
//! A ring's memory is ordinary user pages of its owner, mapped read/write
//! at creation and charged to the `Memory` quota named then; the kernel
//! reaches it only through the owner's address space, while the owner is
//! the running process (`ring_enter`), with the same checked copies as any
//! user buffer, so nothing a program writes there (or unmaps) can make the
//! kernel touch other memory. The kernel keeps its own copy of the indices
//! it produces (`sq_head`, `cq_tail`) and of the ring's geometry, and
//! rewrites them into the header; the header's copies are only reports.
//!
//! A request a ring started is like one of `disk_submit`: a bounce buffer
//! lent to the device ([`Lent`]), and the [`Authority`] it was started
//! through. Its completion is posted by the owner's next `ring_enter`: the
//! read's data copied to the entry's buffer then, if the capability still
//! holds, else the result is `Revoked` and nothing is copied. A completion
//! slot is reserved for every request in flight (`cq` entries in use plus
//! requests in flight never exceed the ring's size), so a finished request
//! always has room to be posted.
//!
//! A ring ends when its last capability goes, when its owner dies, or when
//! its owner unmaps any of its pages ([`Rings::detach`]): its requests in
//! flight become orphans, whose buffers go back to the DMA pool only once
//! the device is done with them ([`Rings::reap_orphans`]), as
//! `AsyncIo::orphan` does for `disk_submit`'s.

use caps::abi::Error;
use caps::abi::ring::{CQE_SIZE, Cqe, RingHeader, SQE_SIZE};
use caps::{CapSpace, ObjectId};

use crate::diskio::{Finished, HoldsInFlight, InFlight, MAX_ASYNC_TOTAL, MAX_PIECES, reap_orphans};
use crate::drivers::block::{Devices, MAX_REQUESTS, RequestId};
use crate::objtable::ObjectTable;
use kerncore::ring::RingIndices;

/// Most rings, all processes together.
pub const MAX_RINGS: usize = 64;
/// Most rings one process owns.
pub const MAX_RINGS_PER_PROCESS: usize = 8;
/// Most ring requests in flight, all rings together (orphans included).
pub const MAX_RING_REQUESTS: usize = 256;
/// Most ring requests in flight one process's rings hold together: a
/// process cannot take every place from the others.
pub const MAX_RING_REQUESTS_PER_PROCESS: u32 = 64;

// The device layer's request table holds every asynchronous request, every
// ring request and the pieces of one synchronous transfer per process: a
// ring never leaves the table full with results nobody will take before a
// synchronous transfer needs a place.
const _: () = assert!(
    MAX_ASYNC_TOTAL + MAX_RING_REQUESTS + MAX_PIECES * crate::proc::kstack::MAX_STACKS
        <= MAX_REQUESTS
);

/// One ring.
pub struct Ring {
    /// The process whose memory holds it, the only one that may enter it.
    pub owner: ObjectId,
    /// Where its pages start in the owner's space.
    pub vaddr: u64,
    /// Its pages.
    pub pages: u64,
    /// The kernel's indices (and the queues' size): `kerncore::ring`.
    pub idx: RingIndices,
    /// Capabilities naming it.
    pub refs: u32,
    /// Whether its pages are still mapped: false once the owner unmapped
    /// any of them or died. A detached ring takes no call
    /// (`ring_enter` says `PeerGone`) and holds no page.
    pub attached: bool,
}

impl Ring {
    /// Address of the next submission to consume.
    pub fn sqe_addr(&self) -> u64 {
        let e = u64::from(self.idx.entries());
        self.vaddr + caps::abi::ring::sq_offset(e) + u64::from(self.idx.sq_slot()) * SQE_SIZE
    }

    /// Address of the next completion slot to fill.
    pub fn cqe_addr(&self) -> u64 {
        let e = u64::from(self.idx.entries());
        self.vaddr + caps::abi::ring::cq_offset(e) + u64::from(self.idx.cq_slot()) * CQE_SIZE
    }

    /// The header as the kernel sees the ring (its own indices and
    /// geometry); the program's fields are `sq_tail` and `cq_head`.
    pub fn header(&self, sq_tail: u32, cq_head: u32) -> RingHeader {
        let entries = self.idx.entries();
        let e = u64::from(entries);
        RingHeader {
            sq_head: self.idx.sq_head(),
            sq_tail,
            cq_head,
            cq_tail: self.idx.cq_tail(),
            sq_entries: entries,
            cq_entries: entries,
            sq_mask: entries - 1,
            cq_mask: entries - 1,
            sq_offset: caps::abi::ring::sq_offset(e) as u32,
            cq_offset: caps::abi::ring::cq_offset(e) as u32,
            flags: 0,
            reserved: 0,
        }
    }
}

/// A request a ring started.
pub struct RingRequest {
    /// Its ring (`None` once the ring ended: an orphan).
    pub ring: Option<ObjectId>,
    /// The submission's `user_data`.
    pub user_data: u64,
    /// The request.
    pub io: InFlight,
}

impl HoldsInFlight for RingRequest {
    fn in_flight(&mut self) -> &mut InFlight {
        &mut self.io
    }
}

/// A ring request the device is done with; its bounce buffer goes back to
/// the pool when this is dropped.
pub type Done = Finished<RingRequest>;

/// Every ring and every ring request in flight.
pub struct Rings {
    /// The rings.
    pub rings: ObjectTable<Ring>,
    /// Their requests in flight (and orphans).
    pub requests: ObjectTable<RingRequest>,
    /// Requests whose ring ended before the device was done with them.
    orphans: usize,
    /// Processes blocked in `ring_enter` until completions come.
    pub waiters: alloc::vec::Vec<RingWait>,
}

/// A process blocked in `ring_enter` (`Block::Ring`) and what its call
/// goes on with when woken.
#[derive(Clone, Copy, Debug)]
pub struct RingWait {
    /// The process.
    pub pid: ObjectId,
    /// Its ring.
    pub ring: ObjectId,
    /// The handle it entered the ring through (it is tied to it).
    pub handle: caps::abi::RawHandle,
    /// Completions it waits for.
    pub min_complete: u32,
    /// What its call returns: the submissions it consumed.
    pub consumed: u64,
}

impl Rings {
    /// None.
    pub fn new() -> Self {
        Rings {
            rings: ObjectTable::new(MAX_RINGS),
            requests: ObjectTable::new(MAX_RING_REQUESTS),
            orphans: 0,
            waiters: alloc::vec::Vec::new(),
        }
    }

    /// Marks the requests of `pid`'s rings the device is done with as
    /// announced; whether any was not yet (its `disk_bind` notification is
    /// due). O(requests).
    pub fn announce_done(&mut self, pid: ObjectId, devices: &Devices) -> bool {
        let Rings { rings, requests, .. } = self;
        let mut news = false;
        for (_, r) in requests.iter_mut() {
            if r.ring.and_then(|id| rings.get(id)).is_some_and(|ring| ring.owner == pid) {
                news |= r.io.announce(devices);
            }
        }
        news
    }

    /// Takes `pid`'s wait out.
    pub fn take_waiter(&mut self, pid: ObjectId) -> Option<RingWait> {
        let i = self.waiters.iter().position(|w| w.pid == pid)?;
        Some(self.waiters.swap_remove(i))
    }

    /// Whether a process waiting on ring `id` has something to go on with:
    /// one of its requests is done, or the ring ended. O(requests).
    pub fn has_news(&self, id: ObjectId, devices: &Devices) -> bool {
        if self.rings.get(id).is_none_or(|r| !r.attached) {
            return true;
        }
        self.requests.iter().any(|(_, r)| r.ring == Some(id) && devices.is_settled(r.io.id()))
    }

    /// How many rings `pid` owns.
    pub fn owned_by(&self, pid: ObjectId) -> usize {
        self.rings.iter().filter(|(_, r)| r.owner == pid).count()
    }

    /// Requests in flight on the rings `pid` owns.
    pub fn in_flight_of(&self, pid: ObjectId) -> u32 {
        self.rings.iter().filter(|(_, r)| r.owner == pid).map(|(_, r)| r.idx.in_flight()).sum()
    }

    /// Counts a new capability to ring `id`.
    pub fn hold(&mut self, id: ObjectId) {
        if let Some(r) = self.rings.get_mut(id) {
            r.refs += 1;
        }
    }

    /// Ends ring `id`'s use of its pages: its requests in flight become
    /// orphans, it is marked detached. The caller unmaps the pages (or the
    /// owner's address space is going). O(requests).
    pub fn detach(&mut self, id: ObjectId, devices: &mut Devices) {
        let Some(ring) = self.rings.get_mut(id) else { return };
        ring.attached = false;
        ring.idx.forget_in_flight();
        for (_, r) in self.requests.iter_mut().filter(|(_, r)| r.ring == Some(id)) {
            r.ring = None;
            self.orphans += 1;
        }
        self.reap_orphans(devices);
    }

    /// Frees the orphaned requests the device is done with (their buffers
    /// back to the pool). O(requests) when there are orphans, O(1)
    /// otherwise; no allocation.
    pub fn reap_orphans(&mut self, devices: &mut Devices) {
        if self.orphans > 0 {
            self.orphans -= reap_orphans(&mut self.requests, devices, |r| r.ring.is_none());
        }
    }

    /// Adds to `out` the ring requests still in flight whose capability no
    /// longer resolves: `cap_revoke` waits for them (as for `disk_submit`'s)
    /// when it destroyed a disk range, so nothing more reaches a disk
    /// through it once it returns. O(requests).
    pub fn unauthorized_in_flight(
        &self,
        caps: &CapSpace,
        devices: &Devices,
        out: &mut alloc::vec::Vec<RequestId>,
    ) {
        let lost = self.requests.iter().filter(|(_, r)| r.io.unauthorized_in_flight(caps, devices));
        out.extend(lost.map(|(_, r)| r.io.id()));
    }

    /// Takes out up to `out.len()` of ring `id`'s requests the device is
    /// done with (polling the devices first), each with its result and its
    /// buffer; returns how many. They still count in flight until posted.
    pub fn take_done(
        &mut self,
        id: ObjectId,
        devices: &mut Devices,
        out: &mut [Option<Done>],
    ) -> usize {
        devices.poll_all();
        let mut ids = [ObjectId(0); 32];
        let max = out.len().min(ids.len());
        let mut n = 0;
        for (rid, r) in self.requests.iter() {
            if n == max {
                break;
            }
            if r.ring == Some(id) && devices.is_settled(r.io.id()) {
                ids[n] = rid;
                n += 1;
            }
        }
        let mut taken = 0;
        for &rid in &ids[..n] {
            let Some(request) = self.requests.remove(rid) else { continue };
            match Finished::take(request, devices) {
                Ok(done) => {
                    out[taken] = Some(done);
                    taken += 1;
                }
                // Settled requests always reclaim; were it not so, keep it
                // as an orphan rather than drop a buffer the device may
                // hold (see `Lent`).
                Err(mut request) => {
                    request.ring = None;
                    if let Some(ring) = self.rings.get_mut(id) {
                        ring.idx.orphan_one();
                    }
                    if self.requests.insert(request).is_some() {
                        self.orphans += 1;
                    }
                }
            }
        }
        taken
    }
}

/// A completion entry for `user_data` with `result`.
pub fn cqe(user_data: u64, result: Result<u64, Error>) -> Cqe {
    Cqe { user_data, result: caps::abi::encode_result(result) }
}
