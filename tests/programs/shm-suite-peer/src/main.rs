//! The other side of `shm-suite` (`mode=<name>`): exits 0 when its part
//! went as expected, else prints `shm-suite-peer: <what>` and exits 1
//! (modes that die on purpose say how in their doc).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use libos::abi::args::MAP_WRITE;
use libos::abi::layout::PAGE_SIZE;
use libos::bulk::Sender;
use libos::ipc::Msg;
use libos::kind::{DiskRange, Endpoint, Memory, MemoryObject, Notification, Timer};
use libos::sys::shm::SharedMapping;
use libos::{Error, Handle, Rights, Start, println};

libos::main!(main);

fn main(start: &Start) -> i32 {
    let mode = start.arg("mode").unwrap_or("");
    let r = match mode {
        "read" => read(start),
        "write" => write(start),
        "hold" => hold(start),
        "race" => race(start),
        "race-disk" => race_disk(start),
        "quota" => quota(start),
        "wait" => wait(start),
        "disk" => disk(start),
        "disk-revoke" => disk_revoke(start),
        "hog" => hog(start),
        "recv-revoke" => recv_revoke(start),
        "bulk-send" => bulk_send(start),
        "bulk-die" => return bulk_die(start),
        "bulk-garbage" => bulk_garbage(start),
        "lease-server" => lease_server(start),
        _ => Err(format!("unknown mode {mode:?}")),
    };
    match r {
        Ok(()) => 0,
        Err(e) => {
            println!("shm-suite-peer: {mode}: {e}");
            1
        }
    }
}

type Outcome = Result<(), String>;

fn ok<T, E: core::fmt::Debug>(what: &str, r: Result<T, E>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e:?}"))
}

fn want<T: core::fmt::Debug + PartialEq>(what: &str, got: T, want: T) -> Outcome {
    if got == want { Ok(()) } else { Err(format!("{what}: got {got:?}, want {want:?}")) }
}

/// The same pattern as the suite's.
fn pattern(seed: u64, i: usize) -> u8 {
    ((i as u64).wrapping_mul(31).wrapping_add(seed.wrapping_mul(7)) >> 2) as u8
}

fn object(start: &Start) -> Result<Handle<MemoryObject>, String> {
    start.handle::<MemoryObject>("object").ok_or_else(|| String::from("no object"))
}

fn check_pattern(what: &str, seed: u64, got: &[u8], base: usize) -> Outcome {
    match got.iter().enumerate().find(|&(i, &b)| b != pattern(seed, base + i)) {
        None => Ok(()),
        Some((i, b)) => Err(format!("{what}: byte {} is {b}", base + i)),
    }
}

/// Maps the read-only copy, finds pattern 1, cannot map it writable.
fn read(start: &Start) -> Outcome {
    let o = object(start)?;
    let buf = ok("map read-only", o.map(false))?;
    let mut all = vec![0u8; buf.len()];
    ok("read", buf.read(0, &mut all))?;
    check_pattern("the suite's bytes", 1, &all, 0)?;
    want("map writable", o.map(true).map(drop), Err(Error::MissingRight))?;
    Ok(())
}

/// Writes pattern 2 over page 1.
fn write(start: &Start) -> Outcome {
    let buf = ok("map writable", object(start)?.map(true))?;
    let mut page = vec![0u8; PAGE_SIZE as usize];
    for (i, b) in page.iter_mut().enumerate() {
        *b = pattern(2, i);
    }
    ok("write", buf.write(PAGE_SIZE as usize, &page))
}

