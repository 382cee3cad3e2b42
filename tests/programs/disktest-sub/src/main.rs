//! Given a disk range, derives a narrower one, writes through it, revokes
//! it, and checks the next write fails. Exits 0 if all went as expected.
//! With `mode=die-exit` or `mode=die-fault`, fills its queue of
//! asynchronous requests instead, then exits (0) or faults without
//! completing them (exits 1 if a submission failed).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use libos::abi::disk::{MAX_ASYNC_REQUESTS, MAX_ASYNC_SECTORS};
use libos::kind::DiskRange;
use libos::{Error, Handle, Rights, Start};

libos::main!(main);

/// Submits every request a process may have in flight (reads and writes of
/// the largest size) and dies with them pending.
fn die_in_flight(disk: Handle<DiskRange>, fault: bool) -> i32 {
    const BYTES: usize = MAX_ASYNC_SECTORS as usize * 512;
    let mut bufs: Vec<Vec<u8>> = (0..MAX_ASYNC_REQUESTS).map(|_| vec![0x3c; BYTES]).collect();
    for (i, b) in bufs.iter_mut().enumerate() {
        let sector = i as u64 * MAX_ASYNC_SECTORS;
        let p = if i % 2 == 0 { disk.submit_read(sector, b) } else { disk.submit_write(sector, b) };
        match p {
            // Left in flight on purpose: the kernel must cope with the
            // owner dying first.
            Ok(p) => core::mem::forget(p),
            Err(_) => return 1,
        }
    }
    if fault {
        // SAFETY: none needed; `ud2` raises #UD, which kills this process.
        unsafe { core::arch::asm!("ud2") };
    }
    libos::process::exit(0)
}

fn main(start: &Start) -> i32 {
    let Some(disk) = start.handle::<DiskRange>("disk") else { return 2 };
    match start.arg("mode") {
        Some("die-exit") => return die_in_flight(disk, false),
        Some("die-fault") => return die_in_flight(disk, true),
        _ => {}
    }
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
