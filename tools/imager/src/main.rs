//! `imager`: packs user programs and boot settings into a ramdisk (a tar
//! archive) and builds a bootable exocap disk image with the `bootloader`
//! crate.
//!
//! ```text
//! imager --kernel <elf> --out <image> [--uefi] [--cmdline "<settings>"]
//!        [--bin <name>=<elf>]... [--file <name>=<path>]...
//!        [--manifest <exocap.toml>]... [--partial]
//! ```
//!
//! `--manifest` reads a system manifest (several make one list, in
//! order), checks it against the programs of the image (strictly, or with
//! `--partial` leaving out the apps whose program is not in the image; see
//! `exocap-manifest`) and adds it to the boot settings in its compact form
//! (`manifest=...`), for init. A manifest mistake fails the build.
//!
//! Programs land in the ramdisk as `bin/<name>`; `--file` adds any other
//! file under the name given (tests use it to add malformed programs). The
//! archive is written next to the image as `<image>.ramdisk.tar` and is
//! deterministic (no timestamps, fixed modes), so `tar tf` lists it.

use exocap_manifest::host;
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
    manifests: Vec<PathBuf>,
    partial: bool,
}

fn usage() -> String {
    "usage: imager --kernel <elf> --out <image> [--uefi] [--cmdline <settings>] \
     [--bin <name>=<elf>]... [--file <name>=<path>]... [--manifest <toml>]... [--partial]"
        .into()
}

fn parse_args() -> Result<Args, String> {
    let mut kernel = None;
    let mut out = None;
    let mut uefi = false;
    let mut cmdline = String::new();
    let mut files = Vec::new();
    let mut manifests = Vec::new();
    let mut partial = false;
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
            "--partial" => partial = true,
            "--manifest" => manifests.push(PathBuf::from(value()?)),
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
        manifests,
        partial,
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

/// Boot-setting keys the kernel keeps for itself (`kernel/src/bootcfg.rs`);
/// the other words go to init.
const KERNEL_KEYS: [&str; 5] = ["log", "selftest", "init", "ramdisk", "bootdisk"];

/// Reads and checks the manifests, and adds their compact form to the
/// boot settings.
fn add_manifest(args: &mut Args) -> Result<(), String> {
    if args.manifests.is_empty() {
        return Ok(());
    }
    let mut texts = Vec::new();
    for path in &args.manifests {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        texts.push((path.display().to_string(), text));
    }
    let sources: Vec<host::Source> =
        texts.iter().map(|(name, text)| host::Source { name, text }).collect();
    let programs: Vec<&str> =
        args.files.iter().filter_map(|(name, _)| name.strip_prefix(BIN_DIR)).collect();
    let mode = if args.partial { host::Mode::Partial } else { host::Mode::Strict };
    let apps = host::parse(&sources, &programs, mode).map_err(|e| format!("manifest: {e}"))?;
    let word = format!("{}={}", exocap_manifest::BOOT_KEY, exocap_manifest::encode(&apps));
    args.cmdline = format!("{} {word}", args.cmdline.trim());
    let init_args: Vec<&str> = args
        .cmdline
        .split_whitespace()
        .filter(|w| !KERNEL_KEYS.contains(&w.split_once('=').map_or(*w, |(k, _)| k)))
        .collect();
    let len = init_args.join(" ").len();
    if len > exocap_manifest::INIT_ARGS_LEN {
        return Err(format!(
            "manifest: init's boot settings would be {len} bytes, more than the {} it can \
             receive: fewer apps or shorter names",
            exocap_manifest::INIT_ARGS_LEN
        ));
    }
    Ok(())
}

/// Where the MBR keeps its 32-bit disk signature (little-endian); the
/// `bootloader` crate's boot sector leaves it zero, and a GPT image's
/// protective MBR ignores it.
const MBR_SIGNATURE: std::ops::Range<usize> = 440..444;

/// The boot disk's signature: an FNV-1a hash of everything the image
/// holds (so two different images almost never share one, and one image
/// always gets the same), never zero (a fresh data disk's signature).
fn disk_signature(args: &Args) -> Result<u32, String> {
    let mut hash: u32 = 0x811c_9dc5;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            hash = (hash ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
    };
    eat(&std::fs::read(&args.kernel).map_err(|e| format!("{}: {e}", args.kernel.display()))?);
    eat(&build_ramdisk(args)?);
    Ok(hash.max(1))
}

/// Where the kernel the image holds is written: beside the image.
fn kernel_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".kernel");
    PathBuf::from(name)
}

