//! Given a disk range, derives a narrower one, writes through it, revokes
//! it, and checks the next write fails. Exits 0 if all went as expected.
//! With `mode=die-exit` or `mode=die-fault`, fills its queue of
//! asynchronous requests instead, then exits (0) or faults without
//! completing them (exits 1 if a submission failed). With `mode=reader`,
//! reads 4 KiB blocks back to back for `ms=` milliseconds and exits with
//! the number of reads (negative on an error). With `mode=bound-reader`,
//! binds a notification of its own to its disk completions, submits one
//! read, sleeps `ms=` and exits 0 if the notification was signalled, 20
//! if not. With `mode=drop-ring`, closes the I/O ring granted as `ring`
//! (another process's), signals `told` and exits 0. With `mode=stamp`,
//! writes a pattern to `blocks=` 4 KiB blocks from block `first=` and
//! reads them back; with `mode=check`, reads them and compares (exits 0,
//! or 40 on a failed call, 41 on wrong data).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use libos::abi::args::MAP_WRITE;
use libos::abi::disk::{MAX_ASYNC_REQUESTS, MAX_ASYNC_SECTORS};
use libos::kind::{DiskRange, IoRing, Memory, Notification, Timer};
use libos::{Error, Handle, Rights, Start};

libos::main!(main);

/// Submits every request a process may have in flight (reads and writes of
/// the largest size) and dies with them pending.
fn die_in_flight(disk: Handle<DiskRange>, timer: Option<Handle<Timer>>, fault: bool) -> i32 {
    const BYTES: usize = MAX_ASYNC_SECTORS as usize * 512;
    let mut bufs: Vec<Vec<u8>> = (0..MAX_ASYNC_REQUESTS).map(|_| vec![0x3c; BYTES]).collect();
    for (i, b) in bufs.iter_mut().enumerate() {
        let sector = i as u64 * MAX_ASYNC_SECTORS;
        // `Busy` while an earlier round's orphans still hold the DMA pool
        // (the disk frees it at the host's pace): tried again every
        // millisecond for up to 5 s, given a timer.
        let mut tries = 0;
        loop {
            let p =
                if i % 2 == 0 { disk.submit_read(sector, b) } else { disk.submit_write(sector, b) };
            match p {
                // Left in flight on purpose: the kernel must cope with the
                // owner dying first.
                Ok(p) => {
                    core::mem::forget(p);
                    break;
                }
                Err(Error::Busy) if tries < 5000 => match timer {
                    Some(t) if t.sleep_ns(1_000_000).is_ok() => tries += 1,
                    _ => return 1,
                },
                Err(_) => return 1,
            }
        }
    }
    if fault {
        // SAFETY: none needed; `ud2` raises #UD, which kills this process.
        unsafe { core::arch::asm!("ud2") };
    }
    libos::process::exit(0)
}

/// Reads the range 1 MiB at a time, round and round, until a read fails:
/// exits 10 if it said `Revoked`, 11 if `BadHandle`, 12 otherwise.
/// Signals `told` once its first read is done, or when it ends before
/// that, so the revoker knows the reads are under way (the revoke should
/// find one waiting for the disk) and never waits for nothing.
fn read_until_revoked(disk: Handle<DiskRange>, told: Option<Handle<Notification>>) -> i32 {
    let mut told = told;
    let mut tell = || {
        if let Some(n) = told.take() {
            let _ = n.signal();
        }
    };
    let mut buf = vec![0u8; 1 << 20];
    let sectors = match disk.sectors() {
        Ok(n) => n,
        Err(e) => {
            tell();
            return if e == Error::BadHandle { 11 } else { 12 };
        }
    };
    let chunk = (buf.len() / 512) as u64;
    let mut at = 0;
    loop {
        let r = disk.read(at, &mut buf);
        tell();
        match r {
            Ok(()) => at = (at + chunk) % (sectors - sectors % chunk).max(chunk),
            Err(Error::Revoked) => return 10,
            Err(Error::BadHandle) => return 11,
            Err(_) => return 12,
        }
    }
}

