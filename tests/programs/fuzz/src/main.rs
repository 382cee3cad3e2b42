//! The syscall fuzzer: random sequences of syscalls, generated from a
//! description of every call's arguments (handles, buffers, sectors,
//! rights, flags...), biased toward interesting values: valid handles of
//! every kind, stale ones, random ones; buffers that are valid, read-only,
//! null, in the kernel, non-canonical, across the top of user space or
//! partly unmapped; sectors at the ends of the range. It spawns children
//! (itself) and hands them capabilities, so delegation, revocation and
//! process death run across processes. The top fuzzer also starts an IPC
//! peer (`peer.rs`: the same program with `peer=1`) that receives on an
//! endpoint the fuzzer sends and calls to, and answers, so messages and
//! capability transfers really happen; the summary counts them. I/O rings
//! are created in their own area (`RING_AREA`), and before each
//! `ring_enter` on one the fuzzer still holds it fills its queue with
//! random entries and, now and then, garbage indices. Memory objects are
//! created (`mo_create`), mapped (`mo_map`) mostly in their own area
//! (`MO_AREA`) and sometimes in the playground, where `mem_map` and
//! `mem_unmap` meet them; they are derived to page sub-ranges, granted to
//! children (which the parent may revoke or drop under them), carried by
//! IPC, revoked and dropped. Their pages are never touched directly (a
//! revoke may take them at any time); they serve as syscall buffers
//! (disk transfers into shared pages, ring entries, long messages) whose
//! result is not judged.
//!
//! Arguments: `seed=N calls=N depth=N`. Prints one summary line (`fuzz:
//! seed ... syscalls`); exits 1 if it saw the kernel break a rule it can
//! check from outside (e.g. accept a bad pointer, keep a dropped handle
//! alive, return an unknown error code). The kernel's own authority checks
//! and the harness's watch for panics do the rest.
#![no_std]
#![no_main]

mod peer;
mod pool;
mod random;

use libos::abi::args::{
    CONSOLE_NONBLOCK, DERIVE_RANGE, DERIVE_SAME, MAP_EXEC, MAP_WRITE, NOTIFY_NONBLOCK,
    WAIT_NONBLOCK,
};
use libos::abi::error::ERROR_BAND;
use libos::abi::ipc::{MAX_MSG_BYTES, MsgDesc, TAG_CALL, TAG_LONG, TAG_MOVE, TAG_NONBLOCK, Tag};
use libos::abi::layout::{MAP_END, PAGE_SIZE, USER_END, USER_MIN};
use libos::abi::process::{Grant, Role, SpawnArgs};
use libos::abi::ring::{RingHeader, SQE_SIZE, Sqe, sq_offset};
use libos::abi::{Error, RawHandle, Rights, Syscall};
use libos::sys::raw::syscall6;
use libos::{Start, println};
use pool::{Pool, Slot};
use random::{EDGES, Rng};

libos::main!(main);

/// Scratch memory the kernel may write into (never a Rust object).
const SCRATCH: u64 = 0x0000_4000_0000_0000;
const SCRATCH_PAGES: u64 = 4;
/// Where `mem_map`/`mem_unmap` calls play (disjoint from everything else).
const PLAYGROUND: u64 = 0x0000_4100_0000_0000;
const PLAYGROUND_PAGES: u64 = 64;
/// An address no call ever maps.
const NEVER_MAPPED: u64 = 0x0000_4200_0000_0000;
/// Where `ring_create` calls put rings (`mem_unmap` calls never go there,
/// so a ring the fuzzer still holds a capability to is still mapped).
const RING_AREA: u64 = 0x0000_4300_0000_0000;
/// Ring places in `RING_AREA` (each 8 pages apart: the largest ring's 5).
const RING_SLOTS: u64 = 16;
/// Where `mo_map` calls mostly put memory objects' pages (`mem_unmap`
/// calls go there too; nothing else maps there).
const MO_AREA: u64 = 0x0000_4400_0000_0000;
const MO_AREA_PAGES: u64 = 64;
use libos::abi::args::MAX_OBJECT_PAGES;
/// `mo_create` sizes: mostly small (the quota is shared with everything
/// else); the most one object may have is more than any fuzzer's quota
/// holds.
const MO_SIZES: [u64; 12] =
    [0, 1, 1, 2, 3, 4, 4, 8, 16, MAX_OBJECT_PAGES, MAX_OBJECT_PAGES + 1, u64::MAX];
/// Children are themselves fuzzers, to this depth.
const MAX_DEPTH: u64 = 2;
/// Pages the IPC peer may use (its image, stack, IPC kernel buffer).
const PEER_QUOTA_PAGES: u64 = 256;
/// Calls between checks that the IPC peer still runs.
const PEER_CHECK_EVERY: u64 = 256;

static READ_ONLY: [u8; 64] = [0x5a; 64];

/// What a pointer argument was, so the result can be judged.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PtrClass {
    Valid,
    ReadOnly,
    Bad,
    /// In `MO_AREA`: mapped or not, writable or not, as the memory-object
    /// calls left it (and revokes by others change it): not judged.
    Unknown,
}

/// The IPC peer and what went through it.
#[derive(Default)]
struct Peer {
    /// The endpoint (every right; never dropped, moved or revoked by the
    /// calls, revoked at the end to stop the peer).
    ep: u64,
    /// The copy the current peer's capability derives from (in the pool:
    /// the calls may drop or revoke it, cutting the peer off mid-wait).
    middle: u64,
    /// The running peer's process handle (0: none).
    process: u64,
    /// Peers started.
    runs: u64,
    /// Messages the peers received (their exit codes).
    received: u64,
    /// Our successful sends, answered calls, receives and answers.
    sent: u64,
    called: u64,
    taken: u64,
    answered: u64,
}

