//! Every `CapSpace` operation and every error it can return.

use caps::abi::{Error, ObjectKind, RawHandle, Rights};
use caps::{CapSpace, Capability, Narrow, Object, ObjectId, Removed, SectorRange, TableId};

const DISK_ALL: Rights = Rights::READ.union(Rights::WRITE).union(Rights::GENERIC);
const EP_ALL: Rights = Rights::SEND.union(Rights::RECV).union(Rights::GENERIC);

fn disk(first: u64, count: u64) -> Capability {
    Capability {
        object: Object::DiskRange(SectorRange::new(0, first, count).unwrap()),
        rights: DISK_ALL,
        badge: 0,
    }
}

fn endpoint(id: u64) -> Capability {
    Capability { object: Object::Endpoint(ObjectId(id)), rights: EP_ALL, badge: 0 }
}

fn space_with_tables(n: usize) -> (CapSpace, Vec<TableId>) {
    let mut space = CapSpace::new(1 << 20);
    let tables = (0..n).map(|i| space.create_table(64, 0x5EED + i as u64).unwrap()).collect();
    (space, tables)
}

fn collect(space: &mut CapSpace, t: TableId, h: RawHandle) -> Result<Vec<Removed>, Error> {
    let mut removed = Vec::new();
    let count = space.revoke(t, h, |r| removed.push(r))?;
    assert_eq!(count, removed.len());
    Ok(removed)
}

#[test]
fn mint_then_lookup_and_info() {
    let (mut space, t) = space_with_tables(1);
    let h = space.mint(t[0], disk(100, 50)).unwrap();
    assert_ne!(h.as_raw(), 0);
    assert!(h.as_raw() < 1 << 63);
    let cap = space.lookup(t[0], h, ObjectKind::DiskRange, Rights::READ).unwrap();
    assert_eq!(*cap, disk(100, 50));
    let info = space.info(t[0], h).unwrap();
    assert_eq!((info.kind, info.first, info.count), (2, 100, 50));
    assert_eq!(space.len(), 1);
    assert_eq!(space.table(t[0]).unwrap().len(), 1);
    assert_eq!(space.table(t[0]).unwrap().iter().next(), Some((h, cap)));
    space.check_invariants().unwrap();
}

#[test]
fn mint_refuses_malformed_capabilities() {
    let (mut space, t) = space_with_tables(1);
    let mut bad_rights = disk(0, 1);
    bad_rights.rights |= Rights::SEND;
    assert_eq!(space.mint(t[0], bad_rights), Err(Error::InvalidArgument));
    let mut badged_disk = disk(0, 1);
    badged_disk.badge = 9;
    assert_eq!(space.mint(t[0], badged_disk), Err(Error::InvalidArgument));
    let empty = Capability {
        object: Object::DiskRange(SectorRange { device: 0, first: 0, count: 0 }),
        rights: Rights::READ,
        badge: 0,
    };
    assert_eq!(space.mint(t[0], empty), Err(Error::InvalidArgument));
    let wrapping = Capability {
        object: Object::DiskRange(SectorRange { device: 0, first: u64::MAX, count: 2 }),
        rights: Rights::READ,
        badge: 0,
    };
    assert_eq!(space.mint(t[0], wrapping), Err(Error::OutOfRange));
    let mut badged_endpoint = endpoint(1);
    badged_endpoint.badge = 9;
    assert!(space.mint(t[0], badged_endpoint).is_ok());
    assert_eq!(space.len(), 1);
    space.check_invariants().unwrap();
}

#[test]
fn lookup_errors_are_distinct_and_ordered() {
    let (mut space, t) = space_with_tables(2);
    let h = space.mint(t[0], endpoint(1)).unwrap();
    let lookup =
        |space: &CapSpace, table, h, kind, rights| space.lookup(table, h, kind, rights).map(|_| ());
    assert_eq!(lookup(&space, t[0], h, ObjectKind::Endpoint, Rights::SEND), Ok(()));
    assert_eq!(lookup(&space, t[0], h, ObjectKind::DiskRange, Rights::SEND), Err(Error::WrongKind));
    assert_eq!(
        lookup(&space, t[0], h, ObjectKind::Endpoint, Rights::READ),
        Err(Error::MissingRight)
    );
    assert_eq!(lookup(&space, t[0], h, ObjectKind::DiskRange, Rights::READ), Err(Error::WrongKind));
    assert_eq!(lookup(&space, t[1], h, ObjectKind::Endpoint, Rights::SEND), Err(Error::BadHandle));
    assert_eq!(
        lookup(&space, t[0], RawHandle::INVALID, ObjectKind::Endpoint, Rights::empty()),
        Err(Error::BadHandle)
    );
    space.destroy_table(t[1], |_| {}).unwrap();
    assert_eq!(lookup(&space, t[1], h, ObjectKind::Endpoint, Rights::SEND), Err(Error::PeerGone));
    assert_eq!(space.get(t[1], h), Err(Error::PeerGone));
}

