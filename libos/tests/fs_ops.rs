//! Unit tests of each file-system operation and each error it can return.

use libos::block::{BlockDevice, MemDisk};
use libos::fs::{BLOCK_SIZE, FileType, Fs, FsError, MAX_NAME_LEN, OpenOptions, SeekFrom};

/// Sectors of the default test disk (8 MiB).
const DISK_SECTORS: u64 = 16 * 1024;

fn fresh() -> Fs<MemDisk> {
    Fs::format(MemDisk::new(DISK_SECTORS)).unwrap()
}

fn remount(fs: Fs<MemDisk>) -> Fs<MemDisk> {
    Fs::mount(fs.unmount().unwrap()).unwrap()
}

fn assert_clean(fs: &mut Fs<MemDisk>) {
    let r = fs.fsck().unwrap();
    assert!(r.is_clean(), "fsck: {:?}", r.problems);
}

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed)).collect()
}

#[test]
fn format_gives_an_empty_root_and_sane_statfs() {
    let mut fs = fresh();
    assert!(fs.read_dir("/").unwrap().is_empty());
    let st = fs.statfs();
    assert_eq!(st.block_size, BLOCK_SIZE as u64);
    assert_eq!(st.total_blocks, DISK_SECTORS / 8);
    assert!(st.free_blocks > st.total_blocks * 3 / 4);
    assert_eq!(st.max_name_len, MAX_NAME_LEN);
    assert!(fs.metadata("/").unwrap().is_dir());
    assert_clean(&mut fs);
}

#[test]
fn format_rejects_a_tiny_device_and_mount_rejects_garbage() {
    assert_eq!(Fs::format(MemDisk::new(64)).err(), Some(FsError::InvalidArgument));
    let err = Fs::mount(MemDisk::new(DISK_SECTORS)).err().unwrap();
    assert!(matches!(err, FsError::Corrupt(_)), "{err:?}");
}

#[test]
fn write_read_round_trip_across_sizes_and_remount() {
    let mut fs = fresh();
    let sizes = [0, 1, 511, 4095, 4096, 4097, 3 * 4096 + 5, 300_000, 1_100_000];
    for (i, &n) in sizes.iter().enumerate() {
        fs.write_file(&format!("/f{i}"), &bytes(n, i as u8)).unwrap();
    }
    for (i, &n) in sizes.iter().enumerate() {
        assert_eq!(fs.read_file(&format!("/f{i}")).unwrap(), bytes(n, i as u8));
    }
    let mut fs = remount(fs);
    for (i, &n) in sizes.iter().enumerate() {
        assert_eq!(fs.read_file(&format!("/f{i}")).unwrap(), bytes(n, i as u8));
        assert_eq!(fs.metadata(&format!("/f{i}")).unwrap().len, n as u64);
    }
    assert_clean(&mut fs);
}

