//! Benchmark: raw disk I/O through a `DiskRange` capability (virtio-blk,
//! `cache=none`). Prints `BENCH <name> <value> <unit>`:
//! - `disk_read4k_p50_us`, `disk_read4k_p99_us`: 10,000 synchronous 4 KiB
//!   reads at random 4 KiB-aligned places;
//! - `disk_seqread_mibs`: the whole range read in 1 MiB requests;
//! - `disk_write4k_flush_p50_us`: 4 KiB write + flush;
//! - `disk_kernel_overhead_sync_ns`: the kernel's own time per request
//!   (capability check, translation, queueing, completion) of those
//!   synchronous reads, from the kernel's TSC accounting in `disk_info`
//!   (this figure was `disk_kernel_overhead_ns` before I/O rings);
//! - `disk_iops_qd1`, `disk_iops_qd8`, `disk_iops_qd32`: 4 KiB reads at
//!   random 4 KiB-aligned places through an I/O ring kept at that queue
//!   depth (a completion collected, a new read pushed in its place);
//! - `disk_kernel_overhead_ns`: the kernel's own time per request at QD32
//!   through the ring (each entry's check and start, and its completion:
//!   the `ring_enter` entry itself and the device's time excluded), from
//!   the same accounting; `disk_kernel_overhead_qd1_ns` and
//!   `disk_kernel_overhead_qd8_ns` the same at depths 1 and 8 (under TCG
//!   the emulator's own device work stalls the virtual CPU wherever it
//!   runs: the deeper the queue, the more of it lands in the kernel's
//!   accounted time rather than in its waits).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use libos::iobuf::IoBuf;
use libos::kind::{DiskRange, Memory, Timer};
use libos::ring::{Buffer, Ring};
use libos::{Handle, Start, println, sys};

libos::main!(main);

const RANDOM_READS: usize = 10_000;
const FLUSHED_WRITES: usize = 200;
/// Reads per queue depth through the ring.
const RING_READS: u64 = 8_000;
const MIB: usize = 1 << 20;