/// Reads 4 KiB blocks across the range back to back for `ms`; returns how
/// many, or -1 on an error.
fn reader(disk: Handle<DiskRange>, timer: Option<Handle<Timer>>, ms: u64) -> i32 {
    let Some(timer) = timer else { return -1 };
    let (Ok(t0), Ok(sectors)) = (timer.now_ns(), disk.sectors()) else { return -1 };
    let blocks = sectors / 8;
    let mut page = [0u8; 4096];
    let mut reads = 0;
    while blocks > 0 && timer.now_ns().is_ok_and(|t| t < t0 + ms * 1_000_000) {
        if disk.read(reads as u64 * 7919 % blocks * 8, &mut page).is_err() {
            return -1;
        }
        reads += 1;
    }
    reads
}

/// The bytes of 4 KiB block `block` that `stamp` writes: they differ from
/// block to block and within each sector.
fn pattern(block: u64) -> [u8; 4096] {
    let mut b = [0u8; 4096];
    for (i, x) in b.iter_mut().enumerate() {
        *x = (block as u8).wrapping_mul(29) ^ (i as u8).wrapping_mul(11) ^ (i >> 9) as u8;
    }
    b
}

/// With `write`, writes `blocks` 4 KiB blocks from block `first` with
/// their `pattern` and reads each back; else only reads and compares.
/// Exits 0, 40 on a failed call, 41 on wrong data.
fn stamp_or_check(disk: Handle<DiskRange>, first: u64, blocks: u64, write: bool) -> i32 {
    let mut page = [0u8; 4096];
    for block in first..first + blocks {
        let want = pattern(block);
        if write && disk.write(block * 8, &want).is_err() {
            return 40;
        }
        if disk.read(block * 8, &mut page).is_err() {
            return 40;
        }
        if page != want {
            return 41;
        }
    }
    0
}

