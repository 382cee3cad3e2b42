//! The on-disk format: constants, geometry, and the encoding of the
//! superblock, inodes, extents and directory entries.
//!
//! Every integer is little-endian. Every decoder validates what it reads and
//! returns [`FsError::Corrupt`] instead of trusting the image.

use super::FsError;
use crate::block::SECTOR_SIZE;

/// File-system block size in bytes.
pub const BLOCK_SIZE: usize = 4096;
/// Sectors per file-system block.
pub const SECTORS_PER_BLOCK: u64 = (BLOCK_SIZE / SECTOR_SIZE) as u64;
/// One block's bytes.
pub type Block = [u8; BLOCK_SIZE];

/// Superblock magic: "EXOCAPFS".
pub const MAGIC: u64 = u64::from_le_bytes(*b"EXOCAPFS");
/// On-disk format version.
pub const VERSION: u32 = 1;
/// Largest journal sequence number a superblock may hold. Every mount
/// that writes and every commit take one more, so no real file system gets
/// near it; refusing larger ones keeps the arithmetic on a hostile image
/// from overflowing.
pub const MAX_JOURNAL_SEQ: u64 = 1 << 62;
/// Smallest device, in blocks, that can be formatted.
pub const MIN_BLOCKS: u64 = 256;
/// Bits in one bitmap block.
pub const BITS_PER_BLOCK: u64 = (BLOCK_SIZE * 8) as u64;
/// Bytes of disk per inode when sizing the inode table.
pub const BYTES_PER_INODE: u64 = 16 * 1024;
/// Fewest inodes in a file system.
pub const MIN_INODES: u64 = 64;
/// Journal size bounds, in blocks, and the share of the disk it takes.
pub const JOURNAL_MIN_BLOCKS: u64 = 128;
/// Largest journal, in blocks (16 MiB).
pub const JOURNAL_MAX_BLOCKS: u64 = 4096;
/// The journal takes 1/JOURNAL_DIVISOR of the disk, within the bounds.
pub const JOURNAL_DIVISOR: u64 = 32;

/// Size of an on-disk inode.
pub const INODE_SIZE: usize = 256;
/// Inodes per inode-table block.
pub const INODES_PER_BLOCK: u64 = (BLOCK_SIZE / INODE_SIZE) as u64;
/// Inode number of the root directory. Inode 0 is never used.
pub const ROOT_INO: u32 = 1;
/// Extents stored inside the inode itself.
pub const INLINE_EXTENTS: usize = 8;
/// Size of one encoded extent.
pub const EXTENT_SIZE: usize = 24;
/// Header of an extent overflow block: magic, count, next.
pub const EXT_BLOCK_HEADER: usize = 16;
/// Extents in one overflow block.
pub const EXTENTS_PER_BLOCK: usize = (BLOCK_SIZE - EXT_BLOCK_HEADER) / EXTENT_SIZE;
/// Magic of an extent overflow block: "EXTB".
pub const EXT_BLOCK_MAGIC: u32 = u32::from_le_bytes(*b"EXTB");
/// Largest file size in bytes (keeps every block offset far from overflow).
pub const MAX_FILE_SIZE: u64 = 1 << 52;

/// Size of one directory entry.
pub const DIRENT_SIZE: usize = 128;
/// Directory entries per block.
pub const DIRENTS_PER_BLOCK: usize = BLOCK_SIZE / DIRENT_SIZE;
/// Longest file name, in bytes (UTF-8).
pub const MAX_NAME_LEN: usize = 120;

const INODE_OFF_KIND: usize = 0;
const INODE_OFF_SIZE: usize = 8;
const INODE_OFF_COUNT: usize = 16;
const INODE_OFF_CHAIN_LEN: usize = 20;
const INODE_OFF_CHAIN_HEAD: usize = 24;
const INODE_OFF_EXTENTS: usize = 64;

/// Reads a little-endian `u64` at `off`.
pub fn get_u64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

/// Reads a little-endian `u32` at `off`.
pub fn get_u32(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(a)
}

/// Writes a little-endian `u64` at `off`.
pub fn put_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

/// Writes a little-endian `u32` at `off`.
pub fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

