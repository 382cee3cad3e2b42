//! Disk-range delegation: the heart of exocap.
//!
//! This program holds a disk range. It derives two disjoint sub-ranges,
//! R1 and R2. A writer child gets read-write on R1 and writes a pattern; a
//! reader child gets read-only on R1 and read-write on R2: it reads the
//! pattern back, and its write to R1 and its read past R1 are refused.
//! Then this program revokes R1's descendants while the writer keeps
//! writing: the writer's next write fails. The pattern stays on the disk:
//! a later boot finds it (and says so).
#![no_std]
#![no_main]

use libos::kind::DiskRange;
use libos::process::Spawn;
use libos::{ExitStatus, Handle, Rights, Start, println};

libos::main!(main);

/// Sectors of the pattern at the start of R1.
pub const PATTERN_SECTORS: u64 = 16;

/// The byte at `offset` of sector `sector` of the pattern.
fn pattern(sector: u64, offset: usize) -> u8 {
    (sector as u8).wrapping_mul(31) ^ (offset as u8) ^ 0xa5
}

fn has_pattern(r1: Handle<DiskRange>) -> bool {
    let mut buf = [0u8; 512];
    (0..PATTERN_SECTORS).all(|s| {
        r1.read(s, &mut buf).is_ok() && buf.iter().enumerate().all(|(i, &b)| b == pattern(s, i))
    })
}

fn main(start: &Start) -> i32 {
    match run(start) {
        Ok(()) => 0,
        Err(e) => {
            println!("delegate: {e}");
            1
        }
    }
}

fn run(start: &Start) -> Result<(), &'static str> {
    let disk = start.handle::<DiskRange>("disk").ok_or("no disk range given")?;
    let timer = start.handle::<libos::kind::Timer>("timer").ok_or("no timer")?;
    let sectors = disk.sectors().map_err(|_| "cannot size the disk range")?;
    let half = sectors / 2;
    let all = Rights::READ | Rights::WRITE | Rights::DERIVE | Rights::GRANT | Rights::REVOKE;
    let r1 = disk.derive_range(0, half, all).map_err(|_| "derive R1")?;
    let r2 = disk.derive_range(half, sectors - half, all).map_err(|_| "derive R2")?;
    if has_pattern(r1) {
        println!("delegate: the writer's pattern from a previous boot is on the disk");
    }
    // Clear the pattern area so this run proves the writer wrote it.
    r1.write(0, &[0u8; (PATTERN_SECTORS * 512) as usize]).map_err(|_| "clear R1")?;

    let image = |name| {
        start.images().find(|&(n, _)| n == name).map(|(_, h)| h).ok_or("missing helper image")
    };
    let console = start.handle::<libos::kind::Console>("console").ok_or("no console")?;
    let writer = Spawn::new(image("delegate-writer")?)
        .quota_pages(512)
        .grant(r1, Rights::READ | Rights::WRITE, "disk")
        .and_then(|s| s.grant(console, Rights::WRITE, "console"))
        .and_then(|s| s.grant(timer, Rights::READ | Rights::WAIT, "timer"))
        .and_then(Spawn::spawn)
        .map_err(|_| "spawn the writer")?;
    // Wait until the writer's pattern is on the disk.
    let mut waited = 0;
    while !has_pattern(r1) {
        timer.sleep_ns(1_000_000).map_err(|_| "sleep")?;
        waited += 1;
        if waited > 10_000 {
            return Err("the writer never wrote its pattern");
        }
    }
    // The reader's `console` is the default one: our own, granted by
    // `spawn` (its lines show that the default works).
    let reader = Spawn::new(image("delegate-reader")?)
        .quota_pages(512)
        .grant(r1, Rights::READ, "shared")
        .and_then(|s| s.grant(r2, Rights::READ | Rights::WRITE, "own"))
        .and_then(Spawn::spawn)
        .map_err(|_| "spawn the reader")?;
    if reader.wait() != Ok(ExitStatus::Exited(0)) {
        return Err("the reader failed");
    }
    // With the argument `graph` (`make graph`), the picture of what this
    // program reaches, with the writer's range live and then revoked.
    let graph = start.args().split_whitespace().any(|a| a == "graph");
    let processes = [
        (writer.0.raw().as_raw(), "delegate-writer"),
        (reader.0.raw().as_raw(), "delegate-reader"),
    ];
    if graph {
        libos::graph::print_dot("before revoke", "delegate", &processes).map_err(|_| "graph")?;
    }
    // The writer is still writing: take R1 away from it (and the reader).
    let revoked = r1.revoke().map_err(|_| "revoke R1")?;
    println!("delegate: revoked {revoked} capabilities derived from R1");
    if graph {
        libos::graph::print_dot("after revoke", "delegate", &processes).map_err(|_| "graph")?;
    }
    if writer.wait() != Ok(ExitStatus::Exited(0)) {
        return Err("the writer did not see its range revoked");
    }
    // The pattern is still there for the next boot.
    if !has_pattern(r1) {
        return Err("the pattern is gone");
    }
    r1.flush().map_err(|_| "flush")?;
    println!("delegate: writer wrote, reader read, refusals and revocation as expected");
    Ok(())
}
