//! init: the first process. It holds the root capabilities and runs the
//! example apps one after another, each in its own process with only the
//! handles it needs, then reports and ends the run.
//!
//! Arguments (from the boot settings): `examples=a,b,c` is the list to run
//! (default: every program it was given but itself); `example=name` runs
//! just that one. An entry `name:args` passes `args` to the program, with
//! `+` standing for a space (`fault:kind=page-fault`). Each example gets
//! the console, the timer, its own slice of the data disk (see
//! `DISK_SLICES`), and the images of its helper programs (named
//! `<example>-<helper>`), with only the rights it needs. Prints one line per example, `example <name>: ok` or
//! `example <name>: FAILED (<reason>)`, then `init: <passed>/<total>
//! examples passed`, and exits 0 only if all passed.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use libos::kind::{Console, DiskRange, Image, Timer};
use libos::process::Spawn;
use libos::{ExitStatus, Handle, Rights, Start, println};

libos::main!(main);

/// Pages each example may use.
const EXAMPLE_QUOTA_PAGES: u64 = 16 * 1024;

/// The part of the data disk each program gets, as (first sector, sector
/// count; 0 = to the end of the disk). Fixed, so a program finds its data
/// again at the next boot; disjoint for the examples, so no example can
/// touch another's sectors. Benchmarks and disk tests run alone.
const DISK_SLICES: [(&str, u64, u64); 10] = [
    ("delegate", 0, 32 * 1024),
    ("ipc", 32 * 1024, 32 * 1024),
    ("fs", 64 * 1024, 256 * 1024),
    ("bench-disk", 0, 0),
    ("bench-fs", 64 * 1024, 0),
    ("disktest", 0, 0),
    ("fstest", 0, 0),
    ("fuzz", 0, 64 * 1024),
    ("hostile", 0, 1024),
    ("sweep", 0, 1024),
];

fn main(start: &Start) -> i32 {
    let names: Vec<String> = match (start.arg("example"), start.arg("examples")) {
        (Some(one), _) => alloc::vec![String::from(one)],
        (None, Some(list)) => list.split(',').filter(|s| !s.is_empty()).map(String::from).collect(),
        (None, None) => start
            .images()
            .map(|(n, _)| n)
            .filter(|&n| n != start.name() && !n.contains('-'))
            .map(String::from)
            .collect(),
    };
    let mut passed = 0;
    for name in &names {
        match run(start, name) {
            Ok(()) => {
                passed += 1;
                println!("example {name}: ok");
            }
            Err(reason) => println!("example {name}: FAILED ({reason})"),
        }
    }
    println!("init: {passed}/{} examples passed", names.len());
    if passed == names.len() { 0 } else { 1 }
}

/// Runs one example to its end.
fn run(start: &Start, entry: &str) -> Result<(), String> {
    let (name, args) = entry.split_once(':').unwrap_or((entry, ""));
    let args = args.replace('+', " ");
    let image: Handle<Image> =
        start.images().find(|&(n, _)| n == name).map(|(_, h)| h).ok_or("no such program")?;
    let mut spawn = Spawn::new(image).quota_pages(EXAMPLE_QUOTA_PAGES).args(&args);
    // An example gets the images of its helper programs, named
    // `<example>-<helper>`, and nothing else.
    let prefix = alloc::format!("{name}-");
    for (other, h) in start.images().filter(|&(n, _)| n.starts_with(&prefix)) {
        spawn = spawn
            .grant(h, Rights::EXEC | Rights::GRANT | Rights::DERIVE, other)
            .map_err(|e| alloc::format!("grant {other}: {e}"))?;
    }
    if let Some(console) = start.handle::<Console>("console") {
        spawn = spawn
            .grant(console, Rights::WRITE | Rights::DERIVE | Rights::GRANT, "console")
            .map_err(|e| alloc::format!("grant console: {e}"))?;
    }
    let mut disk_slice = None;
    if let Some(&(_, first, count)) = DISK_SLICES.iter().find(|(n, _, _)| *n == name)
        && let Some(disk) = start.handle::<DiskRange>("disk")
    {
        let sectors = disk.sectors().map_err(|e| alloc::format!("disk size: {e}"))?;
        let count = if count == 0 { sectors.saturating_sub(first) } else { count };
        let all = Rights::READ | Rights::WRITE | Rights::DERIVE | Rights::GRANT | Rights::REVOKE;
        let slice =
            disk.derive_range(first, count, all).map_err(|e| alloc::format!("disk slice: {e}"))?;
        spawn = spawn.grant(slice, all, "disk").map_err(|e| alloc::format!("grant disk: {e}"))?;
        disk_slice = Some(slice);
    }
    if let Some(timer) = start.handle::<Timer>("timer") {
        spawn = spawn
            .grant(timer, Rights::READ | Rights::WAIT | Rights::DERIVE | Rights::GRANT, "timer")
            .map_err(|e| alloc::format!("grant timer: {e}"))?;
    }
    let child = spawn.spawn();
    // Our copy of the slice goes now; the child's lives on (re-parented to
    // our whole-disk capability, which can still revoke it).
    if let Some(slice) = disk_slice {
        slice.close().map_err(|e| alloc::format!("close disk slice: {e}"))?;
    }
    let child = child.map_err(|e| alloc::format!("spawn: {e}"))?;
    match child.wait().map_err(|e| alloc::format!("wait: {e}"))? {
        ExitStatus::Exited(0) => Ok(()),
        ExitStatus::Exited(code) => Err(alloc::format!("exit code {code}")),
        ExitStatus::Faulted(vector) => Err(alloc::format!("killed by CPU exception {vector}")),
        ExitStatus::Killed => Err("killed".into()),
    }
}
