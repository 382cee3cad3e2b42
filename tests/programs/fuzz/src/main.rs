//! The syscall fuzzer: random sequences of syscalls, generated from a
//! description of every call's arguments (handles, buffers, sectors,
//! rights, flags...), biased toward interesting values: valid handles of
//! every kind, stale ones, random ones; buffers that are valid, read-only,
//! null, in the kernel, non-canonical, across the top of user space or
//! partly unmapped; sectors at the ends of the range. It spawns children
//! (itself) and hands them capabilities, so delegation, revocation and
//! process death run across processes.
//!
//! Arguments: `seed=N calls=N depth=N`. Prints one summary line (`fuzz:
//! seed ... syscalls`); exits 1 if it saw the kernel break a rule it can
//! check from outside (e.g. accept a bad pointer, keep a dropped handle
//! alive, return an unknown error code). The kernel's own authority checks
//! and the harness's watch for panics do the rest.
#![no_std]
#![no_main]

mod pool;
mod random;

use libos::abi::error::ERROR_BAND;
use libos::abi::ipc::{TAG_LONG, TAG_MOVE, TAG_NONBLOCK};
use libos::abi::layout::{MAP_END, PAGE_SIZE, USER_END};
use libos::abi::process::{Grant, Role, SpawnArgs};
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
/// Children are themselves fuzzers, to this depth.
const MAX_DEPTH: u64 = 2;

static READ_ONLY: [u8; 64] = [0x5a; 64];

/// What a pointer argument was, so the result can be judged.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PtrClass {
    Valid,
    ReadOnly,
    Bad,
}

struct Fuzzer {
    rng: Rng,
    pool: Pool,
    calls: u64,
    ok: u64,
    errors: [u64; 32],
    violations: u64,
    depth: u64,
    children: u64,
    spawn_errors: [u64; 32],
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
        match self.rng.below(100) {
            0..55 if len <= scratch_len => {
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
            Syscall::CapDerive => {
                a = [self.handle(), self.rights(), self.small(), self.sector(), self.count(), 0];
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
                // Only the playground, or addresses the kernel must refuse.
                a[0] = if self.rng.chance(85) {
                    PLAYGROUND + PAGE_SIZE * self.rng.below(PLAYGROUND_PAGES)
                } else {
                    self.rng.pick(&EDGES) | (1 << 63)
                };
                a[1] = self.page_len().min(PLAYGROUND_PAGES * PAGE_SIZE);
            }
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
            Syscall::EndpointCreate => {
                a[0] = if self.rng.chance(80) { self.pool.memory } else { self.handle() }
            }
            Syscall::IpcSend
            | Syscall::IpcCall
            | Syscall::IpcReply
            | Syscall::IpcRecv
            | Syscall::IpcReplyRecv => {
                // Never block: no peer is guaranteed to come (a hung fuzzer
                // proves nothing). The tag is otherwise random, valid or not.
                let words = self.rng.below(6);
                let handles = self.rng.below(6);
                let mut flags =
                    self.rng.pick(&[0, TAG_LONG, TAG_MOVE, TAG_LONG | TAG_MOVE, 1 << 13]);
                if self.rng.chance(5) {
                    flags |= self.rng.next() & !TAG_NONBLOCK;
                }
                let tag = (words & 0xf) | (handles & 0xf) << 4 | flags | TAG_NONBLOCK;
                a[0] = self.handle();
                a[1] = tag;
                for slot in a.iter_mut().skip(2) {
                    *slot = if self.rng.chance(50) { self.handle() } else { self.rng.pick(&EDGES) };
                }
                if flags & TAG_LONG != 0 {
                    // rdx points to a MsgDesc in scratch (or somewhere bad).
                    let (p, c) = self.buffer(48);
                    a[2] = p;
                    ptr = if c == PtrClass::ReadOnly { PtrClass::Valid } else { c };
                    len = 48;
                    if call == Syscall::IpcRecv {
                        ptr = PtrClass::Valid; // recv takes (flags, buf, len), not a descriptor
                    }
                }
                if call == Syscall::IpcRecv {
                    a[1] = TAG_NONBLOCK | (self.rng.below(4) << 8);
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
        // SAFETY: every pointer argument points into SCRATCH (which no Rust
        // object uses), at read-only data, or where the kernel must refuse;
        // requests submitted with SCRATCH buffers complete into SCRATCH.
        let raw = unsafe { syscall6(call, a) }.rax;
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
                if ptr == PtrClass::Bad && len > 0 {
                    self.violation(call, "a bad pointer was accepted");
                }
                self.learn(call, &a, v);
            }
            Err(e) => {
                if call == Syscall::ProcSpawn {
                    self.spawn_errors[(e.code() as usize).min(31)] += 1;
                }
                self.errors[(e.code() as usize).min(31)] += 1
            }
        }
    }

    /// Updates the pool after a successful call, and checks what it can.
    fn learn(&mut self, call: Syscall, a: &[u64; 6], value: u64) {
        match call {
            Syscall::CapDerive => self.pool.add(Slot { handle: value, protected: false }),
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
            Syscall::EndpointCreate => self.pool.add(Slot { handle: value, protected: false }),
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

    fn violation(&mut self, call: Syscall, what: &str) {
        self.violations += 1;
        println!("fuzz: VIOLATION after {call}: {what}");
    }
}

/// The calls the fuzzer makes (not `exit`: the fuzzer must finish).
const CALLS: [Syscall; 25] = [
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
    Syscall::Sleep,
    Syscall::Clock,
    Syscall::DiskInfo,
    Syscall::DiskRead,
    Syscall::DiskWrite,
    Syscall::DiskFlush,
    Syscall::DiskSubmit,
    Syscall::DiskComplete,
];

/// The spawn arguments a `proc_spawn` call points to (kept alive here).
struct SpawnScratch {
    args: SpawnArgs,
    grants: [Grant; 4],
    text: [u8; 64],
}

impl SpawnScratch {
    fn fill(&mut self, f: &mut Fuzzer) -> u64 {
        let roles = ["console", "disk", "timer", "fuzz-child"];
        let n = f.rng.below(5) as usize;
        for (i, role) in roles.iter().enumerate().take(n) {
            let handle = f.pool.any(&mut f.rng).map_or(0, |s| s.handle);
            // Mostly rights the handle has (so the spawn can succeed).
            let rights = match libos::sys::cap_kind(RawHandle::from_raw(handle)) {
                Ok((_, have)) if f.rng.chance(75) => u64::from(have.bits()) & f.rng.next(),
                _ => f.rights(),
            };
            self.grants[i] = Grant {
                handle,
                rights: rights as u32,
                reserved: 0,
                role: Role::new(role).unwrap(),
            };
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
        };
        &self.args as *const SpawnArgs as u64
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
        calls: 0,
        ok: 0,
        errors: [0; 32],
        violations: 0,
        depth,
        children: 0,
        spawn_errors: [0; 32],
    };
    let mut spawn =
        SpawnScratch { args: SpawnArgs::default(), grants: [Grant::default(); 4], text: [0; 64] };
    while f.calls < calls {
        f.one(&mut spawn);
    }
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
