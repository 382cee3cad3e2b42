//! Changes its own GS selector (and so its GS base) in each way ring 3 can,
//! then makes syscalls, yields and spins through timer ticks. The kernel
//! swaps to its own GS base on every entry (`swapgs`), so none of this may
//! reach it: the test kernel's authority checks compare the kernel's GS
//! base with the CPU's per-CPU area after every syscall and at every
//! tick. And the process must get its own GS back each time: a GS-relative
//! read of one of its words still reads that word (base 0), never the
//! kernel's area. Then, beside a peer (`gs-abuse-peer`) that yields the
//! CPU back and forth with it, it holds non-null FS and GS selectors: each
//! process must find its own after every switch.
#![no_std]
#![no_main]

use core::arch::asm;
use libos::kind::Timer;
use libos::process::Spawn;
use libos::{ExitStatus, Start, println};

libos::main!(main);

/// How long each round spins in user mode, taking timer ticks there.
const SPIN_NS: u64 = 30_000_000;

/// Loads `selector` into GS (in 64-bit mode this sets the GS base from its
/// descriptor: 0 for the user data segment; a null selector is allowed).
fn load_gs(selector: u16) {
    // SAFETY: a segment load of a selector ring 3 may use; it changes only
    // this process's GS, which nothing in this program relies on.
    unsafe { asm!("mov gs, {0:x}", in(reg) selector, options(nostack, preserves_flags)) };
}

/// Loads `selector` into FS (as `load_gs`).
fn load_fs(selector: u16) {
    // SAFETY: as in `load_gs`, for FS.
    unsafe { asm!("mov fs, {0:x}", in(reg) selector, options(nostack, preserves_flags)) };
}

fn fs_selector() -> u16 {
    let sel: u16;
    // SAFETY: reads a segment register.
    unsafe { asm!("mov {0:x}, fs", out(reg) sel, options(nomem, nostack, preserves_flags)) };
    sel
}

fn gs_selector() -> u16 {
    let sel: u16;
    // SAFETY: reads a segment register.
    unsafe { asm!("mov {0:x}, gs", out(reg) sel, options(nomem, nostack, preserves_flags)) };
    sel
}

fn ss_selector() -> u16 {
    let sel: u16;
    // SAFETY: reads a segment register.
    unsafe { asm!("mov {0:x}, ss", out(reg) sel, options(nomem, nostack, preserves_flags)) };
    sel
}

/// Reads `*word` through GS: the same value as long as the GS base is 0.
fn read_through_gs(word: &u64) -> u64 {
    let value: u64;
    // SAFETY: with a GS base of 0 (what this process set) the address is
    // `word`'s own; were it the kernel's area, the read would fault, which
    // is the failure this test looks for.
    unsafe {
        asm!("mov {v}, gs:[{a}]", v = out(reg) value, a = in(reg) word as *const u64,
             options(nostack, readonly, preserves_flags))
    };
    value
}

fn main(start: &Start) -> i32 {
    let timer = start.handle::<Timer>("timer").expect("a timer");
    let marker: u64 = 0x6773_2d61_6275_7365;
    let rounds = [("user data selector", ss_selector()), ("null selector", 0)];
    for (what, selector) in rounds {
        load_gs(selector);
        let t0 = timer.now_ns().expect("clock");
        let mut calls = 0u64;
        let mut now = t0;
        while now - t0 < SPIN_NS {
            for i in 0..10_000u64 {
                core::hint::black_box(i);
            }
            now = timer.now_ns().expect("clock");
            libos::process::yield_now();
            calls += 2;
        }
        if gs_selector() != selector {
            println!(
                "gs-abuse: GS selector {:#x} after the kernel ran, set {selector:#x}",
                gs_selector()
            );
            return 1;
        }
        if selector != 0 && read_through_gs(&marker) != marker {
            println!("gs-abuse: a GS-relative read no longer reads this process's memory");
            return 1;
        }
        println!(
            "gs-abuse: {what} {selector:#x}: {calls} syscalls over {} ms, GS intact",
            (now - t0) / 1_000_000
        );
    }
    println!("gs-abuse: the kernel kept its GS base");
    beside_a_peer(start)
}

/// Holds non-null FS and GS selectors while a peer yields with it; both
/// must keep their own.
fn beside_a_peer(start: &Start) -> i32 {
    let Some((_, image)) = start.images().find(|&(n, _)| n == "gs-abuse-peer") else {
        println!("gs-abuse: no gs-abuse-peer image");
        return 1;
    };
    let user = ss_selector();
    load_fs(user);
    load_gs(user);
    let peer = match Spawn::new(image).quota_pages(256).spawn() {
        Ok(child) => child,
        Err(e) => {
            println!("gs-abuse: spawn the peer: {e:?}");
            return 1;
        }
    };
    loop {
        libos::process::yield_now();
        if (fs_selector(), gs_selector()) != (user, user) {
            println!(
                "gs-abuse: FS {:#x} and GS {:#x} after a switch, set {user:#x}",
                fs_selector(),
                gs_selector()
            );
            return 1;
        }
        match peer.try_wait() {
            Err(libos::Error::WouldBlock) => continue,
            Ok(ExitStatus::Exited(0)) => break,
            other => {
                println!("gs-abuse: the peer ended with {other:?}");
                return 1;
            }
        }
    }
    println!("gs-abuse: FS and GS kept per process across switches");
    0
}