/// 64-bit checksum of `data`, seeded. Not cryptographic: it detects torn and
/// lost writes in the journal.
pub fn checksum(seed: u64, data: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = seed ^ K ^ (data.len() as u64);
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        h = (h ^ u64::from_le_bytes(a)).wrapping_mul(K);
        h ^= h >> 29;
    }
    for &b in words.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(K);
        h ^= h >> 29;
    }
    h ^= h >> 32;
    h.wrapping_mul(K) ^ (h >> 31)
}

/// Where each region of the file system lives, in blocks. Derived from the
/// device size alone, so a superblock can be checked against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Blocks in the file system.
    pub total_blocks: u64,
    /// First journal block (block 0 is the superblock).
    pub journal_start: u64,
    /// Journal length.
    pub journal_blocks: u64,
    /// First block of the block bitmap.
    pub bbitmap_start: u64,
    /// Length of the block bitmap.
    pub bbitmap_blocks: u64,
    /// First block of the inode bitmap.
    pub ibitmap_start: u64,
    /// Length of the inode bitmap.
    pub ibitmap_blocks: u64,
    /// First block of the inode table.
    pub itable_start: u64,
    /// Length of the inode table.
    pub itable_blocks: u64,
    /// Number of inode slots (slot 0 is unused).
    pub inode_count: u64,
    /// First data block.
    pub data_start: u64,
}

impl Geometry {
    /// The layout for a device of `total_blocks` blocks, or `None` if it is
    /// too small.
    pub fn for_blocks(total_blocks: u64) -> Option<Geometry> {
        if total_blocks < MIN_BLOCKS {
            return None;
        }
        let journal_blocks =
            (total_blocks / JOURNAL_DIVISOR).clamp(JOURNAL_MIN_BLOCKS, JOURNAL_MAX_BLOCKS);
        let inode_count = (total_blocks * BLOCK_SIZE as u64 / BYTES_PER_INODE)
            .max(MIN_INODES)
            .min(u64::from(u32::MAX));
        let itable_blocks = inode_count.div_ceil(INODES_PER_BLOCK);
        let inode_count = itable_blocks * INODES_PER_BLOCK;
        let bbitmap_blocks = total_blocks.div_ceil(BITS_PER_BLOCK);
        let ibitmap_blocks = inode_count.div_ceil(BITS_PER_BLOCK);
        let journal_start = 1;
        let bbitmap_start = journal_start + journal_blocks;
        let ibitmap_start = bbitmap_start + bbitmap_blocks;
        let itable_start = ibitmap_start + ibitmap_blocks;
        let data_start = itable_start + itable_blocks;
        if data_start + MIN_BLOCKS / 4 > total_blocks {
            return None;
        }
        Some(Geometry {
            total_blocks,
            journal_start,
            journal_blocks,
            bbitmap_start,
            bbitmap_blocks,
            ibitmap_start,
            ibitmap_blocks,
            itable_start,
            itable_blocks,
            inode_count,
            data_start,
        })
    }

    /// Whether `b` is a data-region block.
    pub fn is_data(&self, b: u64) -> bool {
        b >= self.data_start && b < self.total_blocks
    }

    /// Whether `[start, start+len)` lies inside the data region.
    pub fn is_data_range(&self, start: u64, len: u64) -> bool {
        len > 0
            && start >= self.data_start
            && start.checked_add(len).is_some_and(|e| e <= self.total_blocks)
    }

    /// Whether `b` may be written through the journal (anything but the
    /// superblock and the journal itself).
    pub fn is_journalable(&self, b: u64) -> bool {
        b >= self.bbitmap_start && b < self.total_blocks
    }

    /// Block and byte offset of inode `ino`.
    pub fn inode_pos(&self, ino: u32) -> (u64, usize) {
        let ino = u64::from(ino);
        (self.itable_start + ino / INODES_PER_BLOCK, (ino % INODES_PER_BLOCK) as usize * INODE_SIZE)
    }
}

