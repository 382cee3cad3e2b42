//! The redo journal: commit, checkpoint and recovery.
//!
//! A transaction is one contiguous write into the journal region:
//!
//! ```text
//! [descriptor blocks][metadata block images]
//! ```
//!
//! The descriptor starts with a header (magic, sequence number, counts, a
//! checksum of the whole descriptor) followed by one `(block, checksum)`
//! entry per metadata image (its home location) and one per file data block
//! written in the transaction. A transaction is valid only if the header,
//! every image and every listed data block match their checksums, so a
//! commit needs a single flush: if the device persisted the journal write
//! but not the data (or only part of either), the transaction is simply
//! ignored by recovery. When a transaction carries more than
//! [`DATA_CSUM_MAX`](super::volume::DATA_CSUM_MAX) data blocks, the commit
//! flushes the data first instead of listing it.
//!
//! Transactions are appended from journal block 0 with increasing sequence
//! numbers. A *checkpoint* writes the committed images to their home
//! locations, flushes, then records the next sequence number in the
//! superblock (an atomic one-sector write) and flushes again: the journal
//! is then empty and the next transaction goes to block 0. Recovery replays
//! valid transactions from block 0 whose sequence numbers follow the
//! superblock's, stopping at the first invalid one, into memory only (so
//! mounting never writes).
//!
//! A sequence number is used by at most one transaction, ever. The
//! transaction recovery stops at may be on the disk in part (a torn commit),
//! and it would validate again if its number came round again: once the
//! blocks it checksums hold the same bytes again, which happens as soon as
//! the next session writes the same data to the same free blocks, or tears
//! its own commit over it. So each mount opens an *epoch* before its first
//! write of any kind ([`Volume::open_epoch`]): a checkpoint that writes the
//! replayed images home and moves the superblock's number one past the one
//! recovery stopped at, flushed before anything else is written. Every
//! descriptor left in the journal then carries a number below the
//! superblock's, whatever its position, and replay never mistakes it for a
//! new one. The cost is one superblock write and a flush (two if recovery
//! replayed something) at the first write after each mount.
//!
//! Blocks freed by a transaction, and every block a journaled transaction
//! names, are not reused until after the next checkpoint, so neither replay
//! nor a data checksum can ever be disturbed by reuse; a block that mount
//! holds for the journal and that the running transaction frees stays held
//! until the checkpoint after that transaction's commit, since the state on
//! the disk still uses it.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use super::FsError;
use super::alloc::RangeSet;
use super::layout::{BLOCK_SIZE, Block, Superblock, checksum, get_u32, get_u64, put_u32, put_u64};
use super::volume::{DATA_SEED, Volume};
use crate::block::BlockDevice;
use crate::iobuf::IoBuf;

/// Transaction magic: "EXOJTXN1".
pub const TXN_MAGIC: u64 = u64::from_le_bytes(*b"EXOJTXN1");
/// Bytes of the descriptor header.
pub const DESC_HEADER: usize = 64;
/// Bytes of one descriptor entry.
pub const DESC_ENTRY: usize = 16;

const H_MAGIC: usize = 0;
const H_SEQ: usize = 8;
const H_META: usize = 16;
const H_DATA: usize = 20;
const H_DESC: usize = 24;
const H_SUM: usize = 32;

fn desc_blocks(entries: usize) -> usize {
    (DESC_HEADER + entries * DESC_ENTRY).div_ceil(BLOCK_SIZE)
}

fn meta_sum(seq: u64, home: u64, data: &[u8]) -> u64 {
    checksum(seq.rotate_left(17) ^ home, data)
}

impl<D: BlockDevice> Volume<D> {
    /// Makes every change of the running transaction durable. On error the
    /// on-disk state is the last committed one (or, if the final flush
    /// failed, possibly this one).
    pub fn commit(&mut self) -> Result<(), FsError> {
        let mut items: Vec<(u64, Arc<Block>)> =
            self.cache.iter().filter(|(_, e)| e.dirty).map(|(&b, e)| (b, e.data.clone())).collect();
        for (start, map) in
            [(self.geo.bbitmap_start, &self.blocks), (self.geo.ibitmap_start, &self.inodes)]
        {
            for k in map.dirty_blocks() {
                let mut blk = [0u8; BLOCK_SIZE];
                blk.copy_from_slice(map.block_bytes(k));
                items.push((start + k, Arc::new(blk)));
            }
        }
        if items.is_empty() {
            return Ok(());
        }
        let r = self.write_txn(items);
        // A failure leaves memory ahead of the disk.
        self.broken |= r.is_err();
        r
    }