impl Peer {
    /// Messages that went between processes through the calls made.
    fn deliveries(&self) -> u64 {
        self.sent + self.called + self.taken + self.answered
    }
}

struct Fuzzer {
    rng: Rng,
    pool: Pool,
    peer: Peer,
    calls: u64,
    ok: u64,
    errors: [u64; 32],
    violations: u64,
    depth: u64,
    children: u64,
    spawn_errors: [u64; 32],
    /// Rings created here: (handle, address, entries); 0 handles unused.
    rings: [(u64, u64, u64); RING_SLOTS as usize],
    /// Submission entries written into rings.
    ring_entries: u64,
    /// Entries `ring_enter` reported consumed.
    ring_consumed: u64,
    /// Memory objects created, mappings made, objects handed to children
    /// by successful spawns.
    mo_created: u64,
    mo_mapped: u64,
    mo_granted: u64,
}

impl Fuzzer {
    fn handle(&mut self) -> u64 {
        match self.rng.below(100) {
            0..70 => self.pool.any(&mut self.rng).map_or(0, |s| s.handle),
            70..80 => self.pool.stale(&mut self.rng),
            80..90 => self.rng.pick(&EDGES),
            _ => self.rng.next() >> 1,
        }
    }

    fn buffer(&mut self, len: u64) -> (u64, PtrClass) {
        let scratch_len = SCRATCH_PAGES * PAGE_SIZE;
        let mo_len = MO_AREA_PAGES * PAGE_SIZE;
        match self.rng.below(100) {
            0..8 if len <= mo_len => {
                (MO_AREA + self.rng.below(mo_len - len + 1), PtrClass::Unknown)
            }
            8..55 if len <= scratch_len => {
                (SCRATCH + self.rng.below(scratch_len - len + 1), PtrClass::Valid)
            }
            55..65 if len <= READ_ONLY.len() as u64 => {
                (READ_ONLY.as_ptr() as u64, PtrClass::ReadOnly)
            }
            _ => {
                let bad = [
                    0,
                    4096,
                    0xffff_ffff_8000_0000,
                    0x8000_0000_0000_0000,
                    USER_END - 8,
                    u64::MAX - 7,
                    // Partly unmapped: the end of the scratch area.
                    SCRATCH + scratch_len - 8,
                    // Never mapped (mem_map calls stay below it).
                    NEVER_MAPPED,
                ];
                let p = self.rng.pick(&bad);
                // The end of scratch is only bad when the buffer runs past it.
                let class = if p == SCRATCH + scratch_len - 8 && len <= 8 {
                    PtrClass::Valid
                } else {
                    PtrClass::Bad
                };
                (p, class)
            }
        }
    }

    fn small(&mut self) -> u64 {
        if self.rng.chance(80) { self.rng.below(4) } else { self.rng.pick(&EDGES) }
    }

    fn rights(&mut self) -> u64 {
        match self.rng.below(10) {
            0 => self.rng.next() & 0xffff_ffff,
            1 => u64::from(Rights::all().bits()),
            _ => self.rng.next() & u64::from(Rights::all().bits()),
        }
    }

    fn sector(&mut self) -> u64 {
        let n = self.pool.disk_sectors;
        let choices = [0, 1, n.saturating_sub(1), n, n + 1, u64::MAX, u64::MAX - 1];
        if self.rng.chance(60) { self.rng.below(n.max(1)) } else { self.rng.pick(&choices) }
    }

    fn count(&mut self) -> u64 {
        self.rng.pick(&[0, 1, 1, 2, 8, 8, 16, 128, 129, 2048, 2049, u64::MAX])
    }

    fn page_addr(&mut self) -> u64 {
        match self.rng.below(10) {
            0 => self.rng.pick(&EDGES),
            1 => MAP_END - PAGE_SIZE * self.rng.below(3),
            2 => PLAYGROUND + self.rng.below(PLAYGROUND_PAGES * PAGE_SIZE),
            _ => PLAYGROUND + PAGE_SIZE * self.rng.below(PLAYGROUND_PAGES),
        }
    }

    fn page_len(&mut self) -> u64 {
        match self.rng.below(10) {
            0 => self.rng.pick(&EDGES),
            _ => PAGE_SIZE * (1 + self.rng.below(8)),
        }
    }

