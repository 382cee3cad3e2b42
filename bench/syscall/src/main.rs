//! Benchmark: the syscall path. Prints `BENCH <name> <value> <unit>`.
//!
//! - `syscall_floor_ns`: `syscall` + `sysretq` with nothing in between
//!   (syscall 0 returns from the entry stub);
//! - `syscall_null_ns`: the cheapest capability-checked call, `cap_info` on
//!   a valid handle without a record (decode, look the handle up in the
//!   caller's table, check it, answer);
//! - `syscalls_per_sec`: the null call's rate.
//!
//! Each figure is the median of several runs of `CALLS` calls, timed by
//! the kernel clock (the TSC gives the cycle counts).
#![no_std]
#![no_main]

use libos::kind::{Console, Timer};
use libos::{Start, println, sys};

libos::main!(main);

const CALLS: u64 = 1_000_000;
const RUNS: usize = 5;

fn median(mut v: [u64; RUNS]) -> u64 {
    v.sort_unstable();
    v[RUNS / 2]
}

/// Runs `f` `CALLS` times, `RUNS` times over; (ns per call, cycles per call).
fn measure(timer: libos::Handle<Timer>, mut f: impl FnMut()) -> (u64, u64) {
    let mut ns = [0; RUNS];
    let mut cycles = [0; RUNS];
    for r in 0..RUNS {
        let (t0, c0) = (timer.now_ns().expect("clock"), sys::rdtsc());
        for _ in 0..CALLS {
            f();
        }
        let (t1, c1) = (timer.now_ns().expect("clock"), sys::rdtsc());
        ns[r] = (t1 - t0) * 1000 / CALLS; // picoseconds per call, for precision
        cycles[r] = (c1 - c0) / CALLS;
    }
    (median(ns), median(cycles))
}

fn main(start: &Start) -> i32 {
    let timer = start.handle::<Timer>("timer").expect("timer");
    let console = start.handle::<Console>("console").expect("console");
    let (floor_ps, floor_cycles) = measure(timer, || {
        let _ = sys::nop();
    });
    let (null_ps, null_cycles) = measure(timer, || {
        let _ = sys::cap_kind(console.raw());
    });
    println!("BENCH syscall_floor_ns {}.{:03} ns", floor_ps / 1000, floor_ps % 1000);
    println!("BENCH syscall_null_ns {}.{:03} ns", null_ps / 1000, null_ps % 1000);
    println!("BENCH syscalls_per_sec {} calls/s", 1_000_000_000_000 / null_ps.max(1));
    println!(
        "BENCH syscall_null_over_floor {}.{:02} ratio",
        null_ps / floor_ps.max(1),
        null_ps * 100 / floor_ps.max(1) % 100
    );
    println!("BENCH syscall_floor_cycles {floor_cycles} cycles");
    println!("BENCH syscall_null_cycles {null_cycles} cycles");
    0
}
