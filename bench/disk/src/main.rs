//! Benchmark: raw disk I/O through a `DiskRange` capability (virtio-blk,
//! `cache=none`). Prints `BENCH <name> <value> <unit>`:
//! - `disk_read4k_p50_us`, `disk_read4k_p99_us`: 10,000 synchronous 4 KiB
//!   reads at random 4 KiB-aligned places;
//! - `disk_seqread_mibs`: the whole range read in 1 MiB requests;
//! - `disk_write4k_flush_p50_us`: 4 KiB write + flush;
//! - `disk_kernel_overhead_ns`: the kernel's own time per request
//!   (capability check, translation, queueing, completion), from the
//!   kernel's TSC accounting in `disk_info`.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use libos::iobuf::IoBuf;
use libos::kind::{DiskRange, Timer};
use libos::{Handle, Start, println, sys};

libos::main!(main);

const RANDOM_READS: usize = 10_000;
const FLUSHED_WRITES: usize = 200;
const MIB: usize = 1 << 20;

fn percentile(sorted: &[u64], p: usize) -> u64 {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn us(ns: u64) -> (u64, u64) {
    (ns / 1000, ns % 1000)
}

fn main(start: &Start) -> i32 {
    let (Some(disk), Some(timer)) =
        (start.handle::<DiskRange>("disk"), start.handle::<Timer>("timer"))
    else {
        println!("bench-disk: needs a disk and a timer");
        return 1;
    };
    match run(disk, timer) {
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
    println!("BENCH disk_kernel_overhead_ns {overhead_ns} ns");

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
