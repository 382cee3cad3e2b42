//! A full consistency check of a [`CapSpace`], for debug "authority
//! checks" builds (the kernel runs it after every syscall) and for tests.

use alloc::vec;

use crate::space::{CapSpace, TableId};
use crate::tree::NIL;

/// A broken invariant: a bug in `caps`, never a user error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvariantViolation {
    /// A table holds more capabilities than its quota, or its count is
    /// wrong.
    TableCount {
        /// The table.
        table: TableId,
    },
    /// A table entry has no tree node, or its node points elsewhere.
    EntryWithoutNode {
        /// The table.
        table: TableId,
        /// The slot.
        slot: usize,
    },
    /// A tree node has no table entry pointing back at it.
    NodeWithoutEntry {
        /// The node.
        node: u32,
    },
    /// Parent, child or sibling links disagree.
    BrokenLink {
        /// The node where the disagreement was found.
        node: u32,
    },
    /// Some nodes are not reachable from any root (a cycle).
    Unreachable {
        /// How many nodes were reached.
        reached: usize,
        /// How many nodes exist.
        total: usize,
    },
    /// A capability holds rights its kind does not define, or an invalid
    /// object (an empty or wrapping range).
    MalformedCapability {
        /// The node.
        node: u32,
    },
    /// A capability is not within its parent: more rights, a wider or
    /// different object, or a changed badge.
    WiderThanParent {
        /// The node.
        node: u32,
    },
}

impl core::fmt::Display for InvariantViolation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            InvariantViolation::TableCount { table } => {
                write!(f, "table {:#x}: count wrong or over quota", table.as_u64())
            }
            InvariantViolation::EntryWithoutNode { table, slot } => {
                write!(f, "table {:#x} slot {slot}: no matching tree node", table.as_u64())
            }
            InvariantViolation::NodeWithoutEntry { node } => {
                write!(f, "node {node}: no table entry")
            }
            InvariantViolation::BrokenLink { node } => write!(f, "node {node}: inconsistent links"),
            InvariantViolation::Unreachable { reached, total } => {
                write!(f, "only {reached} of {total} nodes reachable from roots")
            }
            InvariantViolation::MalformedCapability { node } => {
                write!(f, "node {node}: rights or object malformed")
            }
            InvariantViolation::WiderThanParent { node } => {
                write!(f, "node {node}: wider than its parent")
            }
        }
    }
}

impl CapSpace {
    /// Walks every table and the whole tree and checks: every table entry
    /// has a live node pointing back at it and vice versa; table counts
    /// are right and within quota; every capability's rights are defined
    /// for its kind and its object is valid; every child is within its
    /// parent (rights a subset, same object or a nested range, badge
    /// inherited or newly set); sibling and parent links agree; every node
    /// is reachable from a root. O(capabilities); allocates a bitmap.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        let tree = self.tree();
        let mut total_entries = 0;
        for (id, table) in self.tables() {
            let mut live = 0;
            for (slot, entry) in table.entries() {
                live += 1;
                let points_back = tree
                    .get(entry.node)
                    .is_some_and(|node| node.table == id && node.slot as usize == slot);
                if !points_back {
                    return Err(InvariantViolation::EntryWithoutNode { table: id, slot });
                }
            }
            if live != table.len() || table.len() > table.quota() as usize {
                return Err(InvariantViolation::TableCount { table: id });
            }
            total_entries += live;
            // A parked capability keeps a node: a root with no children.
            if let Some((slot, entry)) = table.parked() {
                let alone = tree.get(entry.node).is_some_and(|node| {
                    node.table == id
                        && node.slot as usize == slot
                        && node.parent == NIL
                        && node.first_child == NIL
                });
                if !entry.is_parked() || !alone {
                    return Err(InvariantViolation::EntryWithoutNode { table: id, slot });
                }
                total_entries += 1;
            }
        }