    fn write_txn(&mut self, items: Vec<(u64, Arc<Block>)>) -> Result<(), FsError> {
        // Before the position below is chosen: opening the epoch moves it.
        self.open_epoch()?;
        let data: Vec<(u64, u64)> = self.txn_data.iter().map(|(&b, &h)| (b, h)).collect();
        let d = desc_blocks(items.len() + data.len());
        let total = (d + items.len()) as u64;
        if total > self.geo.journal_blocks {
            return Err(FsError::NoSpace);
        }
        if self.journal_pos + total > self.geo.journal_blocks {
            self.checkpoint()?;
        }
        if self.txn_data_overflow {
            self.flush()?;
        }
        let seq = self.journal_seq;
        let mut buf = IoBuf::zeroed(total as usize * BLOCK_SIZE);
        put_u64(&mut buf, H_MAGIC, TXN_MAGIC);
        put_u64(&mut buf, H_SEQ, seq);
        put_u32(&mut buf, H_META, items.len() as u32);
        put_u32(&mut buf, H_DATA, data.len() as u32);
        put_u32(&mut buf, H_DESC, d as u32);
        let mut off = DESC_HEADER;
        for (i, (home, blk)) in items.iter().enumerate() {
            put_u64(&mut buf, off, *home);
            put_u64(&mut buf, off + 8, meta_sum(seq, *home, &blk[..]));
            off += DESC_ENTRY;
            let at = (d + i) * BLOCK_SIZE;
            buf[at..at + BLOCK_SIZE].copy_from_slice(&blk[..]);
        }
        for (b, h) in &data {
            put_u64(&mut buf, off, *b);
            put_u64(&mut buf, off + 8, *h);
            off += DESC_ENTRY;
        }
        let sum = checksum(seq, &buf[..d * BLOCK_SIZE]);
        put_u64(&mut buf, H_SUM, sum);
        let at = self.geo.journal_start + self.journal_pos;
        self.write_blocks(at, &buf)?;
        self.flush()?;

        self.journal_pos += total;
        self.journal_seq += 1;
        for (home, blk) in items {
            if let Some(e) = self.cache.get_mut(&home) {
                e.dirty = false;
            }
            self.committed.insert(home, blk);
        }
        self.blocks.clear_dirty();
        self.inodes.clear_dirty();
        self.fresh.clear();
        self.txn_data.clear();
        self.txn_data_overflow = false;
        let freed = core::mem::take(&mut self.pending_current);
        self.pending_committed.extend(freed);
        Ok(())
    }

    /// Writes committed images home and empties the journal.
    pub fn checkpoint(&mut self) -> Result<(), FsError> {
        if self.committed.is_empty() && self.journal_pos == 0 {
            return Ok(());
        }
        if !self.epoch_open {
            // Opening the epoch is a checkpoint.
            return self.open_epoch();
        }
        let r = self.write_home();
        self.broken |= r.is_err();
        r
    }

    /// Starts this mount's journal epoch, before its first write (every
    /// write goes through [`Volume::write_blocks`], which calls this);
    /// does nothing once the epoch is open. Errors: the device's, or
    /// `Corrupt` if the sequence number is exhausted; either leaves the
    /// file system failed.
    ///
    /// Recovery stopped at `journal_seq`, the first sequence number whose
    /// transaction did not validate, and that transaction, or part of it,
    /// may be on the disk. If the next commit reused the number, a later
    /// crash could let the discarded transaction validate after all: this
    /// mount may write the very bytes it checksums into the data blocks it
    /// names (they are free again), or tear its own commit over it so that
    /// the old descriptor survives. So the epoch skips that number: it
    /// writes the replayed images home and records `journal_seq + 1` in
    /// the superblock (a checkpoint), and flushes, before anything else is
    /// written. Hence no sequence number is ever used by two transactions,
    /// and every stale transaction left in the journal carries a number
    /// below the superblock's, so replay can never mistake it for a new
    /// one (see the module docs).
    pub fn open_epoch(&mut self) -> Result<(), FsError> {
        if self.epoch_open {
            return Ok(());
        }
        let next = self.journal_seq.checked_add(1);
        let r = match next {
            Some(next) => {
                // The checkpoint writes through `write_blocks`.
                self.epoch_open = true;
                self.journal_seq = next;
                self.write_home()
            }
            None => Err(FsError::Corrupt("journal sequence number exhausted")),
        };
        if r.is_err() {
            self.epoch_open = false;
            self.broken = true;
        }
        r
    }

