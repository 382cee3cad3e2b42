//! Objects and capabilities.
//!
//! `caps` knows nothing of kernel types: an [`Object`] names a kernel object
//! by plain numbers (an id the kernel chose, or a range). The kernel maps
//! the numbers to its own structures.

use crate::abi::{CapInfo, Error, ObjectKind, Rights};
use crate::range::{PageRange, SectorRange};

/// A kernel-chosen identifier of an object (endpoint, process, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId(pub u64);

/// The object a capability refers to, with its kind-specific data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Object {
    /// A console.
    Console(ObjectId),
    /// A range of sectors on a block device.
    DiskRange(SectorRange),
    /// A memory quota: frames that may be mapped (the kernel keeps the
    /// count; every frame given to a process is charged to one).
    Memory(ObjectId),
    /// An IPC endpoint.
    Endpoint(ObjectId),
    /// A process.
    Process(ObjectId),
    /// A one-shot reply to a pending call.
    Reply(ObjectId),
    /// A timer.
    Timer(ObjectId),
    /// A program image in the boot ramdisk.
    Image(ObjectId),
    /// A notification (a word of event bits).
    Notification(ObjectId),
    /// An I/O ring of disk requests.
    IoRing(ObjectId),
    /// A page range of a memory object.
    MemoryObject(PageRange),
}

impl Object {
    /// The object's kind.
    #[inline]
    pub const fn kind(&self) -> ObjectKind {
        match self {
            Object::Console(_) => ObjectKind::Console,
            Object::DiskRange(_) => ObjectKind::DiskRange,
            Object::Memory(_) => ObjectKind::Memory,
            Object::Endpoint(_) => ObjectKind::Endpoint,
            Object::Process(_) => ObjectKind::Process,
            Object::Reply(_) => ObjectKind::Reply,
            Object::Timer(_) => ObjectKind::Timer,
            Object::Image(_) => ObjectKind::Image,
            Object::Notification(_) => ObjectKind::Notification,
            Object::IoRing(_) => ObjectKind::IoRing,
            Object::MemoryObject(_) => ObjectKind::MemoryObject,
        }
    }

    /// The object's id, for kinds named by id (`None` for disk ranges; a
    /// memory object's page range gives its object's id).
    pub const fn id(&self) -> Option<ObjectId> {
        match self {
            Object::Console(id)
            | Object::Endpoint(id)
            | Object::Process(id)
            | Object::Reply(id)
            | Object::Timer(id)
            | Object::Image(id)
            | Object::Notification(id)
            | Object::IoRing(id)
            | Object::Memory(id) => Some(*id),
            Object::MemoryObject(range) => Some(range.object),
            Object::DiskRange(_) => None,
        }
    }

    /// Checks the object's own data: ranges must be valid (non-empty, no
    /// wrap-around).
    pub const fn validate(&self) -> Result<(), Error> {
        match self {
            Object::DiskRange(range) => crate::range::check_span(range.first, range.count),
            Object::MemoryObject(range) => crate::range::check_span(range.first, range.count),
            _ => Ok(()),
        }
    }

    /// Whether a capability to `self` may descend from one to `parent`:
    /// the same object, or for ranges a sub-range of the same device.
    pub const fn is_within(&self, parent: &Object) -> bool {
        match (self, parent) {
            (Object::DiskRange(a), Object::DiskRange(b)) => a.is_within(b),
            (Object::MemoryObject(a), Object::MemoryObject(b)) => a.is_within(b),
            (Object::Console(a), Object::Console(b))
            | (Object::Endpoint(a), Object::Endpoint(b))
            | (Object::Process(a), Object::Process(b))
            | (Object::Reply(a), Object::Reply(b))
            | (Object::Timer(a), Object::Timer(b))
            | (Object::Image(a), Object::Image(b))
            | (Object::Notification(a), Object::Notification(b))
            | (Object::IoRing(a), Object::IoRing(b))
            | (Object::Memory(a), Object::Memory(b)) => a.0 == b.0,
            _ => false,
        }
    }
}