/// Counts on the CPU for `ms` of the timer's clock: the busy neighbour of
/// `disktest mode=tickwake`'s reader. It reads the TSC, after measuring its
/// rate against the clock, and makes no other call, so that only a tick
/// takes the CPU from it; or, if `polite`, it yields after every step, so
/// that a ready process waits for it a step at most. Exits 0, or -1 without
/// a timer.
fn spin(timer: Option<Handle<Timer>>, ms: u64, polite: bool) -> i32 {
    let Some(timer) = timer else { return -1 };
    let (Ok(t0), r0) = (timer.now_ns(), libos::sys::rdtsc()) else { return -1 };
    let mut x = 1u64;
    let mut count = |until: &dyn Fn(u64) -> bool| {
        while !until(libos::sys::rdtsc()) {
            for _ in 0..1000 {
                x = core::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            if polite {
                libos::process::yield_now();
            }
        }
    };
    count(&|r| r - r0 >= 10_000_000);
    let (Ok(t1), r1) = (timer.now_ns(), libos::sys::rdtsc()) else { return -1 };
    let (ns, cycles) = ((t1 - t0).max(1) as u128, (r1 - r0) as u128);
    let left_ns = (ms * 1_000_000).saturating_sub(t1 - t0) as u128;
    let end = r1 + (left_ns * cycles / ns) as u64;
    count(&|r| r >= end);
    0
}

/// Binds a notification to this process's disk completions, signals
/// `ready` (if granted), waits for `go` (if granted), starts one read and
/// polls the notification every `ms` while it completes: exits 0 once it
/// is signalled, 20 if it was not within 5 s (a lost wake-up), other codes
/// on a failed call.
fn bound_reader(start: &Start, disk: Handle<DiskRange>, ms: u64) -> i32 {
    let (Some(memory), Some(timer)) =
        (start.handle::<Memory>("memory"), start.handle::<Timer>("timer"))
    else {
        return 13;
    };
    let Ok(n) = Handle::<Notification>::create(memory) else { return 14 };
    if n.bind_disk_completions().is_err() {
        return 15;
    }
    // Start together with the other bound readers: say this one is ready,
    // wait for `go`, and pass it on to the next waiter.
    if let Some(ready) = start.handle::<Notification>("ready")
        && ready.signal().is_err()
    {
        return 22;
    }
    if let Some(go) = start.handle::<Notification>("go")
        && (go.wait().is_err() || go.signal().is_err())
    {
        return 21;
    }
    let mut page = [0u8; 4096];
    let Ok(pending) = disk.submit_read(0, &mut page) else { return 16 };
    // Look every `ms` for 5 s: a signal the kernel lost never comes, while
    // one that is only late (a slow host) must not count as lost.
    let mut signalled = Err(Error::WouldBlock);
    for _ in 0..(5000 / ms.max(1)).max(1) {
        if timer.sleep_ns(ms * 1_000_000).is_err() {
            return 17;
        }
        signalled = n.poll();
        if signalled != Err(Error::WouldBlock) {
            break;
        }
    }
    if pending.wait() != Ok(8) {
        return 18;
    }
    match signalled {
        Ok(_) => 0,
        Err(Error::WouldBlock) => 20,
        Err(_) => 19,
    }
}

/// Closes the ring granted as `ring` (the parent dropped its own handle,
/// so this is the last one), then signals `told`.
fn drop_ring(start: &Start) -> i32 {
    let (Some(ring), Some(told)) =
        (start.handle::<IoRing>("ring"), start.handle::<Notification>("told"))
    else {
        return 13;
    };
    let (Some(theirs), Some(go)) =
        (start.handle::<Memory>("parent-memory"), start.handle::<Notification>("go"))
    else {
        return 13;
    };
    // Ready; then the owner is about to block in its read.
    if told.signal().is_err() || go.wait().is_err() {
        return 16;
    }
    let t0 = libos::sys::rdtsc();
    const AT: u64 = 0x0000_3500_0000_0000;
    if ring.close().is_err() {
        return 14;
    }
    // Were the ring's frames credited back while its owner is still
    // blocked in a read into them?
    let t1 = libos::sys::rdtsc();
    let credited = theirs.map(AT, 4096, MAP_WRITE).is_ok();
    let t2 = libos::sys::rdtsc();
    if told.signal().is_err() {
        return 15;
    }
    libos::println!("disktest-sub: woken at TSC {t0}, ring closed at {t1}, page mapped at {t2}");
    if credited { 30 } else { 0 }
}

fn main(start: &Start) -> i32 {
    if start.arg("mode") == Some("drop-ring") {
        return drop_ring(start);
    }
    if let Some(mode @ ("spin" | "spin-yield")) = start.arg("mode") {
        let ms = start.arg("ms").and_then(|v| v.parse().ok()).unwrap_or(100);
        return spin(start.handle::<Timer>("timer"), ms, mode == "spin-yield");
    }
    let Some(disk) = start.handle::<DiskRange>("disk") else { return 2 };
    match start.arg("mode") {
        Some("die-exit") => return die_in_flight(disk, start.handle::<Timer>("timer"), false),
        Some("die-fault") => return die_in_flight(disk, start.handle::<Timer>("timer"), true),
        Some("read-until-revoked") => {
            return read_until_revoked(disk, start.handle::<Notification>("told"));
        }
        Some("reader") => {
            let ms = start.arg("ms").and_then(|v| v.parse().ok()).unwrap_or(1000);
            return reader(disk, start.handle::<Timer>("timer"), ms);
        }
        Some("bound-reader") => {
            let ms = start.arg("ms").and_then(|v| v.parse().ok()).unwrap_or(30);
            return bound_reader(start, disk, ms);
        }
        Some(mode @ ("stamp" | "check")) => {
            let arg = |name| start.arg(name).and_then(|v| v.parse().ok()).unwrap_or(0);
            return stamp_or_check(disk, arg("first"), arg("blocks"), mode == "stamp");
        }
        _ => {}
    }
    let rw = Rights::READ | Rights::WRITE;
    let Ok(child) = disk.derive_range(8, 8, rw) else { return 3 };
    if child.write(0, &[7u8; 512]).is_err() {
        return 4;
    }
    if disk.revoke() != Ok(1) {
        return 5;
    }
    if child.write(0, &[7u8; 512]) != Err(Error::BadHandle) {
        return 6;
    }
    // Its own range still works, and saw the write at sector 8.
    let mut buf = [0u8; 512];
    if disk.read(8, &mut buf).is_err() || buf != [7u8; 512] {
        return 7;
    }
    0
}