    /// Makes one random call; returns its result.
    fn one(&mut self, spawn: &mut SpawnScratch) {
        let mut a = [0u64; 6];
        let mut ptr = PtrClass::Valid;
        let mut len = 0;
        let call = self.rng.pick(&CALLS);
        match call {
            Syscall::DebugWrite => {
                len = self.rng.pick(&[0, 1, 16, 64, 4096, 65_537]);
                let (p, c) = self.buffer(len);
                (a[0], a[1], a[2], ptr) = (self.handle(), p, len, c);
                if c == PtrClass::ReadOnly {
                    ptr = PtrClass::Valid; // reading is fine
                }
            }
            Syscall::CapInfo | Syscall::DiskInfo => {
                len = 40;
                let (p, c) =
                    if self.rng.chance(30) { (0, PtrClass::Valid) } else { self.buffer(48) };
                // Out = 0 means "no record", not a null pointer.
                let c = if p == 0 { PtrClass::Valid } else { c };
                (a[0], a[1], ptr) = (self.handle(), p, c);
            }
            Syscall::CapGraph => {
                // Whole records, a partial one, and more than SCRATCH holds.
                len = self.rng.pick(&[0, 72, 144, 72 * 8, 72 * 56, 64, 73, 72 * 1000]);
                let (p, c) = self.buffer(len);
                // The kernel writes the records: read-only memory is bad.
                let c = if c == PtrClass::ReadOnly { PtrClass::Bad } else { c };
                (a[0], a[1], ptr) = (p, len, c);
            }
            Syscall::CapDerive => {
                a = match self.pool.object(&mut self.rng) {
                    Some(object) if self.rng.chance(30) => self.derive_pages(object),
                    _ => {
                        [self.handle(), self.rights(), self.small(), self.sector(), self.count(), 0]
                    }
                };
            }
            Syscall::CapDrop | Syscall::CapRevoke => {
                // Never drop what the runtime itself needs (console, memory).
                a[0] = match self.pool.droppable(&mut self.rng) {
                    Some(s) if self.rng.chance(85) => s.handle,
                    _ if self.rng.chance(50) => self.pool.stale(&mut self.rng),
                    _ => self.rng.pick(&EDGES),
                };
            }
            Syscall::MemMap => {
                a = [self.handle(), self.page_addr(), self.page_len(), self.small(), 0, 0]
            }
            Syscall::MemUnmap => {
                // Only the playground and the memory objects' area (shared
                // pages, whose mapping records the kernel cuts), or
                // addresses the kernel must refuse.
                a[0] = match self.rng.below(100) {
                    0..60 => PLAYGROUND + PAGE_SIZE * self.rng.below(PLAYGROUND_PAGES),
                    60..85 => MO_AREA + PAGE_SIZE * self.rng.below(MO_AREA_PAGES),
                    _ => self.rng.pick(&EDGES) | (1 << 63),
                };
                a[1] = self.page_len().min(PLAYGROUND_PAGES.min(MO_AREA_PAGES) * PAGE_SIZE);
            }
            Syscall::MoCreate => {
                a[0] = if self.rng.chance(80) { self.pool.memory } else { self.handle() };
                a[1] = self.rng.pick(&MO_SIZES);
            }
            Syscall::MoMap => a = self.mo_map_args(),
            Syscall::ProcSpawn => {
                if self.depth >= MAX_DEPTH {
                    return;
                }
                a[0] = spawn.fill(self);
                len = 1;
            }
            Syscall::ProcWait => {
                a = [self.handle(), if self.rng.chance(50) { 1 } else { self.small() }, 0, 0, 0, 0]
            }
            Syscall::Yield => {}
            Syscall::Sleep => {
                a = [self.handle(), self.rng.pick(&[0, 1, 1000, 100_000]), 0, 0, 0, 0]
            }
            Syscall::Clock => a[0] = self.handle(),
            Syscall::TimerInfo => {
                len = 32;
                let (p, c) = self.buffer(40);
                (a[0], a[1], ptr) = (self.handle(), p, c);
            }
            Syscall::DiskRead | Syscall::DiskWrite => {
                let count = self.count();
                len = count.saturating_mul(512);
                let (p, c) = self.buffer(len.min(1 << 20));
                a = [self.handle(), self.sector(), count, p, 0, 0];
                ptr = c;
                if call == Syscall::DiskWrite && c == PtrClass::ReadOnly {
                    ptr = PtrClass::Valid;
                }
            }
            Syscall::DiskFlush => a[0] = self.handle(),
            Syscall::DiskSubmit => {
                let count = self.count();
                len = count.saturating_mul(512);
                let (p, c) = self.buffer(len.min(1 << 20));
                a = [self.handle(), self.small(), self.sector(), count, p, 0];
                ptr = if a[1] == 0 || c != PtrClass::ReadOnly { c } else { PtrClass::Valid };
            }
            Syscall::EndpointCreate | Syscall::NotifyCreate => {
                a[0] = if self.rng.chance(80) { self.pool.memory } else { self.handle() }
            }
            Syscall::NotifySignal | Syscall::DiskBind | Syscall::ProcYieldTo => {
                a[0] = self.handle()
            }
            Syscall::NotifyWait => {
                // Never block (nothing is sure to signal): NOTIFY_NONBLOCK is
                // always set, sometimes with undefined bits beside it.
                let flags = if self.rng.chance(90) { 0 } else { self.rng.next() };
                a = [self.handle(), flags | NOTIFY_NONBLOCK, 0, 0, 0, 0];
            }
            Syscall::ProcSetCpus => {
                // Often a peer (running beside us on several CPUs, or
                // queued, or blocked), moved between masks of one or two
                // CPUs, no online one (refused), or garbage; the
                // authority checks verify it runs and waits only there.
                let process = if self.rng.chance(60) { self.peer.process } else { self.handle() };
                let garbage = self.rng.next();
                let cpus = self.rng.pick(&[0, 1, 2, 3, 1 << 1, 1 << 5, garbage]);
                a = [process, cpus, 0, 0, 0, 0];
            }
            Syscall::ProcState => {
                // Often a peer, whatever it is doing at that moment.
                let process = if self.rng.chance(60) { self.peer.process } else { self.handle() };
                a = [process, 0, 0, 0, 0, 0];
            }
            Syscall::ConsoleRead => {
                // Never block (nothing is typed during a fuzz run):
                // CONSOLE_NONBLOCK is always set, sometimes with undefined
                // bits beside it. Lengths from 0 (refused) to more than one
                // call returns.
                len = self.rng.pick(&[0, 1, 16, 256, 4096]);
                let (p, c) = self.buffer(len);
                // The kernel writes the bytes: read-only memory is bad.
                ptr = if c == PtrClass::ReadOnly { PtrClass::Bad } else { c };
                let flags = if self.rng.chance(90) { 0 } else { self.rng.next() };
                a = [self.handle(), p, len, flags | CONSOLE_NONBLOCK, 0, 0];
            }
            Syscall::EndpointBind => {
                // Bound endpoints signal when a send queues; unbinding (0)
                // and stale or wrong handles on either side too.
                let notification = match self.rng.below(4) {
                    0 => 0,
                    _ => self.handle(),
                };
                a = [self.endpoint(), notification, 0, 0, 0, 0];
            }
            Syscall::IpcSend
            | Syscall::IpcCall
            | Syscall::IpcReply
            | Syscall::IpcRecv
            | Syscall::IpcReplyRecv => {
                // Never block: no peer is guaranteed to come (a hung fuzzer
                // proves nothing). A call that meets the IPC peer waits for
                // its answer, which always comes. Mostly well-formed tags,
                // so that messages are delivered; the rest random.
                let (words, handles) = if self.rng.chance(70) {
                    let w = self.rng.below(5);
                    (w, self.rng.below(5 - w))
                } else {
                    (self.rng.below(6), self.rng.below(6))
                };
                let mut flags =
                    self.rng.pick(&[0, 0, TAG_LONG, TAG_MOVE, TAG_LONG | TAG_MOVE, 1 << 13]);
                if self.rng.chance(5) {
                    flags |= self.rng.next() & !TAG_NONBLOCK;
                }
                let tag = (words & 0xf) | (handles & 0xf) << 4 | flags | TAG_NONBLOCK;
                let moving = tag & TAG_MOVE != 0;
                a[0] = match call {
                    Syscall::IpcSend | Syscall::IpcCall | Syscall::IpcRecv => self.endpoint(),
                    _ => self.handle(),
                };
                a[1] = tag;
                for slot in a.iter_mut().skip(2) {
                    *slot = self.ipc_handle(moving);
                }
                if call == Syscall::IpcReplyRecv && self.rng.chance(60) {
                    a[5] = self.endpoint();
                }
                if flags & TAG_LONG != 0 && call != Syscall::IpcRecv {
                    // rdx points to a MsgDesc in scratch (or somewhere bad).
                    let (p, c) = self.buffer(48);
                    a[2] = p;
                    len = 48;
                    ptr = if c == PtrClass::ReadOnly { PtrClass::Valid } else { c };
                    if c == PtrClass::Valid {
                        ptr = self.describe(p, moving);
                    }
                    if matches!(call, Syscall::IpcCall | Syscall::IpcReplyRecv)
                        && self.rng.chance(60)
                    {
                        // Where the answer's (or next message's) data goes.
                        (a[3], a[4]) = self.receive_buffer();
                    }
                }
                if call == Syscall::IpcRecv {
                    a[1] = TAG_NONBLOCK | (self.rng.below(4) << 8);
                    if self.rng.chance(60) {
                        (a[2], a[3]) = self.receive_buffer();
                        (a[4], a[5]) = (0, 0);
                    }
                    ptr = PtrClass::Valid; // judged by the kernel alone
                }
            }
            Syscall::RingCreate => {
                let slot = self.rng.below(RING_SLOTS);
                a = [
                    if self.rng.chance(80) { self.pool.memory } else { self.handle() },
                    self.rng.pick(&[0, 1, 2, 3, 4, 8, 32, 256, 257, 512, u64::MAX]),
                    if self.rng.chance(85) {
                        RING_AREA + slot * 8 * PAGE_SIZE
                    } else {
                        self.page_addr()
                    },
                    0,
                    0,
                    0,
                ];
            }
            Syscall::RingEnter => {
                let ring = self.rng.pick(&self.rings);
                a = [
                    if ring.0 != 0 && self.rng.chance(80) { ring.0 } else { self.handle() },
                    self.rng.pick(&[0, 1, 2, 8, 32, 300, u64::MAX]),
                    if self.rng.chance(70) { 0 } else { self.small() },
                    if self.rng.chance(90) { 0 } else { self.small() },
                    0,
                    0,
                ];
                if a[0] == ring.0 && ring.0 != 0 {
                    self.fill_ring(ring);
                }
            }
            Syscall::DiskComplete => {
                a = [
                    self.pool.request(&mut self.rng),
                    if self.rng.chance(50) { 1 } else { self.small() },
                    0,
                    0,
                    0,
                    0,
                ]
            }
            _ => return,
        }
        // SAFETY: every pointer argument points into SCRATCH or MO_AREA
        // (which no Rust object uses), at read-only data, or where the
        // kernel must refuse; requests submitted with such buffers
        // complete into them. Maps go only where nothing is mapped
        // (MO_AREA, the playground, addresses the kernel refuses), unmaps
        // only into the playground and MO_AREA.
        let regs = unsafe { syscall6(call, a) };
        let raw = regs.rax;
        self.calls += 1;
        let result = if raw > u64::MAX - ERROR_BAND {
            match Error::from_raw(raw.wrapping_neg()) {
                Some(e) => Err(e),
                None => {
                    self.violation(call, "an unknown error code");
                    return;
                }
            }
        } else {
            Ok(raw)
        };
        match result {
            Ok(v) => {
                self.ok += 1;
                if call == Syscall::ProcSpawn {
                    self.mo_granted += spawn.objects;
                    // No test boots more than 16 CPUs.
                    if spawn.args.cpus != 0 && spawn.args.cpus & 0xffff == 0 {
                        self.violation(call, "a child was started on no online CPU");
                    }
                }
                if ptr == PtrClass::Bad && len > 0 {
                    self.violation(call, "a bad pointer was accepted");
                }
                self.learn(call, &a, v);
                self.learn_ipc(call, v, &regs.out);
            }
            Err(e) => {
                if call == Syscall::ProcSpawn {
                    self.spawn_errors[(e.code() as usize).min(31)] += 1;
                }
                self.errors[(e.code() as usize).min(31)] += 1
            }
        }
    }