/// The superblock (block 0; every field sits in its first sector so that it
/// is written atomically).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Superblock {
    /// The layout.
    pub geo: Geometry,
    /// Sequence number of the first journal transaction to replay (at
    /// journal block 0); at most [`MAX_JOURNAL_SEQ`].
    pub journal_seq: u64,
}

const SB_FIELDS: usize = 16;
const SB_CHECKSUM_OFF: usize = SB_FIELDS * 8;

impl Superblock {
    /// Encodes into the first sector of block 0.
    pub fn encode(&self) -> [u8; SECTOR_SIZE] {
        let g = &self.geo;
        let mut s = [0u8; SECTOR_SIZE];
        let fields = [
            MAGIC,
            u64::from(VERSION) | ((BLOCK_SIZE as u64) << 32),
            g.total_blocks,
            g.journal_start,
            g.journal_blocks,
            g.bbitmap_start,
            g.bbitmap_blocks,
            g.ibitmap_start,
            g.ibitmap_blocks,
            g.itable_start,
            g.itable_blocks,
            g.inode_count,
            g.data_start,
            u64::from(ROOT_INO),
            self.journal_seq,
            0,
        ];
        for (i, f) in fields.iter().enumerate() {
            put_u64(&mut s, i * 8, *f);
        }
        let sum = checksum(MAGIC, &s[..SB_CHECKSUM_OFF]);
        put_u64(&mut s, SB_CHECKSUM_OFF, sum);
        s
    }

    /// Decodes and validates a superblock for a device of `device_blocks`
    /// blocks.
    pub fn decode(s: &[u8], device_blocks: u64) -> Result<Superblock, FsError> {
        if get_u64(s, 0) != MAGIC {
            return Err(FsError::Corrupt("bad superblock magic"));
        }
        if get_u64(s, SB_CHECKSUM_OFF) != checksum(MAGIC, &s[..SB_CHECKSUM_OFF]) {
            return Err(FsError::Corrupt("bad superblock checksum"));
        }
        let vb = get_u64(s, 8);
        if vb as u32 != VERSION || (vb >> 32) as usize != BLOCK_SIZE {
            return Err(FsError::Corrupt("unsupported version or block size"));
        }
        let total = get_u64(s, 16);
        if total > device_blocks {
            return Err(FsError::Corrupt("file system larger than device"));
        }
        let geo = Geometry::for_blocks(total).ok_or(FsError::Corrupt("bad geometry"))?;
        let fields = [
            geo.journal_start,
            geo.journal_blocks,
            geo.bbitmap_start,
            geo.bbitmap_blocks,
            geo.ibitmap_start,
            geo.ibitmap_blocks,
            geo.itable_start,
            geo.itable_blocks,
            geo.inode_count,
            geo.data_start,
            u64::from(ROOT_INO),
        ];
        for (i, f) in fields.iter().enumerate() {
            if get_u64(s, 24 + i * 8) != *f {
                return Err(FsError::Corrupt("superblock geometry mismatch"));
            }
        }
        let journal_seq = get_u64(s, 14 * 8);
        if journal_seq > MAX_JOURNAL_SEQ {
            return Err(FsError::Corrupt("journal sequence number out of range"));
        }
        Ok(Superblock { geo, journal_seq })
    }
}

/// What an inode is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileType {
    /// A regular file.
    File,
    /// A directory.
    Dir,
}

impl FileType {
    /// On-disk code.
    pub fn code(self) -> u8 {
        match self {
            FileType::File => 1,
            FileType::Dir => 2,
        }
    }

    /// Decodes an on-disk code (`0` is a free inode: `None`).
    pub fn from_code(c: u8) -> Result<Option<FileType>, FsError> {
        match c {
            0 => Ok(None),
            1 => Ok(Some(FileType::File)),
            2 => Ok(Some(FileType::Dir)),
            _ => Err(FsError::Corrupt("bad file type")),
        }
    }
}

/// A run of `len` blocks: file blocks `[logical, logical+len)` live in
/// device blocks `[phys, phys+len)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// First file block.
    pub logical: u64,
    /// First device block.
    pub phys: u64,
    /// Number of blocks.
    pub len: u64,
}

