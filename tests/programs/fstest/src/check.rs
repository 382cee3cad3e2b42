//! `mode=check`: what a crashed disk holds after journal replay.
//!
//! Prints `fstest: fsck clean (<files> files, <dirs> dirs)` or one
//! `fstest: fsck problem: ...` line per problem, then `fstest: file <path>
//! <len> <checksum>` for every regular file (depth first, sorted), then
//! `fstest: check done`. Fails if the mount, the check or a read fails.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use libos::disk::RangeDevice;
use libos::fs::{FileType, Fs};
use libos::println;

use crate::file_sum;

/// Runs the check.
pub fn run(dev: RangeDevice) -> Result<(), String> {
    let mut fs = Fs::mount(dev).map_err(|e| format!("mount: {e}"))?;
    let report = fs.fsck().map_err(|e| format!("fsck: {e}"))?;
    if report.is_clean() {
        println!("fstest: fsck clean ({} files, {} dirs)", report.files, report.dirs);
    } else {
        for p in &report.problems {
            println!("fstest: fsck problem: {p}");
        }
    }
    let mut stack = vec![String::new()];
    while let Some(dir) = stack.pop() {
        let shown = if dir.is_empty() { "/" } else { dir.as_str() };
        let mut entries = fs.read_dir(shown).map_err(|e| format!("read_dir {shown}: {e}"))?;
        entries.sort_by(|a, b| b.name.cmp(&a.name));
        for e in entries {
            let path = format!("{dir}/{}", e.name);
            match e.file_type {
                FileType::Dir => stack.push(path),
                FileType::File => {
                    let data = fs.read_file(&path).map_err(|e| format!("read {path}: {e}"))?;
                    println!("fstest: file {path} {} {:016x}", data.len(), file_sum(&data));
                }
            }
        }
    }
    println!("fstest: check done");
    if report.is_clean() { Ok(()) } else { Err("fsck found problems".into()) }
}
