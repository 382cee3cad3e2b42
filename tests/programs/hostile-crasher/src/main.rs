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
    let ms: u64 = start.arg("ms").and_then(|m| m.parse().ok()).unwrap_or(200);
    match start.arg("mode") {
        // Holds a process slot for a while, then ends cleanly.
        Some("sleep") => {
            return match start.handle::<libos::kind::Timer>("timer") {
                Some(t) if t.sleep_ns(ms * 1_000_000).is_ok() => 0,
                _ => 5,
            };
        }
        // Sleeps through a timer capability our parent revokes upstream:
        // the sleep must end at once with `Revoked`.
        Some("sleep-revoked") => {
            return match start
                .handle::<libos::kind::Timer>("timer")
                .map(|t| t.sleep_ns(ms * 1_000_000))
            {
                Some(Err(libos::Error::Revoked)) => 0,
                _ => 6,
            };
        }
        // Waits for a process through a capability our parent revokes
        // upstream: the wait must end with `Revoked`, not the status.
        Some("wait-revoked") => {
            return match start
                .handle::<libos::kind::Process>("child")
                .map(|c| libos::process::Child(c).wait())
            {
                Some(Err(libos::Error::Revoked)) => 0,
                _ => 7,
            };
        }
        _ => {}
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