#[test]
fn derive_narrows_rights_ranges_and_sets_badges() {
    let (mut space, t) = space_with_tables(1);
    let root = space.mint(t[0], disk(1000, 100)).unwrap();
    let child = space
        .derive(t[0], root, Rights::READ | Rights::DERIVE, Narrow::Range { offset: 10, count: 20 })
        .unwrap();
    let cap = *space.get(t[0], child).unwrap();
    assert_eq!(cap.rights, Rights::READ | Rights::DERIVE);
    assert_eq!(cap.object, Object::DiskRange(SectorRange::new(0, 1010, 20).unwrap()));
    // A grandchild's range is relative to its parent.
    let grandchild =
        space.derive(t[0], child, Rights::READ, Narrow::Range { offset: 19, count: 1 }).unwrap();
    let Object::DiskRange(range) = space.get(t[0], grandchild).unwrap().object else { panic!() };
    assert_eq!((range.first, range.count), (1029, 1));

    let ep = space.mint(t[0], endpoint(5)).unwrap();
    let badged = space.derive(t[0], ep, Rights::SEND | Rights::DERIVE, Narrow::Badge(77)).unwrap();
    assert_eq!(space.get(t[0], badged).unwrap().badge, 77);
    let copy = space.derive(t[0], badged, Rights::SEND, Narrow::Same).unwrap();
    assert_eq!(space.get(t[0], copy).unwrap().badge, 77);
    space.check_invariants().unwrap();
}

#[test]
fn derive_errors() {
    let (mut space, t) = space_with_tables(1);
    let root = space.mint(t[0], disk(0, 10)).unwrap();
    let no_derive = space.derive(t[0], root, Rights::READ, Narrow::Same).unwrap();
    let before = space.len();
    let d = |space: &mut CapSpace, h, rights, narrow| space.derive(t[0], h, rights, narrow);
    assert_eq!(
        d(&mut space, RawHandle::from_raw(12345), Rights::READ, Narrow::Same),
        Err(Error::BadHandle)
    );
    assert_eq!(d(&mut space, no_derive, Rights::READ, Narrow::Same), Err(Error::MissingRight));
    let read_derive = d(&mut space, root, Rights::READ | Rights::DERIVE, Narrow::Same).unwrap();
    assert_eq!(
        d(&mut space, read_derive, Rights::READ | Rights::WRITE, Narrow::Same),
        Err(Error::MissingRight)
    );
    assert_eq!(
        d(&mut space, root, Rights::READ, Narrow::Range { offset: 5, count: 6 }),
        Err(Error::OutOfRange)
    );
    assert_eq!(
        d(&mut space, root, Rights::READ, Narrow::Range { offset: 10, count: 1 }),
        Err(Error::OutOfRange)
    );
    assert_eq!(
        d(&mut space, root, Rights::READ, Narrow::Range { offset: 0, count: 0 }),
        Err(Error::InvalidArgument)
    );
    assert_eq!(d(&mut space, root, Rights::READ, Narrow::Badge(1)), Err(Error::WrongKind));
    let ep = space.mint(t[0], endpoint(1)).unwrap();
    assert_eq!(
        d(&mut space, ep, Rights::SEND, Narrow::Range { offset: 0, count: 1 }),
        Err(Error::WrongKind)
    );
    assert_eq!(d(&mut space, ep, Rights::SEND, Narrow::Badge(0)), Err(Error::InvalidArgument));
    let badged = d(&mut space, ep, EP_ALL, Narrow::Badge(3)).unwrap();
    assert_eq!(d(&mut space, badged, Rights::SEND, Narrow::Badge(4)), Err(Error::InvalidArgument));
    assert_eq!(space.len(), before + 3);
    space.check_invariants().unwrap();
}

