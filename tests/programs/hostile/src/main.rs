//! Hostile behaviour that must fail cleanly while everything else carries
//! on: overlapping input and output buffers, spawning as deep as the
//! kernel allows, and a child that crashes holding delegated capabilities.
#![no_std]
#![no_main]

extern crate alloc;

use libos::abi::process::{Grant, ProcState, Role, SpawnArgs};
use libos::abi::{CapInfo, Error, Syscall};
use libos::kind::{DiskRange, Memory};
use libos::process::Spawn;
use libos::sys::raw::syscall;
use libos::{ExitStatus, Handle, Rights, Start, println};

libos::main!(main);

const AREA: u64 = 0x0000_5000_0000_0000;

fn overlapping(start: &Start) -> Result<(), &'static str> {
    let memory = start.handle::<Memory>("memory").ok_or("memory")?;
    memory.map(AREA, 4096, libos::abi::args::MAP_WRITE).map_err(|_| "map")?;
    let disk = start.handle::<DiskRange>("disk").ok_or("disk")?;
    // cap_info writing its record over the very bytes that hold... nothing
    // the kernel reads again: the handle went in a register. The record
    // lands, the call succeeds.
    // SAFETY: AREA is ours and no Rust object lives there.
    let r = unsafe { syscall(Syscall::CapInfo, [disk.raw().as_raw(), AREA, 0, 0, 0, 0]) };
    if r.is_err() {
        return Err("cap_info into our own page");
    }
    // proc_spawn whose grant array overlaps its own argument record and
    // whose argument text overlaps both: the kernel copies each once, so
    // the overlap only makes the request nonsense, never unsafe.
    let args_at = AREA + 64;
    let (_, image) = start.images().find(|&(n, _)| n == "hostile-crasher").ok_or("image")?;
    let spawn = SpawnArgs {
        image: image.raw().as_raw(),
        memory: memory.raw().as_raw(),
        quota_pages: 256,
        grants: args_at, // the grant array *is* this record
        grants_len: 1,
        args: args_at,
        args_len: 16,
        cpus: 0,
    };
    // SAFETY: writes our own page, which no Rust object uses.
    unsafe { core::ptr::write_volatile(args_at as *mut SpawnArgs, spawn) };
    // SAFETY: the kernel only reads the record.
    let r = unsafe { syscall(Syscall::ProcSpawn, [args_at, 0, 0, 0, 0, 0]) };
    // The "grant" is the record's first 40 bytes read as a Grant: garbage
    // (a reserved field that is not zero, or a role that is not text).
    if !matches!(r, Err(Error::InvalidArgument | Error::BadHandle | Error::MissingRight)) {
        return Err("overlapping spawn arguments were not refused");
    }
    // disk_read straight into the page holding the record it came from.
    // SAFETY: the kernel writes our own page.
    let r = unsafe { syscall(Syscall::DiskRead, [disk.raw().as_raw(), 0, 8, AREA, 0, 0]) };
    if r != Ok(8) {
        return Err("disk_read over our own page");
    }
    let _ = core::mem::size_of::<(Grant, Role, CapInfo)>();
    println!("hostile: overlapping buffers refused or handled");
    Ok(())
}

fn deep(start: &Start) -> Result<(), &'static str> {
    let (_, image) = start.images().find(|&(n, _)| n == "hostile-deep").ok_or("deep image")?;
    let child = Spawn::new(image)
        .quota_pages(8192)
        .without_console()
        .grant(image, Rights::EXEC | Rights::GRANT, "hostile-deep")
        .map(|s| s.args("quota=8192"))
        .and_then(Spawn::spawn)
        .map_err(|_| "spawn the first level")?;
    match child.wait() {
        Ok(ExitStatus::Exited(depth)) if depth > 3 => {
            println!("hostile: spawned {depth} levels deep until the kernel refused; all unwound");
            Ok(())
        }
        _ => Err("the deep spawn chain did not unwind cleanly"),
    }
}

fn crash_holding_capabilities(start: &Start) -> Result<(), &'static str> {
    let disk = start.handle::<DiskRange>("disk").ok_or("disk")?;
    let (_, image) = start.images().find(|&(n, _)| n == "hostile-crasher").ok_or("image")?;
    let all = Rights::READ | Rights::WRITE | Rights::DERIVE | Rights::GRANT | Rights::REVOKE;
    let lent = disk.derive_range(100, 8, all).map_err(|_| "derive")?;
    let child = Spawn::new(image)
        .quota_pages(256)
        .without_console()
        .grant(lent, Rights::READ | Rights::WRITE, "disk")
        .and_then(Spawn::spawn)
        .map_err(|_| "spawn the crasher")?;
    if !matches!(child.wait(), Ok(ExitStatus::Faulted(14))) {
        return Err("the crasher did not die of its page fault");
    }
    // Its copy died with it: revoking ours finds nothing left.
    if lent.revoke() != Ok(0) {
        return Err("the dead child's capability outlived it");
    }
    let mut buf = [0u8; 512];
    lent.read(0, &mut buf).map_err(|_| "our range stopped working")?;
    if buf != [0x42; 512] {
        return Err("the child's write before it crashed is missing");
    }
    println!("hostile: a child crashed holding a delegated range; it was released, ours works");
    Ok(())
}

