//! The file system on a real disk range.
//!
//! This program owns a slice of the data disk. It first mounts what is
//! there: if a previous boot of this example left its files, it checks
//! every byte of them (and runs `fsck`) before starting over. Then it
//! formats a fresh file system, creates directories and files of several
//! sizes (up to a few MiB), reads them back, overwrites part of a file,
//! renames a draft into place, removes a file and a directory, lists a
//! directory, syncs, unmounts, mounts again and checks everything, runs
//! `fsck`, and leaves the files (with a generation number) for the next
//! boot to find.
#![no_std]
#![no_main]

extern crate alloc;

mod files;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use libos::block::BlockDevice;
use libos::disk::RangeDevice;
use libos::fs::{FileType, Fs, FsError, OpenOptions, SeekFrom};
use libos::kind::{DiskRange, Memory, Timer};
use libos::{Start, println};

use files::*;

libos::main!(main);

/// Bytes per `write` call when writing a file in pieces (odd on purpose,
/// so pieces straddle block boundaries).
const WRITE_PIECE: usize = 65_537;
/// Bytes per `read` call when reading a file back.
const READ_PIECE: usize = 50_000;

type Result<T> = core::result::Result<T, String>;

/// Adds what was being done to a file-system error.
fn at<T>(what: &str, r: core::result::Result<T, FsError>) -> Result<T> {
    r.map_err(|e| format!("{what}: {e}"))
}

fn main(start: &Start) -> i32 {
    match run(start) {
        Ok(()) => 0,
        Err(e) => {
            println!("fs: {e}");
            1
        }
    }
}

fn run(start: &Start) -> Result<()> {
    let disk = start.handle::<DiskRange>("disk").ok_or("no disk range given")?;
    let timer = start.handle::<Timer>("timer");
    let now = || timer.and_then(|t| t.now_ns().ok()).unwrap_or(0);
    // With a quota, checkpoints write their home blocks in one batch
    // through an I/O ring.
    let dev = match start.handle::<Memory>("memory") {
        Some(memory) => RangeDevice::with_batches(disk, memory),
        None => RangeDevice::new(disk),
    };
    let mut dev = dev.map_err(|e| format!("cannot size the disk range: {e}"))?;
    let t0 = now();

    let generation = previous_generation(&mut dev)?.map_or(1, |g| g + 1);
    let mut fs = at("format", Fs::format(&mut dev))?;
    let bytes = populate(&mut fs, generation)?;
    at("unmount", fs.unmount())?;

    let mut fs = at("mount again", Fs::mount(&mut dev))?;
    verify(&mut fs, generation)?;
    let report = at("fsck", fs.fsck())?;
    if !report.is_clean() {
        return Err(format!("fsck after remount: {:?}", report.problems));
    }
    let free = fs.statfs().free_blocks;
    at("final unmount", fs.unmount())?;
    let ms = (now() - t0) / 1_000_000;
    println!(
        "fs: generation {generation}: {} files in {} directories, {} KiB written and read back, \
         renamed, removed, remounted, fsck clean ({free} blocks free, {ms} ms)",
        report.files,
        report.dirs,
        bytes / 1024
    );
    Ok(())
}

/// Mounts what the range holds. Returns the generation of a previous run
/// whose files are all intact, `None` if there is no such run; an error if
/// a previous run's files are damaged.
fn previous_generation<D: BlockDevice>(dev: &mut D) -> Result<Option<u64>> {
    let mut fs = match Fs::mount(dev) {
        Ok(fs) => fs,
        Err(e) => {
            println!("fs: no file system on the range ({e}); formatting");
            return Ok(None);
        }
    };
    let marker = match fs.read_file(MARKER) {
        Ok(m) => m,
        Err(FsError::NotFound) => {
            println!("fs: a file system without this example's files; formatting");
            return Ok(None);
        }
        Err(e) => return Err(format!("read the previous boot's marker: {e}")),
    };
    let generation = parse_marker(&marker).ok_or("the previous boot's marker is malformed")?;
    verify(&mut fs, generation).map_err(|e| format!("the previous boot's files: {e}"))?;
    let report = at("fsck of the previous boot's file system", fs.fsck())?;
    if !report.is_clean() {
        return Err(format!("fsck of the previous boot's file system: {:?}", report.problems));
    }
    println!("fs: found the files of a previous boot, intact (generation {generation})");
    Ok(Some(generation))
}

/// Writes `data` to a new file at `path` in pieces, then reads it back
/// through the same handle.
fn write_in_pieces<D: BlockDevice>(fs: &mut Fs<D>, path: &str, data: &[u8]) -> Result<()> {
    let f = at(path, fs.open(path, OpenOptions::new().read(true).write(true).create_new(true)))?;
    for piece in data.chunks(WRITE_PIECE) {
        at(path, fs.write_all(&f, piece))?;
    }
    at(path, fs.seek(&f, SeekFrom::Start(0)))?;
    let back = read_in_pieces(fs, &f, data.len())?;
    at(path, fs.close(f))?;
    if back != data {
        return Err(format!("{path}: read back differs from what was written"));
    }
    Ok(())
}