#[test]
fn table_full_and_out_of_memory() {
    let mut space = CapSpace::new(3);
    let small = space.create_table(2, 1).unwrap();
    let other = space.create_table(10, 2).unwrap();
    let a = space.mint(small, endpoint(1)).unwrap();
    space.derive(small, a, Rights::SEND, Narrow::Same).unwrap();
    assert_eq!(space.mint(small, endpoint(2)), Err(Error::TableFull));
    assert_eq!(space.derive(small, a, Rights::SEND, Narrow::Same), Err(Error::TableFull));
    let b = space.mint(other, endpoint(3)).unwrap();
    assert_eq!(space.grant(other, b, small, Rights::SEND), Err(Error::TableFull));
    assert_eq!(space.move_cap(other, b, small), Err(Error::TableFull));
    // The space-wide limit: 3 capabilities exist.
    assert_eq!(space.mint(other, endpoint(4)), Err(Error::OutOfMemory));
    assert_eq!(space.derive(other, b, Rights::SEND, Narrow::Same), Err(Error::OutOfMemory));
    assert_eq!(space.grant(small, a, other, Rights::SEND), Err(Error::OutOfMemory));
    // A move creates nothing, so it still works at the limit.
    space.drop_cap(small, a).unwrap();
    let moved = space.move_cap(other, b, small).unwrap();
    assert!(space.get(small, moved).is_ok());
    assert_eq!(space.get(other, b), Err(Error::BadHandle));
    space.check_invariants().unwrap();
    assert_eq!(space.create_table(1 << 25, 0), Err(Error::InvalidArgument));
}

#[test]
fn grant_copies_as_a_child_and_revoke_takes_it_back() {
    let (mut space, t) = space_with_tables(3);
    let root = space.mint(t[0], disk(0, 100)).unwrap();
    let copy = space.grant(t[0], root, t[1], Rights::READ | Rights::GRANT).unwrap();
    let onward = space.grant(t[1], copy, t[2], Rights::READ).unwrap();
    assert_eq!(space.get(t[1], copy).unwrap().rights, Rights::READ | Rights::GRANT);
    assert_eq!(space.get(t[2], onward).unwrap().object, space.get(t[0], root).unwrap().object);
    space.check_invariants().unwrap();
    let removed = collect(&mut space, t[0], root).unwrap();
    let mut where_: Vec<_> = removed.iter().map(|r| (r.table, r.handle)).collect();
    where_.sort();
    let mut expected = vec![(t[1], copy), (t[2], onward)];
    expected.sort();
    assert_eq!(where_, expected);
    assert_eq!(space.get(t[1], copy), Err(Error::BadHandle));
    assert_eq!(space.get(t[2], onward), Err(Error::BadHandle));
    assert!(space.get(t[0], root).is_ok(), "revoke leaves the capability itself");
    space.check_invariants().unwrap();
}

#[test]
fn grant_errors() {
    let (mut space, t) = space_with_tables(2);
    let no_grant = Capability { rights: Rights::READ, ..disk(0, 1) };
    let h = space.mint(t[0], no_grant).unwrap();
    assert_eq!(space.grant(t[0], h, t[1], Rights::READ), Err(Error::MissingRight));
    let g = space.mint(t[0], disk(0, 1)).unwrap();
    assert_eq!(space.grant(t[0], g, t[0], Rights::READ), Err(Error::InvalidArgument));
    assert_eq!(
        space.grant(t[0], RawHandle::from_raw(3), t[1], Rights::READ),
        Err(Error::BadHandle)
    );
    let narrow = space.grant(t[0], g, t[1], Rights::READ).unwrap();
    assert_eq!(space.grant(t[1], narrow, t[0], Rights::READ), Err(Error::MissingRight));
    let grant_only = space.grant(t[0], g, t[1], Rights::GRANT).unwrap();
    assert_eq!(space.grant(t[1], grant_only, t[0], Rights::READ), Err(Error::MissingRight));
    space.destroy_table(t[1], |_| {}).unwrap();
    assert_eq!(space.grant(t[0], g, t[1], Rights::READ), Err(Error::PeerGone));
    assert_eq!(space.grant(t[1], g, t[0], Rights::READ), Err(Error::PeerGone));
    space.check_invariants().unwrap();
}