impl Extent {
    /// Encodes at `b[off..off + EXTENT_SIZE]`.
    pub fn encode(&self, b: &mut [u8], off: usize) {
        put_u64(b, off, self.logical);
        put_u64(b, off + 8, self.phys);
        put_u64(b, off + 16, self.len);
    }

    /// Decodes from `b[off..off + EXTENT_SIZE]` (unvalidated).
    pub fn decode(b: &[u8], off: usize) -> Extent {
        Extent { logical: get_u64(b, off), phys: get_u64(b, off + 8), len: get_u64(b, off + 16) }
    }

    /// One past the last file block.
    pub fn logical_end(&self) -> u64 {
        self.logical + self.len
    }
}

/// The fixed part of an on-disk inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawInode {
    /// `None` for a free slot.
    pub kind: Option<FileType>,
    /// Size in bytes.
    pub size: u64,
    /// Total number of extents.
    pub extent_count: u32,
    /// Number of extent overflow blocks.
    pub chain_len: u32,
    /// First overflow block (0 when `chain_len` is 0).
    pub chain_head: u64,
}

impl RawInode {
    /// Decodes the inode at `b[off..off+INODE_SIZE]`, also returning its
    /// inline extents (up to `min(extent_count, INLINE_EXTENTS)`).
    pub fn decode(b: &[u8], off: usize) -> Result<(RawInode, [Extent; INLINE_EXTENTS]), FsError> {
        let kind = FileType::from_code(b[off + INODE_OFF_KIND])?;
        let raw = RawInode {
            kind,
            size: get_u64(b, off + INODE_OFF_SIZE),
            extent_count: get_u32(b, off + INODE_OFF_COUNT),
            chain_len: get_u32(b, off + INODE_OFF_CHAIN_LEN),
            chain_head: get_u64(b, off + INODE_OFF_CHAIN_HEAD),
        };
        let empty = Extent { logical: 0, phys: 0, len: 0 };
        let mut inline = [empty; INLINE_EXTENTS];
        for (i, e) in inline.iter_mut().enumerate() {
            *e = Extent::decode(b, off + INODE_OFF_EXTENTS + i * EXTENT_SIZE);
        }
        Ok((raw, inline))
    }

    /// Encodes into `b[off..off+INODE_SIZE]` with the given inline extents.
    pub fn encode(&self, b: &mut [u8], off: usize, inline: &[Extent]) {
        b[off..off + INODE_SIZE].fill(0);
        b[off + INODE_OFF_KIND] = self.kind.map_or(0, FileType::code);
        put_u64(b, off + INODE_OFF_SIZE, self.size);
        put_u32(b, off + INODE_OFF_COUNT, self.extent_count);
        put_u32(b, off + INODE_OFF_CHAIN_LEN, self.chain_len);
        put_u64(b, off + INODE_OFF_CHAIN_HEAD, self.chain_head);
        for (i, e) in inline.iter().take(INLINE_EXTENTS).enumerate() {
            e.encode(b, off + INODE_OFF_EXTENTS + i * EXTENT_SIZE);
        }
    }
}

/// A decoded directory entry slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawDirent<'a> {
    /// Inode number (never 0 for a used slot).
    pub ino: u32,
    /// The entry's type.
    pub kind: FileType,
    /// The name bytes.
    pub name: &'a [u8],
}

const DIRENT_OFF_INO: usize = 0;
const DIRENT_OFF_KIND: usize = 4;
const DIRENT_OFF_LEN: usize = 5;
const DIRENT_OFF_NAME: usize = 8;

/// Decodes slot `i` of a directory block: `Ok(None)` when free.
pub fn decode_dirent(b: &Block, i: usize) -> Result<Option<RawDirent<'_>>, FsError> {
    let off = i * DIRENT_SIZE;
    let e = &b[off..off + DIRENT_SIZE];
    let ino = get_u32(e, DIRENT_OFF_INO);
    if ino == 0 {
        if e.iter().any(|&x| x != 0) {
            return Err(FsError::Corrupt("free directory slot not zeroed"));
        }
        return Ok(None);
    }
    let kind = FileType::from_code(e[DIRENT_OFF_KIND])?
        .ok_or(FsError::Corrupt("directory entry without type"))?;
    let len = usize::from(e[DIRENT_OFF_LEN]);
    if len == 0 || len > MAX_NAME_LEN {
        return Err(FsError::Corrupt("bad directory entry name length"));
    }
    let name = &e[DIRENT_OFF_NAME..DIRENT_OFF_NAME + len];
    if super::path::check_name_bytes(name).is_err() {
        return Err(FsError::Corrupt("bad directory entry name"));
    }
    Ok(Some(RawDirent { ino, kind, name }))
}