    fn write_home(&mut self) -> Result<(), FsError> {
        let homes: Vec<(u64, Arc<Block>)> =
            self.committed.iter().map(|(&b, d)| (b, d.clone())).collect();
        // Each run of adjacent homes in one buffer; the runs are
        // independent (the flush below orders them before the superblock),
        // so they go to the device as one batch.
        let mut runs: Vec<(u64, IoBuf)> = Vec::new();
        let mut i = 0;
        while i < homes.len() {
            let mut j = i + 1;
            while j < homes.len() && homes[j].0 == homes[j - 1].0 + 1 {
                j += 1;
            }
            let mut buf = IoBuf::zeroed((j - i) * BLOCK_SIZE);
            for (k, (_, d)) in homes[i..j].iter().enumerate() {
                buf[k * BLOCK_SIZE..(k + 1) * BLOCK_SIZE].copy_from_slice(&d[..]);
            }
            runs.push((homes[i].0, buf));
            i = j;
        }
        let batch: Vec<(u64, &[u8])> = runs.iter().map(|(b, buf)| (*b, &buf[..])).collect();
        self.write_blocks_many(&batch)?;
        if !homes.is_empty() {
            // The images must be home before the superblock drops them
            // from the journal.
            self.flush()?;
        }
        let sb = Superblock { geo: self.geo, journal_seq: self.journal_seq };
        self.dev.write(0, &sb.encode()).map_err(FsError::Io)?;
        self.flush()?;
        self.journal_pos = 0;
        self.committed.clear();
        // A block the running transaction freed is still used by the state
        // just checkpointed (it may be one that mount held for the journal,
        // in use then): it stays held until that transaction's checkpoint.
        let mut running = RangeSet::new();
        for &(s, n) in &self.pending_current {
            running.insert(s, n);
        }
        for (s, n) in core::mem::take(&mut self.pending_committed) {
            for b in (s..s + n).filter(|&b| !running.contains(b)) {
                self.blocks.release(b, 1);
            }
        }
        Ok(())
    }

    /// Replays the journal into `self.committed` starting at sequence
    /// `seq`. Returns the blocks the replayed transactions name (to be held
    /// until the next checkpoint). Leaves `journal_seq` at the number it
    /// stopped at, which [`Volume::open_epoch`] then skips.
    pub fn recover(&mut self, seq: u64) -> Result<Vec<u64>, FsError> {
        let mut named = Vec::new();
        let mut pos = 0;
        let mut seq = seq;
        let jb = self.geo.journal_blocks;
        while pos < jb {
            let mut head = [0u8; BLOCK_SIZE];
            self.read_blocks(self.geo.journal_start + pos, &mut head)?;
            if get_u64(&head, H_MAGIC) != TXN_MAGIC || get_u64(&head, H_SEQ) != seq {
                break;
            }
            let n_meta = get_u32(&head, H_META) as usize;
            let n_data = get_u32(&head, H_DATA) as usize;
            let d = get_u32(&head, H_DESC) as usize;
            let total = (d as u64).saturating_add(n_meta as u64);
            if n_meta == 0
                || n_meta as u64 > jb
                || n_data as u64 > jb * BLOCK_SIZE as u64
                || d != desc_blocks(n_meta + n_data)
                || pos + total > jb
            {
                break;
            }
            let mut buf = vec![0u8; total as usize * BLOCK_SIZE];
            buf[..BLOCK_SIZE].copy_from_slice(&head);
            if total > 1 {
                self.read_blocks(self.geo.journal_start + pos + 1, &mut buf[BLOCK_SIZE..])?;
            }
            let stored = get_u64(&buf, H_SUM);
            put_u64(&mut buf, H_SUM, 0);
            if checksum(seq, &buf[..d * BLOCK_SIZE]) != stored {
                break;
            }
            if !self.txn_is_complete(&buf, seq, n_meta, n_data, d)? {
                break;
            }
            for i in 0..n_meta {
                let home = get_u64(&buf, DESC_HEADER + i * DESC_ENTRY);
                let at = (d + i) * BLOCK_SIZE;
                let mut blk = [0u8; BLOCK_SIZE];
                blk.copy_from_slice(&buf[at..at + BLOCK_SIZE]);
                self.committed.insert(home, Arc::new(blk));
                named.push(home);
            }
            for i in 0..n_data {
                named.push(get_u64(&buf, DESC_HEADER + (n_meta + i) * DESC_ENTRY));
            }
            pos += total;
            seq += 1;
        }
        self.journal_pos = pos;
        self.journal_seq = seq;
        Ok(named)
    }

    /// Whether every image and data block of a checksummed descriptor is
    /// intact. A descriptor naming impossible blocks is corruption.
    fn txn_is_complete(
        &mut self,
        buf: &[u8],
        seq: u64,
        n_meta: usize,
        n_data: usize,
        d: usize,
    ) -> Result<bool, FsError> {
        for i in 0..n_meta {
            let off = DESC_HEADER + i * DESC_ENTRY;
            let home = get_u64(buf, off);
            if !self.geo.is_journalable(home) {
                return Err(FsError::Corrupt("journal names a block it may not write"));
            }
            let at = (d + i) * BLOCK_SIZE;
            if meta_sum(seq, home, &buf[at..at + BLOCK_SIZE]) != get_u64(buf, off + 8) {
                return Ok(false);
            }
        }
        let mut blk = [0u8; BLOCK_SIZE];
        for i in 0..n_data {
            let off = DESC_HEADER + (n_meta + i) * DESC_ENTRY;
            let b = get_u64(buf, off);
            if !self.geo.is_data(b) {
                return Err(FsError::Corrupt("journal names a data block out of range"));
            }
            self.read_blocks(b, &mut blk)?;
            if checksum(DATA_SEED ^ b, &blk) != get_u64(buf, off + 8) {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
