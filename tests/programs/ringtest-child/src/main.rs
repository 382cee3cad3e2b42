//! `ringtest`'s child: tries to enter its parent's ring (granted as
//! `ring`: refused with `NotSupported`, the ring's memory is the
//! parent's), then starts 32 reads of 64 KiB on a ring of its own and
//! exits at once with them in flight (exit code 7), so the kernel must
//! orphan them and give back its quota without a leaked frame.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use libos::abi::Syscall;
use libos::abi::disk::MAX_ASYNC_SECTORS;
use libos::kind::{DiskRange, IoRing, Memory};
use libos::ring::Ring;
use libos::sys::raw::syscall;
use libos::{Error, Start};

libos::main!(main);

fn main(start: &Start) -> i32 {
    let (Some(disk), Some(memory)) =
        (start.handle::<DiskRange>("disk"), start.handle::<Memory>("memory"))
    else {
        return 1;
    };
    if let Some(theirs) = start.handle::<IoRing>("ring") {
        let args = [theirs.raw().as_raw(), 0, 0, 0, 0, 0];
        // SAFETY: the kernel refuses the call (and the ring holds no read).
        let entered = unsafe { syscall(Syscall::RingEnter, args) };
        if entered != Err(Error::NotSupported) {
            return 5;
        }
    } else {
        return 6;
    }
    let mut bufs: Vec<Vec<u8>> = vec![vec![0u8; MAX_ASYNC_SECTORS as usize * 512]; 32];
    let Ok(mut ring) = Ring::new(memory, 32) else { return 2 };
    for (i, b) in bufs.iter_mut().enumerate() {
        if ring.read(disk, i as u64 * MAX_ASYNC_SECTORS, b, i as u64).is_err() {
            return 3;
        }
    }
    if ring.submit(0) != Ok(32) {
        return 4;
    }
    // Exit without the ring's destructor: the kernel orphans the requests.
    libos::process::exit(7)
}
