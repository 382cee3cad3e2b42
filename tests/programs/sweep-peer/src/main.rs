//! Given another process's handle value (`handle=`), checks that it means
//! nothing here: every use is BadHandle. Exits 0 if so.
#![no_std]
#![no_main]

use libos::Start;
use libos::abi::{Error, RawHandle, Syscall};
use libos::sys::raw::syscall;

libos::main!(main);

fn main(start: &Start) -> i32 {
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
