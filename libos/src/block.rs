//! Block devices: the interface between the file system and storage.
//!
//! A [`BlockDevice`] is a linear array of 512-byte sectors that can be read,
//! written and flushed. In QEMU it is implemented by a disk-range capability
//! handle (every call is one syscall, sector numbers are relative to the
//! range); on the host, tests and tools use the in-memory [`MemDisk`].
//!
//! # Contract
//! - Buffers passed to [`BlockDevice::read`] and [`BlockDevice::write`] are a
//!   whole number of sectors long; one call may (and for throughput should)
//!   cover many sectors.
//! - A write is visible to later reads at once, but it is only *durable*
//!   (survives a power cut) once a later [`BlockDevice::flush`] has returned.
//!   Between two flushes the device may persist any subset of the writes, in
//!   any order; a single sector is never torn.
//! - A failed call may have done part of its work (some sectors written).
//!
//! The trait is synchronous and uses `&mut self`. An asynchronous
//! submit/complete extension is planned as a separate trait on top of this
//! one, so that synchronous users are unaffected.
#![forbid(unsafe_code)]

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

/// Size of one sector in bytes. Every device used by `libos` has this size.
pub const SECTOR_SIZE: usize = 512;

/// Why a block-device request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockError {
    /// The request touches a sector past the end of the device.
    OutOfRange,
    /// The buffer length is not a whole number of sectors.
    BadBuffer,
    /// The device reported a media or transport error.
    Io,
    /// The capability lacks the right needed for this request.
    Denied,
    /// The capability was revoked.
    Revoked,
    /// Another error, with the raw code reported by the lower layer.
    Other(u32),
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockError::OutOfRange => f.write_str("sector out of range"),
            BlockError::BadBuffer => f.write_str("buffer is not a whole number of sectors"),
            BlockError::Io => f.write_str("device I/O error"),
            BlockError::Denied => f.write_str("permission denied by capability"),
            BlockError::Revoked => f.write_str("capability revoked"),
            BlockError::Other(code) => write!(f, "device error {code}"),
        }
    }
}

/// A device of fixed-size sectors.
pub trait BlockDevice {
    /// Size of one sector in bytes; [`SECTOR_SIZE`] for every current device.
    fn sector_size(&self) -> usize {
        SECTOR_SIZE
    }

    /// Number of sectors on the device.
    fn sector_count(&self) -> u64;

    /// Reads `buf.len() / sector_size()` sectors starting at `sector`.
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError>;

    /// Writes `buf.len() / sector_size()` sectors starting at `sector`.
    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), BlockError>;

    /// Barrier: every write issued before this call is durable when it
    /// returns `Ok`.
    fn flush(&mut self) -> Result<(), BlockError>;

    /// Writes several independent runs of sectors, `(first sector, bytes)`
    /// each: they may reach the device in any order and at once, and all
    /// have ended when this returns (the first error is reported). A
    /// device that can batch (an I/O ring) overrides this; the default
    /// writes them one after the other.
    fn write_many(&mut self, writes: &[(u64, &[u8])]) -> Result<(), BlockError> {
        for &(sector, buf) in writes {
            self.write(sector, buf)?;
        }
        Ok(())
    }
}

impl<T: BlockDevice + ?Sized> BlockDevice for &mut T {
    fn sector_size(&self) -> usize {
        (**self).sector_size()
    }
    fn sector_count(&self) -> u64 {
        (**self).sector_count()
    }
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        (**self).read(sector, buf)
    }
    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), BlockError> {
        (**self).write(sector, buf)
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        (**self).flush()
    }
    fn write_many(&mut self, writes: &[(u64, &[u8])]) -> Result<(), BlockError> {
        (**self).write_many(writes)
    }
}

impl<T: BlockDevice + ?Sized> BlockDevice for alloc::boxed::Box<T> {
    fn sector_size(&self) -> usize {
        (**self).sector_size()
    }
    fn sector_count(&self) -> u64 {
        (**self).sector_count()
    }
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        (**self).read(sector, buf)
    }
    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), BlockError> {
        (**self).write(sector, buf)
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        (**self).flush()
    }
    fn write_many(&mut self, writes: &[(u64, &[u8])]) -> Result<(), BlockError> {
        (**self).write_many(writes)
    }
}

