//! Hostile images: randomly corrupted images must give errors (`Corrupt`,
//! `NotFound`, ...) or fsck problems, never a panic or an endless loop, in
//! mount, fsck, reads and further writes.

#[path = "fs_support.rs"]
mod support;

use libos::block::MemDisk;
use libos::fs::{BLOCK_SIZE, FileType, Fs, FsError, OpenOptions};
use support::{Rng, pattern};

const DISK_SECTORS: u64 = 512 * 8;

/// An image with files, directories, a fragmented file, and committed
/// transactions still in the journal (not checkpointed).
fn sample_image() -> Vec<u8> {
    let mut fs = Fs::format(MemDisk::new(DISK_SECTORS)).unwrap();
    fs.mkdir("/d").unwrap();
    fs.mkdir("/d/e").unwrap();
    fs.write_file("/d/e/small", b"hello").unwrap();
    let a = fs.create("/frag").unwrap();
    let b = fs.create("/d/other").unwrap();
    for i in 0..40u8 {
        fs.write_all(&a, &pattern(i, BLOCK_SIZE)).unwrap();
        fs.write_all(&b, &pattern(!i, BLOCK_SIZE / 2)).unwrap();
    }
    fs.close(a).unwrap();
    fs.close(b).unwrap();
    for i in 0..40 {
        fs.write_file(&format!("/d/n{i}"), &pattern(i, 100)).unwrap();
    }
    fs.sync().unwrap();
    fs.write_file("/late", &pattern(7, 9000)).unwrap();
    fs.rename("/d/n1", "/moved").unwrap();
    fs.sync().unwrap();
    fs.into_device().into_vec()
}

/// Exercises everything on a possibly corrupt image; errors are fine.
fn exercise(image: Vec<u8>) {
    let mut fs = match Fs::mount(MemDisk::from_vec(image)) {
        Ok(fs) => fs,
        Err(FsError::Corrupt(_)) => return,
        Err(e) => panic!("mount of a corrupt image failed with {e:?}, not Corrupt"),
    };
    let _ = fs.fsck();
    let mut stack = vec![String::from("/")];
    let mut visited = 0;
    while let Some(dir) = stack.pop() {
        visited += 1;
        if visited > 200 {
            break;
        }
        let Ok(entries) = fs.read_dir(&dir) else { continue };
        for e in entries {
            let p = format!("{}/{}", dir.trim_end_matches('/'), e.name);
            match e.file_type {
                FileType::Dir => stack.push(p),
                FileType::File => {
                    if let Ok(f) = fs.open(&p, OpenOptions::new().read(true).write(true)) {
                        let mut buf = vec![0u8; 64 * 1024];
                        let _ = fs.read(&f, &mut buf);
                        let _ = fs.write(&f, b"more");
                        let _ = fs.set_len(&f, 3);
                        let _ = fs.close(f);
                    }
                    let _ = fs.read_file(&p);
                    let _ = fs.metadata(&p);
                }
            }
        }
    }
    let _ = fs.write_file("/new", &pattern(3, 20_000));
    let _ = fs.mkdir("/d/e/new");
    let _ = fs.rename("/d", "/d2");
    let _ = fs.remove_file("/frag");
    let _ = fs.sync();
    let _ = fs.fsck();
}

#[test]
fn corrupted_images_never_panic() {
    let image = sample_image();
    let blocks = image.len() / BLOCK_SIZE;
    let mut rng = Rng(0xBAD_1A6E);
    let iterations =
        if std::env::var("FS_CRASH_FULL").is_ok_and(|v| v == "1") { 5000 } else { 600 };
    for it in 0..iterations {
        let mut img = image.clone();
        // Mostly hit the metadata (first blocks) and the used data blocks.
        let hot = (blocks as u64).min(300);
        for _ in 0..1 + rng.below(4) {
            let b = rng.below(hot) as usize;
            let at = b * BLOCK_SIZE;
            match rng.below(4) {
                0 => img[at..at + BLOCK_SIZE].fill(0),
                1 => img[at..at + BLOCK_SIZE].iter_mut().for_each(|x| *x = rng.next_u64() as u8),
                _ => {
                    for _ in 0..1 + rng.below(8) {
                        let o = at + rng.below(BLOCK_SIZE as u64) as usize;
                        img[o] ^= 1 << rng.below(8);
                    }
                }
            }
        }
        let _ = it;
        exercise(img);
    }
}

#[test]
fn fsck_reports_specific_damage() {
    let image = {
        let mut fs = Fs::format(MemDisk::new(DISK_SECTORS)).unwrap();
        fs.write_file("/f", &pattern(1, 3 * BLOCK_SIZE)).unwrap();
        fs.unmount().unwrap().into_vec()
    };
    let mut fs = Fs::mount(MemDisk::from_vec(image.clone())).unwrap();
    assert!(fs.fsck().unwrap().is_clean());
    let md = fs.metadata("/f").unwrap();
    // Clear the file's bitmap bits: blocks in use but marked free.
    let geo = libos::fs::layout::Geometry::for_blocks(DISK_SECTORS / 8).unwrap();
    let mut bad = image.clone();
    let bitmap = geo.bbitmap_start as usize * BLOCK_SIZE;
    bad[bitmap..bitmap + BLOCK_SIZE].fill(0);
    let r = libos::fs::fsck::check_device(MemDisk::from_vec(bad));
    assert!(!r.is_clean());
    // Free the inode in the inode bitmap: reachable but marked free.
    let mut bad = image.clone();
    let ib = geo.ibitmap_start as usize * BLOCK_SIZE;
    bad[ib] &= !(1 << md.ino);
    let r = libos::fs::fsck::check_device(MemDisk::from_vec(bad));
    assert!(r.problems.iter().any(|p| p.contains("marked free")), "{:?}", r.problems);
    // Break the superblock.
    let mut bad = image;
    bad[0] ^= 0xFF;
    let r = libos::fs::fsck::check_device(MemDisk::from_vec(bad));
    assert!(r.problems[0].contains("mount failed"), "{:?}", r.problems);
}