/// Spawning through a `Memory` handle with few rights: the child's own
/// `memory` handle holds no right ours lacked (it once got every right).
fn rights_do_not_grow_through_spawn(start: &Start) -> Result<(), &'static str> {
    let memory = start.handle::<Memory>("memory").ok_or("memory")?;
    let (_, image) = start.images().find(|&(n, _)| n == "hostile-crasher").ok_or("image")?;
    let narrow = memory.derive(Rights::MAP | Rights::READ).map_err(|_| "derive MAP|READ")?;
    let child = Spawn::new(image)
        .memory(narrow)
        .quota_pages(256)
        .args("mode=rights")
        .spawn()
        .map_err(|_| "spawn through a MAP|READ handle")?;
    let rights = match child.wait() {
        Ok(ExitStatus::Exited(bits)) if bits >= 0 => Rights::from_bits_truncate(bits as u32),
        _ => return Err("the child did not report its rights"),
    };
    if rights != Rights::MAP | Rights::READ {
        println!("hostile: child's memory rights {rights:?}");
        return Err("a child's memory handle has rights its parent's lacked");
    }
    println!("hostile: a child spawned through a MAP|READ handle holds exactly MAP|READ");
    Ok(())
}

/// With the kernel's process limit set low (`procs=` in the boot
/// settings), spawning until it is reached: the refusal must say the
/// process table is full, not that memory ran out (our quota has room).
fn process_table_full(start: &Start, limit: u32) -> Result<(), &'static str> {
    let (_, image) = start.images().find(|&(n, _)| n == "hostile-crasher").ok_or("image")?;
    let timer = start.handle::<libos::kind::Timer>("timer").ok_or("timer")?;
    let mut children = alloc::vec::Vec::new();
    let refusal = loop {
        let spawned = Spawn::new(image)
            .quota_pages(256)
            .grant(timer, Rights::WAIT, "timer")
            .map(|s| s.args("mode=sleep"))
            .and_then(Spawn::spawn);
        match spawned {
            Ok(child) => children.push(child),
            Err(e) => break e,
        }
        if children.len() > limit as usize {
            return Err("spawned more processes than the limit");
        }
    };
    // init and we are two of the limit.
    let expected = limit as usize - 2;
    let ok = refusal == Error::ProcessTableFull && children.len() == expected;
    if !ok {
        println!("hostile: refusal {refusal:?} after {} children", children.len());
    }
    for child in children {
        child.wait().map_err(|_| "wait for a sleeping child")?;
    }
    if !ok {
        return Err("a full process table was not reported as ProcessTableFull");
    }
    println!("hostile: a full process table is ProcessTableFull, with memory to spare");
    Ok(())
}

/// Starts `hostile-crasher` (image `image`) with `args`, granted `handle`
/// as `name` with `rights`, 256 pages and no console.
fn crasher<K: libos::kind::Kind>(
    image: Handle<libos::kind::Image>,
    handle: Handle<K>,
    rights: Rights,
    name: &str,
    args: &str,
) -> Result<libos::process::Child, &'static str> {
    Spawn::new(image)
        .grant(handle, rights, name)
        .and_then(|s| s.quota_pages(256).without_console().args(args).spawn())
        .map_err(|_| "spawn hostile-crasher")
}

/// Waits until `child` is blocked in a call of the kind `state` says
/// (`proc_state`), for up to 10 s, rather than sleeping for a fixed time
/// and betting that it has got there.
fn blocked_in(
    child: libos::process::Child,
    state: ProcState,
    timer: Handle<libos::kind::Timer>,
) -> Result<(), &'static str> {
    match child.wait_until(state, timer, 1_000_000, 10_000_000_000) {
        Ok(()) => Ok(()),
        Err(libos::Error::PeerGone) => Err("a peer ended before it blocked"),
        Err(libos::Error::TimedOut) => Err("a peer did not block within 10 s"),
        Err(_) => Err("proc_state or the clock failed"),
    }
}