    /// `cap_derive` of a memory object `(handle, pages)`: mostly a page
    /// sub-range inside it (some at its edges or past them), with random
    /// rights.
    fn derive_pages(&mut self, (handle, pages): (u64, u64)) -> [u64; 6] {
        let mode = if self.rng.chance(85) { DERIVE_RANGE } else { self.small() };
        let (offset, count) = if self.rng.chance(75) {
            let offset = self.rng.below(pages.max(1));
            (offset, 1 + self.rng.below(pages.saturating_sub(offset).max(1)))
        } else {
            (self.rng.pick(&[0, 1, pages, u64::MAX]), self.rng.pick(&[0, 1, pages, pages + 1]))
        };
        [handle, self.rights(), mode, offset, count, 0]
    }

    /// `mo_map` arguments: mostly a known object, a page range inside it,
    /// a page of `MO_AREA` and a defined flag; else anything.
    fn mo_map_args(&mut self) -> [u64; 6] {
        let (object, pages) = match self.pool.object(&mut self.rng) {
            Some(o) if self.rng.chance(85) => o,
            _ => (self.handle(), 1 + self.rng.below(4)),
        };
        let (offset, count) = if self.rng.chance(80) {
            let offset = self.rng.below(pages.max(1));
            (offset, 1 + self.rng.below(pages.saturating_sub(offset).clamp(1, 8)))
        } else {
            (self.rng.pick(&[0, 1, pages, u64::MAX]), self.rng.pick(&[0, 1, pages + 1, u64::MAX]))
        };
        let vaddr = match self.rng.below(100) {
            0..75 => MO_AREA + PAGE_SIZE * self.rng.below(MO_AREA_PAGES),
            75..90 => PLAYGROUND + PAGE_SIZE * self.rng.below(PLAYGROUND_PAGES),
            _ => self.page_addr(),
        };
        let flags = match self.rng.below(20) {
            0..8 => 0,
            8..15 => MAP_WRITE,
            15..18 => MAP_EXEC,
            18 => MAP_WRITE | MAP_EXEC,
            _ => self.rng.next(),
        };
        [object, offset, count, vaddr, flags, 0]
    }

