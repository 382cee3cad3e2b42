//! I/O rings in QEMU: round trips that agree with `disk_read`, a batch of
//! 32, every bad entry completing with its own error, garbage indices,
//! full queues, revocation with requests in flight, teardown (capability
//! dropped, pages unmapped, owner dead) without a leaked frame or DMA
//! page, several rings in one process, and `ring_create`'s refusals.
//! `ringtest-child` is the owner that dies with requests in flight, and
//! the process that is refused entry to a ring it was granted.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use libos::abi::args::MAP_WRITE;
use libos::abi::disk::MAX_ASYNC_SECTORS;
use libos::abi::ring::{RING_OP_READ, RING_OP_WRITE, Sqe, ring_pages};
use libos::abi::{RawHandle, Syscall};
use libos::kind::{DiskRange, Memory, Timer};
use libos::process::Spawn;
use libos::ring::{Buffer, Completion, Ring};
use libos::sys::raw::syscall;
use libos::{Error, Handle, Rights, Start, println};

libos::main!(main);

/// Scratch addresses for quota measurements and refusals (the libos heap
/// and ring area lie elsewhere).
const SCRATCH: u64 = 0x0000_3000_0000_0000;
/// Where the teardown tests map their ring, the same place every time
/// (its page tables are made once and then reused, so they do not blur
/// the quota's numbers).
const FIXED_RING: u64 = 0x0000_3100_0000_0000;
/// A page mapped read-only, for the bad-buffer entries.
const READ_ONLY: u64 = 0x0000_3200_0000_0000;
const PAGE: u64 = 4096;
/// 64 KiB: the largest request.
const BIG: usize = MAX_ASYNC_SECTORS as usize * 512;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)*) => {
        if !$cond {
            println!("ringtest: {}", format_args!($($msg)*));
            return Err(());
        }
    };
}

fn pattern(sector: u64, len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            let s = sector + (i / 512) as u64;
            (s as u8).wrapping_mul(29) ^ (i as u8).wrapping_mul(11) ^ seed
        })
        .collect()
}

fn ok<T, E: core::fmt::Debug>(r: Result<T, E>, what: &str) -> Result<T, ()> {
    r.map_err(|e| println!("ringtest: {what}: {e:?}"))
}

/// Submits and collects until every outstanding request completed, at
/// most `rounds` times round (a leaked DMA pool would never let the last
/// requests start).
fn collect_all<'a>(ring: &mut Ring<'a>, rounds: u32) -> Result<Vec<Completion<'a>>, ()> {
    let mut out = Vec::new();
    for _ in 0..rounds {
        while let Some(c) = ring.pop() {
            out.push(c);
        }
        if ring.outstanding() == 0 {
            return Ok(out);
        }
        let in_flight = ring.outstanding() - ring.queued();
        ok(ring.submit(in_flight.max(1)), "submit")?;
    }
    println!("ringtest: {} requests never completed", ring.outstanding());
    Err(())
}

/// Pages the quota `memory` can still give: maps at `SCRATCH` until
/// `OutOfMemory` (64 pages, then single pages), then unmaps it all.
fn headroom(memory: Handle<Memory>) -> Result<u64, ()> {
    let mut pages = 0;
    for step in [64, 1] {
        while memory.map(SCRATCH + pages * PAGE, step * PAGE, MAP_WRITE).is_ok() {
            pages += step;
        }
    }
    if pages > 0 {
        // SAFETY: nothing uses the scratch pages.
        let freed = unsafe { libos::sys::mem_unmap(SCRATCH, pages * PAGE) };
        ensure!(freed == Ok(pages), "unmapping the scratch pages: {freed:?}");
    }
    Ok(pages)
}

