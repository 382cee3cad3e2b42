//! Edge cases: deep chains, wide trees, ranges at the top of `u64`.

use caps::abi::{Error, RawHandle, Rights};
use caps::{CapSpace, Capability, Narrow, Object, ObjectId, SectorRange, TableId};

/// Deep enough that a recursive walk would overflow a test thread's stack.
const DEPTH: usize = 100_000;

const DISK_ALL: Rights = Rights::READ.union(Rights::WRITE).union(Rights::GENERIC);

fn endpoint() -> Capability {
    Capability {
        object: Object::Endpoint(ObjectId(1)),
        rights: Rights::SEND.union(Rights::GENERIC),
        badge: 0,
    }
}

fn disk(first: u64, count: u64) -> Capability {
    Capability {
        object: Object::DiskRange(SectorRange::new(0, first, count).unwrap()),
        rights: DISK_ALL,
        badge: 0,
    }
}

/// A chain root -> c1 -> ... -> c(DEPTH-1), alternating between two tables.
fn chain() -> (CapSpace, [TableId; 2], Vec<RawHandle>) {
    let mut space = CapSpace::new(usize::MAX);
    let tables = [
        space.create_table(DEPTH as u32, 1).unwrap(),
        space.create_table(DEPTH as u32, 2).unwrap(),
    ];
    let mut handles = vec![space.mint(tables[0], endpoint()).unwrap()];
    for i in 1..DEPTH {
        let parent = handles[i - 1];
        let from = tables[(i - 1) % 2];
        let to = tables[i % 2];
        handles.push(space.grant(from, parent, to, endpoint().rights).unwrap());
    }
    (space, tables, handles)
}

#[test]
fn a_deep_chain_is_revoked_without_recursion() {
    let (mut space, tables, handles) = chain();
    space.check_invariants().unwrap();
    let mut count = 0;
    let removed = space.revoke(tables[0], handles[0], |_| count += 1).unwrap();
    assert_eq!(removed, DEPTH - 1);
    assert_eq!(count, DEPTH - 1);
    assert_eq!(space.len(), 1);
    assert_eq!(space.get(tables[1], handles[DEPTH - 1]), Err(Error::BadHandle));
    space.check_invariants().unwrap();
}

#[test]
fn a_deep_chain_revoked_from_the_middle_keeps_the_top() {
    let (mut space, tables, handles) = chain();
    let middle = DEPTH / 2;
    let removed = space.revoke(tables[middle % 2], handles[middle], |_| {}).unwrap();
    assert_eq!(removed, DEPTH - middle - 1);
    assert_eq!(space.len(), middle + 1);
    space.check_invariants().unwrap();
}

#[test]
fn a_deep_chain_is_dropped_from_either_end() {
    let (mut space, tables, handles) = chain();
    for i in (0..DEPTH).rev().step_by(2) {
        space.drop_cap(tables[i % 2], handles[i]).unwrap();
    }
    space.check_invariants().unwrap();
    for i in (0..DEPTH).filter(|i| (DEPTH - 1 - i) % 2 == 1) {
        space.drop_cap(tables[i % 2], handles[i]).unwrap();
    }
    assert!(space.is_empty());
    space.check_invariants().unwrap();
}

#[test]
fn a_deep_chain_survives_table_destruction_and_drop() {
    let (mut space, tables, handles) = chain();
    let removed = space.destroy_table(tables[1], |_| {}).unwrap();
    assert_eq!(removed, DEPTH / 2);
    space.check_invariants().unwrap();
    // Table 0's half is now a chain of its own, still under the root.
    assert_eq!(space.revoke(tables[0], handles[0], |_| {}).unwrap(), DEPTH / 2 - 1);
    let (space, _, _) = chain();
    drop(space);
}

#[test]
fn a_deep_chain_in_one_table_is_destroyed() {
    let mut space = CapSpace::new(usize::MAX);
    let t = space.create_table(DEPTH as u32, 3).unwrap();
    let mut h = space.mint(t, endpoint()).unwrap();
    for _ in 1..DEPTH {
        h = space.derive(t, h, endpoint().rights, Narrow::Same).unwrap();
    }
    assert_eq!(space.destroy_table(t, |_| {}).unwrap(), DEPTH);
    assert!(space.is_empty());
    space.check_invariants().unwrap();
}