#[test]
fn move_keeps_the_capability_in_the_tree() {
    let (mut space, t) = space_with_tables(3);
    let root = space.mint(t[0], endpoint(1)).unwrap();
    let child = space.derive(t[0], root, Rights::SEND | Rights::GRANT, Narrow::Badge(5)).unwrap();
    let moved = space.move_cap(t[0], child, t[1]).unwrap();
    assert_eq!(space.get(t[0], child), Err(Error::BadHandle));
    let cap = *space.get(t[1], moved).unwrap();
    assert_eq!((cap.rights, cap.badge), (Rights::SEND | Rights::GRANT, 5));
    // Moving on keeps it under the root.
    let again = space.move_cap(t[1], moved, t[2]).unwrap();
    space.check_invariants().unwrap();
    let removed = collect(&mut space, t[0], root).unwrap();
    assert_eq!(removed.len(), 1);
    assert_eq!((removed[0].table, removed[0].handle), (t[2], again));
}

#[test]
fn move_errors() {
    let (mut space, t) = space_with_tables(2);
    let no_grant = Capability { rights: Rights::SEND, ..endpoint(1) };
    let h = space.mint(t[0], no_grant).unwrap();
    assert_eq!(space.move_cap(t[0], h, t[1]), Err(Error::MissingRight));
    assert_eq!(space.move_cap(t[0], h, t[0]), Err(Error::InvalidArgument));
    assert_eq!(space.move_cap(t[1], h, t[0]), Err(Error::BadHandle));
    assert!(space.get(t[0], h).is_ok(), "a failed move changes nothing");
    space.destroy_table(t[1], |_| {}).unwrap();
    assert_eq!(space.move_cap(t[0], h, t[1]), Err(Error::PeerGone));
}

#[test]
fn drop_reparents_children_so_revoke_still_reaches_them() {
    let (mut space, t) = space_with_tables(2);
    let root = space.mint(t[0], disk(0, 100)).unwrap();
    let mid = space.derive(t[0], root, DISK_ALL, Narrow::Range { offset: 0, count: 50 }).unwrap();
    let leaf = space.grant(t[0], mid, t[1], Rights::READ).unwrap();
    let removed = space.drop_cap(t[0], mid).unwrap();
    assert_eq!(removed.table, t[0]);
    assert_eq!(removed.handle, mid);
    assert_eq!(space.get(t[0], mid), Err(Error::BadHandle));
    assert!(space.get(t[1], leaf).is_ok(), "children outlive a dropped parent");
    space.check_invariants().unwrap();
    let revoked = collect(&mut space, t[0], root).unwrap();
    assert_eq!(revoked.iter().map(|r| r.handle).collect::<Vec<_>>(), [leaf]);
    assert_eq!(space.drop_cap(t[0], mid), Err(Error::BadHandle));
    // Dropping a root makes its children roots.
    let child = space.derive(t[0], root, Rights::READ, Narrow::Same).unwrap();
    space.drop_cap(t[0], root).unwrap();
    assert!(space.get(t[0], child).is_ok());
    space.check_invariants().unwrap();
}

#[test]
fn revoke_errors_and_scope() {
    let (mut space, t) = space_with_tables(2);
    let root = space.mint(t[0], endpoint(1)).unwrap();
    let sibling = space.mint(t[0], endpoint(1)).unwrap();
    let no_revoke = space.derive(t[0], root, Rights::SEND | Rights::DERIVE, Narrow::Same).unwrap();
    let below = space.derive(t[0], no_revoke, Rights::SEND, Narrow::Same).unwrap();
    assert_eq!(collect(&mut space, t[0], no_revoke), Err(Error::MissingRight));
    assert_eq!(collect(&mut space, t[1], root), Err(Error::BadHandle));
    assert!(space.get(t[0], below).is_ok());
    let unrelated = space.derive(t[0], sibling, Rights::SEND, Narrow::Same).unwrap();
    let removed = collect(&mut space, t[0], root).unwrap();
    assert_eq!(removed.len(), 2);
    assert!(removed.iter().all(|r| r.capability.rights.contains(Rights::SEND)));
    assert!(space.get(t[0], unrelated).is_ok(), "revoke only touches descendants");
    assert_eq!(collect(&mut space, t[0], root).unwrap().len(), 0);
    space.destroy_table(t[1], |_| {}).unwrap();
    assert_eq!(collect(&mut space, t[1], root), Err(Error::PeerGone));
    space.check_invariants().unwrap();
}

