//! The bad-input sweep: every syscall with bad handles, missing rights and
//! bad pointers. Each case must return its own error code (and the kernel
//! must not panic). Prints each failing case, then `sweep: N cases, all
//! as expected` and exits 0, or exits 1.
#![no_std]
#![no_main]

extern crate alloc;

use libos::Handle;
use libos::abi::args::{
    CONSOLE_NONBLOCK, DERIVE_RANGE, DERIVE_SAME, MAP_EXEC, MAP_WRITE, MAX_DEBUG_WRITE,
    NOTIFY_NONBLOCK,
};
use libos::abi::disk::{
    COMPLETE_NONBLOCK, MAX_ASYNC_SECTORS, MAX_SECTORS, OP_FLUSH, OP_READ, OP_WRITE,
};
use libos::abi::ipc::{MAX_MSG_BYTES, MsgDesc, TAG_CALL, TAG_NONBLOCK, Tag};
use libos::abi::layout::{MAP_END, PAGE_SIZE, USER_END, USER_MIN};
use libos::abi::process::{Grant, MAX_START_HANDLES, Role, SpawnArgs};
use libos::abi::ring::{RING_OP_FLUSH, RING_OP_READ, RING_OP_WRITE, Sqe};
use libos::abi::{CapInfo, Error, GraphNode, RawHandle, Syscall};
use libos::kind::{Console, DiskRange, Image, Memory, Timer};
use libos::process::Spawn;
use libos::ring::Ring;
use libos::sys::raw::{syscall, syscall6_raw};
use libos::{Rights, Start, println};

mod memobj;

libos::main!(main);

/// Where the sweep maps its own test pages.
const AREA: u64 = 0x0000_3000_0000_0000;
const KERNEL_ADDR: u64 = 0xffff_ffff_8000_0000;
const NONCANONICAL: u64 = 0x8000_0000_0000_0000;
const RANDOM_HANDLES: [u64; 4] = [0x1234_5678_9abc, 0x7fff_ffff_ffff_ffff, 0xdead_beef, 1];

static READ_ONLY: CapInfo = CapInfo { kind: 0, rights: 0, badge: 0, device: 0, first: 0, count: 0 };

/// Read-only sectors (in the program's rodata) for disk reads to refuse.
#[repr(align(512))]
struct Sectors([u8; 1024]);
static READ_ONLY_SECTORS: Sectors = Sectors([0x5a; 1024]);

struct Sweep {
    cases: u32,
    failures: u32,
}

impl Sweep {
    fn call(&mut self, name: &str, call: Syscall, args: [u64; 6], want: Error) {
        // SAFETY: the point of the sweep is to hand the kernel bad values;
        // where a case passes a writable pointer it points at memory this
        // program owns and does not otherwise use.
        let got = unsafe { syscall(call, args) };
        self.check(name, got.map(|_| ()), want);
    }

    /// `proc_spawn(args)`, expecting `want`.
    fn spawn(&mut self, name: &str, args: &SpawnArgs, want: Error) {
        self.call(name, Syscall::ProcSpawn, [args as *const SpawnArgs as u64, 0, 0, 0, 0, 0], want);
    }

    /// Counts a case that is a plain condition, not an error code.
    fn expect(&mut self, name: &str, ok: bool) {
        self.cases += 1;
        if !ok {
            self.failures += 1;
            println!("sweep: {name}: not as expected");
        }
    }

    fn check(&mut self, name: &str, got: Result<(), Error>, want: Error) {
        self.cases += 1;
        if got != Err(want) {
            self.failures += 1;
            println!("sweep: {name}: got {got:?}, want {want:?}");
        }
    }
}

/// Where the ring cases put their rings (nothing else is mapped there).
const RING_AT: u64 = 0x0000_3400_0000_0000;

