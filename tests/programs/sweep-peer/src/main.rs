//! Given another process's handle value (`handle=`), checks that it means
//! nothing here: every use is BadHandle. Exits 0 if so.
//!
//! With `read=1` instead: waits for console input through its `input`
//! handle, which the sweep revokes; exits 0 if the wait ends `Revoked`.
#![no_std]
#![no_main]

use libos::Start;
use libos::abi::{Error, RawHandle, Syscall};
use libos::kind::Console;
use libos::sys::raw::syscall;

libos::main!(main);

fn main(start: &Start) -> i32 {
    if start.arg("read") == Some("1") {
        let Some(input) = start.handle::<Console>("input") else { return 3 };
        let mut buf = [0u8; 8];
        return match input.read(&mut buf) {
            Err(Error::Revoked) => 0,
            Ok(_) => 4,
            Err(_) => 5,
        };
    }
    let Some(value) = start.arg("handle").and_then(|v| v.parse::<u64>().ok()) else { return 2 };
    let h = RawHandle::from_raw(value);
    let calls = [
        (Syscall::CapInfo, [h.as_raw(), 0, 0, 0, 0, 0]),
        (Syscall::DebugWrite, [h.as_raw(), 0, 0, 0, 0, 0]),
        (Syscall::CapDerive, [h.as_raw(), 0, 0, 0, 0, 0]),
        (Syscall::CapRevoke, [h.as_raw(), 0, 0, 0, 0, 0]),
        (Syscall::CapDrop, [h.as_raw(), 0, 0, 0, 0, 0]),
    ];
    for (i, (call, args)) in calls.into_iter().enumerate() {
        // SAFETY: no pointer arguments.
        if unsafe { syscall(call, args) } != Err(Error::BadHandle) {
            return 10 + i as i32;
        }
    }
    0
}