    /// Updates the pool after a successful call, and checks what it can.
    fn learn(&mut self, call: Syscall, a: &[u64; 6], value: u64) {
        match call {
            Syscall::CapDerive => {
                self.pool.add(Slot { handle: value, protected: false });
                // A memory object's child: its range is the sub-range asked
                // for, or the parent's.
                if let Some(pages) = self.pool.object_pages(a[0]) {
                    self.pool.add_object(value, if a[2] == DERIVE_RANGE { a[4] } else { pages });
                }
            }
            Syscall::MoCreate => {
                self.mo_created += 1;
                self.pool.add(Slot { handle: value, protected: false });
                self.pool.add_object(value, a[1]);
                if a[1] == 0 || a[1] > MAX_OBJECT_PAGES {
                    self.violation(call, "an object of 0 pages, or of more than the most");
                }
            }
            Syscall::MoMap => {
                self.mo_mapped += 1;
                if !good_mapping(a[3], a[2], a[4]) {
                    self.violation(call, "a mapping at a bad address, of 0 pages, or W+X");
                }
            }
            Syscall::MemMap
                if !good_mapping(a[1], a[2] / PAGE_SIZE, a[3])
                    || !a[2].is_multiple_of(PAGE_SIZE) =>
            {
                self.violation(call, "a mapping at a bad address, of 0 pages, or W+X");
            }
            Syscall::ProcSpawn => {
                self.children += 1;
                // Half are kept to be waited for (and counted); the others
                // may be dropped early, which frees their records sooner.
                let keep = self.rng.chance(50);
                self.pool.add(Slot { handle: value, protected: keep });
                if keep {
                    self.pool.add_child(value);
                }
            }
            Syscall::DiskSubmit => self.pool.add_request(value),
            Syscall::RingEnter => self.ring_consumed += value,
            Syscall::RingCreate => {
                self.pool.add(Slot { handle: value, protected: false });
                if (RING_AREA..RING_AREA + RING_SLOTS * 8 * PAGE_SIZE).contains(&a[2]) {
                    let i = ((a[2] - RING_AREA) / (8 * PAGE_SIZE)) as usize;
                    self.rings[i] = (value, a[2], a[1]);
                }
            }
            Syscall::EndpointCreate | Syscall::NotifyCreate => {
                self.pool.add(Slot { handle: value, protected: false })
            }
            Syscall::CapDrop => {
                self.pool.forget(a[0]);
                let info = libos::sys::cap_kind(RawHandle::from_raw(a[0]));
                if info != Err(Error::BadHandle) {
                    self.violation(call, "a dropped handle still resolves");
                }
            }
            _ => {}
        }
    }

    /// Fills ring `(handle, vaddr, entries)` with random submissions and
    /// moves its `sq_tail` (now and then to garbage, or `cq_head` too),
    /// if the ring still exists: a live capability to it keeps its pages
    /// mapped.
    fn fill_ring(&mut self, (handle, vaddr, entries): (u64, u64, u64)) {
        let alive = libos::sys::cap_kind(RawHandle::from_raw(handle))
            .is_ok_and(|(k, _)| k == Some(libos::abi::ObjectKind::IoRing));
        if !alive {
            return;
        }
        let header = vaddr as *mut RingHeader;
        // SAFETY: the ring's header page is mapped (its capability lives,
        // and only `mem_unmap`, which never touches RING_AREA, or the end
        // of the ring unmaps it) and holds no Rust object.
        let (sq_head, cq_tail) = unsafe {
            (
                core::ptr::read_volatile(&raw const (*header).sq_head),
                core::ptr::read_volatile(&raw const (*header).cq_tail),
            )
        };
        let n = self.rng.below(entries.min(64) + 1) as u32;
        for i in 0..n {
            let count = self.count();
            let (buf, _) = self.buffer(count.saturating_mul(512).min(1 << 20));
            let sqe = Sqe {
                range: self.handle(),
                op: self.small() as u32,
                flags: if self.rng.chance(90) { 0 } else { self.small() as u32 },
                sector: self.sector(),
                count,
                buf,
                user_data: self.rng.next(),
            };
            let slot = u64::from(sq_head.wrapping_add(i)) & (entries - 1);
            let at = vaddr + sq_offset(entries) + slot * SQE_SIZE;
            // SAFETY: as above; the slot lies in the submission queue.
            unsafe { core::ptr::write_volatile(at as *mut Sqe, sqe) };
        }
        let tail =
            if self.rng.chance(90) { sq_head.wrapping_add(n) } else { self.rng.next() as u32 };
        let cq_head = if self.rng.chance(90) { cq_tail } else { self.rng.next() as u32 };
        self.ring_entries += u64::from(n);
        // SAFETY: as above.
        unsafe {
            core::ptr::write_volatile(&raw mut (*header).sq_tail, tail);
            core::ptr::write_volatile(&raw mut (*header).cq_head, cq_head);
        }
    }