#[test]
fn destroy_table_reports_everything_and_keeps_other_tables_consistent() {
    let (mut space, t) = space_with_tables(3);
    let root = space.mint(t[0], disk(0, 10)).unwrap();
    let in_1 = space.grant(t[0], root, t[1], DISK_ALL).unwrap();
    let own = space.derive(t[1], in_1, Rights::READ | Rights::GRANT, Narrow::Same).unwrap();
    let in_2 = space.grant(t[1], own, t[2], Rights::READ).unwrap();
    let mut removed = Vec::new();
    assert_eq!(space.destroy_table(t[1], |r| removed.push(r)).unwrap(), 2);
    let mut handles: Vec<_> = removed.iter().map(|r| r.handle).collect();
    handles.sort();
    let mut expected = vec![in_1, own];
    expected.sort();
    assert_eq!(handles, expected);
    assert!(removed.iter().all(|r| r.table == t[1]));
    assert!(space.table(t[1]).is_none());
    assert_eq!(space.destroy_table(t[1], |_| {}), Err(Error::PeerGone));
    space.check_invariants().unwrap();
    // The grandchild in table 2 now hangs under the root.
    assert_eq!(collect(&mut space, t[0], root).unwrap()[0].handle, in_2);
    // A new table reusing the index gets a different id.
    let fresh = space.create_table(4, 9).unwrap();
    assert_ne!(fresh, t[1]);
    assert_eq!(space.table_count(), 3);
}

#[test]
fn stale_handles_never_revive() {
    let (mut space, t) = space_with_tables(1);
    let mut stale = Vec::new();
    for i in 0..1000 {
        let h = space.mint(t[0], endpoint(i)).unwrap();
        assert!(!stale.contains(&h));
        for old in stale.iter().rev().take(10) {
            assert_eq!(space.get(t[0], *old), Err(Error::BadHandle));
        }
        space.drop_cap(t[0], h).unwrap();
        stale.push(h);
    }
}

#[test]
fn handles_of_one_table_do_not_resolve_in_another() {
    let mut space = CapSpace::new(1 << 20);
    let a = space.create_table(1000, 1).unwrap();
    let b = space.create_table(1000, 2).unwrap();
    let in_a: Vec<_> = (0..1000).map(|i| space.mint(a, endpoint(i)).unwrap()).collect();
    let in_b: Vec<_> = (0..1000).map(|i| space.mint(b, endpoint(i)).unwrap()).collect();
    for h in &in_a {
        assert_eq!(space.get(b, *h), Err(Error::BadHandle));
        assert!(!in_b.contains(h));
    }
}

#[test]
fn a_failed_operation_changes_nothing() {
    let (mut space, t) = space_with_tables(2);
    let root = space.mint(t[0], disk(0, 10)).unwrap();
    let before: Vec<_> = space.table(t[0]).unwrap().iter().map(|(h, c)| (h, *c)).collect();
    let _ = space.derive(t[0], root, Rights::all(), Narrow::Same);
    let _ = space.derive(t[0], root, Rights::READ, Narrow::Range { offset: 9, count: 2 });
    let _ = space.grant(t[0], root, t[0], Rights::READ);
    let _ = space.move_cap(t[0], root, t[0]);
    let after: Vec<_> = space.table(t[0]).unwrap().iter().map(|(h, c)| (h, *c)).collect();
    assert_eq!(before, after);
    assert_eq!(space.len(), 1);
    assert!(space.table(t[1]).unwrap().is_empty());
    space.check_invariants().unwrap();
}

#[test]
fn audit_lists_every_capability_with_its_parent() {
    let (mut space, t) = space_with_tables(2);
    let root = space.mint(t[0], disk(0, 100)).unwrap();
    let child = space
        .derive(t[0], root, Rights::READ | Rights::GRANT, Narrow::Range { offset: 10, count: 5 })
        .unwrap();
    let copy = space.grant(t[0], child, t[1], Rights::READ).unwrap();
    let audited: Vec<_> = space.audit().collect();
    assert_eq!(audited.len(), 3);
    let find = |table: TableId, handle| {
        audited.iter().find(|a| a.table == table && a.handle == handle).unwrap()
    };
    assert!(find(t[0], root).parent.is_none());
    assert_eq!(find(t[0], child).parent, Some(find(t[0], root).capability));
    assert_eq!(find(t[1], copy).parent, Some(find(t[0], child).capability));
    // Revoking the root leaves it alone, a root again in the audit.
    space.revoke(t[0], root, |_| {}).unwrap();
    let audited: Vec<_> = space.audit().collect();
    assert_eq!(audited.len(), 1);
    assert!(audited[0].parent.is_none());
}

