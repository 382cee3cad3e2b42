//! The part of the derivation tree a table can reach, for `cap_graph`.
//!
//! A table reaches its own capabilities and everything derived or granted
//! from them, in any table, and nothing else: not the capabilities its own
//! were derived from, not their other children. That is exactly the
//! authority the table's holder gave away or can take back (by revoke), so
//! showing it reveals nothing the holder does not already control.

use alloc::vec::Vec;

use crate::abi::{Error, RawHandle};
use crate::object::Capability;
use crate::space::{CapSpace, TableId};
use crate::tree::{NIL, Tree};

/// One capability [`CapSpace::reachable`] reports.
#[derive(Clone, Copy, Debug)]
pub struct Reached<'a> {
    /// Its node in the derivation tree: an index, unique among live
    /// capabilities (reused after it dies).
    pub node: u32,
    /// The node it derives from, if that one is reachable too; `None` for
    /// a walk root (one of the table's own capabilities whose parent the
    /// table does not reach).
    pub parent: Option<u32>,
    /// The table holding it.
    pub table: TableId,
    /// Its handle in that table (reveal it only to that table's holder).
    pub handle: RawHandle,
    /// The capability.
    pub capability: &'a Capability,
}

/// A set of tree nodes, one bit each, allocated fallibly.
struct NodeSet(Vec<u64>);

impl NodeSet {
    fn new(nodes: usize) -> Result<NodeSet, Error> {
        let words = nodes.div_ceil(64);
        let mut bits = Vec::new();
        bits.try_reserve_exact(words).map_err(|_| Error::OutOfMemory)?;
        bits.resize(words, 0);
        Ok(NodeSet(bits))
    }

    fn contains(&self, node: u32) -> bool {
        self.0[node as usize / 64] & 1 << (node % 64) != 0
    }

    fn insert(&mut self, node: u32) {
        self.0[node as usize / 64] |= 1 << (node % 64);
    }

    fn remove(&mut self, node: u32) {
        self.0[node as usize / 64] &= !(1 << (node % 64));
    }
}

/// Calls `visit` for each strict descendant of `root` in preorder; when
/// `visit` returns false, that node's own descendants are skipped. A loop
/// over the links, constant stack.
fn walk_below(tree: &Tree, root: u32, mut visit: impl FnMut(u32) -> bool) {
    let node = |index: u32| tree.get(index).expect("linked nodes exist");
    let mut current = node(root).first_child;
    while current != NIL {
        if visit(current) {
            let first_child = node(current).first_child;
            if first_child != NIL {
                current = first_child;
                continue;
            }
        }
        // Next sibling, or the next sibling of the nearest ancestor below
        // `root` that has one.
        loop {
            let n = node(current);
            if n.next != NIL {
                current = n.next;
                break;
            }
            if n.parent == root {
                return;
            }
            current = n.parent;
        }
    }
}