/// Maps, checks pattern 3, writes pattern 4 over the first 16 bytes, says
/// so, then polls (without touching the pages) until the capability is
/// gone, makes a checked read, which must say `Revoked`, and touches the
/// old address raw: dies of a page fault (the suite expects it). (Polling
/// with checked reads raced on several CPUs: a revoke landing between a
/// read's check and its copy ended the process in the copy.)
fn hold(start: &Start) -> Outcome {
    let o = object(start)?;
    let buf = ok("map", o.map(true))?;
    let raw = ok("map again", SharedMapping::map(o, 0, 1, 0))?;
    let mut all = vec![0u8; buf.len()];
    ok("read", buf.read(0, &mut all))?;
    check_pattern("the suite's bytes", 3, &all, 0)?;
    let mut head = [0u8; 16];
    for (i, b) in head.iter_mut().enumerate() {
        *b = pattern(4, i);
    }
    ok("write", buf.write(0, &head))?;
    let ready = start.handle::<Notification>("ready").ok_or("no ready")?;
    ok("signal", ready.signal())?;
    let timer = start.handle::<Timer>("timer").ok_or("no timer")?;
    let mut byte = [0u8; 1];
    for _ in 0..10_000 {
        if libos::sys::cap_kind(buf.handle().raw()).is_ok() {
            ok("sleep", timer.sleep_ns(1_000_000))?;
            continue;
        }
        let read = buf.read(0, &mut byte);
        println!(
            "shm-suite-peer: a read after the revoke: {}",
            match read {
                Ok(()) => String::from("Ok"),
                Err(e) => format!("{e:?}"),
            }
        );
        // The page is gone: this load faults, and ends this process.
        let _ = raw.read(0, &mut byte);
        return Err(String::from("touched a revoked page and lived"));
    }
    Err(String::from("never revoked"))
}

/// `revoke-race`'s peer: maps the object writable and the flag read-only,
/// says it is ready, then stores to the object in a loop with no syscall,
/// reading the flag before each store. The revoke must end it with a page
/// fault; a store made after it saw this round's flag is an error.
fn race(start: &Start) -> Outcome {
    let round: u64 = start.arg("round").and_then(|r| r.parse().ok()).ok_or("no round")?;
    let target = ok("map", SharedMapping::map(object(start)?, 0, 1, MAP_WRITE))?;
    let flag_object = start.handle::<MemoryObject>("flag").ok_or("no flag")?;
    let flag = ok("map the flag", SharedMapping::map(flag_object, 0, 1, 0))?;
    let ready = start.handle::<Notification>("ready").ok_or("no ready")?;
    ok("signal", ready.signal())?;
    let mut seen = [0u8; 8];
    let mut n = 0u64;
    loop {
        ok("read the flag", flag.read(0, &mut seen))?;
        let raised = u64::from_le_bytes(seen) == round;
        ok("store", target.write(8, &n.to_le_bytes()))?;
        if raised {
            return Err(format!("round {round}: a store succeeded after the revoke returned"));
        }
        n += 1;
    }
}

/// `revoke-race`'s disk peer: reads its range in a loop, reading the flag
/// before each read, until a read is refused (`BadHandle` or `Revoked`);
/// a read that succeeds after it saw this round's flag is an error.
fn race_disk(start: &Start) -> Outcome {
    let round: u64 = start.arg("round").and_then(|r| r.parse().ok()).ok_or("no round")?;
    let disk = start.handle::<DiskRange>("disk").ok_or("no disk")?;
    let flag_object = start.handle::<MemoryObject>("flag").ok_or("no flag")?;
    let flag = ok("map the flag", SharedMapping::map(flag_object, 0, 1, 0))?;
    let ready = start.handle::<Notification>("ready").ok_or("no ready")?;
    ok("signal", ready.signal())?;
    let mut seen = [0u8; 8];
    let mut sector = [0u8; 512];
    loop {
        ok("read the flag", flag.read(0, &mut seen))?;
        let raised = u64::from_le_bytes(seen) == round;
        match disk.read(0, &mut sector) {
            Ok(()) if raised => {
                return Err(format!("round {round}: a read succeeded after the revoke returned"));
            }
            Ok(()) => {}
            Err(Error::BadHandle | Error::Revoked) => return Ok(()),
            Err(e) => return Err(format!("round {round}: read: {e:?}")),
        }
    }
}

/// Maps the suite's object and writes "peer", makes and maps an object of
/// its own, and exits holding everything.
fn quota(start: &Start) -> Outcome {
    let buf = ok("map", object(start)?.map(true))?;
    ok("write", buf.write(0, b"peer"))?;
    let memory = start.handle::<Memory>("memory").ok_or("no memory")?;
    let mine = ok("create", Handle::<MemoryObject>::create(memory, 8))?;
    let b2 = ok("map mine", mine.map(true))?;
    ok("write mine", b2.write(100, b"x"))?;
    core::mem::forget(buf);
    core::mem::forget(b2);
    Ok(())
}

