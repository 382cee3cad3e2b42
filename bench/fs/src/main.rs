//! Benchmark: the file system on a disk range (virtio-blk, `cache=none`),
//! next to the raw range measured in the same boot. Prints `BENCH <name>
//! <value> <unit>`:
//! - `fs_raw_seqread_mibs`: the range's first 64 MiB read raw in 1 MiB
//!   requests (as `bench-disk` does), the second of two passes;
//! - `fs_raw_write4k_flush_us`: raw 4 KiB write + flush, median;
//! - `fs_write4k_fsync_us`: append 4 KiB to a file + `fsync`, median;
//! - `fs_seqwrite_mibs`: a 64 MiB file written in 1 MiB calls, then
//!   `fsync`ed;
//! - `fs_seqread_mibs`: that file read back in 1 MiB calls;
//! - `fs_create_per_sec`: small files created in one directory, then
//!   `sync`ed.
//!
//! The targets: file reads at least 0.8x the raw reads, write + fsync at
//! most 2x the raw write + flush.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use libos::disk::RangeDevice;
use libos::fs::{Fs, FsError};
use libos::iobuf::IoBuf;
use libos::kind::{DiskRange, Memory, Timer};
use libos::{Handle, Start, println};

libos::main!(main);

const MIB: usize = 1 << 20;
/// Size of the sequential file (and of the raw sequential read).
const SEQ_MIB: usize = 64;
/// Samples of each latency figure.
const LATENCY_SAMPLES: usize = 200;
/// Files created for `fs_create_per_sec`.
const CREATE_FILES: usize = 1000;
/// Bytes in each created file.
const CREATE_BYTES: usize = 100;
const PAGE: usize = 4096;

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

/// Prints a figure in thousandths as `<int>.<frac>`.
fn bench(name: &str, thousandths: u64, unit: &str) {
    println!("BENCH {name} {}.{:03} {unit}", thousandths / 1000, thousandths % 1000);
}

fn mibs_x1000(bytes: u64, ns: u64) -> u64 {
    bytes * 1_000_000_000 / (MIB as u64) * 1000 / ns.max(1)
}

fn main(start: &Start) -> i32 {
    let (Some(disk), Some(timer)) =
        (start.handle::<DiskRange>("disk"), start.handle::<Timer>("timer"))
    else {
        println!("bench-fs: needs a disk and a timer");
        return 1;
    };
    match run(disk, timer, start.handle::<Memory>("memory")) {
        Ok(()) => 0,
        Err(e) => {
            println!("bench-fs: {e}");
            1
        }
    }
}

fn fs_err(what: &str) -> impl Fn(FsError) -> String + '_ {
    move |e| format!("{what}: {e}")
}

