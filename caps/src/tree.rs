//! The derivation tree: one node per capability, across all tables.
//!
//! Nodes live in a [`Slab`] and are linked by index: `parent`,
//! `first_child`, and a doubly linked sibling list (`prev`, `next`), so
//! that every structural change is O(1) (or O(children) for a splice) and
//! every walk is a loop, never a recursion: an attacker who builds a chain
//! of 100,000 derivations cannot deepen the kernel's stack.

use slab::Slab;

use crate::space::TableId;

/// "No node": the end of a list, the parent of a root.
pub(crate) const NIL: u32 = u32::MAX;

/// The largest number of nodes the tree can index.
pub(crate) const MAX_NODES: usize = NIL as usize;

/// A capability's place in the tree and in its table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Node {
    pub(crate) parent: u32,
    pub(crate) first_child: u32,
    pub(crate) prev: u32,
    pub(crate) next: u32,
    /// Where the capability lives.
    pub(crate) table: TableId,
    pub(crate) slot: u32,
}

/// The derivation tree.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    nodes: Slab<Node>,
}

impl Tree {
    pub(crate) const fn new() -> Tree {
        Tree { nodes: Slab::new() }
    }

    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    pub(crate) fn get(&self, index: u32) -> Option<&Node> {
        self.nodes.get(index as usize)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &Node)> + '_ {
        self.nodes.iter().map(|(index, node)| (index as u32, node))
    }

    /// A bound on node indices: every live node's index is below it.
    pub(crate) fn index_bound(&self) -> usize {
        self.nodes.capacity()
    }

    /// The index the next insertion will use.
    pub(crate) fn vacant_index(&self) -> u32 {
        self.nodes.vacant_key() as u32
    }

    /// Adds a node for a capability in `(table, slot)`, as the first child
    /// of `parent` (or as a root if `parent` is [`NIL`]). O(1).
    #[inline]
    pub(crate) fn insert(&mut self, parent: u32, table: TableId, slot: usize) -> u32 {
        debug_assert!(self.nodes.vacant_key() < MAX_NODES);
        let next = if parent == NIL { NIL } else { self.nodes[parent as usize].first_child };
        let index = self.nodes.insert(Node {
            parent,
            first_child: NIL,
            prev: NIL,
            next,
            table,
            slot: slot as u32,
        }) as u32;
        if parent != NIL {
            self.nodes[parent as usize].first_child = index;
        }
        if next != NIL {
            self.nodes[next as usize].prev = index;
        }
        index
    }

    /// Node `index`, for tests that corrupt the tree on purpose.
    #[cfg(test)]
    pub(crate) fn node_mut(&mut self, index: u32) -> &mut Node {
        &mut self.nodes[index as usize]
    }

    /// Records that node `index`'s capability now lives in `(table, slot)`.
    pub(crate) fn relocate(&mut self, index: u32, table: TableId, slot: usize) {
        let node = &mut self.nodes[index as usize];
        node.table = table;
        node.slot = slot as u32;
    }

    /// Removes node `index`, giving its children to its parent in its place
    /// (they become roots if it was one). O(number of children).
    #[inline]
    pub(crate) fn remove(&mut self, index: u32) -> Node {
        let node = self.nodes.remove(index as usize);
        // Re-parent the children; remember the last one for the splice.
        let mut last_child = NIL;
        let mut child = node.first_child;
        while child != NIL {
            let c = &mut self.nodes[child as usize];
            c.parent = node.parent;
            if node.parent == NIL {
                // Roots are not linked to each other.
                let next = c.next;
                c.prev = NIL;
                c.next = NIL;
                child = next;
            } else {
                last_child = child;
                child = c.next;
            }
        }
        if node.parent == NIL {
            return node;
        }
        // Splice the children (or nothing) between `prev` and `next`.
        let (head, tail) = if node.first_child != NIL {
            self.nodes[node.first_child as usize].prev = node.prev;
            self.nodes[last_child as usize].next = node.next;
            (node.first_child, last_child)
        } else {
            (node.next, node.prev)
        };
        if node.prev != NIL {
            self.nodes[node.prev as usize].next = head;
        } else {
            self.nodes[node.parent as usize].first_child = head;
        }
        if node.next != NIL {
            self.nodes[node.next as usize].prev = tail;
        }
        node
    }

    /// Removes every descendant of `root` (not `root` itself), calling
    /// `removed` with each removed node, leaves first.
    ///
    /// O(size of the subtree), constant stack: it repeatedly descends to a
    /// leaf through `first_child` and removes it, climbing back through
    /// `parent`, so each edge is walked down once and up once.
    pub(crate) fn remove_descendants(&mut self, root: u32, mut removed: impl FnMut(Node)) {
        let mut current = self.nodes[root as usize].first_child;
        if current == NIL {
            return;
        }
        loop {
            // Descend to a leaf; it is the first child of its parent.
            loop {
                let first_child = self.nodes[current as usize].first_child;
                if first_child == NIL {
                    break;
                }
                current = first_child;
            }
            let leaf = self.nodes.remove(current as usize);
            debug_assert_eq!(leaf.prev, NIL);
            self.nodes[leaf.parent as usize].first_child = leaf.next;
            if leaf.next != NIL {
                self.nodes[leaf.next as usize].prev = NIL;
            }
            removed(leaf);
            if leaf.next != NIL {
                current = leaf.next;
            } else if leaf.parent == root {
                return;
            } else {
                // The parent has no children left: it is the next leaf.
                current = leaf.parent;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    const T: TableId = TableId::from_parts(0, 0);

    fn children(tree: &Tree, parent: u32) -> Vec<u32> {
        let mut out = Vec::new();
        let mut child = tree.get(parent).unwrap().first_child;
        let mut prev = NIL;
        while child != NIL {
            let node = tree.get(child).unwrap();
            assert_eq!(node.parent, parent);
            assert_eq!(node.prev, prev);
            out.push(child);
            prev = child;
            child = node.next;
        }
        out
    }

    #[test]
    fn insert_links_children_newest_first() {
        let mut tree = Tree::new();
        let root = tree.insert(NIL, T, 0);
        let a = tree.insert(root, T, 1);
        let b = tree.insert(root, T, 2);
        assert_eq!(children(&tree, root), [b, a]);
        tree.relocate(a, TableId::from_parts(1, 0), 9);
        assert_eq!(tree.get(a).unwrap().slot, 9);
    }

    #[test]
    fn remove_splices_children_in_place() {
        let mut tree = Tree::new();
        let root = tree.insert(NIL, T, 0);
        let a = tree.insert(root, T, 1);
        let mid = tree.insert(root, T, 2);
        let c = tree.insert(root, T, 3);
        let x = tree.insert(mid, T, 4);
        let y = tree.insert(mid, T, 5);
        assert_eq!(children(&tree, root), [c, mid, a]);
        tree.remove(mid);
        assert_eq!(children(&tree, root), [c, y, x, a]);
        tree.remove(c);
        assert_eq!(children(&tree, root), [y, x, a]);
        tree.remove(a);
        assert_eq!(children(&tree, root), [y, x]);
        tree.remove(root);
        for orphan in [x, y] {
            let node = tree.get(orphan).unwrap();
            assert_eq!((node.parent, node.prev, node.next), (NIL, NIL, NIL));
        }
    }

    #[test]
    fn remove_descendants_removes_exactly_the_subtree() {
        let mut tree = Tree::new();
        let root = tree.insert(NIL, T, 0);
        let keep = tree.insert(root, T, 1);
        let cut = tree.insert(root, T, 2);
        let mut expected = Vec::new();
        for i in 0..3 {
            let child = tree.insert(cut, T, 10 + i);
            expected.push(child);
            expected.push(tree.insert(child, T, 20 + i));
        }
        let mut removed = Vec::new();
        tree.remove_descendants(cut, |node| removed.push(node.slot));
        removed.sort();
        assert_eq!(removed, [10, 11, 12, 20, 21, 22]);
        assert_eq!(children(&tree, cut), []);
        assert_eq!(children(&tree, root), [cut, keep]);
        assert_eq!(tree.len(), 3);
        tree.remove_descendants(cut, |_| panic!("nothing left to remove"));
    }
}
