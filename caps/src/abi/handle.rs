//! Handle values as user space holds them.
//!
//! A handle is an opaque non-zero `u64` below `2^63` (so it never collides
//! with an error in `rax`). Only the kernel can interpret it (see
//! `caps::handle` for the encoding); user code compares, stores and passes
//! it back.

use core::fmt;
use core::hash::{Hash, Hasher};
use core::marker::PhantomData;

use super::kind::{Kind, ObjectKind};

/// An untyped handle value.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RawHandle(u64);

impl RawHandle {
    /// A value that is never a valid handle.
    pub const INVALID: RawHandle = RawHandle(0);

    /// Wraps a raw value (e.g. a syscall argument). Any value may be
    /// wrapped; the kernel checks it on use.
    pub const fn from_raw(raw: u64) -> RawHandle {
        RawHandle(raw)
    }

    /// The raw value, for passing in a register.
    pub const fn as_raw(self) -> u64 {
        self.0
    }

    /// Asserts (at the type level only) that this handle names an object of
    /// kind `K`. Nothing is checked here: the kernel checks the kind on
    /// every use and answers [`Error::WrongKind`](super::Error::WrongKind).
    pub const fn typed<K: Kind>(self) -> Handle<K> {
        Handle::from_raw(self)
    }
}

impl fmt::Debug for RawHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawHandle({:#x})", self.0)
    }
}

/// A handle typed with the kind of object it names, so that passing a
/// console handle where a disk range is expected does not compile:
///
/// ```compile_fail
/// use caps::abi::{Handle, RawHandle, kind};
/// fn read_disk(_range: Handle<kind::DiskRange>) {}
/// let console: Handle<kind::Console> = RawHandle::from_raw(7).typed();
/// read_disk(console);
/// ```
///
/// ```
/// use caps::abi::{Handle, RawHandle, kind};
/// fn read_disk(_range: Handle<kind::DiskRange>) {}
/// let range: Handle<kind::DiskRange> = RawHandle::from_raw(7).typed();
/// read_disk(range);
/// ```
#[repr(transparent)]
pub struct Handle<K: Kind> {
    raw: RawHandle,
    kind: PhantomData<fn() -> K>,
}

impl<K: Kind> Handle<K> {
    /// Types a raw handle. See [`RawHandle::typed`].
    pub const fn from_raw(raw: RawHandle) -> Handle<K> {
        Handle { raw, kind: PhantomData }
    }

    /// The untyped handle.
    pub const fn raw(self) -> RawHandle {
        self.raw
    }

    /// The kind this handle is typed with.
    pub const fn kind(self) -> ObjectKind {
        K::KIND
    }
}

impl<K: Kind> Clone for Handle<K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K: Kind> Copy for Handle<K> {}

impl<K: Kind> PartialEq for Handle<K> {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl<K: Kind> Eq for Handle<K> {}

impl<K: Kind> Hash for Handle<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.raw.hash(state);
    }
}

impl<K: Kind> fmt::Debug for Handle<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle<{}>({:#x})", K::KIND, self.raw.0)
    }
}

impl<K: Kind> From<Handle<K>> for RawHandle {
    fn from(handle: Handle<K>) -> RawHandle {
        handle.raw
    }
}

#[cfg(test)]
mod tests {
    use super::super::kind;
    use super::*;

    fn wants_disk(handle: Handle<kind::DiskRange>) -> u64 {
        handle.raw().as_raw()
    }

    #[test]
    fn typed_handles_keep_the_raw_value_and_kind() {
        let raw = RawHandle::from_raw(0x1234);
        let disk: Handle<kind::DiskRange> = raw.typed();
        assert_eq!(wants_disk(disk), 0x1234);
        assert_eq!(disk.kind(), ObjectKind::DiskRange);
        assert_eq!(RawHandle::from(disk), raw);
        assert_eq!(core::mem::size_of::<Handle<kind::Console>>(), 8);
    }

    #[test]
    fn debug_shows_the_kind() {
        extern crate std;
        let h: Handle<kind::Endpoint> = RawHandle::from_raw(0xff).typed();
        assert_eq!(std::format!("{h:?}"), "Handle<endpoint>(0xff)");
        assert_eq!(std::format!("{:?}", RawHandle::INVALID), "RawHandle(0x0)");
    }
}
