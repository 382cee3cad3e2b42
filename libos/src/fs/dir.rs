//! Directories: an inode whose blocks (metadata, journaled) hold fixed-size
//! entries of [`DIRENT_SIZE`](super::layout::DIRENT_SIZE) bytes. A free slot
//! is all zeroes. A directory grows one block at a time and never has holes.

use alloc::vec::Vec;

use super::FsError;
use super::inode::Inode;
use super::layout::{
    BLOCK_SIZE, DIRENTS_PER_BLOCK, FileType, RawDirent, decode_dirent, encode_dirent,
};
use super::volume::Volume;
use crate::block::BlockDevice;

/// Where an entry lives: the device block and slot within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Device block of the directory.
    pub block: u64,
    /// Entry index in that block.
    pub index: usize,
}

/// A decoded entry with its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Name bytes.
    pub name: Vec<u8>,
    /// Inode number.
    pub ino: u32,
    /// Type recorded in the entry.
    pub kind: FileType,
    /// Location.
    pub slot: Slot,
}

impl<D: BlockDevice> Volume<D> {
    fn dir_blocks(dir: &Inode) -> impl Iterator<Item = u64> + '_ {
        dir.extents.iter().flat_map(|e| e.phys..e.phys + e.len)
    }

    /// Every entry of `dir`, in on-disk order.
    pub fn dir_entries(&mut self, dir: &Inode) -> Result<Vec<Entry>, FsError> {
        let mut out = Vec::new();
        let blocks: Vec<u64> = Self::dir_blocks(dir).collect();
        for b in blocks {
            let blk = self.meta(b)?;
            for index in 0..DIRENTS_PER_BLOCK {
                if let Some(d) = decode_dirent(&blk, index)? {
                    out.push(Entry {
                        name: d.name.to_vec(),
                        ino: d.ino,
                        kind: d.kind,
                        slot: Slot { block: b, index },
                    });
                }
            }
        }
        Ok(out)
    }

    /// Finds `name` in `dir`.
    pub fn dir_lookup(&mut self, dir: &Inode, name: &[u8]) -> Result<Option<Entry>, FsError> {
        let blocks: Vec<u64> = Self::dir_blocks(dir).collect();
        for b in blocks {
            let blk = self.meta(b)?;
            for index in 0..DIRENTS_PER_BLOCK {
                if let Some(d) = decode_dirent(&blk, index)?
                    && d.name == name
                {
                    return Ok(Some(Entry {
                        name: d.name.to_vec(),
                        ino: d.ino,
                        kind: d.kind,
                        slot: Slot { block: b, index },
                    }));
                }
            }
        }
        Ok(None)
    }

    /// Whether `dir` has no entries.
    pub fn dir_is_empty(&mut self, dir: &Inode) -> Result<bool, FsError> {
        let blocks: Vec<u64> = Self::dir_blocks(dir).collect();
        for b in blocks {
            let blk = self.meta(b)?;
            for index in 0..DIRENTS_PER_BLOCK {
                if decode_dirent(&blk, index)?.is_some() {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Finds a free slot in `dir` without changing anything; `None` when
    /// the directory must grow.
    pub fn dir_free_slot(&mut self, dir: &Inode) -> Result<Option<Slot>, FsError> {
        let blocks: Vec<u64> = Self::dir_blocks(dir).collect();
        for b in blocks {
            let blk = self.meta(b)?;
            for index in 0..DIRENTS_PER_BLOCK {
                if decode_dirent(&blk, index)?.is_none() {
                    return Ok(Some(Slot { block: b, index }));
                }
            }
        }
        Ok(None)
    }

    /// Adds a new block to `dir` and returns its first slot. The caller
    /// stores the inode.
    pub fn dir_grow(&mut self, dir: &mut Inode) -> Result<Slot, FsError> {
        let lb = dir.size / BLOCK_SIZE as u64;
        let hint = dir.extents.last().map_or(0, |e| e.phys + e.len);
        let b = self.alloc_meta(hint)?;
        super::extent::map(&mut dir.extents, lb, b, 1);
        dir.size += BLOCK_SIZE as u64;
        Ok(Slot { block: b, index: 0 })
    }

    /// Writes (or, with `None`, clears) the entry at `slot`.
    pub fn dir_set(
        &mut self,
        slot: Slot,
        entry: Option<(&[u8], u32, FileType)>,
    ) -> Result<(), FsError> {
        self.meta_update(slot.block, |blk| {
            encode_dirent(
                blk,
                slot.index,
                entry.map(|(name, ino, kind)| RawDirent { ino, kind, name }),
            )
        })
    }
}
