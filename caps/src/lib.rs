//! # exocap capabilities
//!
//! The security core of exocap: the capability model the kernel checks on
//! every syscall, and the ABI ([`abi`]) that user space shares with it.
//! Pure logic: `no_std` + `alloc`, safe Rust only (`forbid(unsafe_code)`), tested on the host.
//!
//! ## Promises
//! - **No forgery.** A handle is a value the kernel issued into one table;
//!   it resolves only in that table, only while its slot holds the same
//!   generation. A dropped, moved or revoked handle never resolves again,
//!   even after its slot is reused (see [`handle`] for the encoding).
//! - **Rights only shrink.** Every capability descends from a root the
//!   kernel minted; a derived or granted one has a subset of its parent's
//!   rights, the same object (for ranges, a nested sub-range) and the
//!   parent's badge (or a new one on an unbadged endpoint or notification).
//! - **Revoke is total.** Revoking a capability destroys everything derived
//!   from it, in every table, transitively; dropping a capability in the
//!   middle re-parents its children, so a revoke higher up still reaches
//!   them. The kernel learns of every removal ([`Removed`]).
//! - **A failed operation changes nothing.** Every operation validates all
//!   of its inputs before it changes any state.
//! - **Nothing is unbounded.** Tables have quotas, the space has a global
//!   limit; tree walks are loops with constant stack.
//!
//! ## The pieces
//! - [`abi`]: object kinds, rights, error codes and the `rax` convention,
//!   syscall numbers, typed handles, [`CapInfo`](abi::CapInfo).
//! - [`Capability`] `{ object, rights, badge }`; [`Object`] names a kernel
//!   object by plain numbers; [`SectorRange`].
//! - [`CapTable`]: one process's handles; [`CapSpace`]: every table plus
//!   the derivation tree, behind the kernel's one lock.
//!
//! ## Cost of each operation (n = capabilities in the space)
//! | operation | time | notes |
//! |---|---|---|
//! | [`CapSpace::lookup`] | O(1) | decode (xor, mul, and, xor), two indexed loads, three compares; no allocation |
//! | [`CapSpace::mint`], [`derive`](CapSpace::derive), [`grant`](CapSpace::grant), [`move_cap`](CapSpace::move_cap) | O(1) amortised | slab insertions |
//! | [`CapSpace::drop_cap`] | O(direct children) | children are re-parented |
//! | [`CapSpace::revoke`] | O(revoked subtree) | independent of n; constant stack |
//! | [`CapSpace::destroy_table`] | O(table size + children re-parented) | |
//! | [`CapSpace::check_invariants`] | O(n) | debug builds and tests |
//!
//! ## In-flight operations
//! This is the one statement of what revocation does to work already under
//! way; the other docs point here. `caps` checks authority when an
//! operation starts, and the kernel checks it again when an operation that
//! outlives its syscall finishes:
//! - **Nothing new starts** through a capability that was revoked (through
//!   any ancestor), dropped, moved away, or whose table was destroyed: the
//!   handle is dead (`BadHandle`).
//! - **Synchronous disk calls** (`disk_read`, `disk_write`, `disk_flush`)
//!   hold the kernel for their whole transfer, so no revoke can fall in
//!   the middle of one: it completes, and it returns only once the device
//!   is done with every part of it, failed parts included.
//! - **An asynchronous disk request** (`disk_submit`) remembers the
//!   capability it was started through. If, when the program completes it
//!   (`disk_complete`), that capability no longer exists — revoked through
//!   any ancestor, dropped, moved away — the result is
//!   [`Error::Revoked`](abi::Error::Revoked), whatever the device reported
//!   (an I/O error included), and nothing is copied into the process: a
//!   read's buffer is left as it was. Revoking the request's *own*
//!   capability does not touch the request: revoke destroys only what was
//!   derived from a capability, not the capability itself.
//! - **A write the device already accepted** (every `disk_submit` write
//!   that returned an id: its data was copied into the kernel and handed to
//!   the device before `disk_submit` returned) cannot be called back. When
//!   its capability is revoked, the write still runs to its end: any of its
//!   sectors may reach the disk, each sector whole (old or new contents),
//!   or none; the program is told `Revoked` and must assume nothing about
//!   which. The same holds for a flush. `cap_revoke` returns only once the
//!   devices are done with every such request (of any capability that no
//!   longer resolves), so after it returns nothing more reaches the disk
//!   through what it destroyed, and the revoker's own later writes land
//!   after them. (`cap_drop` does not wait: a program's own request through
//!   a handle it dropped may land after the drop returned.)
//! - **A process that dies** with requests in flight loses them: the kernel
//!   keeps each one's buffer until the device is done with it, then frees
//!   it; writes may still reach the disk, as above.
//! - **I/O ring requests** ([`abi::ring`]) are asynchronous requests in
//!   every respect above: each remembers the `DiskRange` capability its
//!   entry named, its completion is `Revoked` (nothing copied) when that
//!   capability is gone at the moment the kernel posts it, and `cap_revoke`
//!   waits for them as for `disk_submit`'s. A ring that ends (its last
//!   capability dropped, its owner dead, its pages unmapped) loses its
//!   requests in flight as a dying process does.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod abi;
mod graph;
pub mod handle;
mod invariants;
mod object;
pub mod range;
mod space;
mod table;
mod tree;

pub use graph::Reached;
pub use invariants::InvariantViolation;
pub use object::{Badge, Capability, NO_BADGE, Narrow, Object, ObjectId};
pub use range::{PageRange, SectorRange};
pub use space::{Audited, CapSpace, Removed, TableId};
pub use table::CapTable;
