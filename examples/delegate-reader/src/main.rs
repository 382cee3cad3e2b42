//! The reader child of `delegate`: read-only on the writer's range
//! (`shared`), read-write on its own (`own`). Checks the pattern, and that
//! writing `shared` and reading past it are refused.
#![no_std]
#![no_main]

use libos::kind::DiskRange;
use libos::{Error, Start, println};

libos::main!(main);

const PATTERN_SECTORS: u64 = 16;

fn pattern(sector: u64, offset: usize) -> u8 {
    (sector as u8).wrapping_mul(31) ^ (offset as u8) ^ 0xa5
}

fn check(start: &Start) -> Result<(), &'static str> {
    let shared = start.handle::<DiskRange>("shared").ok_or("no shared range")?;
    let own = start.handle::<DiskRange>("own").ok_or("no own range")?;
    let mut buf = [0u8; 512];
    for s in 0..PATTERN_SECTORS {
        shared.read(s, &mut buf).map_err(|_| "read the pattern")?;
        if buf.iter().enumerate().any(|(i, &b)| b != pattern(s, i)) {
            return Err("the pattern reads back wrong");
        }
    }
    if shared.write(0, &buf) != Err(Error::MissingRight) {
        return Err("a write through the read-only range was not refused with MissingRight");
    }
    let size = shared.sectors().map_err(|_| "size")?;
    if shared.read(size, &mut buf) != Err(Error::OutOfRange) {
        return Err("a read past the range was not refused with OutOfRange");
    }
    if shared.read(size - 1, &mut [0u8; 1024]) != Err(Error::OutOfRange) {
        return Err("a read running past the range was not refused with OutOfRange");
    }
    shared.read(size - 1, &mut buf).map_err(|_| "the last sector must be readable")?;
    own.write(0, &buf).map_err(|_| "write to its own range")?;
    println!(
        "delegate-reader: pattern read back; write refused (MissingRight); read past the end refused (OutOfRange)"
    );
    Ok(())
}

fn main(start: &Start) -> i32 {
    match check(start) {
        Ok(()) => 0,
        Err(e) => {
            println!("delegate-reader: {e}");
            1
        }
    }
}
