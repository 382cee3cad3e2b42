//! Crash consistency. Each workload runs on a device that logs every write
//! and flush; then every crash state is rebuilt: the image as of each flush
//! plus a subset of the writes issued after it (some torn at sector
//! granularity). Each state must mount, pass fsck, and equal the model
//! after some operation no earlier than the last completed fsync/sync and
//! no later than the last operation that reached the device. That one check
//! covers: no lost fsynced data, atomic renames, and no file showing bytes
//! it was never given.
//!
//! `FS_CRASH_FULL=1` checks many more states per flush point.

#[path = "fs_support.rs"]
mod support;

use libos::block::{MemDisk, SECTOR_SIZE};
use libos::fs::Fs;
use support::{Event, Model, Op, OverlayDisk, RecordingDisk, Rng, Tree, read_tree};

/// 1 MiB: the smallest file system, so journal wrap and checkpoints happen.
const SMALL_DISK: u64 = 256 * 8;
/// 4 MiB for the long random runs.
const RANDOM_DISK: u64 = 1024 * 8;

fn full_mode() -> bool {
    std::env::var("FS_CRASH_FULL").is_ok_and(|v| v == "1")
}

/// A recorded workload.
struct Recorded {
    base: Vec<u8>,
    log: Vec<Event>,
    /// `snapshots[j]`: the model after `j` ops (0 = after setup).
    snapshots: Vec<Tree>,
    /// `(j, flushes)`: op `j` was a successful fsync/sync, complete once
    /// `flushes` flushes had been issued.
    durable: Vec<(usize, usize)>,
}

fn record(sectors: u64, setup: &[Op], ops: &[Op]) -> Recorded {
    let mut fs = Fs::format(MemDisk::new(sectors)).unwrap();
    let mut model = Model::default();
    for op in setup {
        let r = op.run(&mut fs);
        assert_eq!(r, model.apply(op, &r), "setup {op:?}");
    }
    let base = fs.unmount().unwrap().into_vec();
    let rec = RecordingDisk::new(MemDisk::from_vec(base.clone()));
    let (log, tag) = (rec.log.clone(), rec.op.clone());
    let mut fs = Fs::mount(rec).unwrap();
    let mut snapshots = vec![model.tree.clone()];
    let mut durable = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        tag.set(i + 1);
        let got = op.run(&mut fs);
        assert_eq!(got, model.apply(op, &got), "op {i} {op:?}");
        snapshots.push(model.tree.clone());
        if got.is_ok() && op.is_durability_point() {
            let flushes = log.borrow().iter().filter(|e| matches!(e, Event::Flush { .. })).count();
            durable.push((i + 1, flushes));
        }
    }
    drop(fs);
    let log = log.take();
    Recorded { base, log, snapshots, durable }
}

/// How many states to try per flush point.
struct Budget {
    /// Enumerate every subset when an epoch has at most this many writes.
    exhaustive_upto: usize,
    /// Otherwise, this many random subsets.
    random: usize,
    /// And this many random states with torn multi-sector writes.
    torn: usize,
}

/// Checks every crash state of `r`; returns how many were checked.
fn check_crashes(r: &Recorded, budget: &Budget, rng: &mut Rng) -> usize {
    let mut durable = MemDisk::from_vec(r.base.clone());
    let mut checked = 0;
    let mut flushes_done = 0;
    let mut max_op = 0;
    let mut i = 0;
    loop {
        // Epoch: the writes after `flushes_done` flushes, up to the next flush.
        let mut writes: Vec<(u64, &[u8])> = Vec::new();
        while let Some(Event::Write { sector, data, op }) = r.log.get(i) {
            writes.push((*sector, data));
            max_op = max_op.max(*op);
            i += 1;
        }
        let lower = r
            .durable
            .iter()
            .filter(|(_, f)| *f <= flushes_done)
            .map(|(j, _)| *j)
            .max()
            .unwrap_or(0);
        let upper = max_op.max(lower);
        let n = writes.len();
        let mut states: Vec<Vec<u8>> = vec![vec![0; n], vec![1; n]];
        if n <= budget.exhaustive_upto {
            for mask in 1..(1u64 << n).saturating_sub(1) {
                states.push((0..n).map(|k| ((mask >> k) & 1) as u8).collect());
            }
        } else {
            for _ in 0..budget.random {
                states.push((0..n).map(|_| rng.below(2) as u8).collect());
            }
        }
        for _ in 0..budget.torn {
            states.push((0..n).map(|_| rng.below(3) as u8).collect());
        }
        for state in &states {
            let mut img = OverlayDisk::new(durable.as_bytes());
            for (k, &(sector, data)) in writes.iter().enumerate() {
                let sectors = data.len() / SECTOR_SIZE;
                for s in 0..sectors {
                    let keep = match state[k] {
                        0 => false,
                        1 => true,
                        _ => rng.below(2) == 1,
                    };
                    if keep {
                        img.put(sector + s as u64, &data[s * SECTOR_SIZE..(s + 1) * SECTOR_SIZE]);
                    }
                }
            }
            check_state(img, r, lower, upper);
            checked += 1;
        }
        for (sector, data) in &writes {
            use libos::block::BlockDevice;
            durable.write(*sector, data).unwrap();
        }
        match r.log.get(i) {
            Some(Event::Flush { op }) => {
                max_op = max_op.max(*op);
                flushes_done += 1;
                i += 1;
            }
            _ => break,
        }
    }
    checked
}

