//! Disk ranges: raw sectors through a `DiskRange` capability.
//!
//! `Handle<DiskRange>` reads, writes and flushes sectors relative to its
//! range, derives narrower ranges, and keeps several requests in flight
//! ([`Pending`]). [`RangeDevice`] makes a range a [`BlockDevice`], so the
//! file system runs on it.
//!
//! A request in flight belongs to the handle it was started through: once
//! that handle dies (revoked through any ancestor, or dropped) its
//! completion is `Revoked` and delivers nothing. The precise rules, for
//! writes too, are in the `caps` crate doc, "In-flight operations".

use caps::abi::args::DERIVE_RANGE;
use caps::abi::disk::{DiskInfo, MAX_ASYNC_SECTORS, MAX_SECTORS, OP_READ, OP_WRITE};
use caps::abi::kind::{DiskRange, Memory};
use caps::abi::{Error, Rights, SECTOR_SIZE};

use crate::block::{BlockDevice, BlockError};
use crate::handle::Handle;
use crate::ring::Ring;
use crate::sys;
pub use crate::sys::Pending;

impl Handle<DiskRange> {
    /// The range's size and its device's statistics. Needs READ.
    pub fn disk_info(self) -> Result<DiskInfo, Error> {
        sys::disk_info(self.raw())
    }

    /// Sectors in the range. Needs READ.
    pub fn sectors(self) -> Result<u64, Error> {
        self.disk_info().map(|i| i.sectors)
    }

    /// Reads `buf.len() / 512` sectors at `sector` (relative to the range).
    /// Needs READ. `buf.len()` must be a whole number of sectors; any size
    /// is split into requests the kernel takes.
    pub fn read(self, sector: u64, buf: &mut [u8]) -> Result<(), Error> {
        if buf.is_empty() || !buf.len().is_multiple_of(SECTOR_SIZE) {
            return Err(Error::InvalidArgument);
        }
        let mut s = sector;
        for chunk in buf.chunks_mut(MAX_SECTORS as usize * SECTOR_SIZE) {
            sys::disk_read(self.raw(), s, chunk)?;
            s += (chunk.len() / SECTOR_SIZE) as u64;
        }
        Ok(())
    }

    /// Writes `buf` at `sector`. Needs WRITE. Durable after [`flush`](Self::flush).
    pub fn write(self, sector: u64, buf: &[u8]) -> Result<(), Error> {
        if buf.is_empty() || !buf.len().is_multiple_of(SECTOR_SIZE) {
            return Err(Error::InvalidArgument);
        }
        let mut s = sector;
        for chunk in buf.chunks(MAX_SECTORS as usize * SECTOR_SIZE) {
            sys::disk_write(self.raw(), s, chunk)?;
            s += (chunk.len() / SECTOR_SIZE) as u64;
        }
        Ok(())
    }

    /// Makes every completed write durable. Needs WRITE.
    pub fn flush(self) -> Result<(), Error> {
        sys::disk_flush(self.raw())
    }

    /// A new handle for the sub-range `(offset, count)` with `rights` (a
    /// subset). Needs DERIVE.
    pub fn derive_range(self, offset: u64, count: u64, rights: Rights) -> Result<Self, Error> {
        sys::cap_derive(self.raw(), rights, DERIVE_RANGE, offset, count).map(Self::from_raw)
    }

    /// Starts reading into `buf` (at most 64 KiB); finish with
    /// [`Pending::wait`]. Needs READ. If this handle (or an ancestor) is
    /// revoked, or it is dropped, before the request is finished, `wait`
    /// returns `Revoked` and `buf` is left as it was (the `caps` crate doc,
    /// "In-flight operations").
    pub fn submit_read<'a>(self, sector: u64, buf: &'a mut [u8]) -> Result<Pending<'a>, Error> {
        self.submit(OP_READ, sector, buf)
    }

    /// Starts writing `buf` (at most 64 KiB; copied at once). Needs WRITE.
    /// If this handle (or an ancestor) is revoked, or it is dropped, before
    /// the request is finished, `wait` returns `Revoked`; the write may
    /// still reach the disk (the `caps` crate doc, "In-flight operations").
    pub fn submit_write<'a>(self, sector: u64, buf: &'a mut [u8]) -> Result<Pending<'a>, Error> {
        self.submit(OP_WRITE, sector, buf)
    }

    fn submit<'a>(self, op: u64, sector: u64, buf: &'a mut [u8]) -> Result<Pending<'a>, Error> {
        if buf.is_empty() || !buf.len().is_multiple_of(SECTOR_SIZE) {
            return Err(Error::InvalidArgument);
        }
        Pending::submit(self.raw(), op, sector, buf)
    }
}

