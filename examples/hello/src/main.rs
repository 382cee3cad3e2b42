//! The smallest exocap program: print through the console capability the
//! program was given, and exit.
#![no_std]
#![no_main]

use libos::{Start, println};

libos::main!(main);

fn main(start: &Start) -> i32 {
    println!("hello from {}, an exocap process", start.name());
    0
}
