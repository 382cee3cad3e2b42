//! `mode=work`: a write-heavy workload whose every durable state is
//! printed, so a crash at any moment can be judged exactly.
//!
//! Files live in `/f` under a fixed set of slot names. Each operation
//! first prints what it is about to do (`fstest: begin ...`), then, once
//! a commit has made it durable, `fstest: durable ...` with the file's
//! new length and checksum (or `fstest: durable-removed <path>`):
//! - replace: the new contents are written to `/tmp/<slot>` in pieces,
//!   `fsync`ed, renamed over `/f/<slot>`, and the rename `sync`ed;
//! - append: a few KiB appended to `/f/<slot>` in one call, `fsync`ed;
//! - remove: `/f/<slot>` removed, `sync`ed.
//!
//! After a crash every file in `/f` must match its last durable line,
//! except the one the last `begin` names, which may also hold that
//! operation's result; `/tmp` may hold only that operation's temporary
//! file. The seed fixes the sequence of operations and their contents.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use libos::disk::RangeDevice;
use libos::fs::{Fs, FsError, OpenOptions};
use libos::println;

use crate::file_sum;

/// Number of file names the workload cycles through.
const SLOTS: u64 = 24;
/// Largest file written by a replace.
const MAX_FILE: u64 = 2 << 20;
/// Largest append.
const MAX_APPEND: u64 = 16 << 10;
/// Largest piece handed to one `write` call.
const MAX_PIECE: u64 = 96 << 10;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A value in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let w = self.next().to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
    }
}

fn at<T>(what: &str, r: Result<T, FsError>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

/// Runs the workload until the machine is killed (or an operation fails).
pub fn run(dev: RangeDevice, seed: u64, format: bool) -> Result<(), String> {
    let mut fs = if format { at("format", Fs::format(dev))? } else { at("mount", Fs::mount(dev))? };
    for dir in ["/f", "/tmp"] {
        match fs.mkdir(dir) {
            Ok(()) | Err(FsError::AlreadyExists) => {}
            Err(e) => return Err(format!("mkdir {dir}: {e}")),
        }
    }
    // A crash may have left a temporary file: start without any.
    for e in at("read_dir /tmp", fs.read_dir("/tmp"))? {
        at("clean /tmp", fs.remove_file(&format!("/tmp/{}", e.name)))?;
    }
    at("sync", fs.sync())?;
    let mut rng = Rng::new(seed);
    println!("fstest: working seed={seed}");
    let mut data = Vec::new();
    loop {
        let slot = rng.below(SLOTS);
        let path = format!("/f/{slot}");
        let exists = match fs.metadata(&path) {
            Ok(_) => true,
            Err(FsError::NotFound) => false,
            Err(e) => return Err(format!("metadata {path}: {e}")),
        };
        match rng.below(20) {
            0..=1 if exists => remove(&mut fs, &path)?,
            2..=5 if exists => append(&mut fs, &path, &mut rng)?,
            _ => replace(&mut fs, slot, &mut rng, &mut data)?,
        }
    }
}

fn replace(
    fs: &mut Fs<RangeDevice>,
    slot: u64,
    rng: &mut Rng,
    data: &mut Vec<u8>,
) -> Result<(), String> {
    let len = match rng.below(10) {
        0..=4 => rng.below(8 << 10),
        5..=8 => rng.below(256 << 10),
        _ => rng.below(MAX_FILE),
    } as usize;
    data.resize(len, 0);
    rng.fill(data);
    let (tmp, path) = (format!("/tmp/{slot}"), format!("/f/{slot}"));
    println!("fstest: begin replace {path} {len} {:016x}", file_sum(data));
    let f = at(&tmp, fs.create(&tmp))?;
    let mut done = 0;
    while done < len {
        let piece = (1 + rng.below(MAX_PIECE) as usize).min(len - done);
        at(&tmp, fs.write_all(&f, &data[done..done + piece]))?;
        done += piece;
    }
    at(&tmp, fs.fsync(&f))?;
    at(&tmp, fs.close(f))?;
    at("rename", fs.rename(&tmp, &path))?;
    at("sync", fs.sync())?;
    println!("fstest: durable {path} {len} {:016x}", file_sum(data));
    Ok(())
}

fn append(fs: &mut Fs<RangeDevice>, path: &str, rng: &mut Rng) -> Result<(), String> {
    let mut contents = at(path, fs.read_file(path))?;
    let mut extra = vec![0u8; 1 + rng.below(MAX_APPEND) as usize];
    rng.fill(&mut extra);
    contents.extend_from_slice(&extra);
    let (len, sum) = (contents.len(), file_sum(&contents));
    println!("fstest: begin append {path} {len} {sum:016x}");
    let f = at(path, fs.open(path, OpenOptions::new().append(true)))?;
    at(path, fs.write_all(&f, &extra))?;
    at(path, fs.fsync(&f))?;
    at(path, fs.close(f))?;
    println!("fstest: durable {path} {len} {sum:016x}");
    Ok(())
}

fn remove(fs: &mut Fs<RangeDevice>, path: &str) -> Result<(), String> {
    println!("fstest: begin remove {path}");
    at(path, fs.remove_file(path))?;
    at("sync", fs.sync())?;
    println!("fstest: durable-removed {path}");
    Ok(())
}
