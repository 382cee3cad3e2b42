//! Holds a delegated disk range, writes through it, then crashes (a null
//! dereference) while still holding it. With `mode=rights` it only exits
//! with the rights bits of its own `memory` handle (spawn must not give it
//! more than its parent's handle held).
#![no_std]
#![no_main]

use libos::Start;
use libos::kind::{DiskRange, Memory};

libos::main!(main);

fn main(start: &Start) -> i32 {
    if start.arg("mode") == Some("sleep") {
        // Holds a process slot for a while, then ends cleanly.
        return match start.handle::<libos::kind::Timer>("timer") {
            Some(t) if t.sleep_ns(200_000_000).is_ok() => 0,
            _ => 5,
        };
    }
    if start.arg("mode") == Some("rights") {
        return match start.handle::<Memory>("memory").map(|m| m.info()) {
            Some(Ok(info)) => info.rights as i32,
            _ => -1,
        };
    }
    let Some(disk) = start.handle::<DiskRange>("disk") else { return 2 };
    if disk.write(0, &[0x42u8; 512]).is_err() {
        return 3;
    }
    // SAFETY: none: dying here with the capability in hand is the test.
    unsafe { core::ptr::read_volatile(core::ptr::null::<u64>()) };
    4
}