/// I/O rings: `ring_create` and `ring_enter` with bad arguments, and ring
/// entries with every bad handle, op, count, sector and buffer: each
/// completes with its own error code. Needs the test page at `AREA`
/// (mapped writable, nothing after it); `ro` is read-only.
fn ring_cases(
    s: &mut Sweep,
    memory: Handle<Memory>,
    disk: Handle<DiskRange>,
    console: Handle<Console>,
    bad_handles: &[u64],
    ro: u64,
) {
    let m = memory.raw().as_raw();
    let c = console.raw().as_raw();
    let (ia, ba) = (Error::InvalidArgument, Error::BadAddress);
    for &h in bad_handles {
        s.call(
            "ring_create bad memory",
            Syscall::RingCreate,
            [h, 8, RING_AT, 0, 0, 0],
            Error::BadHandle,
        );
        s.call("ring_enter bad ring", Syscall::RingEnter, [h, 1, 0, 0, 0, 0], Error::BadHandle);
    }
    s.call(
        "ring_create on a console",
        Syscall::RingCreate,
        [c, 8, RING_AT, 0, 0, 0],
        Error::WrongKind,
    );
    s.call("ring_enter on a console", Syscall::RingEnter, [c, 1, 0, 0, 0, 0], Error::WrongKind);
    let weak = memory.derive(Rights::READ | Rights::MAP).expect("derive memory");
    let w = weak.raw().as_raw();
    s.call(
        "ring_create without WRITE",
        Syscall::RingCreate,
        [w, 8, RING_AT, 0, 0, 0],
        Error::MissingRight,
    );
    let _ = weak.close();
    for entries in [0, 3, 6, 512, 1 << 32, u64::MAX] {
        s.call("ring_create bad entries", Syscall::RingCreate, [m, entries, RING_AT, 0, 0, 0], ia);
    }
    s.call("ring_create unaligned", Syscall::RingCreate, [m, 8, RING_AT + 8, 0, 0, 0], ia);
    for (what, at) in [
        ("ring_create at 0", 0),
        ("ring_create below USER_MIN", USER_MIN - PAGE_SIZE),
        ("ring_create in the kernel half", KERNEL_ADDR),
        ("ring_create non-canonical", NONCANONICAL),
        ("ring_create running past MAP_END", MAP_END - PAGE_SIZE),
        ("ring_create at the top of user space", USER_END - PAGE_SIZE),
        ("ring_create wrapping", u64::MAX - PAGE_SIZE + 1),
    ] {
        s.call(what, Syscall::RingCreate, [m, 8, at, 0, 0, 0], ba);
    }
    s.call(
        "ring_create over a mapped page",
        Syscall::RingCreate,
        [m, 8, AREA, 0, 0, 0],
        Error::AddressInUse,
    );
    // Only its second page is taken (the page before AREA is mapped).
    s.call(
        "ring_create running onto a mapped page",
        Syscall::RingCreate,
        [m, 8, AREA - 2 * PAGE_SIZE, 0, 0, 0],
        Error::AddressInUse,
    );

    let Ok(mut ring) = Ring::new_at(memory, 256, RING_AT) else {
        s.expect("ring_create a good ring", false);
        return;
    };
    let r = ring.handle().raw().as_raw();
    s.call("ring_enter undefined flag", Syscall::RingEnter, [r, 0, 0, 1, 0, 0], ia);
    s.call("ring_enter min_complete above its size", Syscall::RingEnter, [r, 0, 257, 0, 0, 0], ia);
    let weak = ring.handle().derive(Rights::GRANT).expect("derive ring");
    let w = weak.raw().as_raw();
    s.call("ring_enter without WRITE", Syscall::RingEnter, [w, 0, 0, 0, 0, 0], Error::MissingRight);
    let _ = weak.close();
    // SAFETY: the kernel refuses these indices before it reads an entry.
    unsafe { ring.store_indices(300, 0) };
    s.call(
        "ring_enter sq_tail past its size",
        Syscall::RingEnter,
        [r, 300, 0, 0, 0, 0],
        Error::OutOfRange,
    );
    // SAFETY: as above.
    unsafe { ring.store_indices(0, 5) };
    s.call(
        "ring_enter cq_head past cq_tail",
        Syscall::RingEnter,
        [r, 0, 0, 0, 0, 0],
        Error::OutOfRange,
    );
    ring.restore_indices();

    // Bad entries: (what, entry, error).
    let d = disk.raw().as_raw();
    let sectors = disk.sectors().unwrap_or(0);
    let mut good = [0u8; 512];
    let g = good.as_mut_ptr() as u64;
    let read = |range: u64, sector: u64, count: u64, buf: u64| Sqe {
        range,
        op: RING_OP_READ,
        sector,
        count,
        buf,
        ..Sqe::default()
    };
    let write = |e: Sqe| Sqe { op: RING_OP_WRITE, ..e };
    let mut cases: alloc::vec::Vec<(&str, Sqe, Error)> = alloc::vec::Vec::new();
    for &h in bad_handles {
        cases.push(("ring entry bad handle", read(h, 0, 1, g), Error::BadHandle));
    }
    cases.push(("ring entry on a console", read(c, 0, 1, g), Error::WrongKind));
    cases.push(("ring entry on memory", read(m, 0, 1, g), Error::WrongKind));
    let ro_range = disk.derive(Rights::READ).expect("derive ro").raw().as_raw();
    let wo_range = disk.derive(Rights::WRITE).expect("derive wo").raw().as_raw();
    cases.push(("ring read without READ", read(wo_range, 0, 1, g), Error::MissingRight));
    cases.push(("ring write without WRITE", write(read(ro_range, 0, 1, g)), Error::MissingRight));
    cases.push((
        "ring flush without WRITE",
        Sqe { op: RING_OP_FLUSH, ..read(ro_range, 0, 0, 0) },
        Error::MissingRight,
    ));
    for op in [3, 9, u32::MAX] {
        cases.push(("ring entry unknown op", Sqe { op, ..read(d, 0, 1, g) }, ia));
    }
    cases.push(("ring entry undefined flag", Sqe { flags: 1, ..read(d, 0, 1, g) }, ia));
    cases.push(("ring entry count 0", read(d, 0, 0, g), ia));
    cases.push(("ring entry count over the most", read(d, 0, MAX_ASYNC_SECTORS + 1, g), ia));
    cases.push(("ring entry huge count", read(d, 0, u64::MAX, g), ia));
    let oor = Error::OutOfRange;
    cases.push(("ring entry sector one past the range", read(d, sectors, 1, g), oor));
    cases.push(("ring entry running past the range", read(d, sectors - 1, 2, g), oor));
    cases.push(("ring entry sector + count overflowing", read(d, u64::MAX, 2, g), oor));
    for (what, ptr, count) in [
        ("ring entry null buffer", 0, 1),
        ("ring entry buffer in page 1", 4096, 1),
        ("ring entry kernel buffer", KERNEL_ADDR, 1),
        ("ring entry non-canonical buffer", NONCANONICAL, 1),
        ("ring entry buffer across the top of user space", USER_END - 512, 2),
        ("ring entry buffer wrapping", u64::MAX - 511, 2),
        ("ring entry buffer partly unmapped", AREA + PAGE_SIZE - 256, 1),
        ("ring entry buffer unmapped", AREA + PAGE_SIZE, 1),
    ] {
        cases.push((what, read(d, 0, count, ptr), ba));
        cases.push((what, write(read(d, 0, count, ptr)), ba));
    }
    let ro_sectors = READ_ONLY_SECTORS.0.as_ptr() as u64;
    let code = (main as *const () as u64).next_multiple_of(512);
    cases.push(("ring read into read-only memory (aligned)", read(d, 0, 1, ro_sectors), ba));
    cases.push(("ring read into read-only memory (unaligned)", read(d, 0, 1, ro), ba));
    cases.push(("ring read into code", read(d, 0, 1, code), ba));
    let mut pushed = 0;
    for (i, (_, sqe, _)) in cases.iter().enumerate() {
        // SAFETY: every case is refused before the kernel writes its
        // buffer.
        if unsafe { ring.push_raw(*sqe, i as u64) }.is_ok() {
            pushed += 1;
        }
    }
    s.expect("ring entries pushed", pushed == cases.len());
    let consumed = ring.submit(pushed as u32);
    s.expect("ring entries all consumed", consumed == Ok(pushed as u32));
    let mut seen = 0;
    while let Some(done) = ring.pop() {
        let Some((what, _, want)) = cases.get(done.tag as usize) else {
            s.expect("ring completion of a known entry", false);
            continue;
        };
        s.check(what, done.result.map(|_| ()), *want);
        seen += 1;
    }
    s.expect("every ring entry completed", seen == cases.len());
    let _ = libos::sys::cap_drop(RawHandle::from_raw(ro_range));
    let _ = libos::sys::cap_drop(RawHandle::from_raw(wo_range));
}

/// `cap_graph` with bad buffers: each its own error, and a refused call
/// writes nothing. Needs the test page at `AREA` (mapped writable, with
/// nothing mapped after it); `ro` is read-only and 8-aligned.
fn cap_graph_cases(s: &mut Sweep, ro: u64) {
    let record = GraphNode::SIZE as u64;
    let code = main as *const () as u64 & !7;
    let bad: [(&str, u64, u64); 8] = [
        ("cap_graph null", 0, record),
        ("cap_graph page 1", 4096, record),
        ("cap_graph kernel", KERNEL_ADDR, record),
        ("cap_graph non-canonical", NONCANONICAL, record),
        ("cap_graph across the top of user space", USER_END - 8, record),
        ("cap_graph wrapping", u64::MAX - 7, record),
        ("cap_graph into read-only memory", ro, record),
        ("cap_graph into code", code, record),
    ];
    for (what, ptr, len) in bad {
        s.call(what, Syscall::CapGraph, [ptr, len, 0, 0, 0, 0], Error::BadAddress);
    }
    let huge = record << 50;
    s.call("cap_graph huge", Syscall::CapGraph, [AREA, huge, 0, 0, 0, 0], Error::BadAddress);
    for (what, ptr, len) in [
        ("cap_graph partial record", AREA, record - 1),
        ("cap_graph len u64::MAX", AREA, u64::MAX),
        ("cap_graph misaligned", AREA + 4, record),
    ] {
        s.call(what, Syscall::CapGraph, [ptr, len, 0, 0, 0, 0], Error::InvalidArgument);
    }
    // A buffer that starts mapped and runs past the page: refused before
    // any record is written.
    const MARK: u8 = 0x6b;
    // SAFETY: this program mapped the page at AREA writable; no Rust
    // object lives there.
    unsafe { core::ptr::write_bytes(AREA as *mut u8, MARK, PAGE_SIZE as usize) };
    let past = (PAGE_SIZE / record + 1) * record;
    s.call(
        "cap_graph partly unmapped",
        Syscall::CapGraph,
        [AREA, past, 0, 0, 0, 0],
        Error::BadAddress,
    );
    // SAFETY: as above; read only.
    let page = unsafe { core::slice::from_raw_parts(AREA as *const u8, PAGE_SIZE as usize) };
    s.expect("cap_graph refused writes nothing", page.iter().all(|&b| b == MARK));
    // The good case: counting only, then into a one-record buffer.
    let total = libos::sys::cap_graph(&mut []);
    let mut few = alloc::vec![GraphNode::default(); 1];
    let one = libos::sys::cap_graph(&mut few);
    let counted = matches!((total, one), (Ok(t), Ok(o)) if t >= 3 && t == o);
    s.expect("cap_graph counts and fills", counted && few[0].object_kind().is_some());
}

