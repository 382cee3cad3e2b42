//! How the arguments and results of some syscalls are encoded.
//!
//! Each call's arguments and result are documented once, on its
//! [`Syscall`](super::Syscall) variant (generated with its decoder); this
//! module holds the flags and packings those docs name.
//!
//! `cap_derive` modes: `DERIVE_SAME` keeps the object (a = b = 0);
//! `DERIVE_RANGE` takes the sub-range (offset a, count b) of a `DiskRange`;
//! `DERIVE_BADGE` sets badge a on an unbadged endpoint or notification
//! capability.

use super::{ObjectKind, Rights};

/// `cap_derive`: same object, fewer rights.
pub const DERIVE_SAME: u64 = 0;
/// `cap_derive`: a sub-range `(a, b)` = `(offset, count)`.
pub const DERIVE_RANGE: u64 = 1;
/// `cap_derive`: a badge `a`.
pub const DERIVE_BADGE: u64 = 2;

/// `mem_map`: the pages are writable.
pub const MAP_WRITE: u64 = 1 << 0;
/// `mem_map`: the pages are executable (never together with `MAP_WRITE`).
pub const MAP_EXEC: u64 = 1 << 1;

/// `proc_wait`: return `WouldBlock` instead of waiting.
pub const WAIT_NONBLOCK: u64 = 1 << 0;

/// `notify_wait`: return `WouldBlock` instead of waiting when the word is 0.
pub const NOTIFY_NONBLOCK: u64 = 1 << 0;

/// `console_read`: return `WouldBlock` instead of waiting when nothing was
/// typed.
pub const CONSOLE_NONBLOCK: u64 = 1 << 0;

/// Most bytes one `console_read` returns (the kernel's input ring holds no
/// more); a longer buffer is filled up to this.
pub const MAX_CONSOLE_READ: u64 = 256;

/// The bits a signal through an unbadged notification capability ORs into
/// the word (bit 0). seL4 ORs the badge as is, keeping a separate "active"
/// state, so there an unbadged signal wakes the waiter with a word of 0;
/// here the word is the only state (0 = nothing pending), so a signal must
/// set a bit. Give badged signallers other bits if the waiter must tell
/// them apart from unbadged ones.
pub const UNBADGED_SIGNAL: u64 = 1;

/// Most bytes one `debug_write` takes.
pub const MAX_DEBUG_WRITE: u64 = 64 * 1024;

/// The most pages one memory object may have (`mo_create`; more is
/// `OutOfRange`): 64 MiB.
pub const MAX_OBJECT_PAGES: u64 = 16 * 1024;

/// The most memory-object mappings one process may hold at once (`mo_map`
/// past it, or a `mem_unmap` that would split one past it, is
/// `OutOfMemory`): the kernel's record of them is shared by every process,
/// so no one process may take it all.
pub const MAX_MAPPINGS_PER_PROCESS: usize = 256;

/// `cap_info`'s result: the kind in bits 0..16, the rights in 16..48.
pub const fn pack_info(kind: ObjectKind, rights: Rights) -> u64 {
    kind.as_raw() as u64 | (rights.bits() as u64) << 16
}

/// Undoes [`pack_info`].
pub const fn unpack_info(raw: u64) -> (Option<ObjectKind>, Rights) {
    (ObjectKind::from_raw(raw & 0xffff), Rights::from_bits_truncate((raw >> 16) as u32))
}
