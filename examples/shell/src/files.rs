//! The file system commands, on the shell's disk range: `mkfs`, `ls`,
//! `cat`, `write`, `mkdir`, `rm`.
//!
//! Each command mounts the file system (`libos::fs` on a
//! `libos::disk::RangeDevice` over the `disk` handle), does its work and
//! unmounts, so every change is on the disk when the prompt comes back
//! and nothing stays mounted between commands.

use alloc::format;
use alloc::string::String;
use libos::disk::RangeDevice;
use libos::fs::{FileType, Fs, FsError};
use libos::println;

use crate::{Shell, expect_args};

/// Longest file `cat` prints, in bytes.
const CAT_MAX: usize = 64 * 1024;

type Mounted = Fs<RangeDevice>;

impl Shell {
    fn device(&self) -> Result<RangeDevice, String> {
        let disk = self.disk.ok_or("the shell has no disk range (give it `disk` in shell.toml)")?;
        RangeDevice::new(disk).map_err(|e| format!("the disk range: {e}"))
    }

    /// Mounts, runs `f`, unmounts (even when `f` failed: the file system
    /// stays consistent either way).
    fn with_fs<T>(&self, f: impl FnOnce(&mut Mounted) -> Result<T, FsError>) -> Result<T, String> {
        let mut fs = Fs::mount(self.device()?)
            .map_err(|e| format!("no file system on the disk range ({e}); run mkfs first"))?;
        let result = f(&mut fs);
        let unmounted = fs.unmount();
        let value = result.map_err(|e| format!("{e}"))?;
        unmounted.map_err(|e| format!("unmount: {e}"))?;
        Ok(value)
    }

    /// `mkfs`: a new, empty file system on the whole disk range.
    pub fn mkfs(&mut self, args: &[&str]) -> Result<(), String> {
        expect_args(args, 0..=0, "mkfs")?;
        let fs = Fs::format(self.device()?).map_err(|e| format!("format: {e}"))?;
        let stat = fs.statfs();
        fs.unmount().map_err(|e| format!("unmount: {e}"))?;
        println!(
            "mkfs: a new file system: {} blocks of {} bytes, {} free",
            stat.total_blocks, stat.block_size, stat.free_blocks
        );
        Ok(())
    }

    /// `ls [<dir>]`.
    pub fn ls(&mut self, args: &[&str]) -> Result<(), String> {
        expect_args(args, 0..=1, "ls [<dir>]")?;
        let dir = args.first().copied().unwrap_or("/");
        let entries = self.with_fs(|fs| {
            let entries = fs.read_dir(dir)?;
            let mut out = alloc::vec::Vec::new();
            for e in entries {
                let path = if dir.ends_with('/') {
                    format!("{dir}{}", e.name)
                } else {
                    format!("{dir}/{}", e.name)
                };
                let size = fs.metadata(&path).map(|m| m.len).unwrap_or(0);
                out.push((e, size));
            }
            Ok(out)
        });
        let entries = entries.map_err(|e| format!("{dir}: {e}"))?;
        if entries.is_empty() {
            println!("{dir}: empty");
        }
        for (e, size) in entries {
            match e.file_type {
                FileType::Dir => println!("  {}/", e.name),
                _ => println!("  {:<24} {size} bytes", e.name),
            }
        }
        Ok(())
    }

    /// `cat <file>`: its text (bytes that are not printable ASCII as `.`).
    pub fn cat(&mut self, args: &[&str]) -> Result<(), String> {
        expect_args(args, 1..=1, "cat <file>")?;
        let path = args[0];
        let data = self.with_fs(|fs| fs.read_file(path)).map_err(|e| format!("{path}: {e}"))?;
        let shown = &data[..data.len().min(CAT_MAX)];
        let text: String = shown
            .iter()
            .map(|&b| if b == b'\n' || (0x20..0x7f).contains(&b) { char::from(b) } else { '.' })
            .collect();
        libos::print!("{text}");
        if !text.is_empty() && !text.ends_with('\n') {
            println!();
        }
        if data.len() > CAT_MAX {
            println!("cat: {path}: showed the first {CAT_MAX} of {} bytes", data.len());
        }
        Ok(())
    }

    /// `write <file> <text>`: the file holds the text and a newline.
    pub fn write(&mut self, rest: &str) -> Result<(), String> {
        let Some((path, text)) = rest.split_once(' ') else {
            return Err(String::from("usage: write <file> <text>"));
        };
        let mut data = String::from(text.trim());
        data.push('\n');
        self.with_fs(|fs| fs.write_file(path, data.as_bytes()))
            .map_err(|e| format!("{path}: {e}"))?;
        println!("write: {path}: {} bytes", data.len());
        Ok(())
    }

    /// `mkdir <dir>`.
    pub fn mkdir(&mut self, args: &[&str]) -> Result<(), String> {
        expect_args(args, 1..=1, "mkdir <dir>")?;
        let path = args[0];
        self.with_fs(|fs| fs.mkdir(path)).map_err(|e| format!("{path}: {e}"))
    }

    /// `rm <path>`: a file, or an empty directory.
    pub fn rm(&mut self, args: &[&str]) -> Result<(), String> {
        expect_args(args, 1..=1, "rm <path>")?;
        let path = args[0];
        self.with_fs(|fs| match fs.remove_file(path) {
            Err(FsError::IsADirectory) => fs.remove_dir(path),
            other => other,
        })
        .map_err(|e| format!("{path}: {e}"))
    }
}