/// A process blocked in `proc_wait` or `sleep` is tied to the capability it
/// blocked through: revoking it upstream wakes the waiter with `Revoked` (it
/// once slept on, or learnt the exit status through authority it had lost).
fn waiters_wake_when_their_capability_dies(start: &Start) -> Result<(), &'static str> {
    let (_, image) = start.images().find(|&(n, _)| n == "hostile-crasher").ok_or("image")?;
    let timer = start.handle::<libos::kind::Timer>("timer").ok_or("timer")?;
    let upstream = Rights::WAIT | Rights::GRANT | Rights::DERIVE | Rights::REVOKE;
    // proc_wait through a Process capability.
    let sleeper = crasher(image, timer, Rights::WAIT, "timer", "mode=sleep ms=2000")?;
    let lent = sleeper.0.derive(upstream).map_err(|_| "derive the process handle")?;
    let waiter = crasher(image, lent, Rights::WAIT, "child", "mode=wait-revoked")?;
    blocked_in(waiter, ProcState::Waiting, timer)?;
    if lent.revoke() != Ok(1) {
        return Err("revoking the waiter's process handle");
    }
    if !matches!(waiter.wait(), Ok(ExitStatus::Exited(0))) {
        return Err("proc_wait through a revoked capability did not return Revoked");
    }
    // sleep through a Timer capability.
    let lent = timer.derive(upstream).map_err(|_| "derive the timer")?;
    let napper = crasher(image, lent, Rights::WAIT, "timer", "mode=sleep-revoked ms=10000")?;
    blocked_in(napper, ProcState::Sleeping, timer)?;
    let t0 = timer.now_ns().map_err(|_| "clock")?;
    if lent.revoke() != Ok(1) {
        return Err("revoking the sleeper's timer");
    }
    if !matches!(napper.wait(), Ok(ExitStatus::Exited(0))) {
        return Err("sleep through a revoked capability did not return Revoked");
    }
    let waited = timer.now_ns().map_err(|_| "clock")? - t0;
    if waited > 1_500_000_000 {
        return Err("a revoked sleeper slept on");
    }
    if !matches!(sleeper.wait(), Ok(ExitStatus::Exited(0))) {
        return Err("the sleeper did not end cleanly");
    }
    println!(
        "hostile: waiters in proc_wait and sleep wake with Revoked when their capability dies"
    );
    Ok(())
}

/// A process woken from `proc_wait` (its child ended) whose capability dies
/// before it runs again must not learn the status through it: the revoke
/// returned first. Its call says `Revoked`, as for a waiter still blocked.
///
/// The order is forced on one CPU: we poll the child's end with a yield
/// between polls, so we are in the run queue when the child exits and
/// wakes the waiter behind us; we run first, see the end, and revoke.
/// `make test` runs it on one CPU whatever `SMP` says (`tests/hostile.rs`).
fn woken_waiter_hears_revoked(start: &Start) -> Result<(), &'static str> {
    let (_, image) = start.images().find(|&(n, _)| n == "hostile-crasher").ok_or("image")?;
    let timer = start.handle::<libos::kind::Timer>("timer").ok_or("timer")?;
    let upstream = Rights::WAIT | Rights::GRANT | Rights::DERIVE | Rights::REVOKE;
    let child = crasher(image, timer, Rights::WAIT, "timer", "mode=sleep ms=1000")?;
    let lent = child.0.derive(upstream).map_err(|_| "derive the process handle")?;
    let waiter = crasher(image, lent, Rights::WAIT, "child", "mode=wait-revoked")?;
    // The child's sleep must outlast the waiter's start: a waiter that
    // came to proc_wait after the end would not be one woken by it.
    blocked_in(waiter, ProcState::Waiting, timer)?;
    loop {
        match child.try_wait() {
            Ok(_) => break,
            Err(libos::Error::WouldBlock) => libos::sys::yield_now(),
            Err(_) => return Err("poll the child"),
        }
    }
    // With several CPUs the waiter may already have run and ended, its
    // copy gone with its table: nothing left to revoke.
    let smp = start.arg("smp").is_some();
    match lent.revoke() {
        Ok(1) => {}
        Ok(0) if smp => {}
        _ => return Err("revoking the woken waiter's process handle"),
    }
    match waiter.wait() {
        Ok(ExitStatus::Exited(0)) => {}
        // With several CPUs (`smp=1`) the order cannot be forced: the
        // waiter may run on another CPU as soon as it is woken, and then
        // rightly learns the status before the revoke.
        Ok(ExitStatus::Exited(7)) if smp => {
            println!("hostile: a waiter woken ran at once on another CPU, before the revoke");
            return Ok(());
        }
        Ok(ExitStatus::Exited(7)) => {
            return Err("a waiter woken before a revoke learnt the status (or BadHandle)");
        }
        _ => return Err("the woken waiter did not end cleanly"),
    }
    println!("hostile: a waiter woken but not yet run when its capability dies hears Revoked");
    Ok(())
}

fn main(start: &Start) -> i32 {
    if let Some(limit) = start.arg("procs").and_then(|n| n.parse().ok()) {
        return match process_table_full(start, limit) {
            Ok(()) => 0,
            Err(e) => {
                println!("hostile: {e}");
                1
            }
        };
    }
    match rights_do_not_grow_through_spawn(start)
        .and_then(|()| waiters_wake_when_their_capability_dies(start))
        .and_then(|()| woken_waiter_hears_revoked(start))
        .and_then(|()| overlapping(start))
        .and_then(|()| deep(start))
        .and_then(|()| crash_holding_capabilities(start))
    {
        Ok(()) => 0,
        Err(e) => {
            println!("hostile: {e}");
            1
        }
    }
}
