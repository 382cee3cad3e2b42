//! A state-machine property test of `CapSpace` against a reference model.
//!
//! Random sequences of mint / derive / grant / move / drop / revoke /
//! park / unpark / lookup / table destruction over several tables are applied to the
//! implementation and to a deliberately simple model (a map of capabilities
//! with parent links, wide integer arithmetic for ranges). After every step
//! the two must agree on every result, including exact error codes and the
//! set of removed capabilities, and: every live capability resolves to what
//! the model says; stale handles and handles of other tables never resolve;
//! every capability is within its parent; `check_invariants()` passes.
//!
//! The number of sequences is proptest's default (256) or `PROPTEST_CASES`
//! (the Makefile's full run sets 10000).

use std::collections::{BTreeMap, BTreeSet};

use caps::abi::{Error, ObjectKind, RawHandle, Rights};
use caps::{CapSpace, Capability, Narrow, Object, ObjectId, Removed, SectorRange, TableId};
use proptest::prelude::*;

const TABLES: usize = 3;
const QUOTA: u32 = 6;
const MAX_CAPABILITIES: usize = 15;
const MAX_OPS: usize = 100;
/// One pick in this many may name a stale handle.
const STALE_PICK_ODDS: usize = 8;
/// How many stale handles per table are re-checked after each step.
const STALE_CHECKED: usize = 40;

#[derive(Clone, Debug)]
enum Op {
    Mint { table: usize, object: Object, rights: Ask, badge: u64 },
    Derive { table: usize, pick: usize, rights: Ask, narrow: Narrow },
    Grant { table: usize, pick: usize, to: usize, rights: Ask },
    Move { table: usize, pick: usize, to: usize },
    Drop { table: usize, pick: usize },
    Revoke { table: usize, pick: usize },
    Lookup { table: usize, pick: usize, kind: ObjectKind, rights: Rights },
    Garbage { table: usize, raw: u64 },
    Recreate { table: usize },
    Park { table: usize, pick: usize },
    Unpark { table: usize },
}

fn rights() -> impl Strategy<Value = Rights> {
    // Mostly the rights that matter for the objects below.
    let useful = Rights::READ | Rights::WRITE | Rights::SEND | Rights::GENERIC;
    prop_oneof![
        4 => any::<u32>().prop_map(move |bits| Rights::from_bits_truncate(bits) & useful),
        1 => any::<u32>().prop_map(Rights::from_bits_truncate),
        1 => Just(useful),
    ]
}

/// The rights a derive or grant asks for.
#[derive(Clone, Copy, Debug)]
enum Ask {
    /// The source's rights, masked (usually a valid request).
    Masked(Rights),
    /// Exactly these (often more than the source holds).
    Exactly(Rights),
}

fn ask() -> impl Strategy<Value = Ask> {
    prop_oneof![
        4 => any::<u32>().prop_map(|bits| Ask::Masked(Rights::from_bits_truncate(bits) | Rights::GENERIC)),
        2 => any::<u32>().prop_map(|bits| Ask::Masked(Rights::from_bits_truncate(bits))),
        1 => rights().prop_map(Ask::Exactly),
    ]
}

fn span() -> impl Strategy<Value = (u64, u64)> {
    prop_oneof![
        6 => (0u64..8, 1u64..16),
        1 => (0u64..8, Just(0)),
        1 => (u64::MAX - 8..=u64::MAX, 0u64..10),
        1 => (any::<u64>(), any::<u64>()),
    ]
}

fn object() -> impl Strategy<Value = Object> {
    prop_oneof![
        span().prop_map(|(first, count)| Object::DiskRange(SectorRange {
            device: (first % 2) as u32,
            first,
            count
        })),
        (0u64..3).prop_map(|id| Object::Memory(ObjectId(id))),
        (0u64..3).prop_map(|id| Object::Endpoint(ObjectId(id))),
        Just(Object::Console(ObjectId(0))),
    ]
}