    /// An endpoint handle for a send, call or receive: half the time the
    /// IPC peer's (so that messages are delivered), else any.
    fn endpoint(&mut self) -> u64 {
        if self.peer.ep != 0 && self.rng.chance(50) {
            self.rng.pick(&[self.peer.ep, self.peer.ep, self.peer.middle])
        } else {
            self.handle()
        }
    }

    /// A handle for a message to carry: never one the runtime needs when
    /// the message moves its handles (a delivered move takes it away).
    fn ipc_handle(&mut self, moving: bool) -> u64 {
        // Memory objects often: the peer maps those it gets.
        if let Some((object, _)) = self.pool.object(&mut self.rng).filter(|_| self.rng.chance(20)) {
            return object;
        }
        if moving {
            match self.pool.droppable(&mut self.rng) {
                Some(s) if self.rng.chance(60) => s.handle,
                _ => self.rng.pick(&EDGES),
            }
        } else if self.rng.chance(60) {
            self.handle()
        } else {
            self.rng.pick(&EDGES)
        }
    }

    /// A receive buffer in scratch: (address, length).
    fn receive_buffer(&mut self) -> (u64, u64) {
        let len = self.rng.pick(&[0, 16, MAX_MSG_BYTES as u64]);
        (SCRATCH + self.rng.below(SCRATCH_PAGES * PAGE_SIZE - len + 1), len)
    }

    /// Writes a long message's description at `p` (48 bytes in scratch):
    /// data valid, read-only, bad, or too long, and handles to carry.
    /// Returns how the kernel must judge it.
    fn describe(&mut self, p: u64, moving: bool) -> PtrClass {
        let len = self.rng.pick(&[0, 1, 100, 4000, MAX_MSG_BYTES as u64, MAX_MSG_BYTES as u64 + 1]);
        let (data, class) = self.buffer(len);
        let handles = core::array::from_fn(|_| self.ipc_handle(moving));
        let desc = MsgDesc { data, len, handles };
        // SAFETY: `p..p + 48` lies in SCRATCH (the `Valid` class of a
        // 48-byte buffer), mapped writable, used by no Rust object.
        unsafe { core::ptr::write_unaligned(p as *mut MsgDesc, desc) };
        match class {
            PtrClass::Bad if len > 0 && len <= MAX_MSG_BYTES as u64 => PtrClass::Bad,
            _ => PtrClass::Valid,
        }
    }

    /// Counts an IPC delivery, and keeps the handles it brought (so the
    /// table stays small, and answers and replies get used).
    fn learn_ipc(&mut self, call: Syscall, value: u64, out: &[u64; 6]) {
        let brings = match call {
            Syscall::IpcSend => {
                self.peer.sent += 1;
                false
            }
            Syscall::IpcReply => {
                self.peer.answered += 1;
                false
            }
            Syscall::IpcCall => {
                self.peer.called += 1;
                true
            }
            Syscall::IpcRecv | Syscall::IpcReplyRecv => {
                self.peer.taken += 1;
                true
            }
            _ => false,
        };
        if !brings {
            return;
        }
        let tag = Tag(value);
        let words = if tag.has(TAG_LONG) { 0 } else { tag.words().min(4) };
        let count = tag.handles().min(4 - words);
        for &h in &out[2 + words..2 + words + count] {
            self.pool.add(Slot { handle: h, protected: false });
        }
        if tag.has(TAG_CALL) {
            self.pool.add(Slot { handle: out[1], protected: false });
        }
    }

    /// Starts an IPC peer on our endpoint (creating it the first time),
    /// through a fresh middle capability.
    fn start_peer(&mut self) {
        use libos::sys;
        if self.peer.ep == 0 {
            match sys::endpoint_create(RawHandle::from_raw(self.pool.memory)) {
                Ok(h) => {
                    self.peer.ep = h.as_raw();
                    self.pool.add(Slot { handle: self.peer.ep, protected: true });
                }
                Err(_) => return,
            }
        }
        let all = Rights::SEND | Rights::RECV | Rights::GRANT | Rights::DERIVE | Rights::REVOKE;
        let ep = RawHandle::from_raw(self.peer.ep);
        let Ok(middle) = sys::cap_derive(ep, all, DERIVE_SAME, 0, 0) else { return };
        self.peer.middle = middle.as_raw();
        self.pool.add(Slot { handle: self.peer.middle, protected: false });
        let grants = [
            Grant {
                handle: self.peer.middle,
                rights: (Rights::SEND | Rights::RECV | Rights::GRANT).bits(),
                reserved: 0,
                role: Role::new("ep").expect("a short role"),
            },
            Grant {
                handle: self.pool.console,
                rights: Rights::WRITE.bits(),
                reserved: 0,
                role: Role::new("console").expect("a short role"),
            },
        ];
        let mut text = [0u8; 64];
        let mut w = Cursor { buf: &mut text, len: 0 };
        let _ = core::fmt::write(&mut w, format_args!("peer=1 seed={}", self.rng.next() >> 8));
        let text_len = w.len as u64;
        let args = SpawnArgs {
            image: self.pool.image,
            memory: self.pool.memory,
            quota_pages: PEER_QUOTA_PAGES,
            grants: grants.as_ptr() as u64,
            grants_len: grants.len() as u64,
            args: text.as_ptr() as u64,
            args_len: text_len,
            // Peers pinned to one CPU or another, or free: on several
            // CPUs they run beside each other and beside us, and the
            // authority checks verify each runs only where it may.
            cpus: self.rng.pick(&[0, 0, 1, 2, 3, 1 << 1]),
        };
        if let Ok(h) = sys::proc_spawn(&args) {
            self.peer.process = h.as_raw();
            self.peer.runs += 1;
        }
    }