/// Reads a file through `f` in `READ_PIECE` calls until its end.
fn read_in_pieces<D: BlockDevice>(
    fs: &mut Fs<D>,
    f: &libos::fs::File,
    hint: usize,
) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(hint);
    let mut buf = vec![0u8; READ_PIECE];
    loop {
        match at("read", fs.read(f, &mut buf))? {
            0 => return Ok(out),
            n => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// Creates the example's tree on a fresh file system. Returns the bytes
/// of file data written.
fn populate<D: BlockDevice>(fs: &mut Fs<D>, generation: u64) -> Result<usize> {
    for dir in [TOP, DIRS[0], DIRS[1], TMP] {
        at(dir, fs.mkdir(dir))?;
    }
    let mut bytes = 0;
    for (path, len) in DATA_FILES {
        // The patched file's patch comes later, after a commit.
        let data = plain_contents(path, len, generation);
        write_in_pieces(fs, path, &data)?;
        bytes += len;
    }
    at("sync", fs.sync())?;

    // Overwrite the middle of a committed file, then fsync it.
    let f = at(PATCHED, fs.open(PATCHED, OpenOptions::new().write(true)))?;
    at(PATCHED, fs.seek(&f, SeekFrom::Start(PATCH_AT as u64)))?;
    at(PATCHED, fs.write_all(&f, &patch_bytes(generation)))?;
    at(PATCHED, fs.fsync(&f))?;
    at(PATCHED, fs.close(f))?;
    bytes += PATCH_LEN;

    // A draft renamed into place; a scratch file and directory removed.
    let notes_text = notes(generation);
    write_in_pieces(fs, DRAFT, notes_text.as_bytes())?;
    at("rename", fs.rename(DRAFT, NOTES))?;
    at(README, fs.write_file(README, readme(generation).as_bytes()))?;
    let mut scratch = vec![0u8; 50_000];
    files::fill(generation, &mut scratch);
    write_in_pieces(fs, SCRATCH, &scratch)?;
    at(SCRATCH, fs.remove_file(SCRATCH))?;
    if fs.metadata(SCRATCH) != Err(FsError::NotFound) {
        return Err("a removed file is still there".into());
    }
    at(TMP, fs.remove_dir(TMP))?;
    bytes += notes_text.len() + scratch.len();

    let listing = names_in(fs, DIRS[0])?;
    println!("fs: {} holds {}", DIRS[0], listing.join(", "));
    at(MARKER, fs.write_file(MARKER, marker(generation).as_bytes()))?;
    at("sync", fs.sync())?;
    Ok(bytes)
}

/// The names in directory `dir`, sorted.
fn names_in<D: BlockDevice>(fs: &mut Fs<D>, dir: &str) -> Result<Vec<String>> {
    let mut names: Vec<String> = at(dir, fs.read_dir(dir))?.into_iter().map(|e| e.name).collect();
    names.sort();
    Ok(names)
}

/// Checks that the tree is exactly what `populate(generation)` left.
fn verify<D: BlockDevice>(fs: &mut Fs<D>, generation: u64) -> Result<()> {
    let expect_file = |fs: &mut Fs<D>, path: &str, want: &[u8]| -> Result<()> {
        let got = at(path, fs.read_file(path))?;
        if got.len() != want.len() {
            return Err(format!("{path}: {} bytes, expected {}", got.len(), want.len()));
        }
        if got != want {
            return Err(format!("{path}: contents differ"));
        }
        Ok(())
    };
    for (path, len) in DATA_FILES {
        expect_file(fs, path, &data_contents(path, len, generation))?;
    }
    expect_file(fs, NOTES, notes(generation).as_bytes())?;
    expect_file(fs, README, readme(generation).as_bytes())?;
    expect_file(fs, MARKER, marker(generation).as_bytes())?;
    let want_top = ["MARKER", "data", "docs"];
    let want_docs = ["notes.txt", "readme.txt"];
    let want_data: Vec<&str> = {
        let mut v: Vec<&str> = DATA_FILES.iter().map(|(p, _)| &p[TOP.len() + 6..]).collect();
        v.sort();
        v
    };
    for (dir, want) in [(TOP, &want_top[..]), (DIRS[0], &want_docs[..]), (DIRS[1], &want_data[..])]
    {
        let got = names_in(fs, dir)?;
        if got != want {
            return Err(format!("{dir} holds {got:?}, expected {want:?}"));
        }
    }
    for dir in DIRS {
        if !at(dir, fs.metadata(dir))?.is_dir() {
            return Err(format!("{dir} is not a directory"));
        }
    }
    match fs.metadata(TMP) {
        Err(FsError::NotFound) => {}
        other => return Err(format!("{TMP} should be gone, found {other:?}")),
    }
    let kinds = at("/", fs.read_dir("/"))?;
    if !kinds.iter().any(|e| e.name == "example" && e.file_type == FileType::Dir) {
        return Err("/example is missing from the root".into());
    }
    Ok(())
}