fn round_trip(disk: Handle<DiskRange>, memory: Handle<Memory>) -> Result<(), ()> {
    const BASE: u64 = 1000;
    let data: Vec<Vec<u8>> = (0..8).map(|i| pattern(BASE + i * 8, 4096, 1)).collect();
    let mut back: Vec<Vec<u8>> = vec![vec![0u8; 4096]; 8];
    {
        let mut ring = ok(Ring::new(memory, 16), "ring_create")?;
        for (i, d) in data.iter().enumerate() {
            ok(ring.write(disk, BASE + i as u64 * 8, d, i as u64), "push write")?;
        }
        ok(ring.flush(disk, 100), "push flush")?;
        ensure!(ok(ring.submit(9), "submit writes")? == 9, "9 entries consumed");
        let done = collect_all(&mut ring, 4)?;
        ensure!(done.len() == 9, "9 completions");
        for c in &done {
            let want = if c.tag == 100 { 0 } else { 8 };
            ensure!(c.result == Ok(want), "completion {}: {:?}", c.tag, c.result);
        }
        for (i, b) in back.iter_mut().enumerate() {
            ok(ring.read(disk, BASE + i as u64 * 8, b, i as u64).map_err(|(e, _)| e), "read")?;
        }
        ok(ring.submit(8), "submit reads")?;
        let done = collect_all(&mut ring, 4)?;
        ensure!(done.iter().all(|c| c.result == Ok(8)), "reads completed");
        for c in done {
            ensure!(matches!(c.buffer, Buffer::Read(_)), "a read gives its buffer back");
        }
    }
    ensure!(back == data, "data read through the ring is what was written");
    let mut sync = vec![0u8; 4096];
    for (i, d) in data.iter().enumerate() {
        ok(disk.read(BASE + i as u64 * 8, &mut sync), "disk_read")?;
        ensure!(&sync == d, "disk_read agrees with the ring at block {i}");
    }
    println!("ringtest: reads and writes round trip and agree with disk_read");
    Ok(())
}

fn batch_of_32(disk: Handle<DiskRange>, memory: Handle<Memory>) -> Result<(), ()> {
    const BASE: u64 = 2000;
    let data = pattern(BASE, 32 * 4096, 2);
    ok(disk.write(BASE, &data), "disk_write")?;
    let mut bufs: Vec<Vec<u8>> = vec![vec![0u8; 4096]; 32];
    let mut ring = ok(Ring::new(memory, 32), "ring_create")?;
    for (i, b) in bufs.iter_mut().enumerate() {
        ok(ring.read(disk, BASE + i as u64 * 8, b, i as u64).map_err(|(e, _)| e), "push")?;
    }
    ensure!(ring.queued() == 32, "32 queued");
    ensure!(ok(ring.submit(32), "submit")? == 32, "32 consumed in one call");
    ensure!(ring.ready() == 32, "32 completions after waiting for 32");
    let mut seen = [false; 32];
    while let Some(c) = ring.pop() {
        ensure!(c.result == Ok(8), "read {}: {:?}", c.tag, c.result);
        let Buffer::Read(b) = c.buffer else { return Err(()) };
        let i = c.tag as usize;
        ensure!(b[..] == data[i * 4096..(i + 1) * 4096], "read {i}'s data");
        seen[i] = true;
    }
    ensure!(seen.iter().all(|&s| s), "every read completed once");
    println!("ringtest: a batch of 32 reads in one ring_enter");
    Ok(())
}