/// The notification calls with bad handles, wrong kinds, missing rights
/// and bad flags: each its own error, and none of them sets a bit.
fn notify_cases(
    s: &mut Sweep,
    bad_handles: &[u64],
    console: libos::Handle<Console>,
    timer: libos::Handle<Timer>,
    memory: libos::Handle<Memory>,
) {
    let n = libos::sys::notify_create(memory.raw()).expect("notification").as_raw();
    let ep = libos::sys::endpoint_create(memory.raw()).expect("endpoint").as_raw();
    let nb = NOTIFY_NONBLOCK;
    for &h in bad_handles {
        let bh = Error::BadHandle;
        s.call("notify_create bad handle", Syscall::NotifyCreate, [h, 0, 0, 0, 0, 0], bh);
        s.call("notify_signal bad handle", Syscall::NotifySignal, [h, 0, 0, 0, 0, 0], bh);
        s.call("notify_wait bad handle", Syscall::NotifyWait, [h, nb, 0, 0, 0, 0], bh);
        s.call("endpoint_bind bad endpoint", Syscall::EndpointBind, [h, n, 0, 0, 0, 0], bh);
        if h != 0 {
            // 0 is "unbind", not a bad handle.
            s.call("disk_bind bad handle", Syscall::DiskBind, [h, 0, 0, 0, 0, 0], bh);
            s.call(
                "endpoint_bind bad notification",
                Syscall::EndpointBind,
                [ep, h, 0, 0, 0, 0],
                bh,
            );
        }
    }
    let (c, t) = (console.raw().as_raw(), timer.raw().as_raw());
    let wk = Error::WrongKind;
    s.call("notify_create on a console", Syscall::NotifyCreate, [c, 0, 0, 0, 0, 0], wk);
    s.call("notify_create on a notification", Syscall::NotifyCreate, [n, 0, 0, 0, 0, 0], wk);
    s.call("notify_signal on a console", Syscall::NotifySignal, [c, 0, 0, 0, 0, 0], wk);
    s.call("disk_bind on a console", Syscall::DiskBind, [c, 0, 0, 0, 0, 0], wk);
    s.call("notify_signal on an endpoint", Syscall::NotifySignal, [ep, 0, 0, 0, 0, 0], wk);
    s.call("notify_wait on a timer", Syscall::NotifyWait, [t, nb, 0, 0, 0, 0], wk);
    s.call("notify_wait on an endpoint", Syscall::NotifyWait, [ep, nb, 0, 0, 0, 0], wk);
    s.call("endpoint_bind a notification", Syscall::EndpointBind, [n, n, 0, 0, 0, 0], wk);
    s.call("endpoint_bind to an endpoint", Syscall::EndpointBind, [ep, ep, 0, 0, 0, 0], wk);
    s.call("endpoint_bind to a console", Syscall::EndpointBind, [ep, c, 0, 0, 0, 0], wk);

    let derive = |h: u64, rights: Rights| {
        libos::sys::cap_derive(RawHandle::from_raw(h), rights, DERIVE_SAME, 0, 0)
            .expect("derive")
            .as_raw()
    };
    let mr = Error::MissingRight;
    let wait_only = derive(n, Rights::WAIT);
    let send_only = derive(n, Rights::SEND);
    let ep_send = derive(ep, Rights::SEND);
    let no_map = derive(memory.raw().as_raw(), Rights::READ);
    s.call("notify_create without MAP", Syscall::NotifyCreate, [no_map, 0, 0, 0, 0, 0], mr);
    s.call("notify_signal without SEND", Syscall::NotifySignal, [wait_only, 0, 0, 0, 0, 0], mr);
    s.call("disk_bind without SEND", Syscall::DiskBind, [wait_only, 0, 0, 0, 0, 0], mr);
    s.call("notify_wait without WAIT", Syscall::NotifyWait, [send_only, nb, 0, 0, 0, 0], mr);
    s.call("endpoint_bind without RECV", Syscall::EndpointBind, [ep_send, n, 0, 0, 0, 0], mr);
    s.call("unbind without RECV", Syscall::EndpointBind, [ep_send, 0, 0, 0, 0, 0], mr);
    s.call("endpoint_bind without SEND", Syscall::EndpointBind, [ep, wait_only, 0, 0, 0, 0], mr);
    s.call(
        "derive a range of a notification",
        Syscall::CapDerive,
        [n, Rights::SEND.bits() as u64, DERIVE_RANGE, 0, 1, 0],
        Error::WrongKind,
    );

    for flags in [2, 1 << 63, u64::MAX, 3] {
        let ia = Error::InvalidArgument;
        s.call("notify_wait undefined flag", Syscall::NotifyWait, [n, flags, 0, 0, 0, 0], ia);
    }
    // None of the refused calls signalled: the word is empty.
    s.call(
        "notify_wait after refusals",
        Syscall::NotifyWait,
        [n, nb, 0, 0, 0, 0],
        Error::WouldBlock,
    );
    for h in [wait_only, send_only, ep_send, no_map, ep, n] {
        let _ = libos::sys::cap_drop(RawHandle::from_raw(h));
    }
}