fn check_state(img: OverlayDisk<'_>, r: &Recorded, lower: usize, upper: usize) {
    let mut fs = match Fs::mount(img) {
        Ok(fs) => fs,
        Err(e) => panic!("crash image does not mount: {e:?}"),
    };
    let report = fs.fsck().unwrap();
    assert!(report.is_clean(), "fsck after crash: {:?}", report.problems);
    let tree = read_tree(&mut fs).unwrap();
    if !(lower..=upper).any(|j| r.snapshots[j] == tree) {
        panic!(
            "crash state matches no model state in ops {lower}..={upper}\n got: {:?}\n lower: {:?}",
            summarize(&tree),
            summarize(&r.snapshots[lower])
        );
    }
}

fn summarize(t: &Tree) -> Vec<(String, Option<usize>)> {
    t.iter()
        .map(|(k, v)| {
            let len = match v {
                support::Node::Dir => None,
                support::Node::File(d) => Some(d.len()),
            };
            (k.clone(), len)
        })
        .collect()
}

fn bounded_ops() -> Vec<Op> {
    vec![
        Op::Create("/c".into()),
        Op::Write { path: "/a".into(), off: 2000, len: 5000, seed: 11 },
        Op::Write { path: "/c".into(), off: 0, len: 4096, seed: 12 },
        Op::Append { path: "/b".into(), len: 3000, seed: 13 },
        Op::Fsync("/a".into()),
        Op::Fsync("/c".into()),
        Op::Rename("/a".into(), "/b".into()),
        Op::Rename("/c".into(), "/d/c".into()),
        Op::RemoveFile("/a".into()),
        Op::Mkdir("/d".into()),
        Op::Sync,
    ]
}

fn bounded_setup() -> Vec<Op> {
    vec![
        Op::Write { path: "/a".into(), off: 0, len: 0, seed: 0 },
        Op::Create("/a".into()),
        Op::Append { path: "/a".into(), len: 6000, seed: 1 },
        Op::Create("/b".into()),
        Op::Append { path: "/b".into(), len: 3000, seed: 2 },
    ]
}

/// Every sequence of up to three operations (ACE-style bounded workloads).
#[test]
fn crash_every_sequence_of_up_to_three_ops() {
    let ops = bounded_ops();
    let budget = if full_mode() {
        Budget { exhaustive_upto: 10, random: 256, torn: 32 }
    } else {
        Budget { exhaustive_upto: 3, random: 4, torn: 2 }
    };
    let mut rng = Rng(0x5EED_0001);
    let mut workloads = 0;
    let mut states = 0;
    let k = ops.len();
    for len in 1..=3u32 {
        for mut code in 0..k.pow(len) {
            let mut seq = Vec::new();
            for _ in 0..len {
                seq.push(ops[code % k].clone());
                code /= k;
            }
            let r = record(SMALL_DISK, &bounded_setup(), &seq);
            states += check_crashes(&r, &budget, &mut rng);
            workloads += 1;
        }
    }
    assert_eq!(workloads, k + k * k + k * k * k);
    println!("bounded: {workloads} workloads, {states} crash states");
}

fn random_op(rng: &mut Rng) -> Op {
    const PATHS: &[&str] = &["/a", "/b", "/c", "/d", "/d/a", "/d/b", "/e", "/e/f"];
    let p = |rng: &mut Rng| PATHS[rng.below(PATHS.len() as u64) as usize].to_string();
    match rng.below(100) {
        0..=14 => Op::Create(p(rng)),
        15..=39 => Op::Write {
            path: p(rng),
            off: rng.below(24_000),
            len: rng.below(9000) as usize,
            seed: rng.below(256) as u8,
        },
        40..=51 => {
            Op::Append { path: p(rng), len: rng.below(5000) as usize, seed: rng.below(256) as u8 }
        }
        52..=57 => Op::Truncate { path: p(rng), len: rng.below(20_000) },
        58..=65 => Op::Mkdir(p(rng)),
        66..=72 => Op::RemoveFile(p(rng)),
        73..=76 => Op::RemoveDir(p(rng)),
        77..=89 => Op::Rename(p(rng), p(rng)),
        90..=95 => Op::Fsync(p(rng)),
        _ => Op::Sync,
    }
}

/// Long random workloads.
#[test]
fn crash_random_500_op_runs() {
    let runs = if full_mode() { 400 } else { 100 };
    let budget = if full_mode() {
        Budget { exhaustive_upto: 6, random: 16, torn: 8 }
    } else {
        Budget { exhaustive_upto: 1, random: 1, torn: 1 }
    };
    let mut states = 0;
    for run in 0..runs {
        let mut rng = Rng(0xC0FF_EE00 + run);
        let ops: Vec<Op> = (0..500).map(|_| random_op(&mut rng)).collect();
        let r = record(RANDOM_DISK, &[], &ops);
        states += check_crashes(&r, &budget, &mut rng);
    }
    println!("random: {runs} runs, {states} crash states");
}
