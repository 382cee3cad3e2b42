//! `imager`: packs user programs and boot settings into a ramdisk (a tar
//! archive) and builds a bootable exocap disk image with the `bootloader`
//! crate.
//!
//! ```text
//! imager --kernel <elf> --out <image> [--uefi] [--cmdline "<settings>"]
//!        [--bin <name>=<elf>]... [--file <name>=<path>]...
//! ```
//!
//! Programs land in the ramdisk as `bin/<name>`; `--file` adds any other
//! file under the name given (tests use it to add malformed programs). The
//! archive is written next to the image as `<image>.ramdisk.tar` and is
//! deterministic (no timestamps, fixed modes), so `tar tf` lists it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where the kernel looks for its boot settings in the ramdisk.
const CMDLINE_FILE: &str = "cmdline";
/// Where the kernel looks for programs in the ramdisk.
const BIN_DIR: &str = "bin/";

struct Args {
    kernel: PathBuf,
    out: PathBuf,
    uefi: bool,
    cmdline: String,
    files: Vec<(String, PathBuf)>,
}

fn usage() -> String {
    "usage: imager --kernel <elf> --out <image> [--uefi] [--cmdline <settings>] \
     [--bin <name>=<elf>]... [--file <name>=<path>]..."
        .into()
}

fn parse_args() -> Result<Args, String> {
    let mut kernel = None;
    let mut out = None;
    let mut uefi = false;
    let mut cmdline = String::new();
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{arg} needs a value\n{}", usage()))
        };
        match arg.as_str() {
            "--kernel" => kernel = Some(PathBuf::from(value()?)),
            "--out" => out = Some(PathBuf::from(value()?)),
            "--uefi" => uefi = true,
            "--cmdline" => cmdline = value()?,
            "--bin" | "--file" => {
                let v = value()?;
                let (name, path) = v
                    .split_once('=')
                    .ok_or_else(|| format!("{arg} wants <name>=<path>, got {v:?}"))?;
                let name = if arg == "--bin" {
                    format!("{BIN_DIR}{name}")
                } else {
                    name.to_string()
                };
                files.push((name, PathBuf::from(path)));
            }
            "-h" | "--help" => return Err(usage()),
            _ => return Err(format!("unknown argument {arg:?}\n{}", usage())),
        }
    }
    Ok(Args {
        kernel: kernel.ok_or_else(usage)?,
        out: out.ok_or_else(usage)?,
        uefi,
        cmdline,
        files,
    })
}

fn append(tar: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) -> Result<(), String> {
    let mut header = tar::Header::new_ustar();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, name, data)
        .map_err(|e| format!("ramdisk: {name}: {e}"))
}

fn build_ramdisk(args: &Args) -> Result<Vec<u8>, String> {
    let mut tar = tar::Builder::new(Vec::new());
    append(&mut tar, CMDLINE_FILE, args.cmdline.as_bytes())?;
    for (name, path) in &args.files {
        let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        append(&mut tar, name, &data)?;
    }
    tar.into_inner().map_err(|e| format!("ramdisk: {e}"))
}

fn ramdisk_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".ramdisk.tar");
    PathBuf::from(name)
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let ramdisk = ramdisk_path(&args.out);
    std::fs::write(&ramdisk, build_ramdisk(&args)?)
        .map_err(|e| format!("{}: {e}", ramdisk.display()))?;
    let mut builder = bootloader::DiskImageBuilder::new(args.kernel.clone());
    builder.set_ramdisk(ramdisk);
    // The bootloader's own log is noise on the kernel's console (and drawing
    // it on the frame buffer costs boot time); keep only its warnings.
    let mut config = bootloader::BootConfig::default();
    config.frame_buffer_logging = false;
    config.log_level = bootloader_boot_config::LevelFilter::Warn;
    builder.set_boot_config(&config);
    let made = if args.uefi {
        builder.create_uefi_image(&args.out)
    } else {
        builder.create_bios_image(&args.out)
    };
    made.map_err(|e| format!("{}: {e:#}", args.out.display()))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("imager: {e}");
            ExitCode::FAILURE
        }
    }
}
