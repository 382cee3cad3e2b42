//! `fs-inspect`: list and check an exocap file system inside a disk image.
//!
//! ```text
//! fs-inspect <image> [--offset-sectors N] [--sectors N]           list the tree, run fsck
//! fs-inspect --format <image> [--offset-sectors N] [--sectors N]  create an empty file system
//! ```
//!
//! Listing never writes to the image (mounting replays the journal in
//! memory only). The exit code is 0 for a clean image, 1 for problems, 2
//! for usage or I/O errors.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::process::ExitCode;

use libos::block::{BlockDevice, BlockError, SECTOR_SIZE};
use libos::fs::{FileType, Fs, FsError};

/// A window of sectors inside an image file.
struct FileDisk {
    file: File,
    offset: u64,
    sectors: u64,
}

impl FileDisk {
    fn byte_pos(&self, sector: u64, len: usize) -> Result<u64, BlockError> {
        libos::block::check_request(self.sectors, sector, len)?;
        Ok((self.offset + sector) * SECTOR_SIZE as u64)
    }
}

impl BlockDevice for FileDisk {
    fn sector_count(&self) -> u64 {
        self.sectors
    }
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        let pos = self.byte_pos(sector, buf.len())?;
        self.file.read_exact_at(buf, pos).map_err(|_| BlockError::Io)
    }
    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), BlockError> {
        let pos = self.byte_pos(sector, buf.len())?;
        self.file.write_all_at(buf, pos).map_err(|_| BlockError::Io)
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        self.file.sync_data().map_err(|_| BlockError::Io)
    }
}

struct Args {
    format: bool,
    image: String,
    offset: u64,
    sectors: Option<u64>,
}

const USAGE: &str = "usage: fs-inspect [--format] <image> [--offset-sectors N] [--sectors N]";

fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args { format: false, image: String::new(), offset: 0, sectors: None };
    while let Some(arg) = it.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            it.next().and_then(|v| v.parse().ok()).ok_or_else(|| format!("{name} needs a number"))
        };
        match arg.as_str() {
            "--format" => a.format = true,
            "--offset-sectors" => a.offset = number("--offset-sectors")?,
            "--sectors" => a.sectors = Some(number("--sectors")?),
            "-h" | "--help" => return Err(USAGE.into()),
            s if s.starts_with("--") => return Err(format!("unknown option {s}\n{USAGE}")),
            s if a.image.is_empty() => a.image = s.into(),
            _ => return Err(USAGE.into()),
        }
    }
    if a.image.is_empty() {
        return Err(USAGE.into());
    }
    Ok(a)
}

fn open(a: &Args) -> Result<FileDisk, String> {
    let file = OpenOptions::new()
        .read(true)
        .write(a.format)
        .open(&a.image)
        .map_err(|e| format!("{}: {e}", a.image))?;
    let len = file.metadata().map_err(|e| e.to_string())?.len() / SECTOR_SIZE as u64;
    let avail = len.saturating_sub(a.offset);
    let sectors = a.sectors.unwrap_or(avail);
    if sectors > avail {
        return Err(format!("the image has only {avail} sectors after the offset"));
    }
    Ok(FileDisk { file, offset: a.offset, sectors })
}

fn list(fs: &mut Fs<FileDisk>) -> Result<(), FsError> {
    let mut stack = vec![String::from("/")];
    while let Some(dir) = stack.pop() {
        let mut entries = fs.read_dir(&dir)?;
        entries.sort_by(|x, y| y.name.cmp(&x.name));
        for e in entries {
            let path = format!("{}/{}", dir.trim_end_matches('/'), e.name);
            let md = fs.metadata(&path)?;
            match e.file_type {
                FileType::Dir => {
                    println!("dir  {:>12} {path}/", md.len);
                    stack.push(path);
                }
                FileType::File => println!("file {:>12} {path}", md.len),
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let dev = match open(&args) {
        Ok(d) => d,
        Err(msg) => {
            eprintln!("fs-inspect: {msg}");
            return ExitCode::from(2);
        }
    };
    if args.format {
        return match Fs::format(dev).and_then(Fs::unmount) {
            Ok(_) => {
                println!("formatted {}", args.image);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("fs-inspect: format failed: {e}");
                ExitCode::from(2)
            }
        };
    }
    let mut fs = match Fs::mount(dev) {
        Ok(fs) => fs,
        Err(e) => {
            println!("PROBLEM mount failed: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = list(&mut fs) {
        println!("PROBLEM listing failed: {e}");
    }
    let st = fs.statfs();
    println!(
        "blocks {} free {} ({} bytes each), inodes {} free {}",
        st.total_blocks, st.free_blocks, st.block_size, st.total_inodes, st.free_inodes
    );
    match fs.fsck() {
        Ok(r) if r.is_clean() => {
            println!("fsck: clean ({} files, {} directories)", r.files, r.dirs);
            ExitCode::SUCCESS
        }
        Ok(r) => {
            for p in &r.problems {
                println!("PROBLEM {p}");
            }
            println!("fsck: {} problems", r.problems.len());
            ExitCode::from(1)
        }
        Err(e) => {
            println!("PROBLEM fsck failed: {e}");
            ExitCode::from(1)
        }
    }
}