/// Maps, says so, waits for `go`.
fn wait(start: &Start) -> Outcome {
    let buf = ok("map", object(start)?.map(false))?;
    let ready = start.handle::<Notification>("ready").ok_or("no ready")?;
    let go = start.handle::<Notification>("go").ok_or("no go")?;
    ok("signal", ready.signal())?;
    ok("wait", go.wait())?;
    want("the mapping was revoked", buf.read(0, &mut [0u8; 1]), Err(Error::Revoked))
}

/// Finds the suite's disk bytes (pattern 5, 64 KiB) in the shared buffer.
fn disk(start: &Start) -> Outcome {
    let buf = ok("map", object(start)?.map(false))?;
    let mut all = vec![0u8; 64 * 1024];
    ok("read", buf.read(0, &mut all))?;
    check_pattern("the disk's bytes", 5, &all, 0)
}

/// Maps the suite's object writable (64 pages), says so, then reads
/// 256 KiB of the disk into it again and again (large, so that a read
/// waits for the device), through
/// `SharedMapping::disk` (which does not ask whether the capability
/// lives), until a read fails. The suite's revoke, landing while a read
/// is blocked on the device or between two, must make it `BadAddress`:
/// never a write into pages no longer mapped here.
fn disk_revoke(start: &Start) -> Outcome {
    let range = start.handle::<DiskRange>("disk").ok_or("no disk")?;
    let m = ok("map", SharedMapping::map(object(start)?, 0, 64, MAP_WRITE))?;
    let ready = start.handle::<Notification>("ready").ok_or("no ready")?;
    ok("signal", ready.signal())?;
    for i in 0..100_000 {
        match m.disk(false, range, 0, (0, 256 * 1024)) {
            Ok(512) => {}
            Err(Error::BadAddress) => {
                println!("shm-suite-peer: disk-revoke: BadAddress after {i} reads");
                return Ok(());
            }
            other => return Err(format!("read {i}: {other:?}")),
        }
    }
    Err(String::from("never revoked"))
}

/// Maps one page of an object of its own again and again, until the
/// kernel refuses; says how many and why, signals `ready`, then holds
/// them until `go`.
fn hog(start: &Start) -> Outcome {
    let memory = start.handle::<Memory>("memory").ok_or("no memory")?;
    let o = ok("create", Handle::<MemoryObject>::create(memory, 1))?;
    let mut n = 0u64;
    let err = loop {
        match libos::sys::shm::mo_map(o, 0, 1, 0x6000_0000_0000 + n * PAGE_SIZE, 0) {
            Ok(()) => n += 1,
            Err(e) => break e,
        }
    };
    println!("shm-suite-peer: hog: {n} mappings, then {err:?}");
    let limit = libos::abi::args::MAX_MAPPINGS_PER_PROCESS as u64;
    want("the mappings one process may hold", (n, err), (limit, Error::OutOfMemory))?;
    let ready = start.handle::<Notification>("ready").ok_or("no ready")?;
    let go = start.handle::<Notification>("go").ok_or("no go")?;
    ok("signal", ready.signal())?;
    ok("wait", go.wait())?;
    Ok(())
}

/// How long `recv-revoke` lets the suite reach its receive.
const RECV_REVOKE_PAUSE_NS: u64 = 50_000_000;

/// Moves a writable copy of an object of its own to the suite (which maps
/// it and receives into it), waits for `go`, then `RECV_REVOKE_PAUSE_NS`
/// (the suite is blocked in its receive by then, even on several CPUs),
/// revokes the copy, then sends a long message carrying a notification.
fn recv_revoke(start: &Start) -> Outcome {
    let memory = start.handle::<Memory>("memory").ok_or("no memory")?;
    let ep = start.handle::<Endpoint>("ep").ok_or("no ep")?;
    let go = start.handle::<Notification>("go").ok_or("no go")?;
    let o = ok("create", Handle::<MemoryObject>::create(memory, 1))?;
    let copy = ok("derive", o.derive(Rights::MAP | Rights::READ | Rights::WRITE | Rights::GRANT))?;
    ok("send the copy", ep.send(&ok("message", Msg::word(0).with(copy))?.moving()))?;
    ok("wait", go.wait())?;
    // On several CPUs this runs as soon as the suite signals, beside it:
    // give it time to block in its receive (the premise of the case).
    let timer = start.handle::<Timer>("timer").ok_or("no timer")?;
    ok("sleep", timer.sleep_ns(RECV_REVOKE_PAUSE_NS))?;
    want("revoke", o.revoke(), Ok(1))?;
    let n = ok("notification", Handle::<Notification>::create(memory))?;
    ok("send", ep.send_bytes(b"after the revoke", &[n.raw()]))
}