/// The kernel ELF at `path` without its debug sections (`.debug_*`): what
/// `objcopy --strip-debug` leaves. The bootloader reads the whole file at
/// boot, through the BIOS in 16-bit mode, which under emulation is slow:
/// the release kernel's line tables made it 8 times larger and every boot
/// about 5 s longer. The symbol table stays (for a debugger attached to the
/// machine; `make gdb` reads the unstripped file on the host anyway).
fn strip_debug(path: &Path) -> Result<Vec<u8>, String> {
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut elf = object::build::elf::Builder::read(&*data)
        .map_err(|e| format!("{}: not an ELF file the imager can read: {e}", path.display()))?;
    for section in elf.sections.iter_mut() {
        if section.name.as_slice().starts_with(b".debug") {
            section.delete = true;
        }
    }
    let mut stripped = Vec::new();
    elf.write(&mut stripped).map_err(|e| format!("{}: stripping: {e}", path.display()))?;
    // The builder writes the file anew (it lays out the dynamic sections
    // itself): what the bootloader loads must be byte for byte what the
    // linker made.
    if loaded(&data)? != loaded(&stripped)? {
        return Err(format!("{}: stripping changed what is loaded", path.display()));
    }
    Ok(stripped)
}

/// What the bootloader takes from a kernel ELF: each segment's type,
/// addresses, sizes, flags and file bytes, but for the ELF file header
/// (a segment at offset 0 holds it), whose section-header fields the
/// strip changes by design.
fn loaded(elf: &[u8]) -> Result<Vec<(u32, u64, u64, u64, u32, &[u8])>, String> {
    use object::read::elf::{ElfFile64, FileHeader, ProgramHeader};
    let file = ElfFile64::<object::Endianness>::parse(elf).map_err(|e| e.to_string())?;
    let endian = file.endian();
    let header_bytes = usize::from(file.elf_header().e_ehsize(endian));
    let mut segments = Vec::new();
    for header in file.elf_program_headers() {
        let mut bytes = header.data(endian, elf).map_err(|()| "segment out of the file")?;
        if header.p_offset(endian) == 0 {
            bytes = bytes.get(header_bytes..).unwrap_or_default();
        }
        segments.push((
            header.p_type(endian),
            header.p_vaddr(endian),
            header.p_memsz(endian),
            header.p_align(endian),
            header.p_flags(endian),
            bytes,
        ));
    }
    Ok(segments)
}

/// Writes `signature` into the MBR of the image at `out`.
fn sign_disk(out: &Path, signature: u32) -> Result<(), String> {
    use std::io::{Seek, SeekFrom, Write};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(out)
        .map_err(|e| format!("{}: {e}", out.display()))?;
    file.seek(SeekFrom::Start(MBR_SIGNATURE.start as u64))
        .and_then(|_| file.write_all(&signature.to_le_bytes()))
        .map_err(|e| format!("{}: signing: {e}", out.display()))
}

fn run() -> Result<(), String> {
    let mut args = parse_args()?;
    add_manifest(&mut args)?;
    // The kernel finds the disk it booted from by this signature, lists it
    // last and read-only (so a test's data disk is always disk 0, even on
    // the controller that holds the boot disk).
    let signature = disk_signature(&args)?;
    args.cmdline = format!("{} bootdisk={signature:08x}", args.cmdline.trim());
    let ramdisk = ramdisk_path(&args.out);
    std::fs::write(&ramdisk, build_ramdisk(&args)?)
        .map_err(|e| format!("{}: {e}", ramdisk.display()))?;
    let kernel = kernel_path(&args.out);
    std::fs::write(&kernel, strip_debug(&args.kernel)?)
        .map_err(|e| format!("{}: {e}", kernel.display()))?;
    let mut builder = bootloader::DiskImageBuilder::new(kernel);
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
    made.map_err(|e| format!("{}: {e:#}", args.out.display()))?;
    sign_disk(&args.out, signature)
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
