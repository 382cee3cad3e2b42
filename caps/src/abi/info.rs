//! What `cap_info` tells user space about one of its capabilities.

use super::kind::ObjectKind;
use super::rights::Rights;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The record `cap_info` writes to user memory. `#[repr(C)]`, 40 bytes,
/// 8-byte aligned; the field offsets are part of the ABI (checked at
/// compile time below).
///
/// Kernel object identities (endpoint numbers, process ids) are not
/// revealed: two handles cannot be compared for "same object" through it.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct CapInfo {
    /// The [`ObjectKind`] number.
    pub kind: u32,
    /// The [`Rights`] bits.
    pub rights: u32,
    /// The badge (endpoints and notifications only; 0 = none).
    pub badge: u64,
    /// `DiskRange`: the device number; 0 for other kinds.
    pub device: u64,
    /// `DiskRange`: the absolute first sector; 0 for other kinds.
    pub first: u64,
    /// `DiskRange`: the sector count; 0 for other kinds.
    pub count: u64,
}

impl CapInfo {
    /// The size of the record in bytes.
    pub const SIZE: usize = 40;

    /// The kind, if the number names one.
    pub const fn object_kind(&self) -> Option<ObjectKind> {
        ObjectKind::from_raw(self.kind as u64)
    }

    /// The rights, dropping bits this ABI version does not know.
    pub const fn rights(&self) -> Rights {
        Rights::from_bits_truncate(self.rights)
    }
}

const _: () = {
    assert!(core::mem::size_of::<CapInfo>() == CapInfo::SIZE);
    assert!(core::mem::align_of::<CapInfo>() == 8);
    assert!(core::mem::offset_of!(CapInfo, kind) == 0);
    assert!(core::mem::offset_of!(CapInfo, rights) == 4);
    assert!(core::mem::offset_of!(CapInfo, badge) == 8);
    assert!(core::mem::offset_of!(CapInfo, device) == 16);
    assert!(core::mem::offset_of!(CapInfo, first) == 24);
    assert!(core::mem::offset_of!(CapInfo, count) == 32);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_decode_kind_and_rights() {
        let info = CapInfo {
            kind: ObjectKind::DiskRange as u32,
            rights: (Rights::READ | Rights::GRANT).bits() | 1 << 31,
            ..CapInfo::default()
        };
        assert_eq!(info.object_kind(), Some(ObjectKind::DiskRange));
        assert_eq!(info.rights(), Rights::READ | Rights::GRANT);
        assert_eq!(CapInfo::default().object_kind(), None);
    }
}
