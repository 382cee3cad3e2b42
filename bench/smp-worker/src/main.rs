//! `bench-smp`'s worker: waits for `go`, makes `calls=<n>` null
//! capability-checked syscalls (`cap_kind` on its console handle), signals
//! `done`, exits 0 (1 if a call failed).
#![no_std]
#![no_main]

use libos::kind::{Console, Notification};
use libos::{Start, sys};

libos::main!(main);

fn main(start: &Start) -> i32 {
    let calls: u64 = start.arg("calls").and_then(|c| c.parse().ok()).unwrap_or(0);
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
    for _ in 0..calls {
        failed |= sys::cap_kind(console.raw()).is_err();
    }
    if done.signal().is_err() || failed {
        return 1;
    }
    0
}