fn bad_entries(
    disk: Handle<DiskRange>,
    memory: Handle<Memory>,
    timer: Handle<Timer>,
) -> Result<(), ()> {
    let all = Rights::READ | Rights::WRITE | Rights::DERIVE | Rights::REVOKE;
    let small = ok(disk.derive_range(3000, 64, all), "derive")?;
    let read_only = ok(small.derive_range(0, 64, Rights::READ), "derive ro")?;
    let write_only = ok(small.derive_range(0, 64, Rights::WRITE), "derive wo")?;
    ok(memory.map(READ_ONLY, PAGE, 0), "map a read-only page")?;
    let mut good = vec![0u8; 512];
    let mut buf = vec![0u8; BIG + 512];
    let b = buf.as_mut_ptr() as u64;
    let h = |x: Handle<DiskRange>| x.raw().as_raw();
    let read = |range: u64, sector: u64, count: u64, buf: u64| Sqe {
        range,
        op: RING_OP_READ,
        sector,
        count,
        buf,
        ..Sqe::default()
    };
    let cases: [(&str, Sqe, Error); 13] = [
        ("bad handle", read(0xdead_0000_0001, 0, 1, b), Error::BadHandle),
        ("wrong kind", read(timer.raw().as_raw(), 0, 1, b), Error::WrongKind),
        ("read without READ", read(h(write_only), 0, 1, b), Error::MissingRight),
        (
            "write without WRITE",
            Sqe { op: RING_OP_WRITE, ..read(h(read_only), 0, 1, b) },
            Error::MissingRight,
        ),
        ("sector past the range", read(h(small), 64, 1, b), Error::OutOfRange),
        ("request running past the range", read(h(small), 60, 8, b), Error::OutOfRange),
        ("count too big", read(h(disk), 0, MAX_ASYNC_SECTORS + 1, b), Error::InvalidArgument),
        ("count 0", read(h(disk), 0, 0, b), Error::InvalidArgument),
        ("unmapped buffer", read(h(small), 0, 1, SCRATCH + 0x1000_0000), Error::BadAddress),
        ("read into a read-only page", read(h(small), 0, 1, READ_ONLY), Error::BadAddress),
        ("kernel buffer", read(h(small), 0, 1, 0xffff_8000_0000_0000), Error::BadAddress),
        ("undefined op", Sqe { op: 7, ..read(h(small), 0, 1, b) }, Error::InvalidArgument),
        ("undefined flag", Sqe { flags: 1, ..read(h(small), 0, 1, b) }, Error::InvalidArgument),
    ];
    let mut ring = ok(Ring::new(memory, 32), "ring_create")?;
    let mut good = Some(&mut good[..]);
    for (i, (_, sqe, _)) in cases.iter().enumerate() {
        // SAFETY: every case is refused before the kernel writes its
        // buffer (and `buf` outlives the ring anyway).
        ok(unsafe { ring.push_raw(*sqe, i as u64) }, "push_raw")?;
        if i == 5
            && let Some(g) = good.take()
        {
            // A good entry among the bad: the ring goes on.
            ok(ring.read(small, 0, g, 99).map_err(|(e, _)| e), "push good")?;
        }
    }
    let n = cases.len() as u32 + 1;
    ensure!(ok(ring.submit(n), "submit")? == n, "every entry consumed");
    let mut seen = 0;
    while let Some(c) = ring.pop() {
        if c.tag == 99 {
            ensure!(c.result == Ok(1), "the good entry among bad ones: {:?}", c.result);
            continue;
        }
        let (what, _, want) = &cases[c.tag as usize];
        ensure!(c.result == Err(*want), "{what}: {:?}, want {want:?}", c.result);
        seen += 1;
    }
    ensure!(seen == cases.len(), "{seen} bad completions of {}", cases.len());
    drop(ring);
    // SAFETY: nothing uses the read-only page.
    ok(unsafe { libos::sys::mem_unmap(READ_ONLY, PAGE) }, "unmap")?;
    ok(small.revoke(), "revoke")?;
    ok(small.close(), "close")?;
    println!("ringtest: every bad entry completed with its own error; the ring went on");
    Ok(())
}

/// `ring_enter` as it is.
fn raw_enter(ring: RawHandle, to_submit: u64, min_complete: u64, flags: u64) -> Result<u64, Error> {
    // SAFETY: the rings this is used on have no read in their queues.
    unsafe { syscall(Syscall::RingEnter, [ring.as_raw(), to_submit, min_complete, flags, 0, 0]) }
}

fn indices_and_full_queues(disk: Handle<DiskRange>, memory: Handle<Memory>) -> Result<(), ()> {
    let data = pattern(4000, 512, 3);
    let mut ring = ok(Ring::new(memory, 4), "ring_create")?;
    let raw = ring.handle().raw();
    for i in 0..4 {
        ok(ring.write(disk, 4000, &data, i), "push")?;
    }
    ensure!(ring.write(disk, 4000, &data, 9) == Err(Error::Busy), "a full queue is Busy");
    // Garbage indices: refused, nothing consumed.
    // SAFETY: the kernel refuses these indices before it reads an entry.
    unsafe { ring.store_indices(4 + 5, 0) };
    ensure!(raw_enter(raw, 4, 0, 0) == Err(Error::OutOfRange), "sq_tail too far ahead");
    // SAFETY: as above.
    unsafe { ring.store_indices(4, 1) };
    ensure!(raw_enter(raw, 4, 0, 0) == Err(Error::OutOfRange), "cq_head ahead of cq_tail");
    ring.restore_indices();
    ensure!(ring.queued() == 4, "nothing consumed by refused calls");
    ensure!(raw_enter(raw, 4, 5, 0) == Err(Error::InvalidArgument), "min_complete > entries");
    ensure!(raw_enter(raw, 4, 0, 1) == Err(Error::InvalidArgument), "an undefined flag");
    ensure!(raw_enter(disk.raw(), 4, 0, 0) == Err(Error::WrongKind), "ring_enter on a disk range");
    let weak = ok(ring.handle().derive(Rights::GRANT), "derive")?;
    ensure!(raw_enter(weak.raw(), 4, 0, 0) == Err(Error::MissingRight), "without WRITE");
    ok(weak.close(), "close")?;
    ensure!(ring.queued() == 4, "nothing consumed by refused calls");
    // The completion queue: 4 completions not collected fill it.
    ensure!(ok(ring.submit(4), "submit")? == 4, "4 consumed");
    ensure!(ring.ready() == 4, "4 completions");
    let mut got = 0;
    while let Some(c) = ring.pop() {
        ensure!(c.result == Ok(1), "write: {:?}", c.result);
        got += 1;
    }
    ensure!(got == 4, "4 collected");
    for i in 0..4 {
        ok(ring.write(disk, 4000, &data, i), "push")?;
    }
    // Make the kernel see 4 completions not yet collected: it must take
    // nothing, and take exactly as many as there is room for after.
    // SAFETY: the kernel takes no entry while the queue is full, and the
    // entries it takes are writes we pushed.
    unsafe { ring.store_indices(8, 0) };
    ensure!(raw_enter(raw, 4, 0, 0) == Ok(0), "a full completion queue stops consumption");
    // SAFETY: as above.
    unsafe { ring.store_indices(8, 2) };
    ensure!(raw_enter(raw, 4, 2, 0) == Ok(2), "room for 2 completions: 2 consumed");
    ring.restore_indices();
    ensure!(ring.queued() == 2, "2 left queued");
    let done = collect_all(&mut ring, 4)?;
    ensure!(done.len() == 4 && done.iter().all(|c| c.result == Ok(1)), "all 4 completed");
    println!("ringtest: garbage indices refused; full submission and completion queues");
    Ok(())
}