/// A disk range as a [`BlockDevice`] (for the file system).
pub struct RangeDevice {
    handle: Handle<DiskRange>,
    sectors: u64,
    /// Where batches go through an I/O ring: the quota rings are charged
    /// to and the address reserved for them.
    batch: Option<(Handle<Memory>, u64)>,
}

/// Entries of a [`RangeDevice`]'s batch ring.
const BATCH_ENTRIES: u32 = 32;

impl RangeDevice {
    /// Wraps `handle` (asks the kernel its size once: needs READ).
    pub fn new(handle: Handle<DiskRange>) -> Result<Self, Error> {
        Ok(RangeDevice { handle, sectors: handle.sectors()?, batch: None })
    }

    /// As [`new`](Self::new), and [`BlockDevice::write_many`] sends its
    /// writes through an I/O ring ([`crate::ring`]) charged to `memory`
    /// (MAP, READ, WRITE): up to 32 requests of up to 64 KiB in flight per
    /// `ring_enter`, where `new`'s device writes them one by one. The ring
    /// exists only during the batch (its pages come back to the quota
    /// after), always at the same reserved address.
    pub fn with_batches(handle: Handle<DiskRange>, memory: Handle<Memory>) -> Result<Self, Error> {
        let vaddr = crate::ring::reserve(BATCH_ENTRIES);
        Ok(RangeDevice { handle, sectors: handle.sectors()?, batch: Some((memory, vaddr)) })
    }

    /// Writes `writes` through `ring`: every piece of at most
    /// `MAX_ASYNC_SECTORS` pushed, submitted as the ring fills, and every
    /// completion collected before it returns.
    fn write_batch<'a>(
        &mut self,
        mut ring: Ring<'a>,
        writes: &[(u64, &'a [u8])],
    ) -> Result<(), Error> {
        let piece = MAX_ASYNC_SECTORS as usize * SECTOR_SIZE;
        let mut first_error = Ok(());
        let mut collect = |ring: &mut Ring<'a>, min: u32| -> Result<(), Error> {
            ring.submit(min)?;
            while let Some(c) = ring.pop() {
                if let (Err(e), Ok(())) = (c.result, first_error) {
                    first_error = Err(e);
                }
            }
            Ok(())
        };
        for &(sector, buf) in writes {
            for (k, chunk) in buf.chunks(piece).enumerate() {
                let at = sector + (k * piece / SECTOR_SIZE) as u64;
                while ring.outstanding() == ring.entries() {
                    collect(&mut ring, 1)?;
                }
                ring.write(self.handle, at, chunk, 0)?;
            }
        }
        while ring.outstanding() > 0 {
            let left = ring.outstanding();
            collect(&mut ring, left)?;
        }
        drop(ring);
        first_error
    }

    /// The capability.
    pub fn handle(&self) -> Handle<DiskRange> {
        self.handle
    }
}

/// The block layer's view of a syscall error.
pub fn block_error(e: Error) -> BlockError {
    match e {
        Error::OutOfRange => BlockError::OutOfRange,
        Error::MissingRight => BlockError::Denied,
        // A revoked capability is a dead handle.
        Error::BadHandle | Error::Revoked => BlockError::Revoked,
        Error::IoError => BlockError::Io,
        Error::InvalidArgument => BlockError::BadBuffer,
        other => BlockError::Other(other.code() as u32),
    }
}

impl BlockDevice for RangeDevice {
    fn sector_count(&self) -> u64 {
        self.sectors
    }

    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.handle.read(sector, buf).map_err(block_error)
    }

    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), BlockError> {
        self.handle.write(sector, buf).map_err(block_error)
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        self.handle.flush().map_err(block_error)
    }

    fn write_many(&mut self, writes: &[(u64, &[u8])]) -> Result<(), BlockError> {
        // A batch of one, or a ring the quota cannot hold: one by one.
        let ring = match self.batch {
            Some((memory, vaddr)) if writes.len() > 1 => {
                Ring::new_at(memory, BATCH_ENTRIES, vaddr).ok()
            }
            _ => None,
        };
        match ring {
            Some(ring) => self.write_batch(ring, writes).map_err(block_error),
            None => {
                for &(sector, buf) in writes {
                    self.write(sector, buf)?;
                }
                Ok(())
            }
        }
    }
}
