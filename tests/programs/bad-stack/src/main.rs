//! Points its stack pointer at addresses it may not use (the kernel half,
//! a non-canonical address, 0, the top of user space), and with each one
//! makes syscalls (the `Nop` fast path and `yield`, through the whole
//! dispatcher and a process switch) and spins through timer ticks, taking
//! interrupts from ring 3. The kernel never uses the user stack: the
//! `syscall` entry parks RSP and `sysretq` gives it back, an interrupt
//! switches to TSS.RSP0 and `iretq` gives it back, so every round must
//! come back with its stack pointer as it set it, and no kernel fault.
#![no_std]
#![no_main]

use core::arch::asm;
use libos::{Start, println};

libos::main!(main);

/// `caps::abi::layout::USER_END`: nothing at or above is ever mapped.
const USER_END: u64 = 0x0000_7fff_ffff_0000;

/// Spin iterations per round (no stack use): long enough for timer ticks.
const SPIN: u64 = 20_000_000;

/// Rounds of back-to-back syscalls, and calls per round. `smp.rs` injects
/// 25 NMIs, each after a round's line of its own (up to 12 ms after it):
/// the storm must last while a slow harness injects them, or they land
/// after it.
const STORM_ROUNDS: u32 = 75;
const STORM_CALLS: u32 = 2_000;

/// Sets RSP to `bad`, makes a `Nop` and a `yield` syscall, spins `SPIN`
/// times, and restores it; returns RSP as seen after each step (all must
/// be `bad`).
fn round(bad: u64) -> [u64; 3] {
    let (a, b, c): (u64, u64, u64);
    // SAFETY: between setting RSP to `bad` and restoring it, nothing uses
    // the stack (no call, push or pop; interrupts and syscalls switch to
    // the kernel's stack); r12 keeps the real RSP.
    unsafe {
        asm!(
            "mov r12, rsp",
            "mov rsp, {bad}",
            "xor eax, eax",
            "syscall",
            "mov {a}, rsp",
            "mov eax, 11",
            "syscall",
            "mov {b}, rsp",
            "mov rcx, {spin}",
            "2:",
            "dec rcx",
            "jnz 2b",
            "mov {c}, rsp",
            "mov rsp, r12",
            bad = in(reg) bad,
            spin = const SPIN,
            a = out(reg) a,
            b = out(reg) b,
            c = out(reg) c,
            out("rax") _, out("r12") _, out("rcx") _, out("r11") _,
            out("rdi") _, out("rsi") _, out("rdx") _, out("r8") _, out("r9") _, out("r10") _,
        )
    };
    [a, b, c]
}

fn main(_start: &Start) -> i32 {
    let cases: [(&str, u64); 5] = [
        ("kernel image", 0xffff_ffff_8000_0000),
        ("kernel half start", 0xffff_8000_0000_0000),
        ("non-canonical", 0x8000_0000_0000_0000),
        ("zero", 0),
        ("user end", USER_END),
    ];
    for (what, bad) in cases {
        let seen = round(bad);
        if seen != [bad; 3] {
            println!("bad-stack: {what} {bad:#x}: RSP came back as {seen:#x?}");
            return 1;
        }
        println!("bad-stack: {what} {bad:#x}: syscalls and ticks with it, RSP intact");
    }
    println!("bad-stack: the kernel never used the user stack");
    // Then syscalls back to back, with a line per round (a test injects
    // NMIs at those lines, so they land all over the syscall path).
    for i in 0..STORM_ROUNDS {
        for _ in 0..STORM_CALLS {
            libos::process::yield_now();
        }
        println!("bad-stack: storm round {i}");
    }
    println!("bad-stack: storm over");
    0
}
