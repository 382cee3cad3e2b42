//! The public API: [`Fs`], formatting, mounting and the file operations.
//! Namespace operations (directories, remove, rename) are in
//! [`namespace`](super::namespace).

use ::alloc::collections::BTreeMap;
use ::alloc::string::String;
use ::alloc::vec;
use ::alloc::vec::Vec;

use super::FsError;
use super::alloc::{Bitmap, RangeSet};
use super::handle::{File, Handles, OpenFile};
use super::inode::Inode;
use super::layout::{
    BLOCK_SIZE, FileType, Geometry, MAX_NAME_LEN, ROOT_INO, RawInode, SECTORS_PER_BLOCK, Superblock,
};
use super::path;
use super::volume::Volume;
use crate::block::{BlockDevice, SECTOR_SIZE};
use crate::iobuf::IoBuf;

/// Blocks zeroed per device request while formatting.
const FORMAT_CHUNK_BLOCKS: u64 = 64;
/// Largest slice of one `write` call handled in one step; between steps a
/// large transaction may commit.
const WRITE_STEP_BYTES: usize = 4 << 20;

/// How to open a file, in the manner of `std::fs::OpenOptions`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
}

impl OpenOptions {
    /// All options off.
    pub fn new() -> Self {
        Self::default()
    }
    /// Allow reading.
    pub fn read(&mut self, on: bool) -> &mut Self {
        self.read = on;
        self
    }
    /// Allow writing.
    pub fn write(&mut self, on: bool) -> &mut Self {
        self.write = on;
        self
    }
    /// Write at the end of the file every time (implies write).
    pub fn append(&mut self, on: bool) -> &mut Self {
        self.append = on;
        self
    }
    /// Cut the file to length 0 when opening (needs write).
    pub fn truncate(&mut self, on: bool) -> &mut Self {
        self.truncate = on;
        self
    }
    /// Create the file if it does not exist (needs write or append).
    pub fn create(&mut self, on: bool) -> &mut Self {
        self.create = on;
        self
    }
    /// Create the file, failing with `AlreadyExists` if it exists.
    pub fn create_new(&mut self, on: bool) -> &mut Self {
        self.create_new = on;
        self
    }
}

/// Where to seek to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeekFrom {
    /// Bytes from the start.
    Start(u64),
    /// Bytes from the end (may be negative).
    End(i64),
    /// Bytes from the current position (may be negative).
    Current(i64),
}

/// Facts about a file or directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metadata {
    /// File or directory.
    pub file_type: FileType,
    /// Size in bytes.
    pub len: u64,
    /// Inode number.
    pub ino: u32,
    /// Blocks allocated to data (a sparse file has fewer than its size).
    pub blocks: u64,
}

impl Metadata {
    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type == FileType::Dir
    }
    /// Whether this is a regular file.
    pub fn is_file(&self) -> bool {
        self.file_type == FileType::File
    }
}

/// One entry returned by [`Fs::read_dir`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The name (no `/`).
    pub name: String,
    /// Its type.
    pub file_type: FileType,
    /// Its inode number.
    pub ino: u32,
}

/// File-system statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatFs {
    /// Block size in bytes.
    pub block_size: u64,
    /// Blocks in the file system (all regions).
    pub total_blocks: u64,
    /// Free blocks.
    pub free_blocks: u64,
    /// Inode slots.
    pub total_inodes: u64,
    /// Free inode slots.
    pub free_inodes: u64,
    /// Longest name in bytes.
    pub max_name_len: usize,
}

/// A mounted file system on device `D`.
pub struct Fs<D: BlockDevice> {
    pub(super) vol: Volume<D>,
    pub(super) handles: Handles,
    poisoned: Option<FsError>,
}

fn block_count<D: BlockDevice>(dev: &D) -> Result<u64, FsError> {
    if dev.sector_size() != SECTOR_SIZE {
        return Err(FsError::InvalidArgument);
    }
    Ok(dev.sector_count() / SECTORS_PER_BLOCK)
}

