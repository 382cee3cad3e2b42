//! Benchmark: shared memory between two processes.
//! Prints `BENCH <name> <value> <unit>`.
//!
//! - `memcpy_mibs`: one in-process copy of 1 MiB buffers, the physical
//!   limit of any channel that copies once;
//! - `shm_bulk_mibs`: 1 MiB transfers from `bench-shm-peer` to this
//!   process through the bulk channel (`libos::bulk`, a 2 MiB ring): the
//!   sender copies each MiB into the ring, this side reads it in place
//!   (`recv_in_place`, checking one byte of each page); same boot;
//! - `shm_bulk_over_memcpy`: the ratio (target: at least 0.5);
//! - `ipc_shared_4k_roundtrip_ns`: a call whose 4 KiB request and 4 KiB
//!   answer go through a buffer both processes have mapped (the peer copies
//!   the request out and its answer in; this side copies the answer out),
//!   to set beside `bench-ipc`'s `ipc_long_4k_roundtrip_ns`, the same
//!   payload copied through the kernel.
//!
//! Each figure is the median of `RUNS` runs.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use libos::bulk;
use libos::ipc::{Msg, create_endpoint};
use libos::kind::{Console, Memory, MemoryObject, Timer};
use libos::process::Spawn;
use libos::{ExitStatus, Handle, Rights, Start, println};

libos::main!(main);

const MIB: usize = 1 << 20;
/// MiB per run of the copy and of the channel.
const MIBS: usize = 64;
/// Round trips per run of the shared 4 KiB call.
const CALLS: u64 = 20_000;
const RUNS: usize = 3;

fn median(mut v: [u64; RUNS]) -> u64 {
    v.sort_unstable();
    v[RUNS / 2]
}

/// The byte at offset `i` of each MiB the peer sends.
fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(151) >> 3) as u8
}

fn main(start: &Start) -> i32 {
    match run(start) {
        Ok(()) => 0,
        Err(e) => {
            println!("bench-shm: {e}");
            1
        }
    }
}

fn run(start: &Start) -> Result<(), &'static str> {
    let timer = start.handle::<Timer>("timer").ok_or("no timer")?;
    let console = start.handle::<Console>("console").ok_or("no console")?;
    let memory = start.handle::<Memory>("memory").ok_or("no memory")?;
    let image = start
        .images()
        .find(|&(n, _)| n == "bench-shm-peer")
        .map(|(_, h)| h)
        .ok_or("no bench-shm-peer image")?;
    let now = || timer.now_ns().map_err(|_| "clock");

    // One copy, in this process. The destination starts one page further
    // into its allocation than the source: two buffers a multiple of 1 MiB
    // apart share every line of QEMU's direct-mapped software TLB (256
    // entries of 4 KiB by default), so a copy between them misses it on
    // every access and runs ~10x slower than between any other two
    // buffers: an artefact of the emulator, not the cost of a copy. (The
    // bulk channel's ring starts a header page into its object.)
    let src = vec![7u8; MIB];
    let mut dst_room = vec![0u8; MIB + 4096];
    let dst = &mut dst_room[4096..];
    let mut copy = [0; RUNS];
    for r in copy.iter_mut() {
        let t0 = now()?;
        for _ in 0..MIBS {
            // `black_box`: each copy happens, none is folded into another.
            core::hint::black_box(&mut *dst).copy_from_slice(core::hint::black_box(&src));
        }
        *r = now()? - t0;
    }
    if dst_room[MIB + 4095] != 7 {
        return Err("the copy went wrong");
    }
    let copy_ns = median(copy);

    // The bulk channel: the peer sends RUNS * MIBS MiB, 1 MiB a call.
    let (mut rx, parts) = bulk::channel(memory, 512).map_err(|_| "channel")?;
    let raw = parts.raw();
    let peer = Spawn::new(image)
        .quota_pages(2048)
        .args("mode=bulk")
        .grant(
            Handle::<MemoryObject>::from_raw(raw[0]),
            Rights::MAP | Rights::READ | Rights::WRITE,
            "bulk-memory",
        )
        .and_then(|s| {
            s.grant(
                Handle::<libos::kind::Notification>::from_raw(raw[1]),
                Rights::SEND,
                "bulk-data",
            )
        })
        .and_then(|s| {
            s.grant(
                Handle::<libos::kind::Notification>::from_raw(raw[2]),
                Rights::WAIT,
                "bulk-space",
            )
        })
        .and_then(|s| s.grant(console, Rights::WRITE, "console"))
        .and_then(Spawn::spawn)
        .map_err(|_| "spawn bench-shm-peer")?;
    parts.close().map_err(|_| "close")?;
    let mut bulk = [0; RUNS];
    let mut pos = 0usize;
    let mut bad = false;
    for r in bulk.iter_mut() {
        let t0 = now()?;
        let end = pos + MIBS * MIB;
        while pos < end {
            let n = rx
                .recv_in_place(end - pos, |piece| {
                    // The first byte of each page is the MiB's number (so a
                    // stale MiB left in the ring would be seen), the rest
                    // the pattern.
                    let mut i = (4096 - pos % 4096) % 4096;
                    while i < piece.len() {
                        bad |= piece.get(i) != Some(((pos + i) / MIB) as u8);
                        bad |= piece.get(i + 1).is_some_and(|b| b != pattern((pos + i + 1) % MIB));
                        i += 4096;
                    }
                    pos += piece.len();
                })
                .map_err(|_| "bulk receive")?;
            if n == 0 {
                return Err("the sender closed early");
            }
        }
        *r = now()? - t0;
    }
    if bad {
        return Err("the bulk channel delivered wrong bytes");
    }
    if peer.wait() != Ok(ExitStatus::Exited(0)) {
        return Err("the sending peer failed");
    }
    let bulk_ns = median(bulk);

    let shared = shared_calls(start, timer, memory, console)?;

    let mibs = |ns: u64| (MIBS as u64 * 1_000_000_000_000) / ns.max(1);
    let (copy_m, bulk_m) = (mibs(copy_ns), mibs(bulk_ns));
    println!("BENCH memcpy_mibs {}.{:03} MiB/s", copy_m / 1000, copy_m % 1000);
    println!("BENCH shm_bulk_mibs {}.{:03} MiB/s", bulk_m / 1000, bulk_m % 1000);
    let ratio = bulk_m * 1000 / copy_m.max(1);
    println!("BENCH shm_bulk_over_memcpy {}.{:03} ratio", ratio / 1000, ratio % 1000);
    println!("BENCH ipc_shared_4k_roundtrip_ns {}.{:03} ns", shared / 1000, shared % 1000);
    Ok(())
}

