//! `bench-smp`'s worker, in one of these modes (`mode=`):
//!
//! - (none) waits for `go`, makes `calls=<n>` null capability-checked
//!   syscalls (`cap_kind` on its console handle), signals `done`;
//! - `spin`: the same, with `calls=<n>` steps of arithmetic in user mode
//!   instead of the syscalls (the machine's own scaling: no kernel);
//! - `derive`: the same, with `calls=<n>` pairs of `cap_derive` (of its
//!   console handle) and `cap_drop` (of the new handle): calls that
//!   change its own table;
//! - `caller`: makes `runs=<r>` runs of `calls=<n>` calls on `service`
//!   (served by `bench-ipc-echo`, which answers the first word plus one),
//!   each checked, and prints `BENCH <name> <ns> ns` (`name=`): the median
//!   run's time per round trip.
//!
//! Each exits 0, or 1 if a call failed.
#![no_std]
#![no_main]

use libos::abi::args::DERIVE_SAME;
use libos::ipc::Msg;
use libos::kind::{Console, Endpoint, Notification, Timer};
use libos::{Rights, Start, println, sys};

libos::main!(main);

/// Most runs a `caller` makes.
const MAX_RUNS: usize = 15;

fn main(start: &Start) -> i32 {
    let calls: u64 = start.arg("calls").and_then(|c| c.parse().ok()).unwrap_or(0);
    match start.arg("mode") {
        Some("caller") => caller(start, calls),
        Some("spin") => syscalls(start, calls, Work::Spin),
        Some("derive") => syscalls(start, calls, Work::DeriveDrop),
        _ => syscalls(start, calls, Work::Null),
    }
}

/// What [`syscalls`] repeats.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Work {
    /// A null capability-checked syscall (`cap_kind`).
    Null,
    /// A step of arithmetic in user mode.
    Spin,
    /// `cap_derive` then `cap_drop` of the new handle.
    DeriveDrop,
}

fn syscalls(start: &Start, calls: u64, work: Work) -> i32 {
    let (Some(console), Some(go), Some(done)) = (
        start.handle::<Console>("console"),
        start.handle::<Notification>("go"),
        start.handle::<Notification>("done"),
    ) else {
        return 1;
    };
    if go.wait().is_err() {
        return 1;
    }
    let mut failed = false;
    match work {
        Work::Spin => {
            let mut x = 1u64;
            for _ in 0..calls {
                x = core::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            failed = x == 0;
        }
        Work::Null => {
            for _ in 0..calls {
                failed |= sys::cap_kind(console.raw()).is_err();
            }
        }
        Work::DeriveDrop => {
            for _ in 0..calls {
                match sys::cap_derive(console.raw(), Rights::WRITE, DERIVE_SAME, 0, 0) {
                    Ok(h) => failed |= sys::cap_drop(h).is_err(),
                    Err(_) => failed = true,
                }
            }
        }
    }
    if done.signal().is_err() || failed {
        return 1;
    }
    0
}

fn caller(start: &Start, calls: u64) -> i32 {
    let runs: usize = start.arg("runs").and_then(|r| r.parse().ok()).unwrap_or(3);
    let name = start.arg("name").unwrap_or("ipc_call_roundtrip_pinned_ns");
    let (Some(ep), Some(timer)) =
        (start.handle::<Endpoint>("service"), start.handle::<Timer>("timer"))
    else {
        return 1;
    };
    if calls == 0 || runs == 0 || runs > MAX_RUNS {
        return 1;
    }
    let mut ps = [u64::MAX; MAX_RUNS];
    let mut i = 0u64;
    for run in ps.iter_mut().take(runs) {
        let Ok(t0) = timer.now_ns() else { return 1 };
        for _ in 0..calls {
            i += 1;
            if !ep.call(&Msg::word(i)).is_ok_and(|a| a.word(0) == i + 1) {
                return 1;
            }
        }
        let Ok(t1) = timer.now_ns() else { return 1 };
        *run = (t1 - t0) * 1000 / calls;
    }
    let ps = &mut ps[..runs];
    ps.sort_unstable();
    let median = ps[runs / 2];
    println!("BENCH {name} {}.{:03} ns", median / 1000, median % 1000);
    0
}
