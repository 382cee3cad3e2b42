//! `gs-abuse`'s peer: runs beside it, yielding the CPU back and forth,
//! while `gs-abuse` holds non-null FS and GS selectors; its own (never
//! changed, so null) must stay null: a process switch must not hand one
//! process's segment selectors to the next. Exits 0 if they did, 1 if not.
#![no_std]
#![no_main]

use core::arch::asm;
use libos::{Start, println};

libos::main!(main);

/// Switches to wait through.
const ROUNDS: u32 = 2_000;

fn selectors() -> (u16, u16) {
    let (fs, gs): (u16, u16);
    // SAFETY: reads two segment registers.
    unsafe {
        asm!("mov {0:x}, fs", "mov {1:x}, gs", out(reg) fs, out(reg) gs,
             options(nomem, nostack, preserves_flags))
    };
    (fs, gs)
}

fn main(_start: &Start) -> i32 {
    for _ in 0..ROUNDS {
        libos::process::yield_now();
        let (fs, gs) = selectors();
        if (fs, gs) != (0, 0) {
            println!("gs-abuse-peer: found FS {fs:#x} and GS {gs:#x}, another process's");
            return 1;
        }
    }
    println!("gs-abuse-peer: FS and GS stayed null beside a process that changed its own");
    0
}