fn narrow() -> impl Strategy<Value = Narrow> {
    prop_oneof![
        2 => Just(Narrow::Same),
        3 => (0u64..18, 0u64..18).prop_map(|(offset, count)| Narrow::Range { offset, count }),
        1 => (any::<u64>(), any::<u64>()).prop_map(|(offset, count)| Narrow::Range { offset, count }),
        2 => (0u64..3).prop_map(Narrow::Badge),
    ]
}

fn kind() -> impl Strategy<Value = ObjectKind> {
    prop::sample::select(ObjectKind::ALL.to_vec())
}

fn op() -> impl Strategy<Value = Op> {
    let t = || 0..TABLES;
    let pick = any::<usize>;
    // An offset to another table (rarely 0: the same table).
    let other = || prop_oneof![8 => 1..TABLES, 1 => Just(0)];
    prop_oneof![
        12 => (t(), object(), ask(), prop_oneof![3 => Just(0u64), 1 => 0u64..3])
            .prop_map(|(table, object, rights, badge)| Op::Mint { table, object, rights, badge }),
        16 => (t(), pick(), ask(), narrow())
            .prop_map(|(table, pick, rights, narrow)| Op::Derive { table, pick, rights, narrow }),
        10 => (t(), pick(), other(), ask())
            .prop_map(|(table, pick, to, rights)| Op::Grant { table, pick, to: (table + to) % TABLES, rights }),
        4 => (t(), pick(), other()).prop_map(|(table, pick, to)| Op::Move { table, pick, to: (table + to) % TABLES }),
        4 => (t(), pick()).prop_map(|(table, pick)| Op::Drop { table, pick }),
        8 => (t(), pick()).prop_map(|(table, pick)| Op::Revoke { table, pick }),
        6 => (t(), pick(), kind(), rights())
            .prop_map(|(table, pick, kind, rights)| Op::Lookup { table, pick, kind, rights }),
        1 => (t(), any::<u64>()).prop_map(|(table, raw)| Op::Garbage { table, raw }),
        1 => t().prop_map(|table| Op::Recreate { table }),
        4 => (t(), pick()).prop_map(|(table, pick)| Op::Park { table, pick }),
        4 => t().prop_map(|table| Op::Unpark { table }),
    ]
}

/// One capability in the model.
#[derive(Clone, Debug)]
struct MCap {
    table: usize,
    handle: RawHandle,
    cap: Capability,
    parent: Option<usize>,
}

#[derive(Debug)]
struct MTable {
    id: TableId,
    /// Live handles to model ids.
    live: BTreeMap<RawHandle, usize>,
    /// Every handle ever issued in this table, in order.
    issued: Vec<RawHandle>,
    /// Its parked capability: no handle, no table room, but a place in
    /// the space's limit.
    parked: Option<Capability>,
}

struct Harness {
    space: CapSpace,
    tables: Vec<MTable>,
    caps: BTreeMap<usize, MCap>,
    next_id: usize,
    /// Handles of destroyed tables, which must resolve nowhere.
    dead: Vec<RawHandle>,
    secret: u64,
}

/// The model's own range arithmetic, in `u128` so nothing can wrap.
fn span_ok(first: u64, count: u64) -> Result<(), Error> {
    if count == 0 {
        Err(Error::InvalidArgument)
    } else if u128::from(first) + u128::from(count) - 1 > u128::from(u64::MAX) {
        Err(Error::OutOfRange)
    } else {
        Ok(())
    }
}

fn model_within(child: &Capability, parent: &Capability) -> bool {
    let nested = |(f, c): (u64, u64), (pf, pc): (u64, u64)| {
        u128::from(f) >= u128::from(pf)
            && u128::from(f) + u128::from(c) <= u128::from(pf) + u128::from(pc)
    };
    let object = match (child.object, parent.object) {
        (Object::DiskRange(a), Object::DiskRange(b)) => {
            a.device == b.device && nested((a.first, a.count), (b.first, b.count))
        }
        (a, b) => a == b,
    };
    object
        && parent.rights.contains(child.rights)
        && (child.badge == parent.badge || parent.badge == 0)
}