    /// Notes a peer that ended (its count), and starts another.
    fn check_peer(&mut self) {
        if self.peer.process != 0 {
            let h = RawHandle::from_raw(self.peer.process);
            match libos::sys::proc_wait(h, WAIT_NONBLOCK) {
                Err(Error::WouldBlock) => return,
                Ok(status) => self.peer_ended(status),
                Err(_) => {}
            }
            let _ = libos::sys::cap_drop(h);
            self.peer.process = 0;
        }
        self.start_peer();
    }

    fn peer_ended(&mut self, status: libos::ExitStatus) {
        match status {
            libos::ExitStatus::Exited(n) if n >= peer::EXIT_BASE => {
                self.peer.received += (n - peer::EXIT_BASE) as u64
            }
            status => {
                println!("fuzz: the IPC peer ended badly: {status:?}");
                self.violations += 1;
            }
        }
    }

    /// Stops the peer: revoking the endpoint wakes it (`Revoked`) wherever
    /// it waits; then waits for it.
    fn stop_peer(&mut self) {
        if self.peer.ep != 0 {
            let _ = libos::sys::cap_revoke(RawHandle::from_raw(self.peer.ep));
        }
        if self.peer.process != 0 {
            let h = RawHandle::from_raw(self.peer.process);
            if let Ok(status) = libos::sys::proc_wait(h, 0) {
                self.peer_ended(status);
            }
            self.peer.process = 0;
        }
    }

    fn violation(&mut self, call: Syscall, what: &str) {
        self.violations += 1;
        println!("fuzz: VIOLATION after {call}: {what}");
    }
}

/// Whether a map call of `pages` pages at `vaddr` with `flags` could
/// succeed: page-aligned, inside `[USER_MIN, MAP_END)`, at least a page,
/// defined flags and never writable and executable at once.
fn good_mapping(vaddr: u64, pages: u64, flags: u64) -> bool {
    let end = pages.checked_mul(PAGE_SIZE).and_then(|len| vaddr.checked_add(len));
    pages > 0
        && vaddr.is_multiple_of(PAGE_SIZE)
        && vaddr >= USER_MIN
        && end.is_some_and(|end| end <= MAP_END)
        && flags & !(MAP_WRITE | MAP_EXEC) == 0
        && flags != MAP_WRITE | MAP_EXEC
}

/// The calls the fuzzer makes (not `exit`: the fuzzer must finish).
const CALLS: [Syscall; 42] = [
    Syscall::EndpointCreate,
    Syscall::IpcSend,
    Syscall::IpcRecv,
    Syscall::IpcCall,
    Syscall::IpcReply,
    Syscall::IpcReplyRecv,
    Syscall::DebugWrite,
    Syscall::CapInfo,
    Syscall::CapDerive,
    Syscall::CapDerive,
    Syscall::CapDrop,
    Syscall::CapRevoke,
    Syscall::MemMap,
    Syscall::MemUnmap,
    Syscall::ProcSpawn,
    Syscall::ProcWait,
    Syscall::Yield,
    Syscall::ProcYieldTo,
    Syscall::Sleep,
    Syscall::Clock,
    Syscall::TimerInfo,
    Syscall::DiskInfo,
    Syscall::DiskRead,
    Syscall::DiskWrite,
    Syscall::DiskFlush,
    Syscall::DiskSubmit,
    Syscall::DiskComplete,
    Syscall::CapGraph,
    Syscall::NotifyCreate,
    Syscall::NotifySignal,
    Syscall::DiskBind,
    Syscall::NotifyWait,
    Syscall::EndpointBind,
    Syscall::RingCreate,
    Syscall::RingEnter,
    Syscall::MoCreate,
    Syscall::MoMap,
    Syscall::MoMap,
    Syscall::ConsoleRead,
    Syscall::ProcSetCpus,
    Syscall::ProcSetCpus,
    Syscall::ProcState,
];

/// The spawn arguments a `proc_spawn` call points to (kept alive here).
struct SpawnScratch {
    args: SpawnArgs,
    grants: [Grant; 5],
    text: [u8; 64],
    /// Memory objects among the grants (counted if the spawn succeeds).
    objects: u64,
}

