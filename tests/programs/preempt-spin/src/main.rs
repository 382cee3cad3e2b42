//! Spins for ever, never making a syscall; or, given `ms=` and a timer,
//! counts for that many milliseconds of the clock (looking at it every
//! 2^16 steps) and exits with its count in units of 2^16 steps (the
//! spinners of `preempt mode=balance`). With `mode=reference`, reads
//! `timer_info` back to back for `ms` milliseconds instead and exits with
//! the number of times the reference clock (the PIT) went back or
//! disagreed with the clock (the TSC), or -1 if a call failed (`preempt
//! mode=reference`).
#![no_std]
#![no_main]

use libos::kind::Timer;
use libos::{Handle, Start};

libos::main!(main);

/// Whether the reference clock's `reference_ns` and the clock's
/// `clock_ns` over the same steps agree: within 5% (calibration, as
/// `disktest mode=timekeeping` allows) and 15 ms. A count read apart (the
/// latch and the two bytes of two readers interleaved) is off by any
/// amount up to one period of the PIT, 55 ms, and often by the whole
/// period for good. The 15 ms are for the host: it may stop a virtual CPU
/// between the kernel's reads of the two clocks (the PIT's is port I/O,
/// which waits for QEMU's big lock), in two calls in a row; with 1 ms, two
/// busy loops beside the test made 17 such steps in 1.5 s.
fn agree(clock_ns: u64, reference_ns: u64) -> bool {
    reference_ns.abs_diff(clock_ns) <= clock_ns / 20 + 15_000_000
}

/// A step of `mode=reference` longer than this (of the clock) is the host
/// stopping the virtual CPU, not a step of the loop.
const LONG_STEP_NS: u64 = 20_000_000;

fn reference(timer: Handle<Timer>, ms: u64) -> i32 {
    let Ok(mut last) = timer.timer_info() else { return -1 };
    let end = last.now_ns + ms * 1_000_000;
    let mut bad = 0;
    // A step that disagreed, judged with the next one: the host may stop
    // this virtual CPU between the kernel's reads of the two clocks, which
    // makes one step's reference too long and the next one's as much too
    // short. A bad count does not even out.
    let mut pending: Option<(u64, u64)> = None;
    while last.now_ns < end {
        let Ok(info) = timer.timer_info() else { return -1 };
        if info.reference_ns < last.reference_ns {
            bad += 1;
        }
        let clock = info.now_ns - last.now_ns;
        let reference = info.reference_ns.saturating_sub(last.reference_ns);
        // Steps are microseconds long, unless the host stopped this
        // virtual CPU: then, if it stopped the other too, nobody sampled
        // the PIT for longer than its period, and a whole period goes
        // uncounted by design (see `arch::pit`). Such a step is not
        // judged; a read taken apart happens in a short one.
        if clock > LONG_STEP_NS {
            pending = None;
            last = info;
            continue;
        }
        match pending.take() {
            None if !agree(clock, reference) => pending = Some((clock, reference)),
            None => {}
            Some((c, r)) => bad += i32::from(!agree(c + clock, r + reference)),
        }
        last = info;
    }
    bad
}

fn main(start: &Start) -> i32 {
    let mut x: u64 = 0;
    let ms: Option<u64> = start.arg("ms").and_then(|v| v.parse().ok());
    let (Some(ms), Some(timer)) = (ms, start.handle::<Timer>("timer")) else {
        loop {
            x = core::hint::black_box(x.wrapping_add(1));
        }
    };
    if start.arg("mode") == Some("reference") {
        return reference(timer, ms);
    }
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
