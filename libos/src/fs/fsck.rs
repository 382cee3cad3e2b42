//! The checker: validates every invariant of a mounted image and reports
//! each violation found (it does not stop at the first, and never repairs).
//!
//! Checked: the superblock and journal (by mounting), that every inode is
//! well-formed (extents sorted, disjoint, inside the data region and the
//! file size; extent chains; directory sizes), every directory entry
//! (name, type, inode number, no duplicates), that every allocated inode is
//! reachable from the root exactly once and every reachable one is
//! allocated, that no block is used twice, and that the block bitmap marks
//! exactly the blocks in use.

use ::alloc::collections::BTreeSet;
use ::alloc::format;
use ::alloc::string::String;
use ::alloc::vec;
use ::alloc::vec::Vec;

use super::FsError;
use super::layout::{DIRENTS_PER_BLOCK, FileType, ROOT_INO, RawInode, decode_dirent};
use super::ops::Fs;
use crate::block::BlockDevice;

/// What [`Fs::fsck`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FsckReport {
    /// One line per violated invariant; empty for a clean image.
    pub problems: Vec<String>,
    /// Reachable regular files.
    pub files: u64,
    /// Reachable directories (including the root).
    pub dirs: u64,
    /// Blocks in use, metadata regions included.
    pub used_blocks: u64,
}

impl FsckReport {
    /// Whether no problem was found.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Mounts `dev` (read-only: mounting never writes) and checks it. A mount
/// failure is reported as a problem.
pub fn check_device<D: BlockDevice>(dev: D) -> FsckReport {
    match Fs::mount(dev) {
        Ok(mut fs) => fs.fsck().unwrap_or_else(|e| FsckReport {
            problems: vec![format!("check failed: {e}")],
            ..FsckReport::default()
        }),
        Err(e) => {
            FsckReport { problems: vec![format!("mount failed: {e}")], ..FsckReport::default() }
        }
    }
}

struct Walk {
    used: Vec<bool>,
    seen: Vec<bool>,
    report: FsckReport,
}

impl Walk {
    fn claim(&mut self, start: u64, len: u64, owner: u32) {
        for b in start..start + len {
            match self.used.get_mut(b as usize) {
                Some(u) if *u => self
                    .report
                    .problems
                    .push(format!("block {b} used twice (again by inode {owner})")),
                Some(u) => *u = true,
                None => self.report.problems.push(format!("inode {owner}: block {b} past the end")),
            }
        }
    }
}

impl<D: BlockDevice> Fs<D> {
    /// Checks the file system as it is now (including uncommitted changes).
    /// Only an I/O error makes this fail; corruption is reported.
    pub fn fsck(&mut self) -> Result<FsckReport, FsError> {
        let geo = self.vol.geo;
        let mut w = Walk {
            used: vec![false; geo.total_blocks as usize],
            seen: vec![false; geo.inode_count as usize],
            report: FsckReport::default(),
        };
        for b in 0..geo.data_start {
            w.used[b as usize] = true;
        }
        let mut stack = vec![ROOT_INO];
        w.seen[ROOT_INO as usize] = true;
        while let Some(ino) = stack.pop() {
            let inode = match self.vol.load_inode(ino) {
                Ok(i) => i,
                Err(FsError::Corrupt(why)) => {
                    w.report.problems.push(format!("inode {ino}: {why}"));
                    continue;
                }
                Err(e) => return Err(e),
            };
            if !self.vol.inodes.is_used(u64::from(ino)) {
                w.report.problems.push(format!("inode {ino} is reachable but marked free"));
            }
            for e in &inode.extents {
                w.claim(e.phys, e.len, ino);
            }
            for &c in &inode.chain {
                w.claim(c, 1, ino);
            }
            if inode.kind == FileType::File {
                w.report.files += 1;
                continue;
            }
            w.report.dirs += 1;
            let mut names = BTreeSet::new();
            let blocks: Vec<u64> =
                inode.extents.iter().flat_map(|e| e.phys..e.phys + e.len).collect();
            for b in blocks {
                let blk = self.vol.meta(b)?;
                for i in 0..DIRENTS_PER_BLOCK {
                    let d = match decode_dirent(&blk, i) {
                        Ok(Some(d)) => d,
                        Ok(None) => continue,
                        Err(_) => {
                            w.report
                                .problems
                                .push(format!("directory {ino}: bad entry {i} in block {b}"));
                            continue;
                        }
                    };
                    if !names.insert(d.name.to_vec()) {
                        w.report
                            .problems
                            .push(format!("directory {ino}: duplicate name {:?}", d.name));
                    }
                    if !self.vol.ino_in_range(d.ino) {
                        w.report
                            .problems
                            .push(format!("directory {ino}: entry names inode {}", d.ino));
                        continue;
                    }
                    if w.seen[d.ino as usize] {
                        w.report.problems.push(format!("inode {} is linked more than once", d.ino));
                        continue;
                    }
                    w.seen[d.ino as usize] = true;
                    match self.inode_kind(d.ino)? {
                        Some(k) if k == d.kind => stack.push(d.ino),
                        Some(_) => w.report.problems.push(format!(
                            "directory {ino}: entry type differs from inode {}",
                            d.ino
                        )),
                        None => w
                            .report
                            .problems
                            .push(format!("directory {ino}: entry names free inode {}", d.ino)),
                    }
                }
            }
        }
        for ino in 1..geo.inode_count {
            let marked = self.vol.inodes.is_used(ino);
            if marked && !w.seen[ino as usize] {
                w.report.problems.push(format!("inode {ino} is allocated but unreachable"));
            } else if !marked && self.inode_kind(ino as u32)?.is_some() {
                w.report.problems.push(format!("inode {ino} is in use but marked free"));
            }
        }
        for b in 0..geo.total_blocks {
            let used = w.used[b as usize];
            if used {
                w.report.used_blocks += 1;
            }
            match (used, self.vol.blocks.is_used(b)) {
                (true, false) => {
                    w.report.problems.push(format!("block {b} is in use but marked free"))
                }
                (false, true) => {
                    w.report.problems.push(format!("block {b} is marked used but unused"))
                }
                _ => {}
            }
        }
        Ok(w.report)
    }

    /// The type stored in inode slot `ino` (`None` when free or invalid).
    fn inode_kind(&mut self, ino: u32) -> Result<Option<FileType>, FsError> {
        let (b, off) = self.vol.geo.inode_pos(ino);
        let blk = self.vol.meta(b)?;
        Ok(RawInode::decode(&blk[..], off).ok().and_then(|(r, _)| r.kind))
    }
}
