//! Typed handles and what each kind can do.
//!
//! `Handle<K>` names a capability in this process's table whose object has
//! kind `K`; the type makes passing, say, a console where a disk range is
//! expected a compile error. The kernel checks kind and rights on every
//! call anyway.

use caps::abi::args::{DERIVE_BADGE, DERIVE_SAME};
use caps::abi::kind::{Console, Kind, Memory, Timer};
use caps::abi::{CapInfo, Error, ObjectKind, RawHandle, Rights};
use core::marker::PhantomData;

use crate::sys;

/// A capability handle of kind `K`.
#[repr(transparent)]
pub struct Handle<K: Kind> {
    raw: RawHandle,
    kind: PhantomData<fn() -> K>,
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
impl<K: Kind> core::fmt::Debug for Handle<K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Handle<{}>({:#x})", K::KIND, self.raw.as_raw())
    }
}

impl<K: Kind> Handle<K> {
    /// Types a raw handle (nothing is checked until it is used).
    pub const fn from_raw(raw: RawHandle) -> Self {
        Handle { raw, kind: PhantomData }
    }

    /// The raw value.
    pub const fn raw(self) -> RawHandle {
        self.raw
    }

    /// What the kernel says about the capability.
    pub fn info(self) -> Result<CapInfo, Error> {
        sys::cap_info(self.raw)
    }

    /// Its kind and rights.
    pub fn kind_and_rights(self) -> Result<(Option<ObjectKind>, Rights), Error> {
        sys::cap_kind(self.raw)
    }

    /// A new handle to the same object with `rights` (a subset). Needs DERIVE.
    pub fn derive(self, rights: Rights) -> Result<Self, Error> {
        sys::cap_derive(self.raw, rights, DERIVE_SAME, 0, 0).map(Self::from_raw)
    }

    /// A new handle with `badge` set (endpoints, notifications). Needs DERIVE.
    pub fn derive_badged(self, rights: Rights, badge: u64) -> Result<Self, Error> {
        sys::cap_derive(self.raw, rights, DERIVE_BADGE, badge, 0).map(Self::from_raw)
    }

    /// Destroys every capability derived from this one, in every process.
    /// Needs REVOKE. Returns how many died.
    pub fn revoke(self) -> Result<u64, Error> {
        sys::cap_revoke(self.raw)
    }

    /// Closes this handle.
    pub fn close(self) -> Result<(), Error> {
        sys::cap_drop(self.raw)
    }
}

impl Handle<Console> {
    /// Writes bytes to the console. Needs WRITE.
    pub fn write(self, bytes: &[u8]) -> Result<u64, Error> {
        sys::debug_write(self.raw, bytes)
    }

    /// Reads what was typed on the console into `buf` (at least one byte,
    /// at most `buf.len()` and `MAX_CONSOLE_READ`), waiting for it. Needs
    /// READ. `Busy` while another process waits for input; `Revoked` if
    /// this capability is revoked or dropped while waiting.
    pub fn read(self, buf: &mut [u8]) -> Result<usize, Error> {
        sys::console_read(self.raw, buf, 0)
    }

    /// [`read`](Self::read) without waiting: `WouldBlock` when nothing was
    /// typed.
    pub fn try_read(self, buf: &mut [u8]) -> Result<usize, Error> {
        sys::console_read(self.raw, buf, caps::abi::args::CONSOLE_NONBLOCK)
    }
}

impl Handle<Timer> {
    /// Nanoseconds since boot. Needs READ.
    pub fn now_ns(self) -> Result<u64, Error> {
        sys::clock(self.raw)
    }

    /// Sleeps at least `ns` nanoseconds. Needs WAIT.
    pub fn sleep_ns(self, ns: u64) -> Result<(), Error> {
        sys::sleep(self.raw, ns)
    }

    /// The clock, the timer tick count, and a reference clock kept by
    /// other hardware (`caps::abi::time::TimerInfo`). Needs READ.
    pub fn timer_info(self) -> Result<caps::abi::time::TimerInfo, Error> {
        sys::timer_info(self.raw)
    }
}

impl Handle<Memory> {
    /// Maps `len` bytes of fresh zeroed pages at `vaddr` (`flags` from
    /// `caps::abi::args`), charged to this quota. Needs MAP (+ WRITE/EXEC).
    pub fn map(self, vaddr: u64, len: u64, flags: u64) -> Result<(), Error> {
        sys::mem_map(self.raw, vaddr, len, flags)
    }
}