fn percentile(sorted: &[u64], p: usize) -> u64 {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn us(ns: u64) -> (u64, u64) {
    (ns / 1000, ns % 1000)
}

fn main(start: &Start) -> i32 {
    let (Some(disk), Some(timer), Some(memory)) = (
        start.handle::<DiskRange>("disk"),
        start.handle::<Timer>("timer"),
        start.handle::<Memory>("memory"),
    ) else {
        println!("bench-disk: needs a disk, a timer and memory");
        return 1;
    };
    match run(disk, timer).and_then(|()| ring_iops(disk, timer, memory)) {
        Ok(()) => 0,
        Err(e) => {
            println!("bench-disk: {e:?}");
            1
        }
    }
}

fn run(disk: Handle<DiskRange>, timer: Handle<Timer>) -> Result<(), libos::Error> {
    let sectors = disk.sectors()?;
    let blocks = sectors / 8;
    let now = || timer.now_ns().unwrap_or(0);

    // Random 4 KiB reads.
    let mut page = IoBuf::zeroed(4096);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let before = disk.disk_info()?;
    let (t_all, c_all) = (now(), sys::rdtsc());
    let mut lat = Vec::with_capacity(RANDOM_READS);
    for _ in 0..RANDOM_READS {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let block = seed % blocks;
        let t0 = now();
        disk.read(block * 8, &mut page)?;
        lat.push(now() - t0);
    }
    let (t_end, c_end) = (now(), sys::rdtsc());
    let after = disk.disk_info()?;
    lat.sort_unstable();
    let (p50, p99) = (percentile(&lat, 50), percentile(&lat, 99));
    // The kernel's own cycles per request, converted with this run's rate.
    let cycles_per_ns_x1000 = (c_end - c_all) * 1000 / (t_end - t_all).max(1);
    let requests = after.requests - before.requests;
    let kernel_cycles = (after.kernel_cycles - before.kernel_cycles) / requests.max(1);
    let overhead_ns = kernel_cycles * 1000 / cycles_per_ns_x1000.max(1);
    println!("BENCH disk_read4k_p50_us {}.{:03} us", us(p50).0, us(p50).1);
    println!("BENCH disk_read4k_p99_us {}.{:03} us", us(p99).0, us(p99).1);
    println!("BENCH disk_kernel_overhead_sync_ns {overhead_ns} ns");

    // Sequential: the whole range in 1 MiB requests.
    let mut big = IoBuf::zeroed(MIB);
    let chunk = (MIB / 512) as u64;
    let t0 = now();
    let mut s = 0;
    while s + chunk <= sectors {
        disk.read(s, &mut big)?;
        s += chunk;
    }
    let elapsed = now() - t0;
    let mib = s / chunk;
    let mibs_x1000 = mib * 1_000_000_000_000 / elapsed.max(1);
    println!("BENCH disk_seqread_mibs {}.{:03} MiB/s", mibs_x1000 / 1000, mibs_x1000 % 1000);

    // 4 KiB write + flush.
    let mut lat = Vec::with_capacity(FLUSHED_WRITES);
    for i in 0..FLUSHED_WRITES as u64 {
        page.fill(i as u8);
        let t0 = now();
        disk.write((i % blocks) * 8, &page)?;
        disk.flush()?;
        lat.push(now() - t0);
    }
    lat.sort_unstable();
    let p50 = percentile(&lat, 50);
    println!("BENCH disk_write4k_flush_p50_us {}.{:03} us", us(p50).0, us(p50).1);
    Ok(())
}

/// A xorshift step: the next random 4 KiB block of `blocks`.
fn next_block(seed: &mut u64, blocks: u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed % blocks
}

/// 4 KiB random reads through an I/O ring at queue depths 1, 8 and 32;
/// the kernel's own time per request at 32.
fn ring_iops(
    disk: Handle<DiskRange>,
    timer: Handle<Timer>,
    memory: Handle<Memory>,
) -> Result<(), libos::Error> {
    let blocks = disk.sectors()? / 8;
    let now = || timer.now_ns().unwrap_or(0);
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for depth in [1usize, 8, 32] {
        let mut bufs: Vec<IoBuf> = (0..depth).map(|_| IoBuf::zeroed(4096)).collect();
        let mut ring = Ring::new(memory, 32)?;
        let before = disk.disk_info()?;
        let (t0, c0) = (now(), sys::rdtsc());
        let (mut pushed, mut done) = (0u64, 0u64);
        for b in bufs.iter_mut() {
            let block = next_block(&mut seed, blocks);
            ring.read(disk, block * 8, b, pushed).map_err(|(e, _)| e)?;
            pushed += 1;
        }
        while done < RING_READS {
            ring.submit(1)?;
            while let Some(c) = ring.pop() {
                c.result?;
                done += 1;
                if let Buffer::Read(b) = c.buffer
                    && pushed < RING_READS
                {
                    let block = next_block(&mut seed, blocks);
                    ring.read(disk, block * 8, b, pushed).map_err(|(e, _)| e)?;
                    pushed += 1;
                }
            }
        }
        let (t1, c1) = (now(), sys::rdtsc());
        let after = disk.disk_info()?;
        drop(ring);
        let iops = done * 1_000_000_000 / (t1 - t0).max(1);
        println!("BENCH disk_iops_qd{depth} {iops} IOPS");
        let cycles_per_ns_x1000 = (c1 - c0) * 1000 / (t1 - t0).max(1);
        let requests = after.requests - before.requests;
        let kernel_cycles = (after.kernel_cycles - before.kernel_cycles) / requests.max(1);
        let overhead_ns = kernel_cycles * 1000 / cycles_per_ns_x1000.max(1);
        if depth == 32 {
            println!("BENCH disk_kernel_overhead_ns {overhead_ns} ns");
        } else {
            println!("BENCH disk_kernel_overhead_qd{depth}_ns {overhead_ns} ns");
        }
    }
    Ok(())
}