/// Checks a request against a device of `sector_count` sectors and returns
/// the byte range it covers.
pub fn check_request(
    sector_count: u64,
    sector: u64,
    len: usize,
) -> Result<core::ops::Range<usize>, BlockError> {
    if !len.is_multiple_of(SECTOR_SIZE) {
        return Err(BlockError::BadBuffer);
    }
    let sectors = (len / SECTOR_SIZE) as u64;
    let end = sector.checked_add(sectors).ok_or(BlockError::OutOfRange)?;
    if end > sector_count {
        return Err(BlockError::OutOfRange);
    }
    let start = usize::try_from(sector)
        .ok()
        .and_then(|s| s.checked_mul(SECTOR_SIZE))
        .ok_or(BlockError::OutOfRange)?;
    Ok(start..start + len)
}

/// A RAM disk backed by a `Vec<u8>`: writes are durable at once.
#[derive(Clone, PartialEq, Eq)]
pub struct MemDisk {
    bytes: Vec<u8>,
}

impl fmt::Debug for MemDisk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemDisk").field("sectors", &self.sector_count()).finish()
    }
}

impl MemDisk {
    /// A zero-filled disk of `sectors` sectors.
    pub fn new(sectors: u64) -> Self {
        let len = usize::try_from(sectors).unwrap_or(usize::MAX / SECTOR_SIZE) * SECTOR_SIZE;
        MemDisk { bytes: vec![0; len] }
    }

    /// A disk holding `bytes` (truncated to a whole number of sectors).
    pub fn from_vec(mut bytes: Vec<u8>) -> Self {
        bytes.truncate(bytes.len() - bytes.len() % SECTOR_SIZE);
        MemDisk { bytes }
    }

    /// The disk's contents.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The disk's contents, mutable (to build corrupted or crashed images).
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    /// Consumes the disk and returns its contents.
    pub fn into_vec(self) -> Vec<u8> {
        self.bytes
    }
}

impl BlockDevice for MemDisk {
    fn sector_count(&self) -> u64 {
        (self.bytes.len() / SECTOR_SIZE) as u64
    }

    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        let range = check_request(self.sector_count(), sector, buf.len())?;
        buf.copy_from_slice(&self.bytes[range]);
        Ok(())
    }

    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), BlockError> {
        let range = check_request(self.sector_count(), sector, buf.len())?;
        self.bytes[range].copy_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memdisk_round_trip_multi_sector() {
        let mut d = MemDisk::new(8);
        let data: Vec<u8> = (0..3 * SECTOR_SIZE).map(|i| i as u8).collect();
        d.write(2, &data).unwrap();
        let mut back = vec![0; 3 * SECTOR_SIZE];
        d.read(2, &mut back).unwrap();
        assert_eq!(back, data);
        assert!(d.as_bytes()[..2 * SECTOR_SIZE].iter().all(|&b| b == 0));
    }

    #[test]
    fn memdisk_rejects_bad_requests() {
        let mut d = MemDisk::new(4);
        let mut buf = [0u8; SECTOR_SIZE];
        assert_eq!(d.read(4, &mut buf), Err(BlockError::OutOfRange));
        assert_eq!(d.read(u64::MAX, &mut buf), Err(BlockError::OutOfRange));
        assert_eq!(d.write(0, &buf[..100]), Err(BlockError::BadBuffer));
        let two = [0u8; 2 * SECTOR_SIZE];
        assert_eq!(d.write(3, &two), Err(BlockError::OutOfRange));
        assert_eq!(d.flush(), Ok(()));
    }

    #[test]
    fn memdisk_from_vec_truncates_to_sectors() {
        let d = MemDisk::from_vec(vec![1; SECTOR_SIZE * 2 + 7]);
        assert_eq!(d.sector_count(), 2);
    }
}
