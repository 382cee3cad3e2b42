//! Starts a child that spins for ever, then checks it still gets the CPU:
//! without preemption this program would never run again (and the test
//! would time out).
#![no_std]
#![no_main]

use libos::kind::Timer;
use libos::process::Spawn;
use libos::{Start, println};

libos::main!(main);

const ROUNDS: u32 = 20;
const SLEEP_NS: u64 = 2_000_000;

fn main(start: &Start) -> i32 {
    let timer = start.handle::<Timer>("timer").expect("a timer");
    let (_, spin) =
        start.images().find(|&(n, _)| n == "preempt-spin").expect("the spinner's image");
    let child =
        Spawn::new(spin).quota_pages(256).without_console().spawn().expect("spawn the spinner");
    let t0 = timer.now_ns().expect("clock");
    for _ in 0..ROUNDS {
        // Sleeping hands the CPU to the spinner; the timer must take it
        // back from the spinner to wake us.
        timer.sleep_ns(SLEEP_NS).expect("sleep");
    }
    // Yielding while the spinner is ready: we must come back too.
    for _ in 0..ROUNDS {
        libos::process::yield_now();
    }
    let elapsed = timer.now_ns().expect("clock") - t0;
    if child.try_wait() != Err(libos::Error::WouldBlock) {
        println!("preempt: the spinner is not running");
        return 1;
    }
    if elapsed < ROUNDS as u64 * SLEEP_NS {
        println!("preempt: slept {elapsed} ns, less than asked");
        return 1;
    }
    println!("preempt: ran {ROUNDS} times beside a spinning process ({} ms)", elapsed / 1_000_000);
    0
}