impl<D: BlockDevice> Fs<D> {
    /// Creates an empty file system on `dev` (erasing it) and mounts it.
    pub fn format(mut dev: D) -> Result<Self, FsError> {
        let total = block_count(&dev)?;
        let geo = Geometry::for_blocks(total).ok_or(FsError::InvalidArgument)?;
        let zeros = IoBuf::zeroed(FORMAT_CHUNK_BLOCKS as usize * BLOCK_SIZE);
        let mut b = geo.journal_start;
        while b < geo.data_start {
            let n = (geo.data_start - b).min(FORMAT_CHUNK_BLOCKS);
            dev.write(b * SECTORS_PER_BLOCK, &zeros[..n as usize * BLOCK_SIZE])?;
            b += n;
        }
        let mut blocks = Bitmap::new(total);
        blocks.mark_used(0, geo.data_start);
        let mut inodes = Bitmap::new(geo.inode_count);
        inodes.mark_used(0, u64::from(ROOT_INO) + 1);
        for (start, count, map) in [
            (geo.bbitmap_start, geo.bbitmap_blocks, &blocks),
            (geo.ibitmap_start, geo.ibitmap_blocks, &inodes),
        ] {
            for k in 0..count {
                dev.write((start + k) * SECTORS_PER_BLOCK, map.block_bytes(k))?;
            }
        }
        let (ib, off) = geo.inode_pos(ROOT_INO);
        let mut blk = [0u8; BLOCK_SIZE];
        let root = RawInode {
            kind: Some(FileType::Dir),
            size: 0,
            extent_count: 0,
            chain_len: 0,
            chain_head: 0,
        };
        root.encode(&mut blk, off, &[]);
        dev.write(ib * SECTORS_PER_BLOCK, &blk)?;
        dev.flush()?;
        let sb = Superblock { geo, journal_seq: 1 };
        dev.write(0, &sb.encode())?;
        dev.flush()?;
        Fs::mount(dev)
    }

    /// Mounts the file system on `dev`, recovering from a crash if needed.
    /// Mounting reads but never writes: replayed journal transactions are
    /// written home, and the journal moved past the transaction recovery
    /// stopped at, before the first write of this mount (see
    /// [`journal`](super::journal)); a mount that never writes leaves the
    /// device as it found it, even at unmount.
    pub fn mount(mut dev: D) -> Result<Self, FsError> {
        let total = block_count(&dev)?;
        let mut blk = [0u8; BLOCK_SIZE];
        if total == 0 {
            return Err(FsError::Corrupt("device too small"));
        }
        dev.read(0, &mut blk)?;
        let sb = Superblock::decode(&blk, total)?;
        let geo = sb.geo;
        let mut vol = Volume {
            dev,
            geo,
            cache: BTreeMap::new(),
            committed: BTreeMap::new(),
            blocks: Bitmap::new(0),
            inodes: Bitmap::new(0),
            fresh: RangeSet::new(),
            pending_current: Vec::new(),
            pending_committed: Vec::new(),
            txn_data: BTreeMap::new(),
            txn_data_overflow: false,
            journal_pos: 0,
            journal_seq: sb.journal_seq,
            mutations: 0,
            broken: false,
            op_start: 0,
            epoch_open: false,
        };
        let named = vol.recover(sb.journal_seq)?;
        vol.blocks = Self::load_bitmap(&mut vol, geo.bbitmap_start, geo.bbitmap_blocks, total)?;
        vol.inodes =
            Self::load_bitmap(&mut vol, geo.ibitmap_start, geo.ibitmap_blocks, geo.inode_count)?;
        if (0..geo.data_start).any(|b| !vol.blocks.is_used(b))
            || !vol.inodes.is_used(0)
            || !vol.inodes.is_used(u64::from(ROOT_INO))
        {
            return Err(FsError::Corrupt("metadata region or root marked free"));
        }
        for b in named {
            vol.blocks.hold(b, 1);
            vol.pending_committed.push((b, 1));
        }
        let root = vol.load_inode(ROOT_INO)?;
        if root.kind != FileType::Dir {
            return Err(FsError::Corrupt("root is not a directory"));
        }
        Ok(Fs { vol, handles: Handles::default(), poisoned: None })
    }