#[test]
fn reads_and_writes_at_odd_offsets_with_small_buffers() {
    let mut fs = fresh();
    let data = bytes(50_000, 3);
    fs.write_file("/f", &data).unwrap();
    let f = fs.open("/f", OpenOptions::new().read(true).write(true)).unwrap();
    fs.seek(&f, SeekFrom::Start(4000)).unwrap();
    fs.write_all(&f, &[0xAA; 300]).unwrap();
    let mut expect = data.clone();
    expect[4000..4300].fill(0xAA);
    fs.seek(&f, SeekFrom::Start(0)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 777];
    loop {
        let n = fs.read(&f, &mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, expect);
    fs.close(f).unwrap();
}

#[test]
fn seek_from_end_and_current_and_negative() {
    let mut fs = fresh();
    fs.write_file("/f", b"0123456789").unwrap();
    let f = fs.open("/f", OpenOptions::new().read(true)).unwrap();
    assert_eq!(fs.seek(&f, SeekFrom::End(-3)).unwrap(), 7);
    let mut b = [0u8; 8];
    assert_eq!(fs.read(&f, &mut b).unwrap(), 3);
    assert_eq!(&b[..3], b"789");
    assert_eq!(fs.seek(&f, SeekFrom::Current(-5)).unwrap(), 5);
    assert_eq!(fs.seek(&f, SeekFrom::Current(-6)), Err(FsError::InvalidArgument));
    assert_eq!(fs.seek(&f, SeekFrom::Start(100)).unwrap(), 100);
    assert_eq!(fs.read(&f, &mut b).unwrap(), 0);
}

#[test]
fn holes_and_extension_read_as_zeroes() {
    let mut fs = fresh();
    let f = fs.create("/sparse").unwrap();
    fs.seek(&f, SeekFrom::Start(1_000_000)).unwrap();
    fs.write_all(&f, b"end").unwrap();
    let md = fs.file_metadata(&f).unwrap();
    assert_eq!(md.len, 1_000_003);
    assert_eq!(md.blocks, 1, "a hole takes no blocks");
    fs.set_len(&f, 2_000_000).unwrap();
    fs.close(f).unwrap();
    let mut fs = remount(fs);
    let data = fs.read_file("/sparse").unwrap();
    assert_eq!(data.len(), 2_000_000);
    assert!(data[..1_000_000].iter().all(|&b| b == 0));
    assert_eq!(&data[1_000_000..1_000_003], b"end");
    assert!(data[1_000_003..].iter().all(|&b| b == 0));
    assert_clean(&mut fs);
}

#[test]
fn shrinking_then_growing_zeroes_the_cut_tail() {
    let mut fs = fresh();
    fs.write_file("/f", &[0x55; 10_000]).unwrap();
    fs.sync().unwrap();
    let f = fs.open("/f", OpenOptions::new().write(true)).unwrap();
    fs.set_len(&f, 5000).unwrap();
    fs.set_len(&f, 9000).unwrap();
    fs.close(f).unwrap();
    {
        let mut fs = fs;
        let d = fs.read_file("/f").unwrap();
        assert_eq!(d.len(), 9000);
        assert!(d[..5000].iter().all(|&b| b == 0x55));
        assert!(d[5000..].iter().all(|&b| b == 0), "stale bytes after shrink+grow");
        let mut fs = remount(fs);
        let d2 = fs.read_file("/f").unwrap();
        assert_eq!(d, d2);
        assert_clean(&mut fs);
    }
}

#[test]
fn open_options_follow_std_rules() {
    let mut fs = fresh();
    let none = OpenOptions::new();
    assert_eq!(fs.open("/f", &none).err(), Some(FsError::InvalidArgument));
    assert_eq!(
        fs.open("/f", OpenOptions::new().read(true).create(true)).err(),
        Some(FsError::InvalidArgument)
    );
    assert_eq!(
        fs.open("/f", OpenOptions::new().append(true).truncate(true)).err(),
        Some(FsError::InvalidArgument)
    );
    assert_eq!(fs.open("/f", OpenOptions::new().read(true)).err(), Some(FsError::NotFound));
    let f = fs.open("/f", OpenOptions::new().write(true).create_new(true)).unwrap();
    fs.write_all(&f, b"abc").unwrap();
    fs.close(f).unwrap();
    assert_eq!(
        fs.open("/f", OpenOptions::new().write(true).create_new(true)).err(),
        Some(FsError::AlreadyExists)
    );
    let a = fs.open("/f", OpenOptions::new().append(true)).unwrap();
    fs.write_all(&a, b"de").unwrap();
    let mut b = [0u8; 1];
    assert_eq!(fs.read(&a, &mut b), Err(FsError::BadHandle), "append handle is write-only");
    fs.close(a).unwrap();
    let r = fs.open("/f", OpenOptions::new().read(true)).unwrap();
    assert_eq!(fs.write(&r, b"x"), Err(FsError::BadHandle));
    assert_eq!(fs.set_len(&r, 0), Err(FsError::BadHandle));
    fs.close(r).unwrap();
    assert_eq!(fs.read_file("/f").unwrap(), b"abcde");
    let t = fs.open("/f", OpenOptions::new().write(true).truncate(true)).unwrap();
    fs.close(t).unwrap();
    assert_eq!(fs.read_file("/f").unwrap(), b"");
}

#[test]
fn append_always_writes_at_end() {
    let mut fs = fresh();
    fs.write_file("/log", b"a").unwrap();
    let f = fs.open("/log", OpenOptions::new().append(true)).unwrap();
    fs.seek(&f, SeekFrom::Start(0)).unwrap();
    fs.write_all(&f, b"b").unwrap();
    fs.write_all(&f, b"c").unwrap();
    fs.close(f).unwrap();
    assert_eq!(fs.read_file("/log").unwrap(), b"abc");
}

#[test]
fn closed_handles_are_refused_even_after_slot_reuse() {
    let mut fs = fresh();
    fs.write_file("/a", b"a").unwrap();
    let f = fs.open("/a", OpenOptions::new().read(true)).unwrap();
    let g = fs.open("/a", OpenOptions::new().read(true)).unwrap();
    fs.close(g).unwrap();
    let h = fs.open("/a", OpenOptions::new().read(true)).unwrap();
    let mut b = [0u8; 4];
    assert_eq!(fs.read(&h, &mut b).unwrap(), 1);
    fs.close(f).unwrap();
    assert_eq!(fs.fsync(&h), Ok(()));
    fs.close(h).unwrap();
}

#[test]
fn removed_files_invalidate_their_handles() {
    let mut fs = fresh();
    fs.write_file("/a", b"aaa").unwrap();
    let f = fs.open("/a", OpenOptions::new().read(true)).unwrap();
    fs.remove_file("/a").unwrap();
    let mut b = [0u8; 4];
    assert_eq!(fs.read(&f, &mut b), Err(FsError::NotFound));
    fs.write_file("/b", b"bbb").unwrap();
    assert_eq!(fs.read(&f, &mut b), Err(FsError::NotFound), "must not reach the new inode");
    fs.close(f).unwrap();
}

#[test]
fn mkdir_and_read_dir() {
    let mut fs = fresh();
    fs.mkdir("/a").unwrap();
    fs.mkdir("/a/b").unwrap();
    fs.write_file("/a/f", b"x").unwrap();
    let mut names: Vec<(String, FileType)> =
        fs.read_dir("/a").unwrap().into_iter().map(|e| (e.name, e.file_type)).collect();
    names.sort();
    assert_eq!(names, [("b".into(), FileType::Dir), ("f".into(), FileType::File)]);
    assert_eq!(fs.mkdir("/a"), Err(FsError::AlreadyExists));
    assert_eq!(fs.mkdir("/"), Err(FsError::AlreadyExists));
    assert_eq!(fs.mkdir("/x/y"), Err(FsError::NotFound));
    assert_eq!(fs.mkdir("/a/f/y"), Err(FsError::NotADirectory));
    assert_eq!(fs.read_dir("/a/f").err(), Some(FsError::NotADirectory));
    assert_eq!(fs.read_dir("/nope").err(), Some(FsError::NotFound));
    let mut fs = remount(fs);
    assert_eq!(fs.read_dir("/a").unwrap().len(), 2);
    assert_clean(&mut fs);
}

#[test]
fn large_directories_grow_and_stay_consistent() {
    let mut fs = fresh();
    fs.mkdir("/d").unwrap();
    for i in 0..300 {
        fs.write_file(&format!("/d/file-{i:04}"), &[i as u8]).unwrap();
    }
    for i in (0..300).step_by(3) {
        fs.remove_file(&format!("/d/file-{i:04}")).unwrap();
    }
    let mut fs = remount(fs);
    assert_eq!(fs.read_dir("/d").unwrap().len(), 200);
    assert_eq!(fs.read_file("/d/file-0299").unwrap(), [299u16 as u8]);
    assert_clean(&mut fs);
}

#[test]
fn names_are_checked() {
    let mut fs = fresh();
    let long = "x".repeat(MAX_NAME_LEN + 1);
    assert_eq!(fs.create(&format!("/{long}")).err(), Some(FsError::NameTooLong));
    let max = "y".repeat(MAX_NAME_LEN);
    fs.write_file(&format!("/{max}"), b"ok").unwrap();
    assert_eq!(fs.read_dir("/").unwrap()[0].name, max);
    assert_eq!(fs.create("relative").err(), Some(FsError::InvalidArgument));
    assert_eq!(fs.create("/a/../b").err(), Some(FsError::InvalidArgument));
    assert_eq!(fs.create("/").err(), Some(FsError::IsADirectory));
    fs.write_file("//dup///", b"s").unwrap();
    assert_eq!(fs.read_file("/dup").unwrap(), b"s");
}

#[test]
fn remove_file_and_remove_dir_errors() {
    let mut fs = fresh();
    fs.mkdir("/d").unwrap();
    fs.write_file("/d/f", b"x").unwrap();
    assert_eq!(fs.remove_file("/d"), Err(FsError::IsADirectory));
    assert_eq!(fs.remove_dir("/d"), Err(FsError::DirectoryNotEmpty));
    assert_eq!(fs.remove_dir("/d/f"), Err(FsError::NotADirectory));
    assert_eq!(fs.remove_file("/d/g"), Err(FsError::NotFound));
    assert_eq!(fs.remove_file("/d/f/g"), Err(FsError::NotADirectory));
    assert_eq!(fs.remove_dir("/"), Err(FsError::InvalidArgument));
    assert_eq!(fs.remove_file("/"), Err(FsError::IsADirectory));
    fs.remove_file("/d/f").unwrap();
    fs.remove_dir("/d").unwrap();
    assert_eq!(fs.metadata("/d").err(), Some(FsError::NotFound));
    let mut fs = remount(fs);
    assert!(fs.read_dir("/").unwrap().is_empty());
    assert_clean(&mut fs);
}

#[test]
fn remove_frees_space() {
    let mut fs = fresh();
    fs.write_file("/small", b"x").unwrap();
    let before = fs.statfs();
    fs.write_file("/big", &bytes(2_000_000, 1)).unwrap();
    fs.sync().unwrap();
    let during = fs.statfs();
    assert!(during.free_blocks + 488 <= before.free_blocks);
    assert_eq!(during.free_inodes + 1, before.free_inodes);
    assert_eq!(fs.metadata("/big").unwrap().blocks, 489);
    fs.remove_file("/big").unwrap();
    let mut fs = remount(fs);
    assert_eq!(fs.statfs(), before);
    assert_clean(&mut fs);
}

#[test]
fn rename_moves_and_replaces() {
    let mut fs = fresh();
    fs.mkdir("/a").unwrap();
    fs.mkdir("/a/sub").unwrap();
    fs.write_file("/a/sub/f", b"deep").unwrap();
    fs.write_file("/x", b"old").unwrap();
    fs.write_file("/y", b"new").unwrap();
    fs.rename("/y", "/x").unwrap();
    assert_eq!(fs.read_file("/x").unwrap(), b"new");
    assert_eq!(fs.metadata("/y").err(), Some(FsError::NotFound));
    fs.rename("/a", "/b").unwrap();
    assert_eq!(fs.read_file("/b/sub/f").unwrap(), b"deep");
    fs.rename("/b/sub/f", "/b/f2").unwrap();
    fs.rename("/x", "/x").unwrap();
    fs.mkdir("/empty").unwrap();
    fs.rename("/b/sub", "/empty").unwrap();
    assert!(fs.metadata("/empty").unwrap().is_dir());
    let mut fs = remount(fs);
    assert_eq!(fs.read_file("/b/f2").unwrap(), b"deep");
    assert_eq!(fs.read_file("/x").unwrap(), b"new");
    assert_clean(&mut fs);
}

#[test]
fn rename_errors() {
    let mut fs = fresh();
    fs.mkdir("/d").unwrap();
    fs.mkdir("/d/e").unwrap();
    fs.mkdir("/full").unwrap();
    fs.write_file("/full/f", b"").unwrap();
    fs.write_file("/f", b"").unwrap();
    assert_eq!(fs.rename("/nope", "/z"), Err(FsError::NotFound));
    assert_eq!(fs.rename("/f", "/nope/z"), Err(FsError::NotFound));
    assert_eq!(fs.rename("/f", "/d"), Err(FsError::IsADirectory));
    assert_eq!(fs.rename("/d", "/f"), Err(FsError::NotADirectory));
    assert_eq!(fs.rename("/d", "/full"), Err(FsError::DirectoryNotEmpty));
    assert_eq!(fs.rename("/d", "/d/e/inside"), Err(FsError::InvalidArgument));
    assert_eq!(fs.rename("/", "/z"), Err(FsError::InvalidArgument));
    assert_eq!(fs.rename("/f", "/f/g"), Err(FsError::NotADirectory));
    assert_clean(&mut fs);
}

#[test]
fn no_space_is_reported_and_leaves_a_consistent_fs() {
    let mut fs = Fs::format(MemDisk::new(256 * 8)).unwrap();
    let f = fs.create("/fill").unwrap();
    let chunk = vec![0xEE; 64 * 1024];
    let mut total = 0;
    loop {
        match fs.write(&f, &chunk) {
            Ok(n) if n == chunk.len() => total += n,
            Ok(n) => {
                total += n;
                break;
            }
            Err(FsError::NoSpace) => break,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(fs.write(&f, &chunk), Err(FsError::NoSpace));
    assert!(total > 0);
    assert_eq!(fs.file_metadata(&f).unwrap().len, total as u64);
    fs.fsync(&f).unwrap();
    fs.close(f).unwrap();
    let mut fs = remount(fs);
    let d = fs.read_file("/fill").unwrap();
    assert_eq!(d.len(), total);
    assert!(d.iter().all(|&b| b == 0xEE));
    assert_clean(&mut fs);
    fs.remove_file("/fill").unwrap();
    fs.write_file("/again", &chunk).unwrap();
    assert_clean(&mut fs);
}

#[test]
fn overwrites_reuse_space_after_checkpoints() {
    // Copy-on-write must not leak: overwriting a file many times on a small
    // disk keeps working.
    let mut fs = Fs::format(MemDisk::new(512 * 8)).unwrap();
    let data = bytes(200_000, 9);
    for round in 0..40u8 {
        let mut d = data.clone();
        d[0] = round;
        fs.write_file("/f", &d).unwrap();
        if round % 3 == 0 {
            fs.sync().unwrap();
        }
    }
    let mut fs = remount(fs);
    assert_eq!(fs.read_file("/f").unwrap()[0], 39);
    assert_clean(&mut fs);
}

#[test]
fn fragmented_file_uses_extent_overflow_blocks() {
    let mut fs = fresh();
    let a = fs.create("/a").unwrap();
    let b = fs.create("/b").unwrap();
    // Interleaved appends fragment both files into many extents.
    for i in 0..400u32 {
        fs.write_all(&a, &[i as u8; BLOCK_SIZE]).unwrap();
        fs.write_all(&b, &[!i as u8; BLOCK_SIZE]).unwrap();
        if i % 50 == 0 {
            fs.sync().unwrap();
        }
    }
    fs.close(a).unwrap();
    fs.close(b).unwrap();
    let mut fs = remount(fs);
    let d = fs.read_file("/a").unwrap();
    for i in 0..400usize {
        assert!(d[i * BLOCK_SIZE..(i + 1) * BLOCK_SIZE].iter().all(|&x| x == i as u8));
    }
    assert_clean(&mut fs);
    let f = fs.open("/a", OpenOptions::new().write(true)).unwrap();
    fs.set_len(&f, 10).unwrap();
    fs.close(f).unwrap();
    let mut fs = remount(fs);
    assert_eq!(fs.read_file("/a").unwrap(), [0u8; 10]);
    assert_clean(&mut fs);
}

#[test]
fn fsync_costs_one_data_write_one_journal_write_one_flush() {
    #[derive(Default)]
    struct Counter {
        disk: Option<MemDisk>,
        writes: u64,
        flushes: u64,
        bytes: u64,
    }
    impl BlockDevice for Counter {
        fn sector_count(&self) -> u64 {
            self.disk.as_ref().unwrap().sector_count()
        }
        fn read(&mut self, s: u64, b: &mut [u8]) -> Result<(), libos::block::BlockError> {
            self.disk.as_mut().unwrap().read(s, b)
        }
        fn write(&mut self, s: u64, b: &[u8]) -> Result<(), libos::block::BlockError> {
            self.writes += 1;
            self.bytes += b.len() as u64;
            self.disk.as_mut().unwrap().write(s, b)
        }
        fn flush(&mut self) -> Result<(), libos::block::BlockError> {
            self.flushes += 1;
            Ok(())
        }
    }
    let dev = Counter { disk: Some(MemDisk::new(DISK_SECTORS)), ..Default::default() };
    let mut fs = Fs::format(dev).unwrap();
    let f = fs.create("/log").unwrap();
    fs.fsync(&f).unwrap();
    let mut worst = (0, 0, 0);
    for i in 0..20u8 {
        let (w0, f0, b0) = {
            let d = fs.device();
            (d.writes, d.flushes, d.bytes)
        };
        fs.write_all(&f, &[i; 4096]).unwrap();
        fs.fsync(&f).unwrap();
        let d = fs.device();
        worst = worst.max((d.writes - w0, d.flushes - f0, d.bytes - b0));
    }
    // One data write and one journal write (descriptor, inode block,
    // bitmap block), one flush: except when the journal fills and a
    // checkpoint runs, which this short run never reaches.
    assert_eq!(worst.0, 2, "writes per append+fsync");
    assert_eq!(worst.1, 1, "flushes per append+fsync");
    assert!(worst.2 <= 4 * 4096, "bytes per append+fsync: {}", worst.2);
}

#[test]
fn sequential_reads_use_large_requests() {
    struct Reads {
        disk: MemDisk,
        reads: u64,
    }
    impl BlockDevice for Reads {
        fn sector_count(&self) -> u64 {
            self.disk.sector_count()
        }
        fn read(&mut self, s: u64, b: &mut [u8]) -> Result<(), libos::block::BlockError> {
            self.reads += 1;
            self.disk.read(s, b)
        }
        fn write(&mut self, s: u64, b: &[u8]) -> Result<(), libos::block::BlockError> {
            self.disk.write(s, b)
        }
        fn flush(&mut self) -> Result<(), libos::block::BlockError> {
            Ok(())
        }
    }
    let mut fs = Fs::format(Reads { disk: MemDisk::new(DISK_SECTORS), reads: 0 }).unwrap();
    fs.write_file("/big", &bytes(4 << 20, 5)).unwrap();
    let f = fs.open("/big", OpenOptions::new().read(true)).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let r0 = fs.device().reads;
    for _ in 0..4 {
        assert_eq!(fs.read(&f, &mut buf).unwrap(), 1 << 20);
    }
    let reads = fs.device().reads - r0;
    assert!(reads <= 8, "4 MiB in 1 MiB reads took {reads} device reads");
}