impl CapSpace {
    /// Every capability `table` reaches: its own, and everything derived
    /// or granted from them, transitively, in any table. Calls `visit` for
    /// each once, in preorder (a parent before its children), and returns
    /// how many there were.
    ///
    /// O(tree size / 64) to clear a bit set, plus O(reached capabilities);
    /// constant stack. Allocates the bit set (`OutOfMemory` if it cannot).
    ///
    /// Errors: `PeerGone` (no such table); `OutOfMemory`.
    pub fn reachable(
        &self,
        table: TableId,
        mut visit: impl FnMut(Reached<'_>),
    ) -> Result<usize, Error> {
        let own = self.table(table).ok_or(Error::PeerGone)?;
        let tree = self.tree();
        let bound = tree.index_bound();
        let mut seen = NodeSet::new(bound)?;
        let mut roots = NodeSet::new(bound)?;
        // Pass 1: find the walk roots, the own capabilities no other own
        // capability is an ancestor of. Each node is walked into once: a
        // subtree seen before is a former root, now covered, and skipped.
        for (_, entry) in own.entries() {
            if seen.contains(entry.node) {
                continue;
            }
            seen.insert(entry.node);
            roots.insert(entry.node);
            walk_below(tree, entry.node, |node| {
                if seen.contains(node) {
                    roots.remove(node);
                    false
                } else {
                    seen.insert(node);
                    true
                }
            });
        }
        // Pass 2: report each root's subtree.
        let mut count = 0;
        let mut report = |node: u32, parent: Option<u32>| {
            let n = tree.get(node).expect("walked nodes exist");
            let holder = self.table(n.table).expect("a node's table exists");
            let entry = holder.entry(n.slot as usize).expect("a node's slot is live");
            count += 1;
            visit(Reached {
                node,
                parent,
                table: n.table,
                handle: holder.handle_of(n.slot as usize, entry),
                capability: &entry.cap,
            });
        };
        for (_, entry) in own.entries() {
            if !roots.contains(entry.node) {
                continue;
            }
            report(entry.node, None);
            walk_below(tree, entry.node, |node| {
                let parent = tree.get(node).expect("walked nodes exist").parent;
                report(node, Some(parent));
                true
            });
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::collections::BTreeSet;
    use std::vec::Vec;

    use super::*;
    use crate::abi::Rights;
    use crate::object::{Narrow, Object, ObjectId};
    use crate::range::SectorRange;

    fn range(first: u64, count: u64) -> Capability {
        Capability {
            object: Object::DiskRange(SectorRange { device: 0, first, count }),
            rights: Rights::READ | Rights::WRITE | Rights::GENERIC,
            badge: 0,
        }
    }

    fn reached(space: &CapSpace, table: TableId) -> Vec<(TableId, RawHandle, Option<u32>, u32)> {
        let mut out = Vec::new();
        let n =
            space.reachable(table, |r| out.push((r.table, r.handle, r.parent, r.node))).unwrap();
        assert_eq!(n, out.len());
        out
    }

    /// init holds a root range; it derives a slice, grants it to an app,
    /// the app derives a part and grants it to a helper; init also grants
    /// a sibling slice to another app.
    #[test]
    fn a_table_sees_its_own_and_what_it_gave_nothing_above_or_beside() {
        let mut space = CapSpace::new(64);
        let init = space.create_table(16, 1).unwrap();
        let app = space.create_table(16, 2).unwrap();
        let helper = space.create_table(16, 3).unwrap();
        let other = space.create_table(16, 4).unwrap();
        let root = space.mint(init, range(0, 1000)).unwrap();
        let slice = space
            .derive(init, root, range(0, 0).rights, Narrow::Range { offset: 0, count: 100 })
            .unwrap();
        let app_slice = space.grant(init, slice, app, range(0, 0).rights).unwrap();
        let part = space
            .derive(
                app,
                app_slice,
                Rights::READ | Rights::GRANT,
                Narrow::Range { offset: 10, count: 10 },
            )
            .unwrap();
        let helper_part = space.grant(app, part, helper, Rights::READ).unwrap();
        let sibling = space
            .derive(init, root, range(0, 0).rights, Narrow::Range { offset: 100, count: 100 })
            .unwrap();
        let other_slice = space.grant(init, sibling, other, Rights::READ).unwrap();
        let console = space
            .mint(
                other,
                Capability {
                    object: Object::Console(ObjectId(0)),
                    rights: Rights::WRITE,
                    badge: 0,
                },
            )
            .unwrap();

        let app_view = reached(&space, app);
        let handles: Vec<_> = app_view.iter().map(|&(t, h, _, _)| (t, h)).collect();
        assert_eq!(handles, [(app, app_slice), (app, part), (helper, helper_part)]);
        assert_eq!(app_view[0].2, None, "the app's slice's parent is init's: not reachable");
        assert_eq!(app_view[1].2, Some(app_view[0].3));
        assert_eq!(app_view[2].2, Some(app_view[1].3));

        let helper_view = reached(&space, helper);
        assert_eq!(helper_view.len(), 1);
        assert_eq!((helper_view[0].0, helper_view[0].2), (helper, None));

        let other_view: BTreeSet<_> = reached(&space, other).iter().map(|r| r.1).collect();
        assert_eq!(other_view, BTreeSet::from([other_slice, console]));

        // init reaches everything but `other`'s console.
        assert_eq!(reached(&space, init).len(), 7);

        // A revoked part disappears from every view.
        space.revoke(app, app_slice, |_| {}).unwrap();
        assert_eq!(reached(&space, app).len(), 1);
        assert_eq!(reached(&space, helper).len(), 0);
        assert_eq!(reached(&space, init).len(), 5);
    }

    /// A chain derived inside one table, whose own capabilities are met
    /// deepest first, is reported once, from its top, in preorder.
    #[test]
    fn own_descendants_are_not_reported_twice() {
        let mut space = CapSpace::new(64);
        let t = space.create_table(16, 9).unwrap();
        let other = space.create_table(16, 10).unwrap();
        let mut handles = Vec::from([space.mint(t, range(0, 64)).unwrap()]);
        for i in 0..5 {
            let last = *handles.last().unwrap();
            let narrow = Narrow::Range { offset: 1, count: 60 - 2 * i };
            handles.push(space.derive(t, last, range(0, 0).rights, narrow).unwrap());
        }
        space.grant(t, handles[2], other, Rights::READ).unwrap();
        // Drop the top, and derive from the bottom into the slot it left:
        // the table's first slot now holds the deepest capability, met
        // (and walked from) before the chain's top.
        space.drop_cap(t, handles[0]).unwrap();
        let deepest = space.derive(t, handles[5], Rights::READ, Narrow::Same).unwrap();
        let view = reached(&space, t);
        assert_eq!(view.len(), 7);
        assert_eq!(view.last().unwrap().1, deepest);
        let nodes: BTreeSet<_> = view.iter().map(|r| r.3).collect();
        assert_eq!(nodes.len(), 7);
        assert_eq!(view.iter().filter(|r| r.2.is_none()).count(), 1);
        for (i, r) in view.iter().enumerate() {
            if let Some(p) = r.2 {
                assert!(view[..i].iter().any(|q| q.3 == p), "parent after child");
            }
        }
    }

    #[test]
    fn a_missing_table_is_peer_gone() {
        let mut space = CapSpace::new(4);
        let t = space.create_table(4, 1).unwrap();
        space.destroy_table(t, |_| {}).unwrap();
        assert_eq!(space.reachable(t, |_| panic!("nothing")).unwrap_err(), Error::PeerGone);
    }
}
