//! init: the first process. It holds the root capabilities and runs the
//! apps of the system manifest one after another, each in its own process
//! with exactly the handles its manifest entry grants, then reports and
//! ends the run.
//!
//! Arguments (from the boot settings): `manifest=...` is the manifest in
//! the compact form of `exocap-manifest` (the image builder writes it from
//! `exocap.toml`, checked); `examples=a,b,c` runs those apps, in that
//! order (default: every app of the manifest, in its order);
//! `example=name` runs just that one. An entry `name:args` passes `args`
//! to the app, with `+` standing for a space (`fault:kind=page-fault`).
//!
//! Each app gets, as its entry says: the console (`console`), the timer
//! (`timer`), its slice of the data disk (`disk`, laid out by the build)
//! and the images of its helpers (roles = their names), with only the
//! rights it needs. Prints one line per app, `example <name>: ok` or
//! `example <name>: FAILED (<reason>)`, then `init: <passed>/<total>
//! examples passed`, and exits 0 only if all passed.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use exocap_manifest::App;
use libos::kind::{Console, DiskRange, Image, Timer};
use libos::process::Spawn;
use libos::{ExitStatus, Handle, Rights, Start, println};

libos::main!(main);

/// An app's console: output (`WRITE`), input (`READ`: one reader at a
/// time, see `console_read`), and what it needs to pass it on or take it
/// back from a helper.
const CONSOLE_RIGHTS: Rights = Rights::READ
    .union(Rights::WRITE)
    .union(Rights::DERIVE)
    .union(Rights::GRANT)
    .union(Rights::REVOKE);

/// Pages each example may use.
const EXAMPLE_QUOTA_PAGES: u64 = 16 * 1024;

fn main(start: &Start) -> i32 {
    let apps = match exocap_manifest::decode(start.arg(exocap_manifest::BOOT_KEY).unwrap_or("")) {
        Ok(apps) => apps,
        Err(e) => {
            println!("init: the boot settings' manifest is malformed ({e}); nothing to run");
            return 1;
        }
    };
    let names: Vec<String> = match (start.arg("example"), start.arg("examples")) {
        (Some(one), _) => alloc::vec![String::from(one)],
        (None, Some(list)) => list.split(',').filter(|s| !s.is_empty()).map(String::from).collect(),
        (None, None) => apps.iter().map(|a| a.name.clone()).collect(),
    };
    let mut passed = 0;
    for name in &names {
        match run(start, &apps, name) {
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

/// Runs one app to its end.
fn run(start: &Start, apps: &[App], entry: &str) -> Result<(), String> {
    let (name, args) = entry.split_once(':').unwrap_or((entry, ""));
    let args = args.replace('+', " ");
    let app = apps
        .iter()
        .find(|a| a.name == name)
        .ok_or("no such program in the manifest: add an [[app]] entry to exocap.toml")?;
    let image = find_image(start, name).ok_or("no such program in the boot image")?;
    let mut spawn = Spawn::new(image).quota_pages(EXAMPLE_QUOTA_PAGES).args(&args);
    for helper in &app.helpers {
        let h = find_image(start, helper)
            .ok_or_else(|| alloc::format!("helper {helper}: no such program in the boot image"))?;
        spawn = spawn
            .grant(h, Rights::EXEC | Rights::GRANT | Rights::DERIVE, helper)
            .map_err(|e| alloc::format!("grant {helper}: {e}"))?;
    }
    // Granted or not, never the default: the manifest says.
    spawn = spawn.without_console();
    if app.console {
        let console = start.handle::<Console>("console").ok_or("init has no console to grant")?;
        spawn = spawn
            .grant(console, CONSOLE_RIGHTS, "console")
            .map_err(|e| alloc::format!("grant console: {e}"))?;
    }
    let mut disk_slice = None;
    if let Some(slice) = app.slice {
        let disk =
            start.handle::<DiskRange>("disk").ok_or("its disk slice: there is no data disk")?;
        let sectors = disk.sectors().map_err(|e| alloc::format!("disk size: {e}"))?;
        let end = slice.end(sectors);
        if slice.first >= sectors || end > sectors {
            return Err(alloc::format!(
                "its disk slice (sectors {}..{end}) does not fit the {sectors}-sector data disk",
                slice.first
            ));
        }
        let all = Rights::READ | Rights::WRITE | Rights::DERIVE | Rights::GRANT | Rights::REVOKE;
        let slice = disk
            .derive_range(slice.first, end - slice.first, all)
            .map_err(|e| alloc::format!("disk slice: {e}"))?;
        spawn = spawn.grant(slice, all, "disk").map_err(|e| alloc::format!("grant disk: {e}"))?;
        disk_slice = Some(slice);
    }
    if app.timer {
        let timer = start.handle::<Timer>("timer").ok_or("init has no timer to grant")?;
        spawn = spawn
            .grant(
                timer,
                Rights::READ | Rights::WAIT | Rights::DERIVE | Rights::GRANT | Rights::REVOKE,
                "timer",
            )
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

/// The program image `name` init was given.
fn find_image(start: &Start, name: &str) -> Option<Handle<Image>> {
    start.images().find(|&(n, _)| n == name).map(|(_, h)| h)
}
