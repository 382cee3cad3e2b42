//! I/O rings: a submission queue and a completion queue of disk requests,
//! in memory shared by one process and the kernel.
//!
//! | syscall | arguments | result | right |
//! |---|---|---|---|
//! | `ring_create` | memory, entries, vaddr | ring handle | `MAP`, `READ`, `WRITE` on the `Memory` |
//! | `ring_enter` | ring, to_submit, min_complete, flags | entries consumed | `WRITE` on the `IoRing` |
//!
//! The ring's memory is [`ring_pages`]`(entries)` pages at `vaddr`
//! (where nothing is mapped: else `AddressInUse`), charged to the
//! `Memory` quota and mapped user read/write (never executable): a
//! [`RingHeader`] page, then `entries` [`Sqe`]s from
//! [`RingHeader::sq_offset`], then `entries` [`Cqe`]s from
//! [`RingHeader::cq_offset`]. Each queue has one producer and one
//! consumer, with free-running `u32` indices (an entry's slot is
//! `index & mask`, the queue holds `tail - head` entries, wrapping): the
//! program produces submissions (`sq_tail`) and consumes completions
//! (`cq_head`); the kernel consumes submissions (`sq_head`) and produces
//! completions (`cq_tail`). The kernel keeps its own copy of the indices
//! it produces and rewrites them into the header; it never trusts the
//! header's copy. The design is io_uring's (Axboe, "Efficient IO with
//! io_uring", 2019) and seL4 sDDF's queues (Parker et al., 2023).
//!
//! Every submission entry is checked against its `DiskRange` capability
//! exactly as `disk_submit` checks its arguments (kind, rights, range,
//! [`MAX_ASYNC_SECTORS`](super::disk::MAX_ASYNC_SECTORS), buffer mapped and
//! writable for a read), at the moment the kernel consumes it. An entry
//! that fails a check completes at once, with the error in its [`Cqe`];
//! it never stops the ring. A request in flight remembers the capability
//! it was started through: if that capability is gone when the request
//! completes, its result is `Revoked` and a read copies nothing (the
//! `caps` crate doc, "In-flight operations").

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::layout::PAGE_SIZE;

/// Most entries a ring's queues hold.
pub const MAX_RING_ENTRIES: u32 = 256;

/// `Sqe::op`: read sectors into `buf` (copied there when the completion
/// is posted).
pub const RING_OP_READ: u32 = super::disk::OP_READ as u32;
/// `Sqe::op`: write `buf` (copied in when the entry is consumed).
pub const RING_OP_WRITE: u32 = super::disk::OP_WRITE as u32;
/// `Sqe::op`: flush the device's write cache (`sector`, `count`, `buf`
/// ignored).
pub const RING_OP_FLUSH: u32 = super::disk::OP_FLUSH as u32;

/// The header, at the start of the ring's first page.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct RingHeader {
    /// Next submission the kernel consumes (written by the kernel).
    pub sq_head: u32,
    /// Next free submission slot (written by the program).
    pub sq_tail: u32,
    /// Next completion the program consumes (written by the program).
    pub cq_head: u32,
    /// Next completion slot the kernel fills (written by the kernel).
    pub cq_tail: u32,
    /// Submission entries (a power of two).
    pub sq_entries: u32,
    /// Completion entries (a power of two, equal to `sq_entries`).
    pub cq_entries: u32,
    /// `sq_entries - 1`.
    pub sq_mask: u32,
    /// `cq_entries - 1`.
    pub cq_mask: u32,
    /// Bytes from the ring's start to its first [`Sqe`].
    pub sq_offset: u32,
    /// Bytes from the ring's start to its first [`Cqe`].
    pub cq_offset: u32,
    /// No flag is defined yet: 0.
    pub flags: u32,
    /// Reserved: 0.
    pub reserved: u32,
}

/// A submission queue entry: one disk request.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Sqe {
    /// The `DiskRange` handle (raw value) the request goes through.
    pub range: u64,
    /// [`RING_OP_READ`], [`RING_OP_WRITE`] or [`RING_OP_FLUSH`]; others
    /// complete with `InvalidArgument`.
    pub op: u32,
    /// No flag is defined: anything but 0 completes with `InvalidArgument`.
    pub flags: u32,
    /// First sector, relative to the range.
    pub sector: u64,
    /// Sectors, 1 to `MAX_ASYNC_SECTORS` (0 for a flush).
    pub count: u64,
    /// The program's buffer: `count * 512` bytes, writable for a read.
    pub buf: u64,
    /// Returned untouched in the entry's completion.
    pub user_data: u64,
}

/// A completion queue entry.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Cqe {
    /// The submission's `user_data`.
    pub user_data: u64,
    /// The result encoded as a syscall's `rax`
    /// ([`decode_result`](super::decode_result)): the sectors moved, or an
    /// error.
    pub result: u64,
}

/// Bytes per [`Sqe`].
pub const SQE_SIZE: u64 = core::mem::size_of::<Sqe>() as u64;
/// Bytes per [`Cqe`].
pub const CQE_SIZE: u64 = core::mem::size_of::<Cqe>() as u64;

const _: () = assert!(SQE_SIZE == 48 && CQE_SIZE == 16);
const _: () = assert!(core::mem::size_of::<RingHeader>() as u64 <= PAGE_SIZE);

/// Whether `entries` is a ring size the kernel accepts: a power of two,
/// 1 to [`MAX_RING_ENTRIES`].
pub const fn valid_entries(entries: u64) -> bool {
    entries.is_power_of_two() && entries <= MAX_RING_ENTRIES as u64
}

/// Byte offset of the submission queue: right after the header page.
pub const fn sq_offset(_entries: u64) -> u64 {
    PAGE_SIZE
}

/// Byte offset of the completion queue: on the page after the
/// submission queue's last.
pub const fn cq_offset(entries: u64) -> u64 {
    sq_offset(entries) + (entries * SQE_SIZE).div_ceil(PAGE_SIZE) * PAGE_SIZE
}

/// Pages of a ring of `entries` (header, submissions, completions).
pub const fn ring_pages(entries: u64) -> u64 {
    (cq_offset(entries) + (entries * CQE_SIZE).div_ceil(PAGE_SIZE) * PAGE_SIZE) / PAGE_SIZE
}

/// Most pages any ring takes.
pub const MAX_RING_PAGES: u64 = ring_pages(MAX_RING_ENTRIES as u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_powers_of_two_up_to_the_limit() {
        assert!(!valid_entries(0));
        assert!(valid_entries(1));
        assert!(valid_entries(256));
        assert!(!valid_entries(3));
        assert!(!valid_entries(512));
        assert!(!valid_entries(u64::MAX));
    }

    #[test]
    fn layout_puts_each_queue_on_its_own_pages() {
        assert_eq!(ring_pages(1), 3);
        assert_eq!(cq_offset(32), 2 * PAGE_SIZE);
        assert_eq!(ring_pages(256), 1 + 3 + 1);
        assert_eq!(MAX_RING_PAGES, 5);
        for e in [1u64, 2, 64, 128, 256] {
            assert!(sq_offset(e) + e * SQE_SIZE <= cq_offset(e));
            assert!(cq_offset(e) + e * CQE_SIZE <= ring_pages(e) * PAGE_SIZE);
        }
    }
}