/// Picoseconds per call with 4 KiB each way through a shared buffer.
fn shared_calls(
    start: &Start,
    timer: Handle<Timer>,
    memory: Handle<Memory>,
    console: Handle<Console>,
) -> Result<u64, &'static str> {
    let image = start
        .images()
        .find(|&(n, _)| n == "bench-shm-peer")
        .map(|(_, h)| h)
        .ok_or("no bench-shm-peer image")?;
    let object = Handle::<MemoryObject>::create(memory, 2).map_err(|_| "mo_create")?;
    let buf = object.map(true).map_err(|_| "map")?;
    let ep = create_endpoint(memory).map_err(|_| "create an endpoint")?;
    let peer = Spawn::new(image)
        .quota_pages(512)
        .args("mode=echo")
        .grant(ep, Rights::RECV, "service")
        .and_then(|s| s.grant(object, Rights::MAP | Rights::READ | Rights::WRITE, "buffer"))
        .and_then(|s| s.grant(console, Rights::WRITE, "console"))
        .and_then(Spawn::spawn)
        .map_err(|_| "spawn bench-shm-peer")?;
    let client = ep.client(1).map_err(|_| "derive")?;
    ep.close().map_err(|_| "close")?;
    let mut out = vec![3u8; 4096];
    let mut back = vec![0u8; 4096];
    let mut runs = [0; RUNS];
    for r in runs.iter_mut() {
        let t0 = timer.now_ns().map_err(|_| "clock")?;
        for i in 0..CALLS {
            out[0] = i as u8;
            buf.write(0, &out).map_err(|_| "write the request")?;
            client.call(&Msg::word(4096)).map_err(|_| "call")?;
            buf.read(4096, &mut back).map_err(|_| "read the answer")?;
            if back[0] != i as u8 {
                return Err("a wrong answer through the shared buffer");
            }
        }
        *r = (timer.now_ns().map_err(|_| "clock")? - t0) * 1000 / CALLS;
    }
    client.close().map_err(|_| "close")?;
    if peer.wait() != Ok(ExitStatus::Exited(0)) {
        return Err("the echo peer failed");
    }
    Ok(median(runs))
}