/// A badge: a number set once on an endpoint or notification capability
/// (when it is minted or derived from an unbadged one). An endpoint's is
/// delivered with every message sent through it, so the receiver knows
/// which client is talking; a notification's is the set of bits a signal
/// through it ORs into the word, so the waiter knows which sources fired.
/// Holders can never change it. 0 means "no badge".
pub type Badge = u64;

/// No badge.
pub const NO_BADGE: Badge = 0;

/// A capability: an object, what the holder may do with it, and a badge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Capability {
    /// The object.
    pub object: Object,
    /// The rights (always within `object.kind().valid_rights()`).
    pub rights: Rights,
    /// The badge (endpoints and notifications only; [`NO_BADGE`] otherwise).
    pub badge: Badge,
}

impl Capability {
    /// The object's kind.
    #[inline]
    pub const fn kind(&self) -> ObjectKind {
        self.object.kind()
    }

    /// What `cap_info` reports to user space.
    pub const fn info(&self) -> CapInfo {
        let (device, first, count) = match self.object {
            Object::DiskRange(range) => (range.device as u64, range.first, range.count),
            Object::MemoryObject(range) => (0, range.first, range.count),
            _ => (0, 0, 0),
        };
        CapInfo {
            kind: self.kind().as_raw() as u32,
            rights: self.rights.bits(),
            badge: self.badge,
            device,
            first,
            count,
        }
    }

    /// Whether this capability may descend from `parent`: narrower object,
    /// rights a subset, badge inherited or newly set on an unbadged parent.
    pub fn is_within(&self, parent: &Capability) -> bool {
        self.object.is_within(&parent.object)
            && parent.rights.contains(self.rights)
            && (self.badge == parent.badge || parent.badge == NO_BADGE)
    }
}

/// How a derived capability narrows its parent, besides its rights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Narrow {
    /// The same object (and badge) as the parent.
    Same,
    /// A sub-range `(offset, count)` relative to the parent's range
    /// (`DiskRange` in sectors, `MemoryObject` in pages).
    Range {
        /// First sector (frame) of the child, relative to the parent's.
        offset: u64,
        /// Sector (frame) count of the child, at least 1.
        count: u64,
    },
    /// Set a badge (non-zero) on a child of an unbadged endpoint or
    /// notification capability.
    Badge(Badge),
}

impl Narrow {
    /// Decodes the narrowing arguments of `cap_derive(handle, rights,
    /// offset, count, badge)`: `count != 0` asks for a sub-range, `badge !=
    /// 0` for a badge, neither for the same object. Asking for both is
    /// `InvalidArgument`; an `offset` without a `count` too.
    pub const fn from_syscall_args(offset: u64, count: u64, badge: Badge) -> Result<Narrow, Error> {
        match (offset, count, badge) {
            (0, 0, NO_BADGE) => Ok(Narrow::Same),
            (_, 0, NO_BADGE) => Err(Error::InvalidArgument),
            (_, _, NO_BADGE) => Ok(Narrow::Range { offset, count }),
            (0, 0, badge) => Ok(Narrow::Badge(badge)),
            _ => Err(Error::InvalidArgument),
        }
    }

