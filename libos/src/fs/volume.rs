//! The mounted volume: the device, the metadata block cache, the allocators
//! and the state of the running transaction.
//!
//! Metadata blocks (inode table, directory blocks, extent overflow blocks)
//! are only ever changed in the cache; the journal ([`super::journal`])
//! carries them to disk. File data blocks bypass the cache: they are written
//! straight to blocks that no committed state references ("fresh" blocks),
//! so a crash can never expose them before the transaction that links them
//! commits.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::FsError;
use super::alloc::{Bitmap, RangeSet};
use super::layout::{BLOCK_SIZE, Block, Geometry, SECTORS_PER_BLOCK, checksum};
use crate::block::BlockDevice;

/// Clean metadata blocks kept in memory before eviction starts.
pub const CACHE_LIMIT: usize = 2048;
/// Most data-block checksums carried in one transaction; past this the
/// commit flushes the data before writing the journal instead.
pub const DATA_CSUM_MAX: usize = 512;
/// Seed of data-block checksums.
pub const DATA_SEED: u64 = 0xDA7A;

/// One cached metadata block.
#[derive(Debug, Clone)]
pub struct CacheEntry {
    /// Contents (shared with the committed copy until changed).
    pub data: Arc<Block>,
    /// Changed in the running transaction.
    pub dirty: bool,
}

/// Everything below the file-system API.
pub struct Volume<D> {
    /// The device.
    pub dev: D,
    /// The layout.
    pub geo: Geometry,
    /// Cached metadata blocks.
    pub cache: BTreeMap<u64, CacheEntry>,
    /// Committed versions of blocks journaled but not yet written home.
    pub committed: BTreeMap<u64, Arc<Block>>,
    /// Block allocation map.
    pub blocks: Bitmap,
    /// Inode allocation map.
    pub inodes: Bitmap,
    /// Blocks allocated in the running transaction.
    pub fresh: RangeSet,
    /// Blocks freed in the running transaction that a committed state uses.
    pub pending_current: Vec<(u64, u64)>,
    /// Blocks freed in committed transactions, reusable after checkpoint.
    pub pending_committed: Vec<(u64, u64)>,
    /// Checksums of the data blocks written in the running transaction.
    pub txn_data: BTreeMap<u64, u64>,
    /// Too many data blocks to checksum: flush them before committing.
    pub txn_data_overflow: bool,
    /// Next free journal block (relative to the journal start).
    pub journal_pos: u64,
    /// Sequence number of the next transaction.
    pub journal_seq: u64,
    /// Counts metadata changes, to detect a failure after a change began.
    pub mutations: u64,
    /// Value of `mutations` when the running operation started.
    pub op_start: u64,
    /// A commit or checkpoint failed: memory and disk may disagree.
    pub broken: bool,
    /// This mount has started its journal epoch
    /// ([`Volume::open_epoch`]); until then it has written nothing.
    pub epoch_open: bool,
}

impl<D: BlockDevice> Volume<D> {
    /// Reads whole blocks starting at `block`.
    pub fn read_blocks(&mut self, block: u64, buf: &mut [u8]) -> Result<(), FsError> {
        debug_assert_eq!(buf.len() % BLOCK_SIZE, 0);
        self.dev.read(block * SECTORS_PER_BLOCK, buf).map_err(FsError::Io)
    }

    /// Writes whole blocks starting at `block`. The first write of a mount
    /// starts its journal epoch first, whichever path issues it: nothing
    /// may reach the disk while a transaction that recovery discarded can
    /// still be completed by it.
    pub fn write_blocks(&mut self, block: u64, buf: &[u8]) -> Result<(), FsError> {
        debug_assert_eq!(buf.len() % BLOCK_SIZE, 0);
        self.open_epoch()?;
        self.dev.write(block * SECTORS_PER_BLOCK, buf).map_err(FsError::Io)
    }

    /// Writes independent runs of whole blocks, `(first block, bytes)`
    /// each, in one batch where the device can ([`BlockDevice::write_many`]);
    /// starts the journal epoch first, as [`write_blocks`](Self::write_blocks).
    pub fn write_blocks_many(&mut self, runs: &[(u64, &[u8])]) -> Result<(), FsError> {
        self.open_epoch()?;
        let writes: Vec<(u64, &[u8])> =
            runs.iter().map(|&(block, buf)| (block * SECTORS_PER_BLOCK, buf)).collect();
        self.dev.write_many(&writes).map_err(FsError::Io)
    }

    /// Flushes the device.
    pub fn flush(&mut self) -> Result<(), FsError> {
        self.dev.flush().map_err(FsError::Io)
    }

