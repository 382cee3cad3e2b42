//! Sector-aligned buffers for device requests.
//!
//! The kernel moves data straight between the device and a buffer that
//! starts on a sector boundary; any other buffer goes through a kernel
//! bounce buffer, one more copy of every byte. The heap makes no such
//! promise for a `Vec<u8>`, so the file system (and anyone doing raw disk
//! I/O) builds request buffers with [`IoBuf`]: a zeroed `Vec` a little
//! larger than asked, used from its first sector-aligned byte.

use alloc::vec;
use alloc::vec::Vec;
use core::ops::{Deref, DerefMut};

use crate::block::SECTOR_SIZE;

/// A zero-filled byte buffer whose first byte is sector-aligned.
pub struct IoBuf {
    storage: Vec<u8>,
    offset: usize,
    len: usize,
}

impl IoBuf {
    /// `len` zero bytes, starting on a sector boundary.
    pub fn zeroed(len: usize) -> IoBuf {
        let storage = vec![0u8; len + SECTOR_SIZE - 1];
        let offset = storage.as_ptr().align_offset(SECTOR_SIZE);
        IoBuf { storage, offset, len }
    }
}

impl Deref for IoBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.storage[self.offset..self.offset + self.len]
    }
}

impl DerefMut for IoBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.storage[self.offset..self.offset + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iobuf_is_sector_aligned_zeroed_and_sized() {
        for len in [0, 1, 512, 4096, 100_000] {
            let mut b = IoBuf::zeroed(len);
            assert_eq!(b.len(), len);
            assert_eq!(b.as_ptr() as usize % SECTOR_SIZE, 0);
            assert!(b.iter().all(|&x| x == 0));
            b.fill(7);
            assert!(b.iter().all(|&x| x == 7));
        }
    }
}