fn revoke_in_flight(disk: Handle<DiskRange>, memory: Handle<Memory>) -> Result<(), ()> {
    const BASE: u64 = 6000;
    let all = Rights::READ | Rights::WRITE | Rights::DERIVE | Rights::REVOKE;
    ok(disk.write(BASE, &pattern(BASE, 32 * BIG / 4, 4)), "disk_write")?;
    for round in 0..3 {
        let top = ok(disk.derive_range(BASE, 4096, all), "derive top")?;
        let parent = ok(top.derive_range(0, 4096, all), "derive parent")?;
        let child = ok(parent.derive_range(0, 4096, Rights::READ | Rights::WRITE), "child")?;
        let mut bufs: Vec<Vec<u8>> = vec![vec![0xAAu8; BIG]; 16];
        let zeros = vec![0u8; BIG];
        {
            let mut ring = ok(Ring::new(memory, 32), "ring_create")?;
            for (i, b) in bufs.iter_mut().enumerate() {
                let sector = (i as u64 * 128) % 4096;
                ok(ring.read(child, sector, b, i as u64).map_err(|(e, _)| e), "push")?;
            }
            // One write too; it may reach the disk, but reports Revoked.
            ok(ring.write(child, 3000, &zeros, 50), "push write")?;
            let n = ok(ring.submit(0), "submit")?;
            ensure!(n == 17, "17 in flight (round {round})");
            match round {
                0 => ensure!(parent.revoke() == Ok(1), "revoke the parent"),
                1 => ensure!(child.close().is_ok(), "drop the child"),
                _ => ensure!(top.revoke() == Ok(2), "revoke the grandparent"),
            }
            let done = collect_all(&mut ring, 4)?;
            ensure!(done.len() == 17, "17 completions");
            for c in done {
                ensure!(c.result == Err(Error::Revoked), "{}: {:?}", c.tag, c.result);
            }
        }
        ensure!(bufs.iter().all(|b| b.iter().all(|&x| x == 0xAA)), "nothing copied");
        if round < 2 {
            ok(parent.close(), "close")?;
        }
        ok(top.close(), "close")?;
    }
    println!("ringtest: requests in flight complete Revoked after a revoke or drop, copy nothing");
    Ok(())
}

/// One ring at `FIXED_RING` with `n` 64 KiB reads in flight.
fn ring_in_flight<'a>(
    disk: Handle<DiskRange>,
    memory: Handle<Memory>,
    timer: Handle<Timer>,
    bufs: &'a mut [Vec<u8>],
) -> Result<Ring<'a>, ()> {
    let mut ring = ok(Ring::new_at(memory, 32, FIXED_RING), "ring_create")?;
    for (i, b) in bufs.iter_mut().enumerate() {
        ok(ring.read(disk, i as u64 * 128, b, i as u64).map_err(|(e, _)| e), "push")?;
    }
    // Orphans of the previous round may still hold the DMA pool: retry
    // until the kernel took every entry, for up to 5 s (a budget of time,
    // not of yields: the disk frees the pool at the host's pace).
    let t0 = ok(timer.now_ns(), "clock")?;
    loop {
        ok(ring.submit(0), "submit")?;
        if ring.queued() == 0 || ok(timer.now_ns(), "clock")? - t0 > 5_000_000_000 {
            break;
        }
        libos::sys::yield_now();
    }
    Ok(ring)
}

