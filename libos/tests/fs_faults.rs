//! I/O errors: a device fails a chosen read, write or flush (once, or that
//! one and every later one). The error must reach the caller, nothing that
//! failed may be reported durable, and after the error a remount (on a
//! healthy device) must be consistent and hold a state the model reached,
//! no earlier than the last successful fsync/sync.

#[path = "fs_support.rs"]
mod support;

use libos::block::{BlockError, MemDisk};
use libos::fs::{Fs, FsError};
use support::{Fault, FaultyDisk, Model, Op, Rng, Tree, read_tree};

const DISK_SECTORS: u64 = 512 * 8;

fn workload() -> Vec<Op> {
    let mut rng = Rng(0xFA17);
    let paths = ["/a", "/b", "/d", "/d/x"];
    let mut ops = vec![Op::Mkdir("/d".into())];
    for i in 0..120u64 {
        let p = paths[rng.below(4) as usize].to_string();
        ops.push(match i % 8 {
            0 | 1 => Op::Create(p),
            2 | 3 => Op::Write {
                path: p,
                off: rng.below(9000),
                len: 1 + rng.below(9000) as usize,
                seed: i as u8,
            },
            4 => Op::Rename(p, paths[rng.below(4) as usize].to_string()),
            5 => Op::Truncate { path: p, len: rng.below(5000) },
            6 => Op::Fsync(p),
            _ => Op::Sync,
        });
    }
    ops
}

struct Outcome {
    snapshots: Vec<Tree>,
    last_durable: usize,
    saw_io_error: bool,
    counts: [u64; 3],
    disk: MemDisk,
}

fn run(base: &MemDisk, setup: impl FnOnce(&mut FaultyDisk)) -> Outcome {
    let mut dev = FaultyDisk::new(base.clone());
    setup(&mut dev);
    let mut model = Model::default();
    let mut snapshots = vec![model.tree.clone()];
    let mut last_durable = 0;
    let mut saw_io_error = false;
    let fs = Fs::mount(dev);
    let dev = match fs {
        Err(FsError::Io(_)) => {
            // A failed mount is a reported error; the image is untouched.
            return Outcome {
                snapshots,
                last_durable,
                saw_io_error: true,
                counts: [0; 3],
                disk: base.clone(),
            };
        }
        Err(e) => panic!("mount: {e:?}"),
        Ok(mut fs) => {
            for (i, op) in workload().iter().enumerate() {
                let got = op.run(&mut fs);
                match got {
                    Err(FsError::Io(e)) => {
                        assert_eq!(e, BlockError::Io);
                        saw_io_error = true;
                    }
                    _ => {
                        let want = model.apply(op, &got);
                        assert_eq!(got, want, "op {i} {op:?}");
                        if got.is_ok() && op.is_durability_point() {
                            last_durable = i + 1;
                        }
                    }
                }
                snapshots.push(model.tree.clone());
            }
            fs.into_device()
        }
    };
    Outcome { snapshots, last_durable, saw_io_error, counts: dev.counts, disk: dev.disk }
}

fn check_remount(o: &Outcome, what: &str) {
    let mut fs = Fs::mount(o.disk.clone()).unwrap_or_else(|e| panic!("{what}: remount: {e:?}"));
    let r = fs.fsck().unwrap();
    assert!(r.is_clean(), "{what}: fsck: {:?}", r.problems);
    let tree = read_tree(&mut fs).unwrap();
    assert!(
        o.snapshots[o.last_durable..].contains(&tree),
        "{what}: remounted tree is no state at or after the last sync (op {})",
        o.last_durable
    );
}

#[test]
fn every_injected_fault_is_reported_and_recoverable() {
    let base = Fs::format(MemDisk::new(DISK_SECTORS)).unwrap().unmount().unwrap();
    let clean = run(&base, |_| {});
    assert!(!clean.saw_io_error);
    check_remount(&clean, "no fault");
    let mut cases = 0;
    for (kind, total) in clean.counts.iter().enumerate() {
        for n in 0..*total {
            for fault in [Fault::Once(n), Fault::From(n)] {
                let o = run(&base, |d| match kind {
                    0 => d.reads = fault,
                    1 => d.writes = fault,
                    _ => d.flushes = fault,
                });
                let what = format!("kind {kind} fault {fault:?}");
                assert!(o.saw_io_error, "{what}: the failure never reached the caller");
                check_remount(&o, &what);
                cases += 1;
            }
        }
    }
    assert!(clean.counts.iter().all(|&c| c >= 5), "too few calls: {:?}", clean.counts);
    assert_eq!(cases, 2 * clean.counts.iter().sum::<u64>());
    println!("{cases} fault cases over {:?} reads/writes/flushes", clean.counts);
}

#[test]
fn a_failed_fsync_poisons_until_remount() {
    let base = Fs::format(MemDisk::new(DISK_SECTORS)).unwrap().unmount().unwrap();
    let mut dev = FaultyDisk::new(base);
    // Flush 0 is the checkpoint that opens the mount's journal epoch (at
    // the first write); flush 1 is the sync's.
    dev.flushes = Fault::Once(1);
    let mut fs = Fs::mount(dev).unwrap();
    fs.write_file("/f", b"data").unwrap();
    assert_eq!(fs.sync(), Err(FsError::Io(BlockError::Io)));
    assert_eq!(fs.sync(), Err(FsError::Io(BlockError::Io)), "must not claim success later");
    assert_eq!(fs.read_file("/f").err(), Some(FsError::Io(BlockError::Io)));
    let dev = fs.into_device();
    let mut fs = Fs::mount(dev.disk).unwrap();
    assert!(fs.fsck().unwrap().is_clean());
    let t = read_tree(&mut fs).unwrap();
    assert!(t.is_empty() || t.get("/f") == Some(&support::Node::File(b"data".to_vec())));
}

#[test]
fn a_device_error_after_part_of_a_write_is_an_error_not_a_short_write() {
    // Guards against an error in a later chunk or step of one `write`
    // being swallowed into a short count (which `write_all` reports as
    // `NoSpace`), and against the half-written file committing later.
    const LEN: usize = 9 << 20; // more than two steps of one `write` call
    let base = Fs::format(MemDisk::new(16 << 20 >> 9 << 2)).unwrap().unmount().unwrap();
    // Write 0 is the superblock the mount's first write starts with.
    for fault_at in [2, 4, 7] {
        let mut dev = FaultyDisk::new(base.clone());
        dev.writes = Fault::Once(fault_at);
        let mut fs = Fs::mount(dev).unwrap();
        let f = fs.create("/big").unwrap();
        let data: Vec<u8> = (0..LEN).map(|i| (i / 4096) as u8).collect();
        assert_eq!(fs.write(&f, &data), Err(FsError::Io(BlockError::Io)), "fault at {fault_at}");
        assert_eq!(fs.sync(), Err(FsError::Io(BlockError::Io)), "must not commit the rest");
        let dev = fs.into_device();
        let mut fs = Fs::mount(dev.disk).unwrap();
        assert!(fs.fsck().unwrap().is_clean());
        let len = fs.metadata("/big").map(|m| m.len).unwrap_or(0);
        let back = fs.read_file("/big").unwrap_or_default();
        assert_eq!(back[..], data[..len as usize], "a committed prefix must be the data written");
    }
}