#[test]
fn park_kills_the_handle_and_unpark_brings_the_capability_back_under_a_new_one() {
    let (mut space, t) = space_with_tables(2);
    let h = space.mint(t[0], endpoint(3)).unwrap();
    assert_eq!(space.len(), 1);
    space.park(t[0], h).unwrap();
    assert_eq!(space.len(), 0);
    assert_eq!(space.get(t[0], h), Err(Error::BadHandle));
    assert_eq!(space.drop_cap(t[0], h).map(|_| ()), Err(Error::BadHandle));
    assert_eq!(space.parked(t[0]), Some(&endpoint(3)));
    assert_eq!(space.table(t[0]).unwrap().iter().count(), 0);
    space.check_invariants().unwrap();
    // One parked capability per table.
    let other = space.mint(t[0], endpoint(4)).unwrap();
    assert_eq!(space.park(t[0], other), Err(Error::TableFull));
    assert!(space.get(t[0], other).is_ok());
    // Nothing parked elsewhere.
    assert_eq!(space.unpark(t[1]), None);
    let (again, cap) = space.unpark(t[0]).unwrap();
    assert_eq!(cap, endpoint(3));
    assert_ne!(again, h);
    assert_eq!(space.lookup(t[0], again, ObjectKind::Endpoint, Rights::SEND), Ok(&endpoint(3)));
    assert_eq!(space.get(t[0], h), Err(Error::BadHandle));
    assert_eq!(space.len(), 2);
    assert_eq!(space.unpark(t[0]), None);
    space.check_invariants().unwrap();
}

#[test]
fn only_a_capability_with_no_relatives_is_parked() {
    let (mut space, t) = space_with_tables(2);
    let root = space.mint(t[0], endpoint(1)).unwrap();
    let child = space.derive(t[0], root, Rights::SEND | Rights::GRANT, Narrow::Same).unwrap();
    assert_eq!(space.park(t[0], root), Err(Error::InvalidArgument));
    assert_eq!(space.park(t[0], child), Err(Error::InvalidArgument));
    assert_eq!(space.park(t[1], root), Err(Error::BadHandle));
    assert!(space.get(t[0], root).is_ok() && space.get(t[0], child).is_ok());
    // Its child gone, the root is alone: it parks, and a revoke of
    // anything else does not reach it.
    space.drop_cap(t[0], child).unwrap();
    space.park(t[0], root).unwrap();
    let other = space.mint(t[0], endpoint(2)).unwrap();
    assert_eq!(collect(&mut space, t[0], other).unwrap(), vec![]);
    assert_eq!(space.parked(t[0]), Some(&endpoint(1)));
}

#[test]
fn a_parked_capability_is_reported_when_its_table_goes_and_leaves_no_room_taken() {
    let mut space = CapSpace::new(2);
    let t = space.create_table(1, 7).unwrap();
    let h = space.mint(t, endpoint(1)).unwrap();
    space.park(t, h).unwrap();
    // It takes no room in its table (quota 1), but a place in the space.
    let other = space.mint(t, endpoint(2)).unwrap();
    let u = space.create_table(4, 8).unwrap();
    assert_eq!(space.mint(u, endpoint(3)).map(|_| ()), Err(Error::OutOfMemory));
    // A full table does not take it back.
    assert_eq!(space.unpark(t), None);
    let mut removed = Vec::new();
    assert_eq!(space.destroy_table(t, |r| removed.push(r)).unwrap(), 2);
    let caps: Vec<_> = removed.iter().map(|r| r.capability).collect();
    assert!(caps.contains(&endpoint(1)) && caps.contains(&endpoint(2)));
    assert!(removed.iter().all(|r| r.handle != h));
    assert!(removed.iter().any(|r| r.handle == other));
    assert_eq!(space.len(), 0);
    space.check_invariants().unwrap();
    assert!(space.mint(u, endpoint(3)).is_ok());
}