fn model_narrow(parent: &Capability, narrow: Narrow) -> Result<(Object, u64), Error> {
    match narrow {
        Narrow::Same => Ok((parent.object, parent.badge)),
        Narrow::Range { offset, count } => {
            let (first, total) = match parent.object {
                Object::DiskRange(r) => (r.first, r.count),
                _ => return Err(Error::WrongKind),
            };
            if count == 0 {
                return Err(Error::InvalidArgument);
            }
            if u128::from(offset) + u128::from(count) > u128::from(total) {
                return Err(Error::OutOfRange);
            }
            let first = first + offset;
            let Object::DiskRange(r) = parent.object else {
                unreachable!("only disk ranges have sub-ranges")
            };
            Ok((Object::DiskRange(SectorRange { first, count, ..r }), parent.badge))
        }
        Narrow::Badge(badge) => {
            if !matches!(parent.object, Object::Endpoint(_)) {
                Err(Error::WrongKind)
            } else if badge == 0 || parent.badge != 0 {
                Err(Error::InvalidArgument)
            } else {
                Ok((parent.object, badge))
            }
        }
    }
}

impl Harness {
    fn new() -> Harness {
        let mut space = CapSpace::new(MAX_CAPABILITIES);
        let tables = (0..TABLES)
            .map(|i| MTable {
                id: space.create_table(QUOTA, i as u64 * 0x1234_5678_9ABC).unwrap(),
                live: BTreeMap::new(),
                issued: Vec::new(),
                parked: None,
            })
            .collect();
        Harness { space, tables, caps: BTreeMap::new(), next_id: 0, dead: Vec::new(), secret: 99 }
    }

    /// A handle of `table`: one ever issued there (live or stale), or a
    /// garbage value if none was.
    /// A handle of `table` chosen by `pick`: usually a live one, else one
    /// ever issued there (possibly stale), or a garbage value if none was.
    fn pick(&self, table: usize, pick: usize) -> RawHandle {
        let t = &self.tables[table];
        if !pick.is_multiple_of(STALE_PICK_ODDS) && !t.live.is_empty() {
            let index = pick / STALE_PICK_ODDS % t.live.len();
            *t.live.keys().nth(index).unwrap()
        } else if t.issued.is_empty() {
            RawHandle::from_raw(pick as u64)
        } else {
            t.issued[pick % t.issued.len()]
        }
    }

    /// The rights `ask` stands for, given the source handle.
    fn asked(&self, table: usize, handle: RawHandle, ask: Ask) -> Rights {
        match (ask, self.resolve(table, handle)) {
            (Ask::Masked(mask), Ok(id)) => self.caps[&id].cap.rights & mask,
            (Ask::Masked(rights) | Ask::Exactly(rights), _) => rights,
        }
    }

    fn resolve(&self, table: usize, handle: RawHandle) -> Result<usize, Error> {
        self.tables[table].live.get(&handle).copied().ok_or(Error::BadHandle)
    }

    fn room(&self, table: usize) -> Result<(), Error> {
        if self.tables[table].live.len() >= QUOTA as usize {
            Err(Error::TableFull)
        } else if self.caps.len() + self.parked() >= MAX_CAPABILITIES {
            Err(Error::OutOfMemory)
        } else {
            Ok(())
        }
    }

    /// How many tables hold a parked capability.
    fn parked(&self) -> usize {
        self.tables.iter().filter(|t| t.parked.is_some()).count()
    }

    /// Records a capability the implementation created.
    fn add(&mut self, table: usize, handle: RawHandle, cap: Capability, parent: Option<usize>) {
        assert_ne!(handle.as_raw(), 0, "handle 0 issued");
        assert!(handle.as_raw() < 1 << 63, "handle in the error band");
        assert!(!self.tables[table].issued.contains(&handle), "handle value reissued: {handle:?}");
        let id = self.next_id;
        self.next_id += 1;
        self.caps.insert(id, MCap { table, handle, cap, parent });
        self.tables[table].live.insert(handle, id);
        self.tables[table].issued.push(handle);
    }

