//! Notifications: waiting for several event sources at once.
//!
//! A notification is a word of bits in the kernel (seL4's notification
//! object, `src/object/notification.c` in seL4; see the seL4 manual's
//! "Notifications" chapter). [`Handle::signal`] ORs the capability's badge
//! into the word (an unbadged capability sets bit 0,
//! [`UNBADGED_SIGNAL`]); [`Handle::wait`] takes the word and clears it,
//! waiting while it is 0. Signals never block and never queue: what the
//! waiter learns is which sources fired since it last looked.
//!
//! The usual shape: create one, give each source a copy badged with its
//! own bit (`derive_badged(Rights::SEND | Rights::GRANT, 1 << i)`), bind
//! endpoints to badged copies
//! ([`bind_notification`](Handle::bind_notification)), and loop on `wait`,
//! serving the sources whose bits are set.
//!
//! ```ignore
//! let n = Handle::<Notification>::create(memory)?;
//! requests.bind_notification(n.derive_badged(Rights::SEND, 0b10)?)?;
//! loop {
//!     let bits = n.wait()?;
//!     if bits & 0b10 != 0 {
//!         while let Ok(m) = requests.try_recv() { /* serve m */ }
//!     }
//! }
//! ```

use caps::abi::args::NOTIFY_NONBLOCK;
pub use caps::abi::args::UNBADGED_SIGNAL;
use caps::abi::kind::{Memory, Notification};
use caps::abi::{Error, RawHandle};

use crate::handle::Handle;
use crate::sys;

impl Handle<Notification> {
    /// A new notification (every right, no badge), charged one frame to
    /// `memory`'s quota while it lives. Needs MAP on `memory`;
    /// `OutOfMemory` when the quota is spent.
    pub fn create(memory: Handle<Memory>) -> Result<Self, Error> {
        sys::notify_create(memory.raw()).map(Self::from_raw)
    }

    /// ORs this capability's badge (bit 0 if it has none) into the word,
    /// waking a waiter if one waits. Never blocks. Needs SEND.
    pub fn signal(self) -> Result<(), Error> {
        sys::notify_signal(self.raw())
    }

    /// The bits signalled since the last wait, clearing them; waits while
    /// there are none. Needs WAIT. `Revoked` if this capability dies while
    /// waiting.
    pub fn wait(self) -> Result<u64, Error> {
        sys::notify_wait(self.raw(), 0)
    }

    /// As [`wait`](Self::wait), but `WouldBlock` instead of waiting when no
    /// bit is set.
    pub fn poll(self) -> Result<u64, Error> {
        sys::notify_wait(self.raw(), NOTIFY_NONBLOCK)
    }

    /// From now on, each time the disk finishes one of this process's
    /// asynchronous requests (`submit_read`/`submit_write`, or a ring
    /// entry), signal through this capability (its badge): wait for disk
    /// completions and other sources (endpoints bound with
    /// `Endpoint::bind_notification`, other signallers) in one `wait`,
    /// then collect what is done without blocking. Replaces an earlier
    /// binding. Needs SEND.
    pub fn bind_disk_completions(self) -> Result<(), Error> {
        sys::disk_bind(self.raw())
    }
}

/// Stops signalling disk completions ([`Handle::bind_disk_completions`]).
pub fn unbind_disk_completions() -> Result<(), Error> {
    sys::disk_bind(RawHandle::INVALID)
}
