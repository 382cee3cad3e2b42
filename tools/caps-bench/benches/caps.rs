//! Host micro-benchmarks of the capability space (`cargo bench -p caps-bench`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use caps::abi::{ObjectKind, RawHandle, Rights};
use caps::{CapSpace, Capability, Narrow, Object, SectorRange, TableId};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

const DISK_ALL: Rights = Rights::READ.union(Rights::WRITE).union(Rights::GENERIC);
/// Nodes in the revoked subtree.
const SUBTREE: usize = 1_000;
/// Unrelated capabilities alive during the revoke.
const UNRELATED: usize = 100_000;

fn disk() -> Capability {
    Capability {
        object: Object::DiskRange(SectorRange::new(0, 0, 1 << 20).unwrap()),
        rights: DISK_ALL,
        badge: 0,
    }
}

/// A space with one table holding `live` capabilities; returns one handle.
fn populated(live: usize) -> (CapSpace, TableId, RawHandle) {
    let mut space = CapSpace::new(usize::MAX);
    let t = space.create_table(live as u32 + 1, 0xC0FFEE).unwrap();
    let root = space.mint(t, disk()).unwrap();
    let mut handles = vec![root];
    for i in 1..live {
        let parent = handles[i / 2];
        handles.push(space.derive(t, parent, DISK_ALL, Narrow::Same).unwrap());
    }
    let probe = handles[live / 2];
    (space, t, probe)
}

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("lookup_hit");
    for live in [1, 10_000] {
        let (space, t, h) = populated(live);
        group.bench_with_input(BenchmarkId::from_parameter(live), &live, |b, _| {
            b.iter(|| {
                let cap =
                    space.lookup(black_box(t), black_box(h), ObjectKind::DiskRange, Rights::READ);
                black_box(cap.is_ok())
            })
        });
    }
    group.finish();

    // Every handle in turn: what the cache does with a big table.
    let (space, t, _) = populated(10_000);
    let handles: Vec<RawHandle> = space.table(t).unwrap().iter().map(|(h, _)| h).collect();
    c.bench_function("lookup_hit_all_of/10000", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % handles.len();
            let cap = space.lookup(t, black_box(handles[i]), ObjectKind::DiskRange, Rights::READ);
            black_box(cap.is_ok())
        })
    });
}

fn derive_drop(c: &mut Criterion) {
    let (mut space, t, h) = populated(1);
    c.bench_function("derive_then_drop", |b| {
        b.iter(|| {
            let child = space
                .derive(t, black_box(h), Rights::READ, Narrow::Range { offset: 8, count: 8 })
                .unwrap();
            black_box(space.drop_cap(t, child).unwrap());
        })
    });
}

/// Builds a 1,000-node subtree under `root` (random shape, across two
/// tables) and returns the time to revoke it.
fn time_revoke(
    space: &mut CapSpace,
    tables: [TableId; 2],
    root: RawHandle,
    seed: &mut u64,
) -> Duration {
    let mut nodes = vec![(tables[0], root)];
    for i in 0..SUBTREE {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let (table, parent) = nodes[(*seed >> 33) as usize % nodes.len()];
        let child = if i % 4 == 0 {
            let to = if table == tables[0] { tables[1] } else { tables[0] };
            (to, space.grant(table, parent, to, DISK_ALL).unwrap())
        } else {
            (table, space.derive(table, parent, DISK_ALL, Narrow::Same).unwrap())
        };
        nodes.push(child);
    }
    let start = Instant::now();
    let removed = space.revoke(tables[0], root, |r| {
        black_box(r);
    });
    let elapsed = start.elapsed();
    assert_eq!(removed, Ok(SUBTREE));
    elapsed
}

fn revoke(c: &mut Criterion) {
    let mut group = c.benchmark_group("revoke_1000_subtree");
    for unrelated in [0, UNRELATED] {
        let mut space = CapSpace::new(usize::MAX);
        let quota = (UNRELATED + SUBTREE + 1) as u32;
        let tables = [space.create_table(quota, 1).unwrap(), space.create_table(quota, 2).unwrap()];
        let root = space.mint(tables[0], disk()).unwrap();
        // Unrelated capabilities: their own trees, interleaved in the same
        // tables and slabs.
        let mut others: Vec<RawHandle> = Vec::with_capacity(unrelated);
        for i in 0..unrelated {
            let other = match i {
                0 => space.mint(tables[1], disk()).unwrap(),
                _ => space.derive(tables[1], others[i / 3], DISK_ALL, Narrow::Same).unwrap(),
            };
            others.push(other);
        }
        let mut seed = 7;
        group.bench_with_input(BenchmarkId::new("unrelated", unrelated), &unrelated, |b, _| {
            b.iter_custom(|iterations| {
                (0..iterations).map(|_| time_revoke(&mut space, tables, root, &mut seed)).sum()
            })
        });
        assert_eq!(space.len(), unrelated + 1);
    }
    group.finish();
}

criterion_group!(benches, lookup, derive_drop, revoke);
criterion_main!(benches);