impl SpawnScratch {
    fn fill(&mut self, f: &mut Fuzzer) -> u64 {
        let roles = ["console", "disk", "timer", "fuzz-child"];
        let mut n = f.rng.below(5) as usize;
        for (i, role) in roles.iter().enumerate().take(n) {
            let handle = f.pool.any(&mut f.rng).map_or(0, |s| s.handle);
            self.grants[i] = Self::grant(f, handle, role);
        }
        // Half the time, a memory object too: the child maps it while we
        // may revoke or drop it.
        self.objects = 0;
        if let Some((handle, _)) = f.pool.object(&mut f.rng).filter(|_| f.rng.chance(50)) {
            self.grants[n] = Self::grant(f, handle, "object");
            n += 1;
            self.objects = 1;
        }
        let child_seed = f.rng.next() >> 8;
        let mut w = Cursor { buf: &mut self.text, len: 0 };
        let _ = core::fmt::write(
            &mut w,
            format_args!("seed={child_seed} calls=200 depth={}", f.depth + 1),
        );
        let text_len = w.len as u64;
        self.args = SpawnArgs {
            image: if f.rng.chance(80) { f.pool.image } else { f.handle() },
            memory: if f.rng.chance(80) { f.pool.memory } else { f.handle() },
            quota_pages: f.rng.pick(&[0, 1, 64, 400, 400, 400, 400, 1 << 40]),
            grants: self.grants.as_ptr() as u64,
            grants_len: n as u64,
            args: self.text.as_ptr() as u64,
            args_len: text_len,
            // Any CPU, one, several, or CPUs that do not exist (refused).
            cpus: f.rng.pick(&[0, 0, 0, 1, 2, 3, 1 << 15, 1 << 63, u64::MAX]),
        };
        &self.args as *const SpawnArgs as u64
    }

    /// A grant of `handle` as `role`, mostly with rights it has (so that
    /// the spawn can succeed).
    fn grant(f: &mut Fuzzer, handle: u64, role: &str) -> Grant {
        let rights = match libos::sys::cap_kind(RawHandle::from_raw(handle)) {
            Ok((_, have)) if f.rng.chance(75) => u64::from(have.bits()) & f.rng.next(),
            _ => f.rights(),
        };
        Grant { handle, rights: rights as u32, reserved: 0, role: Role::new(role).unwrap() }
    }
}

struct Cursor<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl core::fmt::Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = (self.len + s.len()).min(self.buf.len());
        self.buf[self.len..end].copy_from_slice(&s.as_bytes()[..end - self.len]);
        self.len = end;
        Ok(())
    }
}

fn main(start: &Start) -> i32 {
    if start.arg("peer").is_some() {
        return peer::run(start);
    }
    let seed = start.arg("seed").and_then(|s| s.parse().ok()).unwrap_or(1);
    let calls: u64 = start.arg("calls").and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let depth = start.arg("depth").and_then(|s| s.parse().ok()).unwrap_or(0);
    let memory = start.handle::<libos::kind::Memory>("memory").expect("memory");
    if memory.map(SCRATCH, SCRATCH_PAGES * PAGE_SIZE, libos::abi::args::MAP_WRITE).is_err() {
        println!("fuzz: cannot map the scratch area");
        return 2;
    }
    let mut f = Fuzzer {
        rng: Rng::new(seed),
        pool: Pool::new(start),
        peer: Peer::default(),
        calls: 0,
        ok: 0,
        errors: [0; 32],
        violations: 0,
        depth,
        children: 0,
        spawn_errors: [0; 32],
        rings: [(0, 0, 0); RING_SLOTS as usize],
        ring_entries: 0,
        ring_consumed: 0,
        mo_created: 0,
        mo_mapped: 0,
        mo_granted: 0,
    };
    let mut spawn = SpawnScratch {
        args: SpawnArgs::default(),
        grants: [Grant::default(); 5],
        text: [0; 64],
        objects: 0,
    };
    if depth == 0 {
        f.start_peer();
    }
    while f.calls < calls {
        f.one(&mut spawn);
        if depth == 0 && f.calls.is_multiple_of(PEER_CHECK_EVERY) {
            f.check_peer();
        }
    }
    f.stop_peer();
    // Reap the children (their waits are bounded: they are fuzzers too);
    // each exits with the number of syscalls it and its children made.
    let mut total = f.calls;
    let children: [u64; 512] = core::array::from_fn(|i| f.pool.children().nth(i).unwrap_or(0));
    for &h in children.iter().filter(|&&h| h != 0) {
        match libos::sys::proc_wait(RawHandle::from_raw(h), 0) {
            Ok(libos::ExitStatus::Exited(n)) if n >= 0 => total += n as u64,
            Ok(status) => {
                println!("fuzz: a child fuzzer ended badly: {status:?}");
                f.violations += 1;
            }
            Err(_) => {} // its handle was revoked or dropped meanwhile
        }
    }
    if depth == 0 {
        println!(
            "fuzz: seed {seed}: {total} syscalls ({} here: {} ok, {} errors), {} children, {} violations",
            f.calls,
            f.ok,
            f.errors.iter().sum::<u64>(),
            f.children,
            f.violations
        );
        println!(
            "fuzz: seed {seed}: {} ring entries written, {} consumed",
            f.ring_entries, f.ring_consumed
        );
        println!(
            "fuzz: seed {seed}: {} memory objects created, {} mappings made, {} granted to children",
            f.mo_created, f.mo_mapped, f.mo_granted
        );
        let p = &f.peer;
        println!(
            "fuzz: seed {seed}: {} IPC deliveries ({} sends, {} calls answered, {} received, {} answers), the peer received {} messages in {} runs",
            p.deliveries(),
            p.sent,
            p.called,
            p.taken,
            p.answered,
            p.received,
            p.runs
        );
    }
    if depth == 0 && start.arg("verbose").is_some() {
        for (code, n) in f.errors.iter().enumerate().filter(|(_, n)| **n > 0) {
            let name = Error::from_raw(code as u64).map_or("?", Error::as_str);
            println!("fuzz:   {name}: {n} (spawn {})", f.spawn_errors[code]);
        }
    }
    match (f.violations, depth) {
        (0, 0) => 0,
        (0, _) => total.min(i32::MAX as u64) as i32,
        _ => -1,
    }
}
