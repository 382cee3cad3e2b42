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
//!   parent's badge (or a new one on an unbadged endpoint).
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
//! `caps` checks authority when an operation starts. An I/O request the
//! kernel already handed to a driver when its capability is revoked runs to
//! completion; the kernel reports it (e.g. `disk_complete`) with
//! [`Error::Revoked`](abi::Error::Revoked) so no data reaches a process
//! whose authority is gone. Every new request is checked again, so nothing
//! starts through a revoked capability.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod abi;
pub mod handle;
mod invariants;
mod object;
pub mod range;
mod space;
mod table;
mod tree;

pub use invariants::InvariantViolation;
pub use object::{Badge, Capability, NO_BADGE, Narrow, Object, ObjectId};
pub use range::SectorRange;
pub use space::{Audited, CapSpace, Removed, TableId};
pub use table::CapTable;
