//! Object kinds: what a capability names.
//!
//! [`ObjectKind`] is the numbered kind carried in [`CapInfo`](super::CapInfo)
//! and checked by the kernel on every lookup. The zero-sized marker types
//! ([`Console`], [`DiskRange`], ...) implement [`Kind`] and parameterise
//! [`Handle<K>`](super::Handle) so that user code cannot pass a console
//! handle where a disk range is expected.

use super::rights::Rights;

/// The kind of object a capability refers to.
///
/// The numbering is part of the ABI: never renumber a kind, only append.
/// Zero is not a kind, so a zeroed record never looks like a valid one.
#[repr(u16)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectKind {
    /// The debug console (serial output).
    Console = 1,
    /// A range of sectors on a block device.
    DiskRange = 2,
    /// A range of physical page frames.
    Memory = 3,
    /// An IPC endpoint.
    Endpoint = 4,
    /// A process that the holder spawned.
    Process = 5,
    /// A one-shot reply capability, created by `ipc_call`.
    Reply = 6,
    /// The clock and sleep timer.
    Timer = 7,
    /// A program image in the boot ramdisk, runnable with `proc_spawn`.
    Image = 8,
    /// A notification: a word of event bits that signallers OR their
    /// badge into and one waiter takes (seL4's notification object).
    Notification = 9,
    /// An I/O ring: submission and completion queues of disk requests in
    /// memory shared with its process ([`ring`](super::ring)).
    IoRing = 10,
    /// A memory object: pages of physical memory that every holder may
    /// map into its own address space (seL4's frames, Zircon's VMOs); a
    /// capability names a page range of it.
    MemoryObject = 11,
}

impl ObjectKind {
    /// Every kind, in numeric order.
    pub const ALL: [ObjectKind; 11] = [
        ObjectKind::Console,
        ObjectKind::DiskRange,
        ObjectKind::Memory,
        ObjectKind::Endpoint,
        ObjectKind::Process,
        ObjectKind::Reply,
        ObjectKind::Timer,
        ObjectKind::Image,
        ObjectKind::Notification,
        ObjectKind::IoRing,
        ObjectKind::MemoryObject,
    ];

    /// Decodes a kind number; `None` for numbers that name no kind.
    pub const fn from_raw(raw: u64) -> Option<ObjectKind> {
        Some(match raw {
            1 => ObjectKind::Console,
            2 => ObjectKind::DiskRange,
            3 => ObjectKind::Memory,
            4 => ObjectKind::Endpoint,
            5 => ObjectKind::Process,
            6 => ObjectKind::Reply,
            7 => ObjectKind::Timer,
            8 => ObjectKind::Image,
            9 => ObjectKind::Notification,
            10 => ObjectKind::IoRing,
            11 => ObjectKind::MemoryObject,
            _ => return None,
        })
    }

    /// The kind's number.
    pub const fn as_raw(self) -> u16 {
        self as u16
    }

    /// A short lower-case name, for logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Console => "console",
            ObjectKind::DiskRange => "disk-range",
            ObjectKind::Memory => "memory",
            ObjectKind::Endpoint => "endpoint",
            ObjectKind::Process => "process",
            ObjectKind::Reply => "reply",
            ObjectKind::Timer => "timer",
            ObjectKind::Image => "image",
            ObjectKind::Notification => "notification",
            ObjectKind::IoRing => "io-ring",
            ObjectKind::MemoryObject => "memory-object",
        }
    }

    /// The rights that mean something for this kind (see [`Rights`] for
    /// what each one allows). A capability never holds rights outside this
    /// set: minting refuses them.
    pub const fn valid_rights(self) -> Rights {
        let specific = match self {
            ObjectKind::Console => Rights::READ.union(Rights::WRITE),
            ObjectKind::DiskRange => Rights::READ.union(Rights::WRITE),
            ObjectKind::Memory => {
                Rights::READ.union(Rights::WRITE).union(Rights::EXEC).union(Rights::MAP)
            }
            ObjectKind::Endpoint => Rights::SEND.union(Rights::RECV),
            // WAIT: `proc_wait`, `proc_state`; WRITE: steer it (`proc_set_cpus`).
            ObjectKind::Process => Rights::WAIT.union(Rights::WRITE),
            // A reply is one-shot: it can be used (SEND) or handed to a
            // helper (GRANT); deriving or revoking it means nothing.
            ObjectKind::Reply => return Rights::SEND.union(Rights::GRANT),
            ObjectKind::Timer => Rights::READ.union(Rights::WAIT),
            ObjectKind::Image => Rights::READ.union(Rights::EXEC),
            // SEND signals (`notify_signal`, or being bound to an endpoint
            // by `endpoint_bind`); WAIT takes the word (`notify_wait`).
            ObjectKind::Notification => Rights::SEND.union(Rights::WAIT),
            // WRITE: submit (`ring_enter`).
            ObjectKind::IoRing => Rights::WRITE,
            // MAP: `mo_map` at all; READ, WRITE, EXEC: the mapping's access.
            ObjectKind::MemoryObject => {
                Rights::READ.union(Rights::WRITE).union(Rights::EXEC).union(Rights::MAP)
            }
        };
        specific.union(Rights::GENERIC)
    }

    /// Whether capabilities of this kind carry a sector or frame range
    /// that `derive` can narrow.
    pub const fn has_range(self) -> bool {
        matches!(self, ObjectKind::DiskRange | ObjectKind::MemoryObject)
    }

    /// Whether capabilities of this kind may carry a badge: endpoints
    /// (delivered with each message) and notifications (the bits a signal
    /// through the capability ORs into the word).
    pub const fn has_badge(self) -> bool {
        matches!(self, ObjectKind::Endpoint | ObjectKind::Notification)
    }
}