        let capability = |index: u32| {
            let node = tree.get(index)?;
            let table = self.table(node.table)?;
            let slot = node.slot as usize;
            let entry = table
                .entry(slot)
                .or_else(|| table.parked().filter(|&(s, _)| s == slot).map(|(_, e)| e))?;
            (entry.node == index).then_some(entry.cap)
        };
        let mut seen_as_child =
            vec![false; tree.iter().map(|(i, _)| i as usize + 1).max().unwrap_or(0)];
        let mut children = 0;
        for (index, node) in tree.iter() {
            let cap =
                capability(index).ok_or(InvariantViolation::NodeWithoutEntry { node: index })?;
            if !cap.kind().valid_rights().contains(cap.rights) || cap.object.validate().is_err() {
                return Err(InvariantViolation::MalformedCapability { node: index });
            }
            if node.parent == NIL {
                if node.prev != NIL || node.next != NIL {
                    return Err(InvariantViolation::BrokenLink { node: index });
                }
            } else {
                let parent = capability(node.parent)
                    .ok_or(InvariantViolation::BrokenLink { node: index })?;
                if !cap.is_within(&parent) {
                    return Err(InvariantViolation::WiderThanParent { node: index });
                }
                children += 1;
            }
            // Walk this node's child list.
            let mut prev = NIL;
            let mut child = node.first_child;
            while child != NIL {
                let broken = InvariantViolation::BrokenLink { node: child };
                let child_node = tree.get(child).ok_or(broken)?;
                let seen = &mut seen_as_child[child as usize];
                if child_node.parent != index || child_node.prev != prev || *seen {
                    return Err(broken);
                }
                *seen = true;
                prev = child;
                child = child_node.next;
            }
        }
        let listed = seen_as_child.iter().filter(|&&seen| seen).count();
        if listed != children {
            // Some non-root node is missing from its parent's child list.
            let missing = tree
                .iter()
                .find(|(index, node)| node.parent != NIL && !seen_as_child[*index as usize])
                .map_or(NIL, |(index, _)| index);
            return Err(InvariantViolation::BrokenLink { node: missing });
        }
        if total_entries != tree.len() {
            return Err(InvariantViolation::NodeWithoutEntry { node: NIL });
        }