    fn load_bitmap(
        vol: &mut Volume<D>,
        start: u64,
        count: u64,
        len: u64,
    ) -> Result<Bitmap, FsError> {
        let mut bytes = vec![0u8; count as usize * BLOCK_SIZE];
        vol.read_blocks(start, &mut bytes)?;
        for k in 0..count {
            if let Some(c) = vol.committed.get(&(start + k)) {
                let at = k as usize * BLOCK_SIZE;
                bytes[at..at + BLOCK_SIZE].copy_from_slice(&c[..]);
            }
        }
        Ok(Bitmap::from_bytes(bytes, len))
    }

    /// Commits and checkpoints, then returns the device.
    pub fn unmount(mut self) -> Result<D, FsError> {
        self.guard(|fs| {
            fs.vol.commit()?;
            fs.vol.checkpoint()
        })?;
        Ok(self.vol.dev)
    }

    /// Returns the device without committing anything (what a crash or
    /// power cut would leave is what is on it).
    pub fn into_device(self) -> D {
        self.vol.dev
    }

    /// The device, for inspection.
    pub fn device(&self) -> &D {
        &self.vol.dev
    }

    /// Runs one operation: refuses to run on a failed file system, commits
    /// a large pending transaction first, and marks the file system failed
    /// if the operation errs after it started changing metadata.
    pub(super) fn guard<R>(
        &mut self,
        op: impl FnOnce(&mut Self) -> Result<R, FsError>,
    ) -> Result<R, FsError> {
        if let Some(e) = self.poisoned {
            return Err(e);
        }
        self.vol.evict();
        if self.vol.dirty_count() as u64 > self.vol.geo.journal_blocks / 4
            && let Err(e) = self.vol.commit()
        {
            self.poisoned = Some(e);
            return Err(e);
        }
        let before = self.vol.mutations;
        self.vol.op_start = before;
        let r = op(self);
        if let Err(e) = r
            && (self.vol.mutations != before || self.vol.broken)
        {
            self.poisoned = Some(e);
        }
        r
    }

    /// Resolves path components from the root.
    pub(super) fn walk(&mut self, comps: &[&str]) -> Result<Inode, FsError> {
        let mut cur = self.vol.load_inode(ROOT_INO)?;
        for name in comps {
            if cur.kind != FileType::Dir {
                return Err(FsError::NotADirectory);
            }
            let e = self.vol.dir_lookup(&cur, name.as_bytes())?.ok_or(FsError::NotFound)?;
            let next = self.vol.load_inode(e.ino)?;
            if next.kind != e.kind {
                return Err(FsError::Corrupt("entry type differs from inode type"));
            }
            cur = next;
        }
        Ok(cur)
    }

    /// Resolves the parent directory of a non-root path.
    pub(super) fn walk_parent(&mut self, comps: &[&str]) -> Result<Inode, FsError> {
        let parent = self.walk(&comps[..comps.len() - 1])?;
        if parent.kind != FileType::Dir {
            return Err(FsError::NotADirectory);
        }
        Ok(parent)
    }

    /// Creates (or truncates) a file for writing, like `File::create`.
    pub fn create(&mut self, path: &str) -> Result<File, FsError> {
        self.open(path, OpenOptions::new().write(true).create(true).truncate(true))
    }

