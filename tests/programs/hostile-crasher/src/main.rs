//! Holds a delegated disk range, writes through it, then crashes (a null
//! dereference) while still holding it.
#![no_std]
#![no_main]

use libos::Start;
use libos::kind::DiskRange;

libos::main!(main);

fn main(start: &Start) -> i32 {
    let Some(disk) = start.handle::<DiskRange>("disk") else { return 2 };
    if disk.write(0, &[0x42u8; 512]).is_err() {
        return 3;
    }
    // SAFETY: none: dying here with the capability in hand is the test.
    unsafe { core::ptr::read_volatile(core::ptr::null::<u64>()) };
    4
}