    /// Applies the narrowing to `parent`, yielding the child's object and
    /// badge. Errors: a range or badge on a kind without one is
    /// `WrongKind`; a zero badge, a badge on a badged parent or a zero
    /// count is `InvalidArgument`; a sub-range that does not fit is
    /// `OutOfRange`.
    pub const fn apply(self, parent: &Capability) -> Result<(Object, Badge), Error> {
        match self {
            Narrow::Same => Ok((parent.object, parent.badge)),
            Narrow::Range { offset, count } => match parent.object {
                Object::DiskRange(range) => match range.sub_range(offset, count) {
                    Ok(sub) => Ok((Object::DiskRange(sub), parent.badge)),
                    Err(error) => Err(error),
                },
                Object::MemoryObject(range) => match range.sub_range(offset, count) {
                    Ok(sub) => Ok((Object::MemoryObject(sub), parent.badge)),
                    Err(error) => Err(error),
                },
                _ => Err(Error::WrongKind),
            },
            Narrow::Badge(badge) => {
                if !parent.kind().has_badge() {
                    Err(Error::WrongKind)
                } else if badge == NO_BADGE || parent.badge != NO_BADGE {
                    Err(Error::InvalidArgument)
                } else {
                    Ok((parent.object, badge))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(object: Object, rights: Rights, badge: Badge) -> Capability {
        Capability { object, rights, badge }
    }

    #[test]
    fn kinds_and_ids() {
        let disk = Object::DiskRange(SectorRange::new(1, 0, 8).unwrap());
        assert_eq!(disk.kind(), ObjectKind::DiskRange);
        assert_eq!(disk.id(), None);
        assert_eq!(Object::Endpoint(ObjectId(4)).id(), Some(ObjectId(4)));
        assert_eq!(Object::Image(ObjectId(1)).kind(), ObjectKind::Image);
        assert_eq!(Object::Memory(ObjectId(3)).id(), Some(ObjectId(3)));
        assert_eq!(Object::Memory(ObjectId(3)).validate(), Ok(()));
    }

    #[test]
    fn objects_nest_only_within_the_same_object() {
        let a = Object::Endpoint(ObjectId(1));
        assert!(a.is_within(&a));
        assert!(!a.is_within(&Object::Endpoint(ObjectId(2))));
        assert!(!a.is_within(&Object::Process(ObjectId(1))));
        let memory = Object::Memory(ObjectId(4));
        assert!(memory.is_within(&memory));
        assert!(!Object::Memory(ObjectId(5)).is_within(&memory));
    }

    #[test]
    fn info_reports_ranges_and_rights() {
        let c = cap(
            Object::DiskRange(SectorRange::new(3, 100, 50).unwrap()),
            Rights::READ | Rights::DERIVE,
            NO_BADGE,
        );
        let info = c.info();
        assert_eq!(info.object_kind(), Some(ObjectKind::DiskRange));
        assert_eq!(info.rights(), Rights::READ | Rights::DERIVE);
        assert_eq!((info.device, info.first, info.count), (3, 100, 50));
        let e = cap(Object::Endpoint(ObjectId(9)), Rights::SEND, 42).info();
        assert_eq!((e.badge, e.device, e.first, e.count), (42, 0, 0, 0));
    }

    #[test]
    fn narrow_applies_ranges_and_badges() {
        let disk =
            cap(Object::DiskRange(SectorRange::new(0, 10, 10).unwrap()), Rights::READ, NO_BADGE);
        assert_eq!(
            Narrow::Range { offset: 2, count: 3 }.apply(&disk),
            Ok((Object::DiskRange(SectorRange::new(0, 12, 3).unwrap()), NO_BADGE))
        );
        assert_eq!(Narrow::Range { offset: 8, count: 3 }.apply(&disk), Err(Error::OutOfRange));
        assert_eq!(Narrow::Range { offset: 0, count: 0 }.apply(&disk), Err(Error::InvalidArgument));
        assert_eq!(Narrow::Badge(5).apply(&disk), Err(Error::WrongKind));
        assert_eq!(Narrow::Same.apply(&disk), Ok((disk.object, NO_BADGE)));

        let ep = cap(Object::Endpoint(ObjectId(1)), Rights::SEND, NO_BADGE);
        assert_eq!(Narrow::Badge(5).apply(&ep), Ok((ep.object, 5)));
        assert_eq!(Narrow::Badge(NO_BADGE).apply(&ep), Err(Error::InvalidArgument));
        assert_eq!(Narrow::Range { offset: 0, count: 1 }.apply(&ep), Err(Error::WrongKind));
        let badged = cap(ep.object, Rights::SEND, 7);
        assert_eq!(Narrow::Badge(8).apply(&badged), Err(Error::InvalidArgument));
        assert_eq!(Narrow::Same.apply(&badged), Ok((ep.object, 7)));
    }

    #[test]
    fn notifications_take_badges_like_endpoints() {
        let n = cap(Object::Notification(ObjectId(2)), Rights::SEND | Rights::WAIT, NO_BADGE);
        assert_eq!(n.object.kind(), ObjectKind::Notification);
        assert_eq!(n.object.id(), Some(ObjectId(2)));
        assert!(n.object.is_within(&n.object));
        assert!(!n.object.is_within(&Object::Notification(ObjectId(3))));
        assert!(!n.object.is_within(&Object::Endpoint(ObjectId(2))));
        assert_eq!(Narrow::Badge(0b100).apply(&n), Ok((n.object, 0b100)));
        assert_eq!(Narrow::Range { offset: 0, count: 1 }.apply(&n), Err(Error::WrongKind));
        let badged = cap(n.object, Rights::SEND, 0b100);
        assert_eq!(Narrow::Badge(0b1000).apply(&badged), Err(Error::InvalidArgument));
        assert!(badged.is_within(&n));
        assert_eq!(badged.info().badge, 0b100);
        assert_eq!(badged.info().object_kind(), Some(ObjectKind::Notification));
    }

    #[test]
    fn syscall_arguments_decode_to_one_narrowing() {
        assert_eq!(Narrow::from_syscall_args(0, 0, 0), Ok(Narrow::Same));
        assert_eq!(Narrow::from_syscall_args(4, 2, 0), Ok(Narrow::Range { offset: 4, count: 2 }));
        assert_eq!(Narrow::from_syscall_args(0, 2, 0), Ok(Narrow::Range { offset: 0, count: 2 }));
        assert_eq!(Narrow::from_syscall_args(0, 0, 9), Ok(Narrow::Badge(9)));
        assert_eq!(Narrow::from_syscall_args(3, 0, 0), Err(Error::InvalidArgument));
        assert_eq!(Narrow::from_syscall_args(0, 1, 9), Err(Error::InvalidArgument));
        assert_eq!(Narrow::from_syscall_args(1, 0, 9), Err(Error::InvalidArgument));
    }

    #[test]
    fn capability_is_within_checks_rights_and_badge() {
        let parent = cap(Object::Endpoint(ObjectId(1)), Rights::SEND | Rights::RECV, NO_BADGE);
        let child = cap(parent.object, Rights::SEND, 3);
        assert!(child.is_within(&parent));
        assert!(!parent.is_within(&child));
        let badged = cap(parent.object, Rights::SEND, 4);
        assert!(!child.is_within(&badged));
    }

    #[test]
    fn memory_objects_narrow_to_sub_ranges_of_the_same_object() {
        let whole = PageRange::new(ObjectId(7), 0, 8).unwrap();
        let parent = cap(Object::MemoryObject(whole), Rights::MAP | Rights::READ, NO_BADGE);
        let (child, badge) = Narrow::Range { offset: 2, count: 3 }.apply(&parent).unwrap();
        assert_eq!(child, Object::MemoryObject(PageRange::new(ObjectId(7), 2, 3).unwrap()));
        assert_eq!(badge, NO_BADGE);
        assert!(child.is_within(&parent.object));
        assert!(!parent.object.is_within(&child));
        assert_eq!(child.id(), Some(ObjectId(7)));
        assert_eq!(child.kind(), ObjectKind::MemoryObject);
        assert_eq!(Narrow::Range { offset: 6, count: 3 }.apply(&parent), Err(Error::OutOfRange));
        assert_eq!(Narrow::Badge(1).apply(&parent), Err(Error::WrongKind));
        let other = Object::MemoryObject(PageRange::new(ObjectId(8), 2, 3).unwrap());
        assert!(!other.is_within(&parent.object));
        let info = cap(child, Rights::MAP, NO_BADGE).info();
        assert_eq!((info.device, info.first, info.count), (0, 2, 3));
    }
}