    /// Opens a file.
    pub fn open(&mut self, path: &str, opts: &OpenOptions) -> Result<File, FsError> {
        let writes = opts.write || opts.append;
        let wants_write = opts.truncate || opts.create || opts.create_new;
        if (!writes && (!opts.read || wants_write)) || (opts.truncate && opts.append) {
            return Err(FsError::InvalidArgument);
        }
        let comps = path::components(path)?;
        if comps.is_empty() {
            return Err(FsError::IsADirectory);
        }
        self.guard(|fs| {
            let mut parent = fs.walk_parent(&comps)?;
            let name = comps[comps.len() - 1];
            let ino = match fs.vol.dir_lookup(&parent, name.as_bytes())? {
                Some(_) if opts.create_new => return Err(FsError::AlreadyExists),
                Some(e) if e.kind == FileType::Dir => return Err(FsError::IsADirectory),
                Some(e) => {
                    let mut inode = fs.vol.load_inode(e.ino)?;
                    if opts.truncate && inode.size > 0 {
                        fs.vol.set_len(&mut inode, 0)?;
                        fs.vol.store_inode(&mut inode)?;
                    }
                    e.ino
                }
                None if opts.create || opts.create_new => {
                    fs.new_entry(&mut parent, name, FileType::File)?
                }
                None => return Err(FsError::NotFound),
            };
            Ok(fs.handles.insert(OpenFile {
                ino,
                pos: 0,
                read: opts.read,
                write: writes,
                append: opts.append,
            }))
        })
    }

    /// Closes a handle.
    pub fn close(&mut self, file: File) -> Result<(), FsError> {
        self.handles.remove(file)
    }

    /// Reads at the handle's position and advances it; `Ok(0)` at the end.
    pub fn read(&mut self, file: &File, buf: &mut [u8]) -> Result<usize, FsError> {
        self.guard(|fs| {
            let of = *fs.handles.get(file)?;
            if !of.read {
                return Err(FsError::BadHandle);
            }
            let inode = fs.vol.load_inode(of.ino)?;
            let n = fs.vol.read_at(&inode, of.pos, buf)?;
            fs.handles.get(file)?.pos = of.pos + n as u64;
            Ok(n)
        })
    }

    /// Reads until `buf` is full or the file ends; returns the bytes read.
    pub fn read_to_fill(&mut self, file: &File, buf: &mut [u8]) -> Result<usize, FsError> {
        let mut done = 0;
        while done < buf.len() {
            match self.read(file, &mut buf[done..])? {
                0 => break,
                n => done += n,
            }
        }
        Ok(done)
    }

    /// Writes at the handle's position (at the end in append mode) and
    /// advances it. Returns fewer bytes than given only when space ran out
    /// after some were written; a device error after some were written
    /// fails the file system until it is mounted again.
    pub fn write(&mut self, file: &File, data: &[u8]) -> Result<usize, FsError> {
        let mut done = 0;
        for step in data.chunks(WRITE_STEP_BYTES) {
            let r = self.guard(|fs| {
                let of = *fs.handles.get(file)?;
                if !of.write {
                    return Err(FsError::BadHandle);
                }
                let mut inode = fs.vol.load_inode(of.ino)?;
                let pos = if of.append { inode.size } else { of.pos };
                let n = fs.vol.write_at(&mut inode, pos, step)?;
                fs.vol.store_inode(&mut inode)?;
                fs.handles.get(file)?.pos = pos + n as u64;
                Ok(n)
            });
            match r {
                Ok(n) => {
                    done += n;
                    if n < step.len() {
                        break;
                    }
                }
                Err(e) if done == 0 => return Err(e),
                Err(FsError::NoSpace) => break,
                Err(e) => {
                    // Earlier steps are in: the file system no longer
                    // matches any state the caller knows of.
                    self.poisoned = Some(e);
                    return Err(e);
                }
            }
        }
        Ok(done)
    }

    /// Writes all of `data` or fails.
    pub fn write_all(&mut self, file: &File, data: &[u8]) -> Result<(), FsError> {
        if self.write(file, data)? != data.len() {
            return Err(FsError::NoSpace);
        }
        Ok(())
    }

