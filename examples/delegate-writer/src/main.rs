//! The writer child of `delegate`: writes the pattern to its range, then
//! keeps writing until its range is revoked. Exits 0 if its writes failed
//! only because the capability died: `BadHandle` for a write made after
//! the revoke, `Revoked` for one that was waiting for the disk when it
//! came.
#![no_std]
#![no_main]

use libos::kind::{DiskRange, Timer};
use libos::{Error, Start, println};

libos::main!(main);

const PATTERN_SECTORS: u64 = 16;
/// Where it keeps writing after the pattern.
const SCRATCH_SECTOR: u64 = 100;

fn pattern(sector: u64, offset: usize) -> u8 {
    (sector as u8).wrapping_mul(31) ^ (offset as u8) ^ 0xa5
}

fn main(start: &Start) -> i32 {
    let (Some(disk), Some(timer)) =
        (start.handle::<DiskRange>("disk"), start.handle::<Timer>("timer"))
    else {
        return 2;
    };
    let mut sector = [0u8; 512];
    for s in 0..PATTERN_SECTORS {
        for (i, b) in sector.iter_mut().enumerate() {
            *b = pattern(s, i);
        }
        if disk.write(s, &sector).is_err() {
            return 3;
        }
    }
    if disk.flush().is_err() {
        return 4;
    }
    let mut writes = 0u64;
    loop {
        match disk.write(SCRATCH_SECTOR, &sector) {
            Ok(()) => writes += 1,
            Err(e @ (Error::BadHandle | Error::Revoked)) => {
                println!("delegate-writer: write {} refused: {e:?} (range revoked)", writes + 1);
                return 0;
            }
            Err(e) => {
                println!("delegate-writer: unexpected error {e:?}");
                return 5;
            }
        }
        let _ = timer.sleep_ns(1_000_000);
    }
}
