//! Benchmark: how the kernel shares the CPU and a disk between processes,
//! and whether a program's disk throughput depends on what ran before it.
//! Prints `BENCH <name> <value> <unit>`:
//! - `disk_seqread_second_mibs`: the same sequential read as `bench-disk`'s
//!   `disk_seqread_mibs` (its range in 1 MiB requests), by this program,
//!   which runs after `bench-disk` and `bench-fs` in the same boot;
//! - `mux_cpu_share_pct` and `mux_io_share_pct`: a CPU-bound worker
//!   (counting) and a disk-bound one (back-to-back random 4 KiB reads) run
//!   side by side for `WINDOW_MS`; each one's progress as a percentage of
//!   its progress alone over the same window, measured in the same boot.
//!   An event-driven kernel keeps both near 100: the disk works while the
//!   CPU counts.
#![no_std]
#![no_main]

extern crate alloc;

use libos::iobuf::IoBuf;
use libos::kind::{Console, DiskRange, Image, Memory, Timer};
use libos::process::{Child, Spawn};
use libos::{ExitStatus, Handle, Rights, Start, println};

libos::main!(main);

const MIB: usize = 1 << 20;
/// How long each worker runs, in ms.
const WINDOW_MS: u64 = 1500;

fn main(start: &Start) -> i32 {
    match run(start) {
        Ok(()) => 0,
        Err(e) => {
            println!("bench-mux: {e}");
            1
        }
    }
}

fn run(start: &Start) -> Result<(), &'static str> {
    let timer = start.handle::<Timer>("timer").ok_or("no timer")?;
    let disk = start.handle::<DiskRange>("disk").ok_or("no disk")?;
    let console = start.handle::<Console>("console").ok_or("no console")?;
    let memory = start.handle::<Memory>("memory").ok_or("no memory")?;
    let image = start
        .images()
        .find(|&(n, _)| n == "bench-mux-worker")
        .map(|(_, h)| h)
        .ok_or("no bench-mux-worker image")?;

    // Sequential: the whole range in 1 MiB requests, as bench-disk does.
    let sectors = disk.sectors().map_err(|_| "disk size")?;
    let mut big = IoBuf::zeroed(MIB);
    let chunk = (MIB / 512) as u64;
    let t0 = timer.now_ns().map_err(|_| "clock")?;
    let mut s = 0;
    while s + chunk <= sectors {
        disk.read(s, &mut big).map_err(|_| "sequential read")?;
        s += chunk;
    }
    let elapsed = timer.now_ns().map_err(|_| "clock")? - t0;
    let mibs_x1000 = (s / chunk) * 1_000_000_000_000 / elapsed.max(1);
    println!("BENCH disk_seqread_second_mibs {}.{:03} MiB/s", mibs_x1000 / 1000, mibs_x1000 % 1000);
    drop(big);

    let w = Workers { image, timer, disk, console, memory };
    let cpu_alone = w.finish(w.start("cpu")?)?;
    let io_alone = w.finish(w.start("io")?)?;
    let (cpu, io) = (w.start("cpu")?, w.start("io")?);
    let (cpu_mixed, io_mixed) = (w.finish(cpu)?, w.finish(io)?);
    let pct = |mixed: u64, alone: u64| mixed * 100 / alone.max(1);
    println!(
        "bench-mux: alone cpu {cpu_alone}k rounds, io {io_alone} reads; together {cpu_mixed}k, {io_mixed}"
    );
    println!("BENCH mux_cpu_share_pct {} %", pct(cpu_mixed, cpu_alone));
    println!("BENCH mux_io_share_pct {} %", pct(io_mixed, io_alone));
    Ok(())
}

struct Workers {
    image: Handle<Image>,
    timer: Handle<Timer>,
    disk: Handle<DiskRange>,
    console: Handle<Console>,
    memory: Handle<Memory>,
}

impl Workers {
    fn start(&self, mode: &'static str) -> Result<Child, &'static str> {
        let args = alloc::format!("mode={mode} ms={WINDOW_MS}");
        Spawn::new(self.image)
            .memory(self.memory)
            .quota_pages(512)
            .args(&args)
            .grant(self.timer, Rights::READ, "timer")
            .and_then(|s| s.grant(self.disk, Rights::READ, "disk"))
            .and_then(|s| s.grant(self.console, Rights::WRITE, "console"))
            .and_then(Spawn::spawn)
            .map_err(|_| "spawn bench-mux-worker")
    }

    fn finish(&self, child: Child) -> Result<u64, &'static str> {
        match child.wait() {
            Ok(ExitStatus::Exited(n)) if n >= 0 => Ok(n as u64),
            _ => Err("a worker failed"),
        }
    }
}