    /// Moves the handle's position; returns the new position. Seeking past
    /// the end is allowed (a later write leaves a hole).
    pub fn seek(&mut self, file: &File, to: SeekFrom) -> Result<u64, FsError> {
        self.guard(|fs| {
            let of = *fs.handles.get(file)?;
            let base = match to {
                SeekFrom::Start(p) => return Ok(p),
                SeekFrom::Current(d) => (of.pos, d),
                SeekFrom::End(d) => (fs.vol.load_inode(of.ino)?.size, d),
            };
            base.0.checked_add_signed(base.1).ok_or(FsError::InvalidArgument)
        })
        .and_then(|p| {
            self.handles.get(file)?.pos = p;
            Ok(p)
        })
    }

    /// Sets the file's length (needs write access).
    pub fn set_len(&mut self, file: &File, len: u64) -> Result<(), FsError> {
        self.guard(|fs| {
            let of = *fs.handles.get(file)?;
            if !of.write {
                return Err(FsError::BadHandle);
            }
            let mut inode = fs.vol.load_inode(of.ino)?;
            fs.vol.set_len(&mut inode, len)?;
            fs.vol.store_inode(&mut inode)
        })
    }

    /// Makes the file's data and name, and every other change made so far,
    /// durable (see the persistence contract in the module docs).
    pub fn fsync(&mut self, file: &File) -> Result<(), FsError> {
        self.guard(|fs| {
            fs.handles.get(file)?;
            fs.vol.commit()
        })
    }

    /// Makes every change made so far durable.
    pub fn sync(&mut self) -> Result<(), FsError> {
        self.guard(|fs| fs.vol.commit())
    }

    /// Metadata of the file or directory at `path`.
    pub fn metadata(&mut self, path: &str) -> Result<Metadata, FsError> {
        let comps = path::components(path)?;
        self.guard(|fs| Ok(meta_of(&fs.walk(&comps)?)))
    }

    /// Metadata of an open file.
    pub fn file_metadata(&mut self, file: &File) -> Result<Metadata, FsError> {
        self.guard(|fs| {
            let ino = fs.handles.get(file)?.ino;
            Ok(meta_of(&fs.vol.load_inode(ino)?))
        })
    }

    /// The whole contents of the file at `path`.
    pub fn read_file(&mut self, path: &str) -> Result<Vec<u8>, FsError> {
        let comps = path::components(path)?;
        self.guard(|fs| {
            let inode = fs.walk(&comps)?;
            if inode.kind == FileType::Dir {
                return Err(FsError::IsADirectory);
            }
            let len = usize::try_from(inode.size).map_err(|_| FsError::NoSpace)?;
            let mut buf = vec![0u8; len];
            let n = fs.vol.read_at(&inode, 0, &mut buf)?;
            buf.truncate(n);
            Ok(buf)
        })
    }

    /// Creates or replaces the file at `path` with `data` (not synced).
    pub fn write_file(&mut self, path: &str, data: &[u8]) -> Result<(), FsError> {
        let f = self.create(path)?;
        let r = self.write_all(&f, data);
        self.close(f)?;
        r
    }

    /// File-system statistics.
    pub fn statfs(&self) -> StatFs {
        StatFs {
            block_size: BLOCK_SIZE as u64,
            total_blocks: self.vol.geo.total_blocks,
            free_blocks: self.vol.blocks.free_count(),
            total_inodes: self.vol.geo.inode_count - 1,
            free_inodes: self.vol.inodes.free_count(),
            max_name_len: MAX_NAME_LEN,
        }
    }
}

/// Metadata of a loaded inode.
pub(super) fn meta_of(inode: &Inode) -> Metadata {
    Metadata {
        file_type: inode.kind,
        len: inode.size,
        ino: inode.ino,
        blocks: super::extent::mapped_blocks(&inode.extents),
    }
}
