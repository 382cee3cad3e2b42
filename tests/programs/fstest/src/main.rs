//! The file system under crashes: the program half of the crash test
//! (`tools/harness/tests/fs_crash.rs`). It gets the whole data disk.
//!
//! - `mode=work seed=N [format=1]`: mounts the file system (formats the
//!   disk first with `format=1`), then changes files forever, printing a
//!   line for each operation before it starts (`fstest: begin ...`) and
//!   one when it is durable (`fstest: durable ...`); the harness kills the
//!   machine at some point. See [`work`].
//! - `mode=check`: mounts (replaying the journal), runs `fsck` and prints
//!   the length and checksum of every file, for the harness to compare
//!   with the last durable lines. See [`check`].
#![no_std]
#![no_main]

extern crate alloc;

mod check;
mod work;

use libos::disk::RangeDevice;
use libos::kind::{DiskRange, Memory};
use libos::{Start, println};

libos::main!(main);

/// Checksum of file contents, as printed (the file system's own
/// checksum function, seed 0).
pub fn file_sum(data: &[u8]) -> u64 {
    libos::fs::layout::checksum(0, data)
}

fn main(start: &Start) -> i32 {
    let Some(disk) = start.handle::<DiskRange>("disk") else {
        println!("fstest: error: no disk range given");
        return 1;
    };
    // Checkpoints write their home blocks as one batch through an I/O ring.
    let dev = match start.handle::<Memory>("memory") {
        Some(memory) => RangeDevice::with_batches(disk, memory),
        None => RangeDevice::new(disk),
    };
    let dev = match dev {
        Ok(d) => d,
        Err(e) => {
            println!("fstest: error: cannot size the disk range: {e}");
            return 1;
        }
    };
    let result = match start.arg("mode") {
        Some("work") => match start.arg("seed").map(str::parse::<u64>) {
            Some(Ok(seed)) => work::run(dev, seed, start.arg("format") == Some("1")),
            _ => Err("mode=work needs seed=<number>".into()),
        },
        Some("check") => check::run(dev),
        _ => Err("usage: mode=work seed=<n> [format=1] | mode=check".into()),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            println!("fstest: error: {e}");
            1
        }
    }
}