fn run(
    disk: Handle<DiskRange>,
    timer: Handle<Timer>,
    memory: Option<Handle<Memory>>,
) -> Result<(), String> {
    let now = || timer.now_ns().unwrap_or(0);
    let sectors = disk.sectors().map_err(|e| format!("disk size: {e}"))?;
    let seq_sectors = (SEQ_MIB * MIB / 512) as u64;
    if sectors < 2 * seq_sectors {
        return Err(format!("the range ({sectors} sectors) is too small"));
    }
    let mut big = IoBuf::zeroed(MIB);
    let mut page = IoBuf::zeroed(PAGE);

    // Raw figures first, on the same range (the file system erases it).
    let chunk = (MIB / 512) as u64;
    let mut raw_read = 0;
    // The first pass finds the host's copy of the image cold (it runs at
    // well under half the speed of later ones); the second is measured.
    for _ in 0..2 {
        let t0 = now();
        for s in (0..seq_sectors).step_by(chunk as usize) {
            disk.read(s, &mut big).map_err(|e| format!("raw read: {e}"))?;
        }
        raw_read = mibs_x1000((SEQ_MIB * MIB) as u64, now() - t0);
    }
    let mut lat = Vec::with_capacity(LATENCY_SAMPLES);
    for i in 0..LATENCY_SAMPLES as u64 {
        page.fill(i as u8);
        let t0 = now();
        disk.write(seq_sectors + i * 8, &page).map_err(|e| format!("raw write: {e}"))?;
        disk.flush().map_err(|e| format!("raw flush: {e}"))?;
        lat.push(now() - t0);
    }
    let raw_write = median(lat);

    let dev = match memory {
        Some(memory) => RangeDevice::with_batches(disk, memory),
        None => RangeDevice::new(disk),
    };
    let dev = dev.map_err(|e| format!("device: {e}"))?;
    let mut fs = Fs::format(dev).map_err(fs_err("format"))?;

    // 4 KiB appends, each fsynced.
    let f = fs.create("/append.bin").map_err(fs_err("create"))?;
    let mut lat = Vec::with_capacity(LATENCY_SAMPLES);
    for i in 0..LATENCY_SAMPLES {
        page.fill(i as u8);
        let t0 = now();
        fs.write_all(&f, &page).map_err(fs_err("append"))?;
        fs.fsync(&f).map_err(fs_err("fsync"))?;
        lat.push(now() - t0);
    }
    fs.close(f).map_err(fs_err("close"))?;
    let fs_write = median(lat);

    // A 64 MiB file: each MiB starts with its index, to check the read.
    let f = fs.create("/seq.bin").map_err(fs_err("create"))?;
    let t0 = now();
    for i in 0..SEQ_MIB {
        let b = &mut *big;
        b.fill(0x5a);
        b[..8].copy_from_slice(&(i as u64).to_le_bytes());
        fs.write_all(&f, b).map_err(fs_err("sequential write"))?;
    }
    fs.fsync(&f).map_err(fs_err("fsync"))?;
    let seq_write = mibs_x1000((SEQ_MIB * MIB) as u64, now() - t0);
    fs.close(f).map_err(fs_err("close"))?;

    let f =
        fs.open("/seq.bin", libos::fs::OpenOptions::new().read(true)).map_err(fs_err("open"))?;
    let t0 = now();
    let mut wrong = 0;
    for i in 0..SEQ_MIB {
        let n = fs.read_to_fill(&f, &mut big).map_err(fs_err("sequential read"))?;
        let b = &mut *big;
        if n != MIB || b[..8] != (i as u64).to_le_bytes() || b[MIB - 1] != 0x5a {
            wrong += 1;
        }
    }
    let seq_read = mibs_x1000((SEQ_MIB * MIB) as u64, now() - t0);
    fs.close(f).map_err(fs_err("close"))?;
    if wrong > 0 {
        return Err(format!("{wrong} MiB of the sequential file read back wrong"));
    }

    // Small files in one directory, then one sync.
    fs.mkdir("/many").map_err(fs_err("mkdir"))?;
    let small = [0x42u8; CREATE_BYTES];
    let t0 = now();
    for i in 0..CREATE_FILES {
        let f = fs.create(&format!("/many/file-{i}")).map_err(fs_err("create small"))?;
        fs.write_all(&f, &small).map_err(fs_err("write small"))?;
        fs.close(f).map_err(fs_err("close"))?;
    }
    fs.sync().map_err(fs_err("sync"))?;
    let create_rate = CREATE_FILES as u64 * 1_000_000_000_000 / (now() - t0).max(1);
    let report = fs.fsck().map_err(fs_err("fsck"))?;
    if !report.is_clean() || report.files != CREATE_FILES as u64 + 2 {
        return Err(format!("fsck after the benchmark: {:?}", report.problems));
    }
    fs.unmount().map_err(fs_err("unmount"))?;

    bench("fs_raw_seqread_mibs", raw_read, "MiB/s");
    bench("fs_raw_write4k_flush_us", raw_write, "us");
    bench("fs_write4k_fsync_us", fs_write, "us");
    bench("fs_seqwrite_mibs", seq_write, "MiB/s");
    bench("fs_seqread_mibs", seq_read, "MiB/s");
    bench("fs_create_per_sec", create_rate, "files/s");
    println!(
        "bench-fs: read {}.{:02}x raw (target >= 0.8), write+fsync {}.{:02}x raw (target <= 2)",
        seq_read / raw_read.max(1),
        seq_read * 100 / raw_read.max(1) % 100,
        fs_write / raw_write.max(1),
        fs_write * 100 / raw_write.max(1) % 100
    );
    Ok(())
}
