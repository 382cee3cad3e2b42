//! Given a disk range, derives a narrower one, writes through it, revokes
//! it, and checks the next write fails. Exits 0 if all went as expected.
#![no_std]
#![no_main]

use libos::kind::DiskRange;
use libos::{Error, Rights, Start};

libos::main!(main);

fn main(start: &Start) -> i32 {
    let Some(disk) = start.handle::<DiskRange>("disk") else { return 2 };
    let rw = Rights::READ | Rights::WRITE;
    let Ok(child) = disk.derive_range(8, 8, rw) else { return 3 };
    if child.write(0, &[7u8; 512]).is_err() {
        return 4;
    }
    if disk.revoke() != Ok(1) {
        return 5;
    }
    if child.write(0, &[7u8; 512]) != Err(Error::BadHandle) {
        return 6;
    }
    // Its own range still works, and saw the write at sector 8.
    let mut buf = [0u8; 512];
    if disk.read(8, &mut buf).is_err() || buf != [7u8; 512] {
        return 7;
    }
    0
}