        // Every node must be reachable from a root: walk down from each
        // root, iteratively, with the links checked above.
        let mut reached = 0;
        for (root, node) in tree.iter() {
            if node.parent != NIL {
                continue;
            }
            let mut current = root;
            loop {
                reached += 1;
                if reached > tree.len() {
                    break;
                }
                let node =
                    tree.get(current).ok_or(InvariantViolation::BrokenLink { node: current })?;
                if node.first_child != NIL {
                    current = node.first_child;
                    continue;
                }
                // Climb until a node with a next sibling, stopping at root.
                let mut climb = current;
                loop {
                    if climb == root {
                        break;
                    }
                    let n =
                        tree.get(climb).ok_or(InvariantViolation::BrokenLink { node: climb })?;
                    if n.next != NIL {
                        break;
                    }
                    climb = n.parent;
                }
                if climb == root {
                    break;
                }
                current = tree.get(climb).map_or(NIL, |n| n.next);
            }
        }
        if reached != tree.len() {
            return Err(InvariantViolation::Unreachable { reached, total: tree.len() });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::{RawHandle, Rights};
    use crate::object::{Capability, Narrow, Object, ObjectId};
    use crate::range::SectorRange;

    const ALL_DISK: Rights = Rights::READ.union(Rights::WRITE).union(Rights::GENERIC);

    /// A table with a disk root, a child (sub-range, READ|DERIVE) and a
    /// grandchild, plus the slots of each.
    fn setup() -> (CapSpace, TableId, [usize; 3]) {
        let mut space = CapSpace::new(100);
        let t = space.create_table(10, 5).unwrap();
        let root = space
            .mint(
                t,
                Capability {
                    object: Object::DiskRange(SectorRange::new(0, 0, 100).unwrap()),
                    rights: ALL_DISK,
                    badge: 0,
                },
            )
            .unwrap();
        let child = space
            .derive(t, root, Rights::READ | Rights::DERIVE, Narrow::Range { offset: 10, count: 10 })
            .unwrap();
        let grandchild = space.derive(t, child, Rights::READ, Narrow::Same).unwrap();
        space.check_invariants().unwrap();
        let slot =
            |space: &CapSpace, h: RawHandle| space.table(t).unwrap().resolve_slot(h).unwrap().0;
        let slots = [slot(&space, root), slot(&space, child), slot(&space, grandchild)];
        (space, t, slots)
    }

    #[test]
    fn wider_rights_than_the_parent_are_caught() {
        let (mut space, t, [_, _, grandchild]) = setup();
        space.parts_for_test(t).0.entry_mut(grandchild).cap.rights |= Rights::WRITE;
        let node = space.table(t).unwrap().entry(grandchild).unwrap().node;
        assert_eq!(space.check_invariants(), Err(InvariantViolation::WiderThanParent { node }));
    }

    #[test]
    fn a_wider_range_than_the_parent_is_caught() {
        let (mut space, t, [_, _, grandchild]) = setup();
        let cap = &mut space.parts_for_test(t).0.entry_mut(grandchild).cap;
        cap.object = Object::DiskRange(SectorRange::new(0, 10, 11).unwrap());
        assert!(matches!(
            space.check_invariants(),
            Err(InvariantViolation::WiderThanParent { .. })
        ));
    }

    #[test]
    fn undefined_rights_and_bad_objects_are_caught() {
        let (mut space, t, [root, _, _]) = setup();
        space.parts_for_test(t).0.entry_mut(root).cap.rights |= Rights::SEND;
        assert!(matches!(
            space.check_invariants(),
            Err(InvariantViolation::MalformedCapability { .. })
        ));
        let (mut space, t, [root, _, _]) = setup();
        space.parts_for_test(t).0.entry_mut(root).cap.object = Object::Console(ObjectId(3));
        assert!(matches!(
            space.check_invariants(),
            Err(InvariantViolation::WiderThanParent { .. })
        ));
    }

    #[test]
    fn broken_links_are_caught() {
        let (mut space, t, [root, _, _]) = setup();
        let (table, tree) = space.parts_for_test(t);
        let node = table.entry(root).unwrap().node;
        tree.node_mut(node).first_child = NIL;
        assert!(matches!(space.check_invariants(), Err(InvariantViolation::BrokenLink { .. })));
    }

    #[test]
    fn an_entry_whose_node_points_elsewhere_is_caught() {
        let (mut space, t, [_, child, grandchild]) = setup();
        let (table, tree) = space.parts_for_test(t);
        let node = table.entry(child).unwrap().node;
        tree.node_mut(node).slot = grandchild as u32;
        assert_eq!(
            space.check_invariants(),
            Err(InvariantViolation::EntryWithoutNode { table: t, slot: child })
        );
    }

    #[test]
    fn a_cycle_is_caught() {
        let (mut space, t, [root, child, grandchild]) = setup();
        let (table, tree) = space.parts_for_test(t);
        let [r, c, g] = [root, child, grandchild].map(|slot| table.entry(slot).unwrap().node);
        // Detach the grandchild, then make root and child each other's
        // parent: the links agree, but no root reaches them.
        tree.remove(g);
        table.remove(grandchild);
        let widest = table.entry(root).unwrap().cap;
        table.entry_mut(child).cap = widest;
        tree.node_mut(r).parent = c;
        tree.node_mut(c).first_child = r;
        assert_eq!(
            space.check_invariants(),
            Err(InvariantViolation::Unreachable { reached: 0, total: 2 })
        );
    }

    #[test]
    fn a_count_over_quota_is_caught() {
        let (mut space, t, _) = setup();
        space.parts_for_test(t).0.set_quota_for_test(2);
        assert_eq!(space.check_invariants(), Err(InvariantViolation::TableCount { table: t }));
    }

    #[test]
    fn violations_display() {
        extern crate std;
        use std::string::ToString;
        let text = InvariantViolation::Unreachable { reached: 1, total: 2 }.to_string();
        assert_eq!(text, "only 1 of 2 nodes reachable from roots");
    }
}