impl core::fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A compile-time object kind, for typed handles. Implemented only by the
/// marker types of this module.
pub trait Kind: sealed::Sealed + Copy + 'static {
    /// The run-time kind this marker stands for.
    const KIND: ObjectKind;
}

macro_rules! kind_markers {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {}
        impl sealed::Sealed for $name {}
        impl Kind for $name {
            const KIND: ObjectKind = ObjectKind::$name;
        }
    )*};
}

kind_markers! {
    /// Marker for [`ObjectKind::Console`].
    Console;
    /// Marker for [`ObjectKind::DiskRange`].
    DiskRange;
    /// Marker for [`ObjectKind::Memory`].
    Memory;
    /// Marker for [`ObjectKind::Endpoint`].
    Endpoint;
    /// Marker for [`ObjectKind::Process`].
    Process;
    /// Marker for [`ObjectKind::Reply`].
    Reply;
    /// Marker for [`ObjectKind::Timer`].
    Timer;
    /// Marker for [`ObjectKind::Image`].
    Image;
    /// Marker for [`ObjectKind::Notification`].
    Notification;
    /// Marker for [`ObjectKind::IoRing`].
    IoRing;
    /// Marker for [`ObjectKind::MemoryObject`].
    MemoryObject;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_raw_round_trips_every_kind() {
        for kind in ObjectKind::ALL {
            assert_eq!(ObjectKind::from_raw(u64::from(kind.as_raw())), Some(kind));
        }
    }

    #[test]
    fn from_raw_refuses_unknown_numbers() {
        assert_eq!(ObjectKind::from_raw(0), None);
        assert_eq!(ObjectKind::from_raw(10), Some(ObjectKind::IoRing));
        assert_eq!(ObjectKind::from_raw(11), Some(ObjectKind::MemoryObject));
        assert_eq!(ObjectKind::from_raw(12), None);
        assert_eq!(ObjectKind::from_raw(u64::MAX), None);
        assert_eq!(ObjectKind::from_raw(1 << 16 | 1), None);
    }

    #[test]
    fn valid_rights_always_include_grant() {
        for kind in ObjectKind::ALL {
            assert!(kind.valid_rights().contains(Rights::GRANT), "{kind}");
        }
        assert!(!ObjectKind::Reply.valid_rights().contains(Rights::DERIVE));
        assert!(ObjectKind::Memory.valid_rights().contains(Rights::MAP));
        assert!(!ObjectKind::Console.valid_rights().contains(Rights::SEND));
    }

    #[test]
    fn markers_name_their_kind() {
        assert_eq!(<DiskRange as Kind>::KIND, ObjectKind::DiskRange);
        assert_eq!(<Endpoint as Kind>::KIND, ObjectKind::Endpoint);
        assert_eq!(<Image as Kind>::KIND, ObjectKind::Image);
        assert_eq!(<Notification as Kind>::KIND, ObjectKind::Notification);
    }

    #[test]
    fn notifications_signal_and_wait_and_carry_badges() {
        let n = ObjectKind::Notification;
        assert_eq!(n.as_raw(), 9);
        assert_eq!(ObjectKind::from_raw(9), Some(n));
        assert_eq!(n.as_str(), "notification");
        assert_eq!(n.valid_rights(), Rights::SEND | Rights::WAIT | Rights::GENERIC);
        assert!(!n.valid_rights().intersects(Rights::READ | Rights::WRITE | Rights::RECV));
        assert!(n.has_badge());
        assert!(!n.has_range());
        assert!(!ObjectKind::Timer.has_badge());
    }
}
