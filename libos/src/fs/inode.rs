//! Inodes: loading, storing, allocating and freeing, including the chain of
//! extent overflow blocks.
//!
//! An inode holds up to [`INLINE_EXTENTS`] extents itself; more go to a
//! chain of overflow blocks (each a header `magic, count, next` and up to
//! [`EXTENTS_PER_BLOCK`] extents). Storing rewrites only the chain blocks
//! whose bytes change, so appending to a long file dirties one block.

use alloc::vec::Vec;

use super::FsError;
use super::extent;
use super::layout::{
    BLOCK_SIZE, Block, EXT_BLOCK_HEADER, EXT_BLOCK_MAGIC, EXTENT_SIZE, EXTENTS_PER_BLOCK, Extent,
    FileType, INLINE_EXTENTS, MAX_FILE_SIZE, RawInode, get_u32, get_u64, put_u32, put_u64,
};
use super::volume::Volume;
use crate::block::BlockDevice;

/// An inode in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inode {
    /// Inode number.
    pub ino: u32,
    /// File or directory.
    pub kind: FileType,
    /// Size in bytes (for a directory: its blocks times the block size).
    pub size: u64,
    /// The block map.
    pub extents: Vec<Extent>,
    /// The extent overflow blocks, in chain order.
    pub chain: Vec<u64>,
}

/// Overflow blocks needed for `count` extents.
pub fn chain_blocks_for(count: usize) -> usize {
    count.saturating_sub(INLINE_EXTENTS).div_ceil(EXTENTS_PER_BLOCK)
}

impl<D: BlockDevice> Volume<D> {
    /// Whether `ino` names an inode slot.
    pub fn ino_in_range(&self, ino: u32) -> bool {
        ino != 0 && u64::from(ino) < self.geo.inode_count
    }

    /// Loads and validates inode `ino`, which must be in use.
    pub fn load_inode(&mut self, ino: u32) -> Result<Inode, FsError> {
        if !self.ino_in_range(ino) {
            return Err(FsError::Corrupt("inode number out of range"));
        }
        let (b, off) = self.geo.inode_pos(ino);
        let blk = self.meta(b)?;
        let (raw, inline) = RawInode::decode(&blk[..], off)?;
        let kind = raw.kind.ok_or(FsError::Corrupt("reference to a free inode"))?;
        let count = raw.extent_count as usize;
        if raw.chain_len as usize != chain_blocks_for(count)
            || u64::from(raw.chain_len) > self.geo.total_blocks
            || raw.size > MAX_FILE_SIZE
        {
            return Err(FsError::Corrupt("bad inode extent counts or size"));
        }
        let mut extents = Vec::with_capacity(count);
        extents.extend_from_slice(&inline[..count.min(INLINE_EXTENTS)]);
        let mut chain = Vec::with_capacity(raw.chain_len as usize);
        let mut next = raw.chain_head;
        for k in 0..raw.chain_len as usize {
            if !self.geo.is_data(next) || chain.contains(&next) {
                return Err(FsError::Corrupt("bad extent chain pointer"));
            }
            let cb = self.meta(next)?;
            let want = (count - INLINE_EXTENTS - k * EXTENTS_PER_BLOCK).min(EXTENTS_PER_BLOCK);
            if get_u32(&cb[..], 0) != EXT_BLOCK_MAGIC || get_u32(&cb[..], 4) as usize != want {
                return Err(FsError::Corrupt("bad extent block header"));
            }
            for i in 0..want {
                extents.push(Extent::decode(&cb[..], EXT_BLOCK_HEADER + i * EXTENT_SIZE));
            }
            chain.push(next);
            next = get_u64(&cb[..], 8);
        }
        if next != 0 {
            return Err(FsError::Corrupt("extent chain too long"));
        }
        let limit = raw.size.div_ceil(BLOCK_SIZE as u64);
        extent::validate(&extents, &self.geo, limit)?;
        if kind == FileType::Dir
            && (raw.size % BLOCK_SIZE as u64 != 0 || extent::mapped_blocks(&extents) != limit)
        {
            return Err(FsError::Corrupt("directory with holes or a partial block"));
        }
        Ok(Inode { ino, kind, size: raw.size, extents, chain })
    }

    /// Writes `inode` back (allocating or freeing overflow blocks as the
    /// extent count requires).
    pub fn store_inode(&mut self, inode: &mut Inode) -> Result<(), FsError> {
        let need = chain_blocks_for(inode.extents.len());
        while inode.chain.len() < need {
            let hint = inode.chain.last().copied().unwrap_or(0);
            let b = self.alloc_meta(hint)?;
            inode.chain.push(b);
        }
        while inode.chain.len() > need {
            if let Some(b) = inode.chain.pop() {
                self.free_blocks(b, 1);
            }
        }
        for k in 0..need {
            let mut blk: Block = [0u8; BLOCK_SIZE];
            let first = INLINE_EXTENTS + k * EXTENTS_PER_BLOCK;
            let these = &inode.extents[first..(first + EXTENTS_PER_BLOCK).min(inode.extents.len())];
            put_u32(&mut blk, 0, EXT_BLOCK_MAGIC);
            put_u32(&mut blk, 4, these.len() as u32);
            put_u64(&mut blk, 8, inode.chain.get(k + 1).copied().unwrap_or(0));
            for (i, e) in these.iter().enumerate() {
                e.encode(&mut blk, EXT_BLOCK_HEADER + i * EXTENT_SIZE);
            }
            let b = inode.chain[k];
            if self.meta(b)?[..] != blk[..] {
                self.meta_update(b, |m| *m = blk)?;
            }
        }
        let raw = RawInode {
            kind: Some(inode.kind),
            size: inode.size,
            extent_count: inode.extents.len() as u32,
            chain_len: need as u32,
            chain_head: inode.chain.first().copied().unwrap_or(0),
        };
        let (b, off) = self.geo.inode_pos(inode.ino);
        self.meta_update(b, |m| raw.encode(m, off, &inode.extents))
    }

    /// Allocates a new, empty inode of `kind` (written in the cache).
    pub fn alloc_inode(&mut self, kind: FileType) -> Result<Inode, FsError> {
        let (ino, _) = self.inodes.find_run(1, 1).ok_or(FsError::NoSpace)?;
        let ino = u32::try_from(ino).map_err(|_| FsError::NoSpace)?;
        let (b, _) = self.geo.inode_pos(ino);
        self.meta(b)?;
        self.inodes.mark_used(u64::from(ino), 1);
        self.mutations += 1;
        let mut inode = Inode { ino, kind, size: 0, extents: Vec::new(), chain: Vec::new() };
        self.store_inode(&mut inode)?;
        Ok(inode)
    }

    /// Frees an inode and every block it owns.
    pub fn free_inode(&mut self, inode: Inode) -> Result<(), FsError> {
        let (b, off) = self.geo.inode_pos(inode.ino);
        self.meta(b)?;
        for e in &inode.extents {
            self.free_blocks(e.phys, e.len);
        }
        for &c in &inode.chain {
            self.free_blocks(c, 1);
        }
        let raw = RawInode { kind: None, size: 0, extent_count: 0, chain_len: 0, chain_head: 0 };
        self.meta_update(b, |m| raw.encode(m, off, &[]))?;
        self.inodes.free(u64::from(inode.ino), 1, true);
        Ok(())
    }
}
