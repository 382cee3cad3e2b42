//! `fs-inspect` end to end: format a window of an image file, fill it
//! through the library, then list and check it with the binary; damage it
//! and see the check fail.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::process::Command;

use libos::block::{BlockDevice, BlockError, MemDisk};
use libos::fs::Fs;

const SECTORS: u64 = 16 * 1024;
const OFFSET: u64 = 2048;

fn run(args: &[&str]) -> (i32, String) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_fs-inspect")).args(args).output().expect("run fs-inspect");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// Copies a `MemDisk` into the image file at `OFFSET`.
fn write_window(path: &std::path::Path, disk: &mut MemDisk) -> Result<(), BlockError> {
    let file = OpenOptions::new().write(true).open(path).unwrap();
    let mut buf = vec![0u8; 512];
    for s in 0..SECTORS {
        disk.read(s, &mut buf)?;
        file.write_all_at(&buf, (OFFSET + s) * 512).unwrap();
    }
    Ok(())
}

#[test]
fn lists_checks_and_reports_damage() {
    let dir = std::env::temp_dir().join(format!("fs-inspect-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let image = dir.join("disk.img");
    std::fs::File::create(&image).unwrap().set_len((OFFSET + SECTORS + 100) * 512).unwrap();

    let mut fs = Fs::format(MemDisk::new(SECTORS)).unwrap();
    fs.mkdir("/docs").unwrap();
    fs.write_file("/docs/readme.txt", b"exocap").unwrap();
    fs.write_file("/big", &vec![7u8; 100_000]).unwrap();
    let mut disk = fs.unmount().unwrap();
    write_window(&image, &mut disk).unwrap();

    let img = image.to_str().unwrap();
    let window = ["--offset-sectors", &OFFSET.to_string(), "--sectors", &SECTORS.to_string()];
    let (code, text) = run(&[&[img][..], &window[..]].concat());
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("/docs/readme.txt") && text.contains("/big"), "{text}");
    assert!(text.contains("100000"), "sizes are listed: {text}");

    // Not a file system at offset 0.
    let (code, _) = run(&[img, "--sectors", &SECTORS.to_string()]);
    assert_ne!(code, 0);

    // Damage the superblock's checksum area: the check must fail.
    let file = OpenOptions::new().write(true).open(&image).unwrap();
    file.write_all_at(&[0xff; 64], OFFSET * 512 + 64).unwrap();
    let (code, text) = run(&[&[img][..], &window[..]].concat());
    assert_eq!(code, 1, "a damaged image must be reported: {text}");

    // --format makes a clean empty file system.
    let (code, text) = run(&[&["--format", img][..], &window[..]].concat());
    assert_eq!(code, 0, "{text}");
    let (code, text) = run(&[&[img][..], &window[..]].concat());
    assert_eq!(code, 0, "{text}");
    std::fs::remove_dir_all(&dir).ok();
}
