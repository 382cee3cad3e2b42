//! Starts a child that spins for ever, then checks it still gets the CPU:
//! without preemption this program would never run again (and the test
//! would time out). With `mode=balance`, measures how evenly six spinners
//! share the CPUs; with `mode=reference`, checks the reference clock read
//! on every CPU at once.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::vec::Vec;
use libos::kind::{Image, Timer};
use libos::process::{Child, Spawn};
use libos::{ExitStatus, Handle, Rights, Start, println};

libos::main!(main);

const ROUNDS: u32 = 20;
const SLEEP_NS: u64 = 2_000_000;

/// Spinners of `mode=balance`, and how long each counts.
const SPINNERS: usize = 6;
const SPIN_MS: u64 = 1500;

/// Starts `preempt-spin` (image `spin`) with `args` and the timer, on
/// `cpus` (default: ours), without a console.
fn spinner(
    spin: Handle<Image>,
    timer: Handle<Timer>,
    args: &str,
    cpus: Option<u64>,
) -> Result<Child, libos::Error> {
    let mut s = Spawn::new(spin).quota_pages(256).without_console().args(args);
    if let Some(cpus) = cpus {
        s = s.on_cpus(cpus);
    }
    s.grant(timer, Rights::READ, "timer").and_then(Spawn::spawn)
}

/// The exit codes of `children`, waited for in turn; `None` (said, naming
/// the child as `what`) if one did not exit with a code `ok` accepts.
fn results(children: &[Child], what: &str, ok: impl Fn(i32) -> bool) -> Option<Vec<i32>> {
    let mut codes = Vec::with_capacity(children.len());
    for c in children {
        match c.wait() {
            Ok(ExitStatus::Exited(n)) if ok(n) => codes.push(n),
            other => {
                println!("preempt: {what} ended with {other:?}");
                return None;
            }
        }
    }
    Some(codes)
}

/// `mode=balance`: six spinners started together (all queued where this
/// process runs) count for `SPIN_MS` each; prints the slowest one's count
/// as a percentage of the fastest's. On two CPUs without balancing they
/// settle at four on one CPU and two on the other (the second CPU steals
/// only while its own queue is empty): 50%.
fn balance(start: &Start, timer: Handle<Timer>) -> i32 {
    let (_, spin) =
        start.images().find(|&(n, _)| n == "preempt-spin").expect("the spinner's image");
    let mut children = Vec::new();
    for _ in 0..SPINNERS {
        match spinner(spin, timer, &format!("ms={SPIN_MS}"), None) {
            Ok(c) => children.push(c),
            Err(e) => {
                println!("preempt: spawn a spinner: {e:?}");
                return 1;
            }
        }
    }
    let Some(counts) = results(&children, "a spinner", |n| n > 0) else { return 1 };
    let counts: Vec<u64> = counts.into_iter().map(|n| n as u64).collect();
    let (min, max) = (counts.iter().min().copied(), counts.iter().max().copied());
    let (Some(min), Some(max)) = (min, max) else { return 1 };
    println!(
        "preempt: {SPINNERS} spinners, the slowest made {}% of the fastest's count {counts:?}",
        min * 100 / max
    );
    0
}

/// `mode=reference`: a child on each CPU (up to 4) reads `timer_info` back
/// to back for `REFERENCE_MS`, while the boot CPU's tick samples the same
/// PIT; the reference clock must agree with the clock throughout: at most
/// `MAX_DISAGREEMENTS` steps in all may not. (The PIT is read by latching
/// its count, then reading two bytes: two CPUs at it at once read each
/// other's bytes. The kernel lock did not keep them apart: the tick
/// samples without it, and `timer_info` runs under the read side.
/// Unserialized, the readers found 5 to 2,600 disagreements each in
/// 1.5 s; serialized, none, also beside two busy loops on the host.)
fn reference(start: &Start, timer: Handle<Timer>) -> i32 {
    const MAX_DISAGREEMENTS: i32 = 2;
    const REFERENCE_MS: u64 = 1500;
    let (_, spin) =
        start.images().find(|&(n, _)| n == "preempt-spin").expect("the spinner's image");
    let mut children = Vec::new();
    for cpu in 0..4 {
        match spinner(spin, timer, &format!("mode=reference ms={REFERENCE_MS}"), Some(1 << cpu)) {
            Ok(c) => children.push(c),
            // CPUs past the last online one refuse the child.
            Err(libos::Error::InvalidArgument) if cpu > 0 => break,
            Err(e) => {
                println!("preempt: spawn a reader on CPU {cpu}: {e:?}");
                return 1;
            }
        }
    }
    let Some(bad) = results(&children, "a reader", |n| n >= 0) else { return 1 };
    println!(
        "preempt: {} CPUs read the reference clock for {REFERENCE_MS} ms; disagreements per CPU: {bad:?}",
        children.len()
    );
    i32::from(bad.iter().sum::<i32>() > MAX_DISAGREEMENTS)
}

fn main(start: &Start) -> i32 {
    let timer = start.handle::<Timer>("timer").expect("a timer");
    match start.arg("mode") {
        Some("balance") => return balance(start, timer),
        Some("reference") => return reference(start, timer),
        _ => {}
    }
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
