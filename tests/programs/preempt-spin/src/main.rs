//! Spins for ever, never making a syscall; or, given `ms=` and a timer,
//! counts for that many milliseconds of the clock (looking at it every
//! 2^16 steps) and exits with its count in units of 2^16 steps (the
//! spinners of `preempt mode=balance`).
#![no_std]
#![no_main]

use libos::Start;
use libos::kind::Timer;

libos::main!(main);

fn main(start: &Start) -> i32 {
    let mut x: u64 = 0;
    let ms: Option<u64> = start.arg("ms").and_then(|v| v.parse().ok());
    let (Some(ms), Some(timer)) = (ms, start.handle::<Timer>("timer")) else {
        loop {
            x = core::hint::black_box(x.wrapping_add(1));
        }
    };
    let Ok(t0) = timer.now_ns() else { return -1 };
    let mut units = 0;
    while timer.now_ns().is_ok_and(|t| t < t0 + ms * 1_000_000) {
        for _ in 0..1 << 16 {
            x = core::hint::black_box(x.wrapping_add(1));
        }
        units += 1;
    }
    units
}
