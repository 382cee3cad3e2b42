//! The app of the README, as a new user writes it: one folder here and
//! one `[[app]]` entry in `exocap.toml` (`disk = 2048` gives it the
//! `disk` handle it asks for).
#![no_std]
#![no_main]

use libos::kind::DiskRange;
use libos::{Start, println};

libos::main!(main);

fn main(start: &Start) -> i32 {
    let disk = start.require::<DiskRange>("disk").expect("a disk range");
    let mut sector = [0u8; 512];
    disk.read(0, &mut sector).expect("read");
    println!("first byte: {}", sector[0]);
    0
}