#[test]
fn a_wide_tree_is_revoked_and_reparented() {
    let mut space = CapSpace::new(usize::MAX);
    let t = space.create_table(2 * DEPTH as u32, 4).unwrap();
    let root = space.mint(t, endpoint()).unwrap();
    let mid = space.derive(t, root, endpoint().rights, Narrow::Same).unwrap();
    let children: Vec<_> =
        (0..DEPTH).map(|_| space.derive(t, mid, Rights::SEND, Narrow::Same).unwrap()).collect();
    space.check_invariants().unwrap();
    space.drop_cap(t, mid).unwrap();
    space.check_invariants().unwrap();
    assert!(space.get(t, children[DEPTH / 2]).is_ok());
    assert_eq!(space.revoke(t, root, |_| {}).unwrap(), DEPTH);
    assert_eq!(space.len(), 1);
    space.check_invariants().unwrap();
}

#[test]
fn ranges_at_the_top_of_u64() {
    let mut space = CapSpace::new(100);
    let t = space.create_table(100, 5).unwrap();
    let top = space.mint(t, disk(u64::MAX, 1)).unwrap();
    let same = space.derive(t, top, DISK_ALL, Narrow::Range { offset: 0, count: 1 }).unwrap();
    let Object::DiskRange(range) = space.get(t, same).unwrap().object else {
        panic!("kind changed")
    };
    assert_eq!((range.first, range.last()), (u64::MAX, u64::MAX));
    assert_eq!(range.translate(0, 1), Ok(u64::MAX));
    assert_eq!(range.translate(1, 1), Err(Error::OutOfRange));
    assert_eq!(range.translate(0, 2), Err(Error::OutOfRange));
    for (offset, count) in [(1, 1), (0, 2), (u64::MAX, 1), (1, u64::MAX), (u64::MAX, u64::MAX)] {
        assert_eq!(
            space.derive(t, top, Rights::READ, Narrow::Range { offset, count }),
            Err(Error::OutOfRange),
            "({offset}, {count})"
        );
    }

    let whole = space.mint(t, disk(1, u64::MAX)).unwrap();
    let last =
        space.derive(t, whole, DISK_ALL, Narrow::Range { offset: u64::MAX - 1, count: 1 }).unwrap();
    assert_eq!(space.info(t, last).unwrap().first, u64::MAX);
    assert_eq!(
        space.derive(t, whole, Rights::READ, Narrow::Range { offset: u64::MAX - 1, count: 2 }),
        Err(Error::OutOfRange)
    );
    assert_eq!(
        space.derive(t, whole, Rights::READ, Narrow::Range { offset: 2, count: u64::MAX - 1 }),
        Err(Error::OutOfRange)
    );
    let tail = space
        .derive(t, whole, Rights::READ, Narrow::Range { offset: 1, count: u64::MAX - 1 })
        .unwrap();
    assert_eq!(space.info(t, tail).unwrap().first, 2);
    space.check_invariants().unwrap();
}

#[test]
fn zero_length_ranges_are_refused_everywhere() {
    let mut space = CapSpace::new(100);
    let t = space.create_table(100, 6).unwrap();
    let empty = Capability {
        object: Object::DiskRange(SectorRange { device: 0, first: 5, count: 0 }),
        rights: Rights::READ,
        badge: 0,
    };
    assert_eq!(space.mint(t, empty), Err(Error::InvalidArgument));
    let whole = space.mint(t, disk(0, 10)).unwrap();
    for offset in [0, 5, 10, 11, u64::MAX] {
        assert_eq!(
            space.derive(t, whole, Rights::READ, Narrow::Range { offset, count: 0 }),
            Err(Error::InvalidArgument)
        );
    }
    let range = SectorRange::new(0, 0, 10).unwrap();
    assert_eq!(range.translate(0, 0), Err(Error::InvalidArgument));
    assert_eq!(space.len(), 1);
}