fn teardown(start: &Start, disk: Handle<DiskRange>, memory: Handle<Memory>) -> Result<(), ()> {
    let timer = ok(start.handle::<Timer>("timer").ok_or(Error::BadHandle), "no timer")?;
    let mut bufs: Vec<Vec<u8>> = vec![vec![0u8; BIG]; 32];
    // Make the page tables under both areas once.
    drop(ring_in_flight(disk, memory, timer, &mut bufs[..1])?);
    let before = headroom(memory)?;
    // 1. The capability dropped with requests in flight, 8 times: 8 x 2 MiB
    // of bounce buffers, more than the DMA pool holds.
    for round in 0..8 {
        let ring = ring_in_flight(disk, memory, timer, &mut bufs)?;
        ensure!(ring.queued() == 0, "round {round}: all consumed");
        ok(ring.abandon(), "abandon")?;
    }
    ensure!(headroom(memory)? == before, "ring pages back in the quota after drops");
    // 2. Its pages unmapped with requests in flight: the ring is torn
    // down; its capability stays, and says PeerGone.
    {
        let ring = ring_in_flight(disk, memory, timer, &mut bufs)?;
        let pages = ring_pages(32);
        // SAFETY: nothing but the abandoned ring uses its pages.
        let unmapped = unsafe { libos::sys::mem_unmap(FIXED_RING, pages * PAGE) };
        ensure!(unmapped == Ok(pages), "unmapping the ring: {unmapped:?}");
        ensure!(raw_enter(ring.handle().raw(), 0, 0, 0) == Err(Error::PeerGone), "PeerGone");
        ensure!(headroom(memory)? == before, "unmapped ring pages back in the quota");
        ok(ring.abandon(), "abandon")?;
    }
    // 3. Its owner dies with requests in flight.
    if let Some((_, image)) = start.images().find(|&(n, _)| n == "ringtest-child") {
        let all = Rights::READ | Rights::WRITE;
        // A ring of ours for the child to be refused entry to.
        let mine = ok(Ring::new_at(memory, 4, FIXED_RING), "ring_create")?;
        let child = Spawn::new(image)
            .quota_pages(1024)
            .grant(disk, all, "disk")
            .and_then(|s| s.grant(mine.handle(), Rights::WRITE, "ring"))
            .and_then(Spawn::spawn);
        let child = ok(child, "spawn")?;
        let status = ok(child.wait(), "wait")?;
        drop(mine);
        ensure!(
            status == libos::ExitStatus::Exited(7),
            "the child was refused our ring and died with its own busy: {status:?}"
        );
        ensure!(headroom(memory)? == before, "the dead owner's quota came back whole");
    } else {
        println!("ringtest: no ringtest-child image to spawn");
        return Err(());
    }
    // No DMA page leaked: a full batch of 64 KiB reads still runs.
    let mut ring = ok(Ring::new_at(memory, 32, FIXED_RING), "ring_create")?;
    for (i, b) in bufs.iter_mut().enumerate() {
        ok(ring.read(disk, i as u64 * 128, b, i as u64).map_err(|(e, _)| e), "push")?;
    }
    let done = collect_all(&mut ring, 64)?;
    ensure!(done.len() == 32 && done.iter().all(|c| c.result == Ok(128)), "a full batch");
    drop(done);
    drop(ring);
    ensure!(headroom(memory)? == before, "quota whole at the end");
    println!("ringtest: teardown (drop, unmap, owner death) with requests in flight leaks nothing");
    Ok(())
}