/// `console_read`: bad handles, the wrong kind, no READ, bad lengths,
/// flags and buffers; nothing typed (`WouldBlock`); `Busy` while the peer
/// waits for input, and the peer's wait ended by a revoke (`Revoked`).
/// Nothing is typed during the sweep (the harness's stdin is empty).
fn console_read_cases(
    s: &mut Sweep,
    bad_handles: &[u64],
    console: Handle<Console>,
    timer: Handle<Timer>,
    peer: Handle<Image>,
    ro: u64,
) {
    let c = console.raw().as_raw();
    let mut byte = [0u8; 8];
    let b = byte.as_mut_ptr() as u64;
    let nb = CONSOLE_NONBLOCK;
    let (ia, ba) = (Error::InvalidArgument, Error::BadAddress);
    for &h in bad_handles {
        s.call(
            "console_read bad handle",
            Syscall::ConsoleRead,
            [h, b, 1, nb, 0, 0],
            Error::BadHandle,
        );
    }
    let t = timer.raw().as_raw();
    s.call("console_read on a timer", Syscall::ConsoleRead, [t, b, 1, nb, 0, 0], Error::WrongKind);
    let write_only = console.derive(Rights::WRITE).expect("derive").raw().as_raw();
    s.call(
        "console_read without READ",
        Syscall::ConsoleRead,
        [write_only, b, 1, nb, 0, 0],
        Error::MissingRight,
    );
    s.call("console_read of 0 bytes", Syscall::ConsoleRead, [c, b, 0, nb, 0, 0], ia);
    for flags in [2, nb | 4, u64::MAX] {
        s.call("console_read undefined flag", Syscall::ConsoleRead, [c, b, 1, flags, 0, 0], ia);
    }
    for (what, at) in [
        ("console_read into the kernel", KERNEL_ADDR),
        ("console_read non-canonical", NONCANONICAL),
        ("console_read into read-only memory", ro),
        ("console_read at null", 0),
    ] {
        s.call(what, Syscall::ConsoleRead, [c, at, 1, nb, 0, 0], ba);
    }
    s.call(
        "console_read with nothing typed",
        Syscall::ConsoleRead,
        [c, b, 8, nb, 0, 0],
        Error::WouldBlock,
    );

    // A second reader: the peer waits for input through a copy of ours.
    let rights = Rights::READ | Rights::GRANT | Rights::REVOKE;
    let Ok(input) = console.derive(rights) else {
        return s.expect("derive a console to read through", false);
    };
    let child = Spawn::new(peer)
        .quota_pages(256)
        .args("read=1")
        .grant(input, Rights::READ, "input")
        .and_then(|sp| sp.spawn());
    let Ok(child) = child else {
        return s.expect("spawn the reading peer", false);
    };
    // Busy once the peer waits (it starts waiting soon: poll, sleeping).
    let mut got = Err(Error::WouldBlock);
    for _ in 0..2000 {
        // SAFETY: `byte` is ours, 8 bytes, and unused but by these calls.
        got = unsafe { syscall(Syscall::ConsoleRead, [c, b, 8, nb, 0, 0]) }.map(|_| ());
        if got != Err(Error::WouldBlock) {
            break;
        }
        let _ = timer.sleep_ns(1_000_000);
    }
    s.check("console_read while another process waits", got, Error::Busy);
    // Busy for a blocking read too (it would otherwise wait for ever here).
    s.call(
        "console_read blocking beside a reader",
        Syscall::ConsoleRead,
        [c, b, 8, 0, 0, 0],
        Error::Busy,
    );
    s.expect("revoke the peer's input", input.revoke().is_ok());
    s.expect("the peer's wait ends Revoked", child.wait() == Ok(libos::ExitStatus::Exited(0)));
    s.call(
        "console_read after the reader left",
        Syscall::ConsoleRead,
        [c, b, 8, nb, 0, 0],
        Error::WouldBlock,
    );
    let _ = input.close();
    let _ = byte;
}