fn sender(start: &Start) -> Result<Sender, String> {
    let m = start.handle::<MemoryObject>("bulk-memory").ok_or("no bulk-memory")?;
    let d = start.handle::<Notification>("bulk-data").ok_or("no bulk-data")?;
    let s = start.handle::<Notification>("bulk-space").ok_or("no bulk-space")?;
    ok("the sending end", Sender::new(m, d, s))
}

/// Sends 4 MiB of pattern 6 in uneven pieces, then closes.
fn bulk_send(start: &Start) -> Outcome {
    let mut tx = sender(start)?;
    let total = 4 << 20;
    let mut piece = vec![0u8; 48 * 1024 + 13];
    let mut sent = 0usize;
    while sent < total {
        let n = piece.len().min(total - sent);
        for (i, b) in piece[..n].iter_mut().enumerate() {
            *b = pattern(6, sent + i);
        }
        ok("send", tx.send(&piece[..n]))?;
        sent += n;
    }
    ok("close", tx.close())
}

/// Sends 1000 bytes and exits with 3 without closing.
fn bulk_die(start: &Start) -> i32 {
    match sender(start).and_then(|mut tx| ok("send", tx.send(&[7u8; 1000]))) {
        Ok(()) => 3,
        Err(e) => {
            println!("shm-suite-peer: bulk-die: {e}");
            1
        }
    }
}

/// Writes a tail far past the ring, and signals.
fn bulk_garbage(start: &Start) -> Outcome {
    let m = start.handle::<MemoryObject>("bulk-memory").ok_or("no bulk-memory")?;
    let d = start.handle::<Notification>("bulk-data").ok_or("no bulk-data")?;
    let map = ok("map", m.map(true))?;
    ok(
        "store a garbage tail",
        map.atomic_u64(0).map(|t| t.store(1 << 40, core::sync::atomic::Ordering::Release)),
    )?;
    ok("signal", d.signal())
}

/// Serves the suite's lease calls (see its `lease` case).
fn lease_server(start: &Start) -> Outcome {
    let ep = start.handle::<Endpoint>("ep").ok_or("no ep")?;
    // 1: a call with a lease.
    let req = ok("recv", ep.recv())?;
    let lent = ok("map the lease", libos::shm::map_lease(&req, 0, true))?;
    let len = req.words().first().copied().unwrap_or(0) as usize;
    let mut data = vec![0u8; len];
    ok("read the request", lent.read(0, &mut data))?;
    let sum: u64 = data.iter().map(|&b| u64::from(b)).sum();
    ok("write the answer", lent.write(0, b"served"))?;
    ok("reply", req.reply().ok_or("no reply")?.reply(&Msg::word(sum)))?;
    // 2: is the lease gone?
    let req = ok("recv", ep.recv())?;
    let gone = lent.read(0, &mut [0u8; 1]) == Err(Error::Revoked);
    ok("reply", req.reply().ok_or("no reply")?.reply(&Msg::word(u64::from(gone))))?;
    // 3: a moved capability: map it.
    let req = ok("recv", ep.recv())?;
    let moved: Handle<MemoryObject> = req.handle(0).ok_or("no handle")?;
    let m = ok("map the moved capability", moved.map(false))?;
    ok("reply", req.reply().ok_or("no reply")?.reply(&Msg::word(u64::from(!m.is_empty()))))?;
    // 4: stop.
    let req = ok("recv", ep.recv())?;
    ok("reply", req.reply().ok_or("no reply")?.reply(&Msg::word(0)))
}