fn several_rings(disk: Handle<DiskRange>, memory: Handle<Memory>) -> Result<(), ()> {
    const BASE: u64 = 20_000;
    let data = pattern(BASE, 24 * 4096, 5);
    ok(disk.write(BASE, &data), "disk_write")?;
    let mut bufs: Vec<Vec<u8>> = vec![vec![0u8; 4096]; 24];
    let (a, rest) = bufs.split_at_mut(8);
    let (b, c) = rest.split_at_mut(8);
    let mut rings: Vec<Ring> = Vec::new();
    for _ in 0..3 {
        rings.push(ok(Ring::new(memory, 8), "ring_create")?);
    }
    for (r, part) in [a, b, c].into_iter().enumerate() {
        for (i, buf) in part.iter_mut().enumerate() {
            let n = (r * 8 + i) as u64;
            ok(rings[r].read(disk, BASE + n * 8, buf, n).map_err(|(e, _)| e), "push")?;
        }
    }
    for r in rings.iter_mut() {
        ok(r.submit(0), "submit")?;
    }
    for r in rings.iter_mut().rev() {
        for c in collect_all(r, 4)? {
            ensure!(c.result == Ok(8), "read {}", c.tag);
            let Buffer::Read(buf) = c.buffer else { return Err(()) };
            let n = c.tag as usize;
            ensure!(buf[..] == data[n * 4096..(n + 1) * 4096], "ring read {n}'s data");
        }
    }
    println!("ringtest: three rings in one process");
    Ok(())
}

fn create_refusals(memory: Handle<Memory>, timer: Handle<Timer>) -> Result<(), ()> {
    let create = |memory: RawHandle, entries: u64, vaddr: u64| {
        // SAFETY: ring_create maps pages only where nothing is mapped.
        unsafe { syscall(Syscall::RingCreate, [memory.as_raw(), entries, vaddr, 0, 0, 0]) }
    };
    let m = memory.raw();
    ensure!(create(m, 3, SCRATCH) == Err(Error::InvalidArgument), "3 entries");
    ensure!(create(m, 512, SCRATCH) == Err(Error::InvalidArgument), "512 entries");
    ensure!(create(m, 0, SCRATCH) == Err(Error::InvalidArgument), "0 entries");
    ensure!(create(m, 8, SCRATCH + 1) == Err(Error::InvalidArgument), "an unaligned address");
    ensure!(create(m, 8, 0) == Err(Error::BadAddress), "address 0");
    ensure!(create(m, 8, 0xffff_8000_0000_0000) == Err(Error::BadAddress), "the kernel half");
    ensure!(create(m, 8, 0x0000_8000_0000_0000) == Err(Error::BadAddress), "non-canonical");
    ensure!(create(m, 8, 0x0000_7fff_ff00_0000) == Err(Error::BadAddress), "the stack");
    ok(memory.map(SCRATCH + PAGE, PAGE, MAP_WRITE), "map")?;
    ensure!(create(m, 8, SCRATCH) == Err(Error::AddressInUse), "over a mapped page");
    // SAFETY: nothing uses the page.
    ok(unsafe { libos::sys::mem_unmap(SCRATCH + PAGE, PAGE) }, "unmap")?;
    ensure!(create(timer.raw(), 8, SCRATCH) == Err(Error::WrongKind), "a timer");
    let weak = ok(memory.derive(Rights::READ | Rights::MAP), "derive")?;
    ensure!(create(weak.raw(), 8, SCRATCH) == Err(Error::MissingRight), "without WRITE");
    ok(weak.close(), "close")?;
    // None of these mapped anything.
    ensure!(ok(memory.map(SCRATCH, 4 * PAGE, MAP_WRITE), "map").is_ok(), "nothing mapped");
    // SAFETY: nothing uses the pages.
    ok(unsafe { libos::sys::mem_unmap(SCRATCH, 4 * PAGE) }, "unmap")?;
    println!("ringtest: ring_create refusals, each with its own error");
    Ok(())
}

fn main(start: &Start) -> i32 {
    let (Some(disk), Some(memory), Some(timer)) = (
        start.handle::<DiskRange>("disk"),
        start.handle::<Memory>("memory"),
        start.handle::<Timer>("timer"),
    ) else {
        println!("ringtest: needs a disk, memory and a timer");
        return 1;
    };
    let result = round_trip(disk, memory)
        .and_then(|()| batch_of_32(disk, memory))
        .and_then(|()| bad_entries(disk, memory, timer))
        .and_then(|()| indices_and_full_queues(disk, memory))
        .and_then(|()| revoke_in_flight(disk, memory))
        .and_then(|()| several_rings(disk, memory))
        .and_then(|()| create_refusals(memory, timer))
        .and_then(|()| teardown(start, disk, memory));
    if result.is_ok() { 0 } else { 1 }
}
