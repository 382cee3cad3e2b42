//! Namespace operations: creating entries, directories, listing, removing
//! and renaming. Each one checks everything first and changes metadata
//! only once it cannot fail for a reason the caller could fix.

use ::alloc::string::String;
use ::alloc::vec::Vec;

use super::FsError;
use super::inode::{Inode, chain_blocks_for};
use super::layout::FileType;
use super::ops::{DirEntry, Fs};
use super::path;
use crate::block::BlockDevice;

impl<D: BlockDevice> Fs<D> {
    /// Blocks a directory may need to grow by one block.
    fn grow_cost(dir: &Inode) -> u64 {
        1 + (chain_blocks_for(dir.extents.len() + 1) - dir.chain.len()) as u64
    }

    /// Adds a new inode of `kind` named `name` to `parent`.
    pub(super) fn new_entry(
        &mut self,
        parent: &mut Inode,
        name: &str,
        kind: FileType,
    ) -> Result<u32, FsError> {
        let slot = self.vol.dir_free_slot(parent)?;
        let cost = if slot.is_none() { Self::grow_cost(parent) } else { 0 };
        if self.vol.inodes.available() == 0 {
            return Err(FsError::NoSpace);
        }
        self.vol.ensure_available(cost)?;
        let inode = self.vol.alloc_inode(kind)?;
        let slot = match slot {
            Some(s) => s,
            None => {
                let s = self.vol.dir_grow(parent)?;
                self.vol.store_inode(parent)?;
                s
            }
        };
        self.vol.dir_set(slot, Some((name.as_bytes(), inode.ino, kind)))?;
        Ok(inode.ino)
    }

    /// Creates a directory. Its parent must exist.
    pub fn mkdir(&mut self, path: &str) -> Result<(), FsError> {
        let comps = path::components(path)?;
        if comps.is_empty() {
            return Err(FsError::AlreadyExists);
        }
        self.guard(|fs| {
            let mut parent = fs.walk_parent(&comps)?;
            let name = comps[comps.len() - 1];
            if fs.vol.dir_lookup(&parent, name.as_bytes())?.is_some() {
                return Err(FsError::AlreadyExists);
            }
            fs.new_entry(&mut parent, name, FileType::Dir).map(|_| ())
        })
    }

    /// The entries of the directory at `path`, in on-disk order.
    pub fn read_dir(&mut self, path: &str) -> Result<Vec<DirEntry>, FsError> {
        let comps = path::components(path)?;
        self.guard(|fs| {
            let dir = fs.walk(&comps)?;
            if dir.kind != FileType::Dir {
                return Err(FsError::NotADirectory);
            }
            let entries = fs.vol.dir_entries(&dir)?;
            Ok(entries
                .into_iter()
                .map(|e| DirEntry {
                    name: String::from_utf8(e.name).unwrap_or_default(),
                    file_type: e.kind,
                    ino: e.ino,
                })
                .collect())
        })
    }

    /// Removes a file; its open handles then return `NotFound`.
    pub fn remove_file(&mut self, path: &str) -> Result<(), FsError> {
        let comps = path::components(path)?;
        if comps.is_empty() {
            return Err(FsError::IsADirectory);
        }
        self.guard(|fs| {
            let parent = fs.walk_parent(&comps)?;
            let name = comps[comps.len() - 1];
            let e = fs.vol.dir_lookup(&parent, name.as_bytes())?.ok_or(FsError::NotFound)?;
            if e.kind == FileType::Dir {
                return Err(FsError::IsADirectory);
            }
            let inode = fs.vol.load_inode(e.ino)?;
            fs.vol.dir_set(e.slot, None)?;
            fs.vol.free_inode(inode)?;
            fs.handles.invalidate(e.ino);
            Ok(())
        })
    }

    /// Removes an empty directory.
    pub fn remove_dir(&mut self, path: &str) -> Result<(), FsError> {
        let comps = path::components(path)?;
        if comps.is_empty() {
            return Err(FsError::InvalidArgument);
        }
        self.guard(|fs| {
            let parent = fs.walk_parent(&comps)?;
            let name = comps[comps.len() - 1];
            let e = fs.vol.dir_lookup(&parent, name.as_bytes())?.ok_or(FsError::NotFound)?;
            if e.kind != FileType::Dir {
                return Err(FsError::NotADirectory);
            }
            let inode = fs.vol.load_inode(e.ino)?;
            if !fs.vol.dir_is_empty(&inode)? {
                return Err(FsError::DirectoryNotEmpty);
            }
            fs.vol.dir_set(e.slot, None)?;
            fs.vol.free_inode(inode)
        })
    }

    /// Renames `from` to `to`, atomically replacing `to` if it exists (a
    /// file by a file, or an empty directory by a directory). Moving a
    /// directory into itself is `InvalidArgument`.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), FsError> {
        let fc = path::components(from)?;
        let tc = path::components(to)?;
        if fc.is_empty() || tc.is_empty() {
            return Err(FsError::InvalidArgument);
        }
        self.guard(|fs| {
            let fparent = fs.walk_parent(&fc)?;
            let fname = fc[fc.len() - 1];
            let src = fs.vol.dir_lookup(&fparent, fname.as_bytes())?.ok_or(FsError::NotFound)?;
            let mut tparent = fs.walk_parent(&tc)?;
            let tname = tc[tc.len() - 1];
            if fc == tc {
                return Ok(());
            }
            if src.kind == FileType::Dir && tc.len() > fc.len() && tc[..fc.len()] == fc[..] {
                return Err(FsError::InvalidArgument);
            }
            let entry = Some((tname.as_bytes(), src.ino, src.kind));
            match fs.vol.dir_lookup(&tparent, tname.as_bytes())? {
                Some(dst) => {
                    match (src.kind, dst.kind) {
                        (FileType::File, FileType::Dir) => return Err(FsError::IsADirectory),
                        (FileType::Dir, FileType::File) => return Err(FsError::NotADirectory),
                        _ => {}
                    }
                    let victim = fs.vol.load_inode(dst.ino)?;
                    if victim.kind == FileType::Dir && !fs.vol.dir_is_empty(&victim)? {
                        return Err(FsError::DirectoryNotEmpty);
                    }
                    fs.vol.dir_set(dst.slot, entry)?;
                    fs.vol.dir_set(src.slot, None)?;
                    fs.vol.free_inode(victim)?;
                    fs.handles.invalidate(dst.ino);
                }
                None => {
                    let slot = match fs.vol.dir_free_slot(&tparent)? {
                        Some(s) => s,
                        None => {
                            fs.vol.ensure_available(Self::grow_cost(&tparent))?;
                            let s = fs.vol.dir_grow(&mut tparent)?;
                            fs.vol.store_inode(&mut tparent)?;
                            s
                        }
                    };
                    fs.vol.dir_set(slot, entry)?;
                    fs.vol.dir_set(src.slot, None)?;
                }
            }
            Ok(())
        })
    }
}
