//! I/O rings: batches of disk requests through shared queues.
//!
//! A [`Ring`] is a submission queue and a completion queue in pages shared
//! with the kernel (`caps::abi::ring` has the layout), charged to a
//! `Memory` quota. Push reads, writes and flushes, each naming a
//! `DiskRange` handle; [`Ring::submit`] hands them all to the kernel in one
//! `ring_enter` and may wait for completions; [`Ring::pop`] collects them,
//! in the order they finished, with their tags and buffers.
//!
//! The kernel checks every entry against its capability exactly as
//! `disk_submit` checks its arguments; a bad entry completes at once with
//! its own error and never stops the ring. A request whose capability is
//! revoked (or dropped) while in flight completes with `Revoked`, and a
//! read then leaves its buffer untouched.
//!
//! Buffers are lent, not copied: a read's buffer is borrowed by the ring
//! until its completion is collected, when it comes back in
//! [`Completion::buffer`] (as [`Pending`](crate::disk::Pending) borrows one
//! for `disk_submit`). Design: io_uring (Axboe, "Efficient IO with
//! io_uring", 2019) and seL4 sDDF's queues.
//!
//! ```ignore
//! let mut ring = Ring::new(memory, 32)?;
//! for (i, buf) in bufs.iter_mut().enumerate() {
//!     ring.read(disk, i as u64 * 8, buf, i as u64).map_err(|(e, _)| e)?;
//! }
//! ring.submit(32)?;
//! while let Some(c) = ring.pop() {
//!     c.result?;
//! }
//! ```

pub use crate::sys::ring::{Buffer, Completion, RING_AREA, Ring, reserve};
