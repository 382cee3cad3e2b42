//! What `cap_graph` tells a process about the authority it can reach.
//!
//! `cap_graph` writes one [`GraphNode`] per capability reachable through
//! the caller's own table: each of its capabilities, and everything
//! derived or granted from them, in any table. Nothing else: a capability
//! the caller's ancestors hold, or a sibling derived from the same parent
//! into another table, is not reachable and is never reported.
//!
//! Nodes come in preorder (a parent before its children), one subtree per
//! walk root, so any prefix of the output is a consistent forest. Ids are
//! opaque and valid for one boot: compare them only with ids from the same
//! boot.

use super::kind::ObjectKind;
use super::rights::Rights;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The record `cap_graph` writes, one per reachable capability.
/// `#[repr(C)]`, 72 bytes, 8-byte aligned; the field offsets are part of
/// the ABI (checked at compile time below).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct GraphNode {
    /// This capability's id (opaque, per boot; unique among the live
    /// capabilities of one `cap_graph` answer).
    pub node: u32,
    /// The id of the capability it was derived or granted from, or
    /// [`GraphNode::NO_PARENT`] when that one is not reachable by the
    /// caller (or it is a root the kernel minted).
    pub parent: u32,
    /// The [`ObjectKind`] number.
    pub kind: u32,
    /// The [`Rights`] bits.
    pub rights: u32,
    /// The process holding it (opaque per-boot id: the same for every node
    /// of one table, and equal to `object` of a `Process` capability that
    /// names that process).
    pub holder: u64,
    /// The object for kinds named by id (opaque per-boot id; two
    /// capabilities to the same object show the same value); 0 for
    /// `DiskRange`, which [`device`](Self::device),
    /// [`first`](Self::first) and [`count`](Self::count) name instead.
    pub object: u64,
    /// The badge (endpoints and notifications only; 0 = none).
    pub badge: u64,
    /// `DiskRange`: the device number; 0 for other kinds.
    pub device: u64,
    /// `DiskRange`: the absolute first sector; 0 for other kinds.
    pub first: u64,
    /// `DiskRange`: the sector count; 0 for other kinds.
    pub count: u64,
    /// The caller's handle to it, if the caller holds it; 0 for a
    /// capability in another table (those handle values stay secret).
    pub handle: u64,
}

impl GraphNode {
    /// The size of the record in bytes: `cap_graph`'s buffer length must
    /// be a multiple of it.
    pub const SIZE: usize = 72;

    /// The `parent` of a node whose parent the caller cannot reach.
    pub const NO_PARENT: u32 = u32::MAX;

    /// The kind, if the number names one.
    pub const fn object_kind(&self) -> Option<ObjectKind> {
        ObjectKind::from_raw(self.kind as u64)
    }

    /// The rights, dropping bits this ABI version does not know.
    pub const fn rights(&self) -> Rights {
        Rights::from_bits_truncate(self.rights)
    }

    /// The parent's id, if the caller can reach it.
    pub const fn parent(&self) -> Option<u32> {
        if self.parent == GraphNode::NO_PARENT { None } else { Some(self.parent) }
    }
}

const _: () = {
    assert!(core::mem::size_of::<GraphNode>() == GraphNode::SIZE);
    assert!(core::mem::align_of::<GraphNode>() == 8);
    assert!(core::mem::offset_of!(GraphNode, node) == 0);
    assert!(core::mem::offset_of!(GraphNode, parent) == 4);
    assert!(core::mem::offset_of!(GraphNode, kind) == 8);
    assert!(core::mem::offset_of!(GraphNode, rights) == 12);
    assert!(core::mem::offset_of!(GraphNode, holder) == 16);
    assert!(core::mem::offset_of!(GraphNode, object) == 24);
    assert!(core::mem::offset_of!(GraphNode, badge) == 32);
    assert!(core::mem::offset_of!(GraphNode, device) == 40);
    assert!(core::mem::offset_of!(GraphNode, first) == 48);
    assert!(core::mem::offset_of!(GraphNode, count) == 56);
    assert!(core::mem::offset_of!(GraphNode, handle) == 64);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_decode_kind_rights_and_parent() {
        let node = GraphNode {
            kind: ObjectKind::Endpoint as u32,
            rights: Rights::SEND.bits() | 1 << 31,
            parent: GraphNode::NO_PARENT,
            ..GraphNode::default()
        };
        assert_eq!(node.object_kind(), Some(ObjectKind::Endpoint));
        assert_eq!(node.rights(), Rights::SEND);
        assert_eq!(node.parent(), None);
        assert_eq!(GraphNode { parent: 3, ..node }.parent(), Some(3));
    }
}
