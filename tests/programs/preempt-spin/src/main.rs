//! Spins for ever, never making a syscall.
#![no_std]
#![no_main]

use libos::Start;

libos::main!(main);

fn main(_: &Start) -> i32 {
    let mut x: u64 = 0;
    loop {
        x = core::hint::black_box(x.wrapping_add(1));
    }
}