/// Encodes an entry into slot `i` (or clears it when `entry` is `None`).
pub fn encode_dirent(b: &mut Block, i: usize, entry: Option<RawDirent<'_>>) {
    let off = i * DIRENT_SIZE;
    let e = &mut b[off..off + DIRENT_SIZE];
    e.fill(0);
    if let Some(d) = entry {
        put_u32(e, DIRENT_OFF_INO, d.ino);
        e[DIRENT_OFF_KIND] = d.kind.code();
        e[DIRENT_OFF_LEN] = d.name.len() as u8;
        e[DIRENT_OFF_NAME..DIRENT_OFF_NAME + d.name.len()].copy_from_slice(d.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_regions_are_ordered_and_fit() {
        for total in [MIN_BLOCKS, 512, 1000, 4096, 1 << 20, 1 << 28] {
            let g = Geometry::for_blocks(total).unwrap();
            assert!(g.journal_blocks >= JOURNAL_MIN_BLOCKS);
            assert_eq!(g.bbitmap_start, g.journal_start + g.journal_blocks);
            assert!(g.bbitmap_blocks * BITS_PER_BLOCK >= total);
            assert!(g.ibitmap_blocks * BITS_PER_BLOCK >= g.inode_count);
            assert!(g.data_start < total);
        }
        assert!(Geometry::for_blocks(MIN_BLOCKS - 1).is_none());
    }

    #[test]
    fn superblock_round_trip_and_validation() {
        let sb = Superblock { geo: Geometry::for_blocks(1024).unwrap(), journal_seq: 77 };
        let enc = sb.encode();
        assert_eq!(Superblock::decode(&enc, 1024).unwrap(), sb);
        assert!(Superblock::decode(&enc, 1000).is_err());
        let mut bad = enc;
        bad[40] ^= 1;
        assert!(matches!(Superblock::decode(&bad, 1024), Err(FsError::Corrupt(_))));
        // A sequence number no file system reaches (checksum intact): the
        // journal's arithmetic on it could overflow.
        let huge = Superblock { journal_seq: u64::MAX, ..sb }.encode();
        assert!(matches!(Superblock::decode(&huge, 1024), Err(FsError::Corrupt(_))));
        let top = Superblock { journal_seq: MAX_JOURNAL_SEQ, ..sb };
        assert_eq!(Superblock::decode(&top.encode(), 1024).unwrap(), top);
    }

    #[test]
    fn inode_and_dirent_round_trip() {
        let mut b = [0u8; BLOCK_SIZE];
        let raw = RawInode {
            kind: Some(FileType::Dir),
            size: 12345,
            extent_count: 1,
            chain_len: 0,
            chain_head: 0,
        };
        let ext = Extent { logical: 3, phys: 900, len: 4 };
        raw.encode(&mut b, INODE_SIZE, &[ext]);
        let (back, inline) = RawInode::decode(&b, INODE_SIZE).unwrap();
        assert_eq!(back, raw);
        assert_eq!(inline[0], ext);

        let d = RawDirent { ino: 9, kind: FileType::File, name: b"hello" };
        encode_dirent(&mut b, 3, Some(d));
        assert_eq!(decode_dirent(&b, 3).unwrap(), Some(d));
        encode_dirent(&mut b, 3, None);
        assert_eq!(decode_dirent(&b, 3).unwrap(), None);
    }

    #[test]
    fn checksum_detects_changes() {
        let a = [7u8; BLOCK_SIZE];
        let mut b = a;
        b[4095] = 8;
        assert_ne!(checksum(1, &a), checksum(1, &b));
        assert_ne!(checksum(1, &a), checksum(2, &a));
    }
}
