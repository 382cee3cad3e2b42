//! Runs while the harness injects external events (NMIs): first spinning in
//! user mode, then sleeping (the CPU idles in the kernel). An NMI is nobody's
//! fault, so this program must not be killed and the kernel must carry on.
#![no_std]
#![no_main]

use libos::kind::Timer;
use libos::{Start, println};

libos::main!(main);

/// How long each phase lasts: long enough for the harness to act inside it.
const PHASE_NS: u64 = 1_500_000_000;

fn main(start: &Start) -> i32 {
    let timer = start.handle::<Timer>("timer").expect("a timer");
    println!("external: spinning");
    let t0 = timer.now_ns().expect("clock");
    let mut x: u64 = 0;
    while timer.now_ns().expect("clock") - t0 < PHASE_NS {
        for _ in 0..10_000 {
            x = core::hint::black_box(x.wrapping_add(1));
        }
    }
    println!("external: idle");
    timer.sleep_ns(PHASE_NS).expect("sleep");
    println!("external: still running after both phases");
    0
}
