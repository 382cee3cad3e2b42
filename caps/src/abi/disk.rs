//! Disk-range calls: arguments, limits and the `disk_info` record.
//!
//! | syscall | arguments | result | right |
//! |---|---|---|---|
//! | `disk_info` | range, out ptr (0: none) | sectors in the range; a [`DiskInfo`] at `out` | READ |
//! | `disk_read` | range, sector, count, buf | `count` | READ |
//! | `disk_write` | range, sector, count, buf | `count` | WRITE |
//! | `disk_flush` | range | 0 | WRITE |
//! | `disk_submit` | range, op ([`OP_READ`], [`OP_WRITE`], [`OP_FLUSH`]), sector, count, buf | request id | READ or WRITE |
//! | `disk_complete` | request id, flags ([`COMPLETE_NONBLOCK`]) | `count`; `Revoked` if the request's capability is gone | (own requests only) |
//!
//! Sectors are relative to the range; `count` is in sectors and at least
//! 1; `buf` holds `count * SECTOR_SIZE` bytes of the caller's memory
//! (writable for reads). Every request is checked on every use: a range
//! that was revoked or narrowed stops working at the next request.
//!
//! Synchronous calls return only once the device is done with their
//! buffer. An asynchronous request remembers the capability it was started
//! through: if that capability is gone (revoked through any ancestor,
//! dropped, moved) when `disk_complete` runs, it returns `Revoked` and
//! copies nothing; a write the device already accepted may still reach the
//! disk. The precise rules are in the `caps` crate doc, "In-flight
//! operations".

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `disk_submit`: read sectors into `buf` (copied out at completion).
pub const OP_READ: u64 = 0;
/// `disk_submit`: write `buf` (copied in at submission).
pub const OP_WRITE: u64 = 1;
/// `disk_submit`: flush the device's write cache.
pub const OP_FLUSH: u64 = 2;

/// `disk_complete`: return `WouldBlock` instead of waiting.
pub const COMPLETE_NONBLOCK: u64 = 1;

/// Most sectors one synchronous `disk_read`/`disk_write` moves (1 MiB).
pub const MAX_SECTORS: u64 = 2048;
/// Most sectors one asynchronous request moves (64 KiB, through a kernel
/// bounce buffer).
pub const MAX_ASYNC_SECTORS: u64 = 128;
/// Most asynchronous requests one process may have in flight.
pub const MAX_ASYNC_REQUESTS: usize = 32;

/// What `disk_info` writes.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct DiskInfo {
    /// Bytes per sector.
    pub sector_size: u64,
    /// Sectors in the range.
    pub sectors: u64,
    /// The device number.
    pub device: u64,
    /// Sectors on the whole device.
    pub device_sectors: u64,
    /// Requests the kernel has handled on this device since boot.
    pub requests: u64,
    /// TSC cycles the kernel itself spent on them (checks, translation,
    /// queueing, completion: not the time waiting for the device).
    pub kernel_cycles: u64,
}