    /// The newest contents of metadata block `b`.
    pub fn meta(&mut self, b: u64) -> Result<Arc<Block>, FsError> {
        if !self.geo.is_journalable(b) {
            return Err(FsError::Corrupt("metadata block out of range"));
        }
        if let Some(e) = self.cache.get(&b) {
            return Ok(e.data.clone());
        }
        let data = match self.committed.get(&b) {
            Some(d) => d.clone(),
            None => {
                let mut blk = Arc::new([0u8; BLOCK_SIZE]);
                self.read_blocks(b, &mut Arc::make_mut(&mut blk)[..])?;
                blk
            }
        };
        self.cache.insert(b, CacheEntry { data: data.clone(), dirty: false });
        Ok(data)
    }

    /// Changes metadata block `b` in the running transaction.
    pub fn meta_update<R>(
        &mut self,
        b: u64,
        f: impl FnOnce(&mut Block) -> R,
    ) -> Result<R, FsError> {
        self.meta(b)?;
        let e = self.cache.get_mut(&b).ok_or(FsError::Corrupt("cache entry vanished"))?;
        e.dirty = true;
        self.mutations += 1;
        Ok(f(Arc::make_mut(&mut e.data)))
    }

    /// Starts metadata block `b` as zeroes (for a block just allocated).
    pub fn meta_new(&mut self, b: u64) {
        self.mutations += 1;
        self.cache.insert(b, CacheEntry { data: Arc::new([0u8; BLOCK_SIZE]), dirty: true });
    }

    /// Number of metadata blocks the running transaction has changed.
    pub fn dirty_count(&self) -> usize {
        self.cache.values().filter(|e| e.dirty).count()
            + self.blocks.dirty_blocks().count()
            + self.inodes.dirty_blocks().count()
    }

    /// Drops clean cache entries beyond [`CACHE_LIMIT`].
    pub fn evict(&mut self) {
        if self.cache.len() <= CACHE_LIMIT {
            return;
        }
        let mut excess = self.cache.len() - CACHE_LIMIT / 2;
        self.cache.retain(|_, e| {
            if excess > 0 && !e.dirty {
                excess -= 1;
                false
            } else {
                true
            }
        });
    }

    /// Allocates one metadata block near `hint`, zeroed in the cache.
    pub fn alloc_meta(&mut self, hint: u64) -> Result<u64, FsError> {
        let (b, _) = self.alloc_data(hint, 1)?;
        self.meta_new(b);
        Ok(b)
    }

    /// Fails with `NoSpace` unless `n` blocks can be allocated, first
    /// checkpointing to release blocks freed by committed transactions.
    pub fn ensure_available(&mut self, n: u64) -> Result<(), FsError> {
        if self.blocks.available() < n
            && !self.pending_current.is_empty()
            && self.mutations == self.op_start
        {
            // Nothing changed yet in this operation: committing here keeps
            // every operation atomic and makes this transaction's frees
            // reusable after the checkpoint below.
            self.commit()?;
        }
        if self.blocks.available() < n && !self.pending_committed.is_empty() {
            self.checkpoint()?;
        }
        if self.blocks.available() < n {
            return Err(FsError::NoSpace);
        }
        Ok(())
    }

    /// Allocates a run of 1 to `max` blocks near `hint`.
    pub fn alloc_data(&mut self, hint: u64, max: u64) -> Result<(u64, u64), FsError> {
        let hint = hint.max(self.geo.data_start);
        self.ensure_available(1)?;
        let (s, n) = self.blocks.find_run(hint, max).ok_or(FsError::NoSpace)?;
        self.blocks.mark_used(s, n);
        self.fresh.insert(s, n);
        self.mutations += 1;
        Ok((s, n))
    }

    /// Frees `[start, start+n)`: blocks allocated in the running transaction
    /// are reusable at once, the others after the next checkpoint.
    pub fn free_blocks(&mut self, start: u64, n: u64) {
        self.mutations += 1;
        for b in start..start + n {
            self.cache.remove(&b);
            if self.fresh.contains(b) {
                self.blocks.free(b, 1, true);
                self.txn_data.remove(&b);
            } else {
                self.blocks.free(b, 1, false);
                match self.pending_current.last_mut() {
                    Some((s, l)) if *s + *l == b => *l += 1,
                    _ => self.pending_current.push((b, 1)),
                }
            }
        }
        self.fresh.remove(start, n);
    }

    /// Records that data block `b` now holds `data` (for the commit check).
    pub fn note_data(&mut self, b: u64, data: &[u8]) {
        if self.txn_data_overflow {
            return;
        }
        self.txn_data.insert(b, checksum(DATA_SEED ^ b, data));
        if self.txn_data.len() > DATA_CSUM_MAX {
            self.txn_data_overflow = true;
            self.txn_data.clear();
        }
    }
}