    /// Removes the model capabilities `ids`, re-parenting survivors to their
    /// nearest surviving ancestor; returns `(table, handle)` of each.
    fn remove(&mut self, ids: &BTreeSet<usize>) -> BTreeSet<(TableId, RawHandle)> {
        let parents: BTreeMap<usize, Option<usize>> =
            self.caps.iter().map(|(&id, c)| (id, c.parent)).collect();
        let mut gone = BTreeSet::new();
        for id in ids {
            let c = self.caps.remove(id).unwrap();
            self.tables[c.table].live.remove(&c.handle);
            gone.insert((self.tables[c.table].id, c.handle));
        }
        for c in self.caps.values_mut() {
            while let Some(p) = c.parent {
                if !ids.contains(&p) {
                    break;
                }
                c.parent = parents[&p];
            }
        }
        gone
    }

    fn descendants(&self, root: usize) -> BTreeSet<usize> {
        let mut out = BTreeSet::new();
        for &id in self.caps.keys() {
            let mut at = self.caps[&id].parent;
            while let Some(p) = at {
                if p == root {
                    out.insert(id);
                    break;
                }
                at = self.caps[&p].parent;
            }
        }
        out
    }

    fn removed_set(&self, removed: &[Removed]) -> BTreeSet<(TableId, RawHandle)> {
        let set: BTreeSet<_> = removed.iter().map(|r| (r.table, r.handle)).collect();
        assert_eq!(set.len(), removed.len(), "a capability reported twice");
        set
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Mint { table, object, rights, badge } => {
                let rights = match rights {
                    Ask::Masked(mask) => object.kind().valid_rights() & mask,
                    Ask::Exactly(rights) => rights,
                };
                let cap = Capability { object, rights, badge };
                let kind = object.kind();
                let expected = if !kind.valid_rights().contains(rights)
                    || (badge != 0 && kind != ObjectKind::Endpoint)
                {
                    Err(Error::InvalidArgument)
                } else {
                    match object {
                        Object::DiskRange(r) => span_ok(r.first, r.count),
                        _ => Ok(()),
                    }
                    .and_then(|()| self.room(table))
                };
                let got = self.space.mint(self.tables[table].id, cap);
                match (expected, got) {
                    (Ok(()), Ok(handle)) => self.add(table, handle, cap, None),
                    (e, g) => assert_eq!(e.map(|_| ()), g.map(|_| ()), "{op:?}"),
                }
            }
            Op::Derive { table, pick, rights, narrow } => {
                let handle = self.pick(table, pick);
                let rights = self.asked(table, handle, rights);
                let expected = self.resolve(table, handle).and_then(|parent| {
                    let p = self.caps[&parent].cap;
                    if !p.rights.contains(Rights::DERIVE) || !p.rights.contains(rights) {
                        return Err(Error::MissingRight);
                    }
                    let (object, badge) = model_narrow(&p, narrow)?;
                    self.room(table)?;
                    Ok((parent, Capability { object, rights, badge }))
                });
                let got = self.space.derive(self.tables[table].id, handle, rights, narrow);
                match (expected, got) {
                    (Ok((parent, cap)), Ok(new)) => self.add(table, new, cap, Some(parent)),
                    (e, g) => assert_eq!(e.map(|_| ()), g.map(|_| ()), "{op:?}"),
                }
            }
            Op::Grant { table, pick, to, rights } => {
                let handle = self.pick(table, pick);
                let rights = self.asked(table, handle, rights);
                let expected = if table == to {
                    Err(Error::InvalidArgument)
                } else {
                    self.resolve(table, handle).and_then(|parent| {
                        let p = self.caps[&parent].cap;
                        if !p.rights.contains(Rights::GRANT) || !p.rights.contains(rights) {
                            return Err(Error::MissingRight);
                        }
                        self.room(to)?;
                        Ok((parent, Capability { rights, ..p }))
                    })
                };
                let got =
                    self.space.grant(self.tables[table].id, handle, self.tables[to].id, rights);
                match (expected, got) {
                    (Ok((parent, cap)), Ok(new)) => self.add(to, new, cap, Some(parent)),
                    (e, g) => assert_eq!(e.map(|_| ()), g.map(|_| ()), "{op:?}"),
                }
            }
            Op::Move { table, pick, to } => {
                let handle = self.pick(table, pick);
                let expected = if table == to {
                    Err(Error::InvalidArgument)
                } else {
                    self.resolve(table, handle).and_then(|id| {
                        if !self.caps[&id].cap.rights.contains(Rights::GRANT) {
                            return Err(Error::MissingRight);
                        }
                        if self.tables[to].live.len() >= QUOTA as usize {
                            return Err(Error::TableFull);
                        }
                        Ok(id)
                    })
                };
                let got = self.space.move_cap(self.tables[table].id, handle, self.tables[to].id);
                match (expected, got) {
                    (Ok(id), Ok(new)) => {
                        assert_ne!(new.as_raw(), 0);
                        assert!(!self.tables[to].issued.contains(&new));
                        self.tables[table].live.remove(&handle);
                        self.tables[to].live.insert(new, id);
                        self.tables[to].issued.push(new);
                        let c = self.caps.get_mut(&id).unwrap();
                        c.table = to;
                        c.handle = new;
                    }
                    (e, g) => assert_eq!(e.map(|_| ()), g.map(|_| ()), "{op:?}"),
                }
            }
            Op::Drop { table, pick } => {
                let handle = self.pick(table, pick);
                let expected = self.resolve(table, handle);
                let got = self.space.drop_cap(self.tables[table].id, handle);
                match (expected, got) {
                    (Ok(id), Ok(removed)) => {
                        assert_eq!(removed.capability, self.caps[&id].cap);
                        let gone = self.remove(&BTreeSet::from([id]));
                        assert_eq!(gone, self.removed_set(&[removed]));
                    }
                    (e, g) => assert_eq!(e.map(|_| ()), g.map(|_| ()), "{op:?}"),
                }
            }
            Op::Revoke { table, pick } => {
                let handle = self.pick(table, pick);
                let expected = self.resolve(table, handle).and_then(|id| {
                    if self.caps[&id].cap.rights.contains(Rights::REVOKE) {
                        Ok(id)
                    } else {
                        Err(Error::MissingRight)
                    }
                });
                let mut removed = Vec::new();
                let got = self.space.revoke(self.tables[table].id, handle, |r| removed.push(r));
                match (expected, got) {
                    (Ok(id), Ok(count)) => {
                        let doomed = self.descendants(id);
                        let caps: BTreeMap<_, _> = doomed
                            .iter()
                            .map(|d| {
                                let c = &self.caps[d];
                                ((self.tables[c.table].id, c.handle), c.cap)
                            })
                            .collect();
                        let reported: BTreeMap<_, _> =
                            removed.iter().map(|r| ((r.table, r.handle), r.capability)).collect();
                        assert_eq!(caps, reported, "revoke reported the wrong capabilities");
                        let gone = self.remove(&doomed);
                        assert_eq!(gone, self.removed_set(&removed));
                        assert_eq!(count, gone.len());
                        for (t, h) in gone {
                            assert_eq!(
                                self.space.get(t, h),
                                Err(Error::BadHandle),
                                "revoked handle resolves"
                            );
                        }
                    }
                    (e, g) => {
                        assert!(removed.is_empty());
                        assert_eq!(e.map(|_| ()), g.map(|_| ()), "{op:?}");
                    }
                }
            }
            Op::Lookup { table, pick, kind, rights } => {
                let handle = self.pick(table, pick);
                let expected = self.resolve(table, handle).and_then(|id| {
                    let c = self.caps[&id].cap;
                    if c.object.kind() != kind {
                        Err(Error::WrongKind)
                    } else if !c.rights.contains(rights) {
                        Err(Error::MissingRight)
                    } else {
                        Ok(c)
                    }
                });
                let got = self.space.lookup(self.tables[table].id, handle, kind, rights).copied();
                assert_eq!(expected, got, "{op:?}");
            }
            Op::Garbage { table, raw } => {
                let handle = RawHandle::from_raw(raw);
                let expected = self.resolve(table, handle).map(|id| self.caps[&id].cap);
                assert_eq!(self.space.get(self.tables[table].id, handle).copied(), expected);
            }
            Op::Park { table, pick } => {
                let handle = self.pick(table, pick);
                let expected = self.resolve(table, handle).and_then(|id| {
                    let has_children = self.caps.values().any(|c| c.parent == Some(id));
                    if self.caps[&id].parent.is_some() || has_children {
                        Err(Error::InvalidArgument)
                    } else if self.tables[table].parked.is_some() {
                        Err(Error::TableFull)
                    } else {
                        Ok(id)
                    }
                });
                let got = self.space.park(self.tables[table].id, handle);
                match (expected, got) {
                    (Ok(id), Ok(())) => {
                        let c = self.caps.remove(&id).unwrap();
                        self.tables[table].live.remove(&handle);
                        self.tables[table].parked = Some(c.cap);
                        assert_eq!(
                            self.space.get(self.tables[table].id, handle),
                            Err(Error::BadHandle)
                        );
                    }
                    (e, g) => assert_eq!(e.map(|_| ()), g, "{op:?}"),
                }
            }
            Op::Unpark { table } => {
                let t = &self.tables[table];
                let expected = t.parked.filter(|_| t.live.len() < QUOTA as usize);
                let got = self.space.unpark(t.id);
                assert_eq!(expected, got.map(|(_, cap)| cap), "{op:?}");
                if let Some((handle, cap)) = got {
                    self.tables[table].parked = None;
                    self.add(table, handle, cap, None);
                }
            }
            Op::Recreate { table } => {
                let ids: BTreeSet<usize> = self.tables[table].live.values().copied().collect();
                let mut removed = Vec::new();
                let count =
                    self.space.destroy_table(self.tables[table].id, |r| removed.push(r)).unwrap();
                // The parked capability is reported too, under a handle
                // never issued.
                let issued = &self.tables[table].issued;
                let unissued: Vec<_> =
                    removed.iter().filter(|r| !issued.contains(&r.handle)).copied().collect();
                let parked = self.tables[table].parked;
                assert_eq!(
                    unissued.iter().map(|r| r.capability).collect::<Vec<_>>(),
                    Vec::from_iter(parked)
                );
                removed.retain(|r| issued.contains(&r.handle));
                let count = count - unissued.len();
                let gone = self.remove(&ids);
                assert_eq!(gone, self.removed_set(&removed));
                assert_eq!(count, ids.len());
                self.secret += 1;
                let fresh = MTable {
                    id: self.space.create_table(QUOTA, self.secret).unwrap(),
                    live: BTreeMap::new(),
                    issued: Vec::new(),
                    parked: None,
                };
                let old = std::mem::replace(&mut self.tables[table], fresh);
                let any_old = old.issued.first().copied().unwrap_or(RawHandle::INVALID);
                assert_eq!(self.space.get(old.id, any_old), Err(Error::PeerGone));
                assert_ne!(self.tables[table].id, old.id);
                self.dead.extend(old.issued);
                self.dead.sort();
                self.dead.dedup();
            }
        }
    }

    /// `reachable(table)` against the model: the capabilities with an
    /// ancestor-or-self in the table, never one above or beside them.
    fn check_reachable(&self, table: usize) {
        let reaches = |mut id: usize| loop {
            let c = &self.caps[&id];
            if c.table == table {
                return true;
            }
            match c.parent {
                Some(p) => id = p,
                None => return false,
            }
        };
        let expected: BTreeSet<usize> =
            self.caps.keys().copied().filter(|&id| reaches(id)).collect();
        let id_of = |t: TableId, h: RawHandle| {
            let i = self.tables.iter().position(|m| m.id == t).expect("a live table");
            self.tables[i].live[&h]
        };
        let mut got = Vec::new();
        let count = self
            .space
            .reachable(self.tables[table].id, |r| {
                got.push((id_of(r.table, r.handle), r.node, r.parent, *r.capability))
            })
            .unwrap();
        assert_eq!(count, got.len());
        let ids: BTreeSet<usize> = got.iter().map(|g| g.0).collect();
        assert_eq!(ids.len(), got.len(), "a capability reached twice");
        assert_eq!(ids, expected, "table {table} reaches the wrong capabilities");
        let mut node_of = BTreeMap::new();
        for &(id, node, parent, cap) in &got {
            assert_eq!(cap, self.caps[&id].cap);
            let model_parent = self.caps[&id].parent.filter(|p| expected.contains(p));
            match (model_parent, parent) {
                (None, None) => assert_eq!(self.caps[&id].table, table, "a root not held"),
                (Some(p), Some(node)) => {
                    assert_eq!(node_of.get(&p), Some(&node), "wrong parent, or after its child")
                }
                (m, g) => panic!("parent of {id}: model {m:?}, reached {g:?}"),
            }
            assert!(node_of.insert(id, node).is_none());
        }
    }

    /// Everything that must hold after every step.
    fn check(&self) {
        if let Err(violation) = self.space.check_invariants() {
            panic!("invariant broken: {violation}");
        }
        assert_eq!(self.space.len(), self.caps.len());
        for (i, t) in self.tables.iter().enumerate() {
            let table = self.space.table(t.id).unwrap();
            assert_eq!(table.len(), t.live.len(), "table {i}");
            assert_eq!(self.space.parked(t.id).copied(), t.parked, "table {i}");
            // Every live capability resolves to what the model says.
            for (&handle, id) in &t.live {
                let c = &self.caps[id];
                assert_eq!(c.table, i);
                assert_eq!(
                    self.space.lookup(t.id, handle, c.cap.object.kind(), c.cap.rights),
                    Ok(&c.cap)
                );
            }
            // Stale handles never resolve.
            for handle in
                t.issued.iter().rev().filter(|h| !t.live.contains_key(h)).take(STALE_CHECKED)
            {
                assert_eq!(
                    self.space.get(t.id, *handle),
                    Err(Error::BadHandle),
                    "stale handle resolves"
                );
            }
            // Handles of other tables (live or dead) never resolve here.
            let others = self.tables.iter().filter(|o| o.id != t.id).flat_map(|o| o.live.keys());
            for handle in others.chain(self.dead.iter().rev().take(STALE_CHECKED)) {
                if !t.live.contains_key(handle) {
                    assert_eq!(
                        self.space.get(t.id, *handle),
                        Err(Error::BadHandle),
                        "foreign handle resolves"
                    );
                }
            }
        }
        // Each table reaches exactly its own capabilities and their
        // descendants, each once, parents first (`cap_graph`).
        for i in 0..self.tables.len() {
            self.check_reachable(i);
        }
        // Every capability is within its parent, by the model's own rules.
        for c in self.caps.values() {
            if let Some(p) = c.parent {
                assert!(model_within(&c.cap, &self.caps[&p].cap), "{c:?} wider than its parent");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { max_shrink_iters: 10_000, ..ProptestConfig::default() })]

    #[test]
    fn implementation_agrees_with_the_model(ops in prop::collection::vec(op(), 1..=MAX_OPS)) {
        let mut harness = Harness::new();
        harness.check();
        for op in &ops {
            harness.step(op);
            harness.check();
        }
    }
}