fn main(start: &Start) -> i32 {
    let console = start.handle::<Console>("console").expect("console");
    let timer = start.handle::<Timer>("timer").expect("timer");
    let memory = start.handle::<Memory>("memory").expect("memory");
    let peer =
        start.images().find(|&(n, _)| n == "sweep-peer").map(|(_, h)| h).expect("peer image");
    let mut s = Sweep { cases: 0, failures: 0 };
    let c = console.raw().as_raw();

    // Handles that name nothing.
    let dropped = console.derive(Rights::WRITE).expect("derive").raw().as_raw();
    libos::sys::cap_drop(RawHandle::from_raw(dropped)).expect("drop");
    let mut bad_handles = alloc::vec![0, u64::MAX, dropped];
    bad_handles.extend(RANDOM_HANDLES);
    let buf = b"x";
    for &h in &bad_handles {
        let b = buf.as_ptr() as u64;
        s.call("debug_write bad handle", Syscall::DebugWrite, [h, b, 1, 0, 0, 0], Error::BadHandle);
        s.call("cap_info bad handle", Syscall::CapInfo, [h, 0, 0, 0, 0, 0], Error::BadHandle);
        s.call("cap_derive bad handle", Syscall::CapDerive, [h, 0, 0, 0, 0, 0], Error::BadHandle);
        s.call("cap_drop bad handle", Syscall::CapDrop, [h, 0, 0, 0, 0, 0], Error::BadHandle);
        s.call("cap_revoke bad handle", Syscall::CapRevoke, [h, 0, 0, 0, 0, 0], Error::BadHandle);
        s.call(
            "mem_map bad handle",
            Syscall::MemMap,
            [h, AREA, PAGE_SIZE, 0, 0, 0],
            Error::BadHandle,
        );
        s.call("proc_wait bad handle", Syscall::ProcWait, [h, 0, 0, 0, 0, 0], Error::BadHandle);
        s.call("sleep bad handle", Syscall::Sleep, [h, 1, 0, 0, 0, 0], Error::BadHandle);
        s.call("clock bad handle", Syscall::Clock, [h, 0, 0, 0, 0, 0], Error::BadHandle);
        s.call(
            "timer_info bad handle",
            Syscall::TimerInfo,
            [h, AREA, 0, 0, 0, 0],
            Error::BadHandle,
        );
        let args = SpawnArgs {
            image: h,
            memory: memory.raw().as_raw(),
            quota_pages: 64,
            ..Default::default()
        };
        s.spawn("proc_spawn bad image", &args, Error::BadHandle);
        let args = SpawnArgs {
            image: peer.raw().as_raw(),
            memory: h,
            quota_pages: 64,
            ..Default::default()
        };
        s.spawn("proc_spawn bad memory", &args, Error::BadHandle);
    }

    // The wrong kind.
    let t = timer.raw().as_raw();
    let b = buf.as_ptr() as u64;
    s.call("debug_write on a timer", Syscall::DebugWrite, [t, b, 1, 0, 0, 0], Error::WrongKind);
    s.call("clock on a console", Syscall::Clock, [c, 0, 0, 0, 0, 0], Error::WrongKind);
    s.call("timer_info on a console", Syscall::TimerInfo, [c, AREA, 0, 0, 0, 0], Error::WrongKind);
    s.call("sleep on a console", Syscall::Sleep, [c, 1, 0, 0, 0, 0], Error::WrongKind);
    s.call(
        "mem_map on a console",
        Syscall::MemMap,
        [c, AREA, PAGE_SIZE, 0, 0, 0],
        Error::WrongKind,
    );
    s.call("proc_wait on a console", Syscall::ProcWait, [c, 0, 0, 0, 0, 0], Error::WrongKind);
    s.call(
        "derive a range of a console",
        Syscall::CapDerive,
        [c, Rights::WRITE.bits() as u64, DERIVE_RANGE, 0, 1, 0],
        Error::WrongKind,
    );
    let args = SpawnArgs {
        image: c,
        memory: memory.raw().as_raw(),
        quota_pages: 64,
        ..Default::default()
    };
    s.spawn("proc_spawn a console", &args, Error::WrongKind);
    // A CPU mask naming no online CPU (no test boots 16 or 64 CPUs).
    for cpus in [1 << 15, 1 << 63, 0xffff_0000] {
        let args = SpawnArgs {
            image: peer.raw().as_raw(),
            memory: memory.raw().as_raw(),
            quota_pages: 64,
            cpus,
            ..Default::default()
        };
        s.spawn("proc_spawn on no online CPU", &args, Error::InvalidArgument);
    }

    // Missing rights.
    let read_only_console = console.derive(Rights::DERIVE).expect("derive").raw().as_raw();
    s.call(
        "debug_write without WRITE",
        Syscall::DebugWrite,
        [read_only_console, b, 1, 0, 0, 0],
        Error::MissingRight,
    );
    let no_derive = console.derive(Rights::WRITE).expect("derive").raw().as_raw();
    s.call(
        "derive without DERIVE",
        Syscall::CapDerive,
        [no_derive, Rights::WRITE.bits() as u64, 0, 0, 0, 0],
        Error::MissingRight,
    );
    s.call(
        "derive more rights",
        Syscall::CapDerive,
        [read_only_console, Rights::WRITE.bits() as u64, 0, 0, 0, 0],
        Error::MissingRight,
    );
    s.call(
        "revoke without REVOKE",
        Syscall::CapRevoke,
        [no_derive, 0, 0, 0, 0, 0],
        Error::MissingRight,
    );
    let no_wait_timer = timer.derive(Rights::READ).expect("derive").raw().as_raw();
    s.call(
        "sleep without WAIT",
        Syscall::Sleep,
        [no_wait_timer, 1, 0, 0, 0, 0],
        Error::MissingRight,
    );
    let no_read_timer = timer.derive(Rights::WAIT).expect("derive").raw().as_raw();
    s.call(
        "clock without READ",
        Syscall::Clock,
        [no_read_timer, 0, 0, 0, 0, 0],
        Error::MissingRight,
    );
    s.call(
        "timer_info without READ",
        Syscall::TimerInfo,
        [no_read_timer, AREA, 0, 0, 0, 0],
        Error::MissingRight,
    );
    let read_only_memory =
        memory.derive(Rights::MAP | Rights::READ).expect("derive").raw().as_raw();
    s.call(
        "mem_map writable without WRITE",
        Syscall::MemMap,
        [read_only_memory, AREA, PAGE_SIZE, MAP_WRITE, 0, 0],
        Error::MissingRight,
    );
    s.call(
        "mem_map executable without EXEC",
        Syscall::MemMap,
        [read_only_memory, AREA, PAGE_SIZE, MAP_EXEC, 0, 0],
        Error::MissingRight,
    );
    let no_exec_image: libos::Handle<Image> = peer.derive(Rights::GRANT).expect("derive");
    let args = SpawnArgs {
        image: no_exec_image.raw().as_raw(),
        memory: memory.raw().as_raw(),
        quota_pages: 64,
        ..Default::default()
    };
    s.spawn("proc_spawn without EXEC", &args, Error::MissingRight);

    // Bad arguments.
    for nr in [999u64, Syscall::END, u64::MAX] {
        // SAFETY: no pointers.
        let got = libos::abi::decode_result(unsafe { syscall6_raw(nr, [0; 6]) }.rax);
        s.check("unknown syscall number", got.map(|_| ()), Error::BadSyscall);
    }
    s.call(
        "rights with undefined bits",
        Syscall::CapDerive,
        [c, 1 << 31, DERIVE_SAME, 0, 0, 0],
        Error::InvalidArgument,
    );
    s.call(
        "derive with unknown mode",
        Syscall::CapDerive,
        [c, Rights::WRITE.bits() as u64, 9, 0, 0, 0],
        Error::InvalidArgument,
    );
    s.call(
        "debug_write too long",
        Syscall::DebugWrite,
        [c, b, MAX_DEBUG_WRITE + 1, 0, 0, 0],
        Error::InvalidArgument,
    );
    s.call(
        "proc_wait unknown flag",
        Syscall::ProcWait,
        [c, 1 << 7, 0, 0, 0, 0],
        Error::InvalidArgument,
    );
    let m = memory.raw().as_raw();
    s.call(
        "mem_map unaligned",
        Syscall::MemMap,
        [m, AREA + 1, PAGE_SIZE, 0, 0, 0],
        Error::InvalidArgument,
    );
    s.call("mem_map zero length", Syscall::MemMap, [m, AREA, 0, 0, 0, 0], Error::InvalidArgument);
    s.call(
        "mem_map below USER_MIN",
        Syscall::MemMap,
        [m, 0, PAGE_SIZE, 0, 0, 0],
        Error::BadAddress,
    );
    s.call(
        "mem_map the kernel half",
        Syscall::MemMap,
        [m, KERNEL_ADDR, PAGE_SIZE, 0, 0, 0],
        Error::BadAddress,
    );
    s.call(
        "mem_map past MAP_END",
        Syscall::MemMap,
        [m, MAP_END, PAGE_SIZE, 0, 0, 0],
        Error::BadAddress,
    );
    s.call(
        "mem_map wrapping",
        Syscall::MemMap,
        [m, AREA, u64::MAX - PAGE_SIZE + 1, 0, 0, 0],
        Error::BadAddress,
    );
    s.call(
        "mem_map W and X",
        Syscall::MemMap,
        [m, AREA, PAGE_SIZE, MAP_WRITE | MAP_EXEC, 0, 0],
        Error::WriteExecute,
    );
    s.call(
        "mem_map unknown flag",
        Syscall::MemMap,
        [m, AREA, PAGE_SIZE, 1 << 5, 0, 0],
        Error::InvalidArgument,
    );
    s.call(
        "mem_map over the program",
        Syscall::MemMap,
        [m, USER_MIN, PAGE_SIZE, 0, 0, 0],
        Error::AddressInUse,
    );
    s.call(
        "mem_unmap the kernel half",
        Syscall::MemUnmap,
        [KERNEL_ADDR, PAGE_SIZE, 0, 0, 0, 0],
        Error::BadAddress,
    );

    // Bad pointers: one mapped page at AREA, nothing after it.
    memory.map(AREA, PAGE_SIZE, MAP_WRITE).expect("map a test page");
    // A range whose last page (or first) is mapped: refused whole, and the
    // free page beside it stays unmapped.
    s.call(
        "mem_map ending on a mapped page",
        Syscall::MemMap,
        [m, AREA - PAGE_SIZE, 2 * PAGE_SIZE, MAP_WRITE, 0, 0],
        Error::AddressInUse,
    );
    s.call(
        "mem_map starting on a mapped page",
        Syscall::MemMap,
        [m, AREA, 2 * PAGE_SIZE, 0, 0, 0],
        Error::AddressInUse,
    );
    // The page before is still free (it stays mapped, read-only, from
    // here on); the page after is checked unmapped by the cases below.
    s.expect("a refused mem_map maps nothing", memory.map(AREA - PAGE_SIZE, PAGE_SIZE, 0).is_ok());
    let end_of_page = AREA + PAGE_SIZE - 8;
    let bad_ranges: [(&str, u64, u64); 7] = [
        ("null", 0, 8),
        ("page 1", 4096, 8),
        ("kernel", KERNEL_ADDR, 8),
        ("non-canonical", NONCANONICAL, 8),
        ("across the top of user space", USER_END - 8, 16),
        ("wrapping", u64::MAX - 3, 8),
        ("partly unmapped", end_of_page, 16),
    ];
    for (what, ptr, len) in bad_ranges {
        s.call(what, Syscall::DebugWrite, [c, ptr, len, 0, 0, 0], Error::BadAddress);
        let out_len = core::mem::size_of::<CapInfo>() as u64;
        // cap_info's out = 0 means "no record" (documented), not null.
        if ptr != 0 {
            s.call(
                what,
                Syscall::CapInfo,
                [
                    c,
                    if what == "partly unmapped" { AREA + PAGE_SIZE - out_len / 2 } else { ptr },
                    0,
                    0,
                    0,
                    0,
                ],
                Error::BadAddress,
            );
        }
        let timer_out = if what == "partly unmapped" { AREA + PAGE_SIZE - 16 } else { ptr };
        s.call(what, Syscall::TimerInfo, [t, timer_out, 0, 0, 0, 0], Error::BadAddress);
        s.call(what, Syscall::ProcSpawn, [ptr, 0, 0, 0, 0, 0], Error::BadAddress);
        let args = SpawnArgs {
            image: peer.raw().as_raw(),
            memory: m,
            quota_pages: 64,
            grants: ptr,
            grants_len: 1,
            ..Default::default()
        };
        s.call(
            what,
            Syscall::ProcSpawn,
            [&args as *const _ as u64, 0, 0, 0, 0, 0],
            Error::BadAddress,
        );
        let args = SpawnArgs {
            image: peer.raw().as_raw(),
            memory: m,
            quota_pages: 64,
            args: ptr,
            args_len: len,
            ..Default::default()
        };
        s.call(
            what,
            Syscall::ProcSpawn,
            [&args as *const _ as u64, 0, 0, 0, 0, 0],
            Error::BadAddress,
        );
    }
    let ro = &READ_ONLY as *const CapInfo as u64;
    s.call(
        "cap_info into read-only memory",
        Syscall::CapInfo,
        [c, ro, 0, 0, 0, 0],
        Error::BadAddress,
    );
    s.call(
        "cap_info into code",
        Syscall::CapInfo,
        [c, main as *const () as u64, 0, 0, 0, 0],
        Error::BadAddress,
    );
    cap_graph_cases(&mut s, ro);

    // Spawn arguments.
    let grants = [Grant {
        handle: c,
        rights: Rights::WRITE.bits(),
        reserved: 0,
        role: Role::new("console").unwrap(),
    }; 1];
    let spawn = |grants: &[Grant], n: u64, quota: u64| SpawnArgs {
        image: peer.raw().as_raw(),
        memory: m,
        quota_pages: quota,
        grants: grants.as_ptr() as u64,
        grants_len: n,
        ..Default::default()
    };
    let a = spawn(&grants, MAX_START_HANDLES as u64 + 1, 64);
    s.call(
        "too many grants",
        Syscall::ProcSpawn,
        [&a as *const _ as u64, 0, 0, 0, 0, 0],
        Error::InvalidArgument,
    );
    let a = spawn(&grants, 1, u64::MAX / 2);
    s.call(
        "quota beyond ours",
        Syscall::ProcSpawn,
        [&a as *const _ as u64, 0, 0, 0, 0, 0],
        Error::OutOfMemory,
    );
    let mut g = grants;
    // Our console has every console right: grant from a copy without REVOKE.
    g[0].handle = console.derive(Rights::WRITE | Rights::GRANT).expect("derive").raw().as_raw();
    g[0].rights = (Rights::WRITE | Rights::REVOKE).bits();
    let a = spawn(&g, 1, 64);
    s.call(
        "grant more rights",
        Syscall::ProcSpawn,
        [&a as *const _ as u64, 0, 0, 0, 0, 0],
        Error::MissingRight,
    );
    g[0].handle = no_derive; // WRITE only, no GRANT
    g[0].rights = Rights::WRITE.bits();
    let a = spawn(&g, 1, 64);
    s.call(
        "grant without GRANT",
        Syscall::ProcSpawn,
        [&a as *const _ as u64, 0, 0, 0, 0, 0],
        Error::MissingRight,
    );
    g[0].handle = c;
    g[0].role = Role([0; 24]);
    let a = spawn(&g, 1, 64);
    s.call(
        "grant with an empty role",
        Syscall::ProcSpawn,
        [&a as *const _ as u64, 0, 0, 0, 0, 0],
        Error::InvalidArgument,
    );

    // Another process's handle value means nothing in its table.
    let arg = alloc::format!("handle={c}");
    let child = Spawn::new(peer)
        .quota_pages(128)
        .args(&arg)
        .without_console()
        .spawn()
        .expect("spawn the peer");
    let status = child.wait().expect("wait");
    s.check(
        "another process's handle",
        if status.success() { Err(Error::BadHandle) } else { Ok(()) },
        Error::BadHandle,
    );

    // proc_yield_to: bad handles, wrong kinds, an ended process (through
    // its handle, and through a copy with no rights: it needs none).
    for &h in &bad_handles {
        let bh = Error::BadHandle;
        s.call("proc_yield_to bad handle", Syscall::ProcYieldTo, [h, 0, 0, 0, 0, 0], bh);
    }
    let wk = Error::WrongKind;
    s.call("proc_yield_to a console", Syscall::ProcYieldTo, [c, 0, 0, 0, 0, 0], wk);
    s.call("proc_yield_to a timer", Syscall::ProcYieldTo, [t, 0, 0, 0, 0, 0], wk);
    let ended = child.0.raw().as_raw();
    let pg = Error::PeerGone;
    s.call("proc_yield_to an ended process", Syscall::ProcYieldTo, [ended, 0, 0, 0, 0, 0], pg);
    let bare = child.0.derive(Rights::empty()).expect("derive").raw().as_raw();
    s.call("proc_yield_to, no rights, ended", Syscall::ProcYieldTo, [bare, 0, 0, 0, 0, 0], pg);
    // proc_set_cpus: the same, and its own refusals: no WRITE (checked
    // first), no online CPU in the mask (before whether it still runs).
    for &h in &bad_handles {
        let bh = Error::BadHandle;
        s.call("proc_set_cpus bad handle", Syscall::ProcSetCpus, [h, 1, 0, 0, 0, 0], bh);
    }
    s.call("proc_set_cpus a console", Syscall::ProcSetCpus, [c, 1, 0, 0, 0, 0], wk);
    s.call("proc_set_cpus an ended process", Syscall::ProcSetCpus, [ended, 1, 0, 0, 0, 0], pg);
    let mr = Error::MissingRight;
    s.call("proc_set_cpus without WRITE", Syscall::ProcSetCpus, [bare, 1, 0, 0, 0, 0], mr);
    let ia = Error::InvalidArgument;
    let offline = 1 << 63;
    s.call("proc_set_cpus, no CPU online", Syscall::ProcSetCpus, [ended, offline, 0, 0, 0, 0], ia);
    // proc_state: the same refusals; WAIT is its right.
    for &h in &bad_handles {
        let bh = Error::BadHandle;
        s.call("proc_state bad handle", Syscall::ProcState, [h, 0, 0, 0, 0, 0], bh);
    }
    s.call("proc_state a console", Syscall::ProcState, [c, 0, 0, 0, 0, 0], wk);
    s.call("proc_state an ended process", Syscall::ProcState, [ended, 0, 0, 0, 0, 0], pg);
    s.call("proc_state without WAIT", Syscall::ProcState, [bare, 0, 0, 0, 0, 0], mr);
    let _ = libos::sys::cap_drop(RawHandle::from_raw(bare));

    // IPC: bad handles, wrong kinds, bad tags and flags, bad buffers.
    let ep = libos::sys::endpoint_create(memory.raw()).expect("endpoint").as_raw();
    let nb = TAG_NONBLOCK;
    let one = Tag::new(1, 0).with(nb).0;
    for &h in &bad_handles {
        s.call("ipc_send bad handle", Syscall::IpcSend, [h, one, 1, 0, 0, 0], Error::BadHandle);
        s.call("ipc_recv bad handle", Syscall::IpcRecv, [h, nb, 0, 0, 0, 0], Error::BadHandle);
        s.call("ipc_call bad handle", Syscall::IpcCall, [h, one, 1, 0, 0, 0], Error::BadHandle);
        s.call("ipc_reply bad handle", Syscall::IpcReply, [h, one, 1, 0, 0, 0], Error::BadHandle);
        s.call(
            "ipc_reply_recv bad reply",
            Syscall::IpcReplyRecv,
            [h, one, 1, 0, 0, ep],
            Error::BadHandle,
        );
        s.call(
            "ipc_reply_recv bad endpoint",
            Syscall::IpcReplyRecv,
            [c, one, 1, 0, 0, h],
            Error::BadHandle,
        );
        s.call(
            "endpoint_create bad handle",
            Syscall::EndpointCreate,
            [h, 0, 0, 0, 0, 0],
            Error::BadHandle,
        );
        let m = Tag::new(0, 1).with(nb).0;
        s.call("ipc_send a bad handle", Syscall::IpcSend, [ep, m, h, 0, 0, 0], Error::BadHandle);
    }
    s.call("ipc_send on a console", Syscall::IpcSend, [c, one, 1, 0, 0, 0], Error::WrongKind);
    s.call("ipc_recv on a console", Syscall::IpcRecv, [c, nb, 0, 0, 0, 0], Error::WrongKind);
    s.call("ipc_call on a timer", Syscall::IpcCall, [t, one, 1, 0, 0, 0], Error::WrongKind);
    s.call("ipc_reply on an endpoint", Syscall::IpcReply, [ep, one, 1, 0, 0, 0], Error::WrongKind);
    s.call(
        "ipc_reply_recv on a console",
        Syscall::IpcReplyRecv,
        [c, one, 1, 0, 0, ep],
        Error::WrongKind,
    );
    s.call(
        "endpoint_create on a console",
        Syscall::EndpointCreate,
        [c, 0, 0, 0, 0, 0],
        Error::WrongKind,
    );
    let no_map = memory.derive(Rights::READ).expect("derive").raw().as_raw();
    s.call(
        "endpoint_create without MAP",
        Syscall::EndpointCreate,
        [no_map, 0, 0, 0, 0, 0],
        Error::MissingRight,
    );
    let recv_only =
        libos::sys::cap_derive(RawHandle::from_raw(ep), Rights::RECV, DERIVE_SAME, 0, 0)
            .expect("derive")
            .as_raw();
    s.call(
        "ipc_send without SEND",
        Syscall::IpcSend,
        [recv_only, one, 1, 0, 0, 0],
        Error::MissingRight,
    );
    s.call(
        "ipc_send a handle without GRANT",
        Syscall::IpcSend,
        [ep, Tag::new(0, 1).with(nb).0, no_derive, 0, 0, 0],
        Error::MissingRight,
    );
    for (what, tag) in [
        ("ipc_send undefined tag bit", 1u64 << 40),
        ("ipc_send five words", Tag::new(5, 0).0),
        ("ipc_send words and handles past the slots", Tag::new(3, 2).0),
        ("ipc_send five handles (long)", Tag::long(5).0),
        ("ipc_send a received-only flag", TAG_CALL),
        ("ipc_send words in the long form", Tag::long(0).0 | 1),
    ] {
        s.call(what, Syscall::IpcSend, [ep, tag | nb, 0, 0, 0, 0], Error::InvalidArgument);
    }
    s.call(
        "ipc_recv unknown flag",
        Syscall::IpcRecv,
        [ep, 1 << 3, 0, 0, 0, 0],
        Error::InvalidArgument,
    );
    s.call(
        "ipc_reply_recv four slots",
        Syscall::IpcReplyRecv,
        [c, Tag::new(4, 0).0, 0, 0, 0, ep],
        Error::InvalidArgument,
    );
    let long = Tag::long(0).with(nb).0;
    let big = MsgDesc { data: AREA, len: MAX_MSG_BYTES as u64 + 1, handles: [0; 4] };
    s.call(
        "ipc_send too long",
        Syscall::IpcSend,
        [ep, long, &big as *const _ as u64, 0, 0, 0],
        Error::InvalidArgument,
    );
    for (what, ptr, len) in bad_ranges {
        s.call(what, Syscall::IpcRecv, [ep, nb, ptr, len, 0, 0], Error::BadAddress);
        if ptr != 0 {
            s.call(what, Syscall::IpcSend, [ep, long, ptr, 0, 0, 0], Error::BadAddress);
        }
        let desc = MsgDesc { data: ptr, len, handles: [0; 4] };
        s.call(
            what,
            Syscall::IpcSend,
            [ep, long, &desc as *const _ as u64, 0, 0, 0],
            Error::BadAddress,
        );
    }
    s.call(
        "ipc_recv into read-only memory",
        Syscall::IpcRecv,
        [ep, nb, ro, 8, 0, 0],
        Error::BadAddress,
    );

    // Disk ranges: every disk syscall with bad handles, wrong kinds,
    // missing rights, bad sectors and counts, bad buffers and bad ids.
    let disk = start.handle::<DiskRange>("disk").expect("disk");
    let d = disk.raw().as_raw();
    let sectors = disk.sectors().expect("disk size");
    let stale = disk.derive_range(0, 1, Rights::READ).expect("derive").raw().as_raw();
    libos::sys::cap_drop(RawHandle::from_raw(stale)).expect("drop");
    let mut sector = alloc::vec![0u8; 2 * 512 + 512];
    // One sector-aligned and one unaligned buffer: the kernel takes two
    // different paths (the user's frames, or a bounce buffer).
    let aligned = (sector.as_mut_ptr() as u64).next_multiple_of(512);
    let unaligned = aligned + 1;
    let disk_handles: alloc::vec::Vec<u64> = bad_handles.iter().copied().chain([stale]).collect();
    for &h in &disk_handles {
        let bh = Error::BadHandle;
        s.call("disk_info bad handle", Syscall::DiskInfo, [h, 0, 0, 0, 0, 0], bh);
        s.call("disk_read bad handle", Syscall::DiskRead, [h, 0, 1, aligned, 0, 0], bh);
        s.call("disk_write bad handle", Syscall::DiskWrite, [h, 0, 1, aligned, 0, 0], bh);
        s.call("disk_flush bad handle", Syscall::DiskFlush, [h, 0, 0, 0, 0, 0], bh);
        for op in [OP_READ, OP_WRITE, OP_FLUSH] {
            s.call("disk_submit bad handle", Syscall::DiskSubmit, [h, op, 0, 1, aligned, 0], bh);
        }
        // Request ids are checked against the caller's own requests.
        s.call("disk_complete bad id", Syscall::DiskComplete, [h, 0, 0, 0, 0, 0], bh);
        let nb = COMPLETE_NONBLOCK;
        s.call("disk_complete bad id, nonblocking", Syscall::DiskComplete, [h, nb, 0, 0, 0, 0], bh);
    }
    let wk = Error::WrongKind;
    s.call("disk_info on a console", Syscall::DiskInfo, [c, 0, 0, 0, 0, 0], wk);
    s.call("disk_read on a console", Syscall::DiskRead, [c, 0, 1, aligned, 0, 0], wk);
    s.call("disk_write on a timer", Syscall::DiskWrite, [t, 0, 1, aligned, 0, 0], wk);
    s.call("disk_flush on memory", Syscall::DiskFlush, [m, 0, 0, 0, 0, 0], wk);
    s.call("disk_submit on a console", Syscall::DiskSubmit, [c, OP_READ, 0, 1, aligned, 0], wk);
    s.call(
        "disk_complete with a handle",
        Syscall::DiskComplete,
        [d, 0, 0, 0, 0, 0],
        Error::BadHandle,
    );
    let no_read = disk.derive_range(0, sectors, Rights::WRITE).expect("derive").raw().as_raw();
    let no_write = disk.derive_range(0, sectors, Rights::READ).expect("derive").raw().as_raw();
    let neither = disk.derive_range(0, sectors, Rights::DERIVE).expect("derive").raw().as_raw();
    let mr = Error::MissingRight;
    s.call("disk_info without READ", Syscall::DiskInfo, [no_read, 0, 0, 0, 0, 0], mr);
    s.call("disk_read without READ", Syscall::DiskRead, [no_read, 0, 1, aligned, 0, 0], mr);
    s.call("disk_write without WRITE", Syscall::DiskWrite, [no_write, 0, 1, aligned, 0, 0], mr);
    s.call("disk_flush without WRITE", Syscall::DiskFlush, [no_write, 0, 0, 0, 0, 0], mr);
    let submit = |h: u64, op: u64| [h, op, 0, 1, aligned, 0];
    s.call("disk_submit read without READ", Syscall::DiskSubmit, submit(no_read, OP_READ), mr);
    s.call("disk_submit write without WRITE", Syscall::DiskSubmit, submit(no_write, OP_WRITE), mr);
    s.call("disk_submit flush without WRITE", Syscall::DiskSubmit, submit(no_write, OP_FLUSH), mr);
    s.call("disk_read with no right", Syscall::DiskRead, [neither, 0, 1, aligned, 0, 0], mr);
    s.call("disk_info with no right", Syscall::DiskInfo, [neither, 0, 0, 0, 0, 0], mr);
    // Sectors and counts: relative to the range, overflow-checked.
    let ia = Error::InvalidArgument;
    let oor = Error::OutOfRange;
    for (call, max) in [
        (Syscall::DiskRead, MAX_SECTORS),
        (Syscall::DiskWrite, MAX_SECTORS),
        (Syscall::DiskSubmit, MAX_ASYNC_SECTORS),
    ] {
        let args = |sector: u64, count: u64| match call {
            Syscall::DiskSubmit => [d, OP_READ, sector, count, aligned, 0],
            _ => [d, sector, count, aligned, 0, 0],
        };
        s.call("disk count 0", call, args(0, 0), ia);
        s.call("disk count over the most per request", call, args(0, max + 1), ia);
        s.call("disk huge count", call, args(0, u64::MAX), ia);
        s.call("disk sector one past the range", call, args(sectors, 1), oor);
        s.call("disk request running past the range", call, args(sectors - 1, 2), oor);
        s.call("disk sector + count overflowing", call, args(u64::MAX, 2), oor);
        s.call("disk sector far past the range", call, args(u64::MAX - 1, 1), oor);
    }
    for op in [3, 9, u64::MAX] {
        s.call("disk_submit unknown op", Syscall::DiskSubmit, [d, op, 0, 1, aligned, 0], ia);
    }
    s.call("disk_complete unknown flag", Syscall::DiskComplete, [1, 1 << 4, 0, 0, 0, 0], ia);
    // Buffers: every bad range, sector-aligned or not where it can be.
    // (what, buffer, sectors, whether a `DiskInfo` record there is bad too)
    let disk_bad: [(&str, u64, u64, bool); 10] = [
        ("disk null buffer", 0, 1, false),
        ("disk buffer in page 1", 4096, 1, true),
        ("disk kernel buffer", KERNEL_ADDR, 1, true),
        ("disk non-canonical buffer", NONCANONICAL, 1, true),
        ("disk buffer across the top of user space", USER_END - 512, 2, false),
        ("disk buffer wrapping", u64::MAX - 511, 2, true),
        ("disk buffer partly unmapped (aligned)", AREA + PAGE_SIZE - 512, 2, false),
        ("disk buffer partly unmapped (unaligned)", AREA + PAGE_SIZE - 256, 1, false),
        ("disk buffer unmapped", AREA + PAGE_SIZE, 1, true),
        ("disk buffer unaligned, unmapped", AREA + PAGE_SIZE + 8, 1, true),
    ];
    let ba = Error::BadAddress;
    for (what, ptr, count, info_too) in disk_bad {
        s.call(what, Syscall::DiskRead, [d, 0, count, ptr, 0, 0], ba);
        s.call(what, Syscall::DiskWrite, [d, 0, count, ptr, 0, 0], ba);
        s.call(what, Syscall::DiskSubmit, [d, OP_READ, 0, count, ptr, 0], ba);
        s.call(what, Syscall::DiskSubmit, [d, OP_WRITE, 0, count, ptr, 0], ba);
        if info_too {
            s.call(what, Syscall::DiskInfo, [d, ptr, 0, 0, 0, 0], ba);
        }
    }
    let info_len = core::mem::size_of::<libos::abi::disk::DiskInfo>() as u64;
    s.call(
        "disk_info out partly unmapped",
        Syscall::DiskInfo,
        [d, AREA + PAGE_SIZE - info_len / 2, 0, 0, 0, 0],
        ba,
    );
    s.call("disk_info into read-only memory", Syscall::DiskInfo, [d, ro, 0, 0, 0, 0], ba);
    let ro_sectors = READ_ONLY_SECTORS.0.as_ptr() as u64;
    let code = (main as *const () as u64).next_multiple_of(512);
    for (what, ptr) in [
        ("disk_read into read-only memory (aligned)", ro_sectors),
        ("disk_read into read-only memory (unaligned)", ro_sectors + 1),
        ("disk_read into code", code),
    ] {
        s.call(what, Syscall::DiskRead, [d, 0, 1, ptr, 0, 0], ba);
        s.call(what, Syscall::DiskSubmit, [d, OP_READ, 0, 1, ptr, 0], ba);
    }
    // A finished request's id is dead; so is its slot with another
    // generation.
    // SAFETY: `sector` is ours, and `disk_complete` below ends the request.
    let id = unsafe { syscall(Syscall::DiskSubmit, [d, OP_READ, 0, 1, unaligned, 0]) };
    // SAFETY: as above.
    let done = id.and_then(|id| unsafe { syscall(Syscall::DiskComplete, [id, 0, 0, 0, 0, 0]) });
    s.cases += 1;
    if done != Ok(1) {
        s.failures += 1;
        println!("sweep: a good request: submitted {id:?}, completed {done:?}");
    }
    if let Ok(id) = id {
        let bh = Error::BadHandle;
        s.call("disk_complete a finished request", Syscall::DiskComplete, [id, 0, 0, 0, 0, 0], bh);
        let other_generation = id ^ (1 << 40);
        s.call(
            "disk_complete another generation",
            Syscall::DiskComplete,
            [other_generation, 0, 0, 0, 0, 0],
            bh,
        );
    }
    ring_cases(&mut s, memory, disk, console, &bad_handles, ro);

    // Nothing refused above reached the disk or killed the range.
    if disk.sectors() != Ok(sectors) {
        println!("sweep: the disk handle stopped working");
        return 1;
    }

    notify_cases(&mut s, &bad_handles, console, timer, memory);
    let held = memobj::Held { memory, console, timer, peer, bad_handles: &bad_handles };
    memobj::cases(&mut s, &held);
    console_read_cases(&mut s, &bad_handles, console, timer, peer, ro);

    // Nothing above changed what we hold: the console still works.
    if console.write(b"").is_err() || libos::sys::cap_kind(console.raw()).is_err() {
        println!("sweep: the console handle stopped working");
        return 1;
    }
    if s.failures == 0 {
        println!("sweep: {} cases, all as expected", s.cases);
        0
    } else {
        println!("sweep: {} of {} cases wrong", s.failures, s.cases);
        1
    }
}
