//! File data: reading, writing and resizing.
//!
//! Data blocks are copy-on-write with respect to committed state: a block
//! that a committed transaction references is never overwritten; the new
//! contents go to a freshly allocated block and the old one is freed (and
//! not reused before the next checkpoint). Blocks allocated in the running
//! transaction are rewritten in place. Large requests become one device
//! request per physically contiguous run (up to [`WRITE_CHUNK_BLOCKS`]),
//! and whole blocks go to the device straight from the caller's buffer:
//! only a block written in part is copied (merged with its old contents),
//! so a large write costs no copy in user space, where the emulator's
//! `memcpy` is slow.
//!
//! Bytes past the end of a file inside its last block are always zero, so a
//! file that grows shows zeroes there, as it does in holes.

use alloc::vec;
use alloc::vec::Vec;

use super::FsError;
use super::extent::{self, MAX_FILE_BLOCKS};
use super::inode::{Inode, chain_blocks_for};
use super::layout::{BLOCK_SIZE, MAX_FILE_SIZE};
use super::volume::Volume;
use crate::block::BlockDevice;
use crate::iobuf::IoBuf;

/// Blocks written per device request and per allocation step.
pub const WRITE_CHUNK_BLOCKS: u64 = 256;
const BS: u64 = BLOCK_SIZE as u64;

impl<D: BlockDevice> Volume<D> {
    /// Reads from `inode` at byte `pos`; returns the bytes read (0 at end).
    pub fn read_at(&mut self, inode: &Inode, pos: u64, buf: &mut [u8]) -> Result<usize, FsError> {
        if pos >= inode.size || buf.is_empty() {
            return Ok(0);
        }
        let n = (buf.len() as u64).min(inode.size - pos);
        let end = pos + n;
        let mut tmp = [0u8; BLOCK_SIZE];
        for run in extent::runs(&inode.extents, pos / BS, end.div_ceil(BS)) {
            let rs = (run.logical * BS).max(pos);
            let re = ((run.logical + run.len) * BS).min(end);
            let Some(phys) = run.phys else {
                buf[(rs - pos) as usize..(re - pos) as usize].fill(0);
                continue;
            };
            let block_of = |at: u64| phys + (at / BS - run.logical);
            let a_start = rs.next_multiple_of(BS);
            let a_end = re / BS * BS;
            if a_start >= a_end {
                // Inside at most two blocks, none of them whole.
                let mut at = rs;
                while at < re {
                    let stop = (at / BS * BS + BS).min(re);
                    self.read_blocks(block_of(at), &mut tmp)?;
                    let o = (at % BS) as usize;
                    buf[(at - pos) as usize..(stop - pos) as usize]
                        .copy_from_slice(&tmp[o..o + (stop - at) as usize]);
                    at = stop;
                }
                continue;
            }
            self.read_blocks(
                block_of(a_start),
                &mut buf[(a_start - pos) as usize..(a_end - pos) as usize],
            )?;
            if rs < a_start {
                self.read_blocks(block_of(rs), &mut tmp)?;
                let o = (rs % BS) as usize;
                buf[(rs - pos) as usize..(a_start - pos) as usize]
                    .copy_from_slice(&tmp[o..o + (a_start - rs) as usize]);
            }
            if a_end < re {
                self.read_blocks(block_of(a_end), &mut tmp)?;
                buf[(a_end - pos) as usize..(re - pos) as usize]
                    .copy_from_slice(&tmp[..(re - a_end) as usize]);
            }
        }
        Ok(n as usize)
    }

    /// Writes `data` into `inode` at byte `pos`. Returns the bytes written,
    /// fewer than asked only when space ran out after some were written.
    /// Any other error after some were written counts as a change (so the
    /// operation fails the file system). The caller stores the inode.
    pub fn write_at(&mut self, inode: &mut Inode, pos: u64, data: &[u8]) -> Result<usize, FsError> {
        if data.is_empty() {
            return Ok(0);
        }
        let end = pos
            .checked_add(data.len() as u64)
            .filter(|&e| e <= MAX_FILE_SIZE)
            .ok_or(FsError::InvalidArgument)?;
        let last = (end - 1) / BS;
        let mut lb = pos / BS;
        let mut done = 0;
        let mut step = WRITE_CHUNK_BLOCKS;
        while lb <= last {
            // A block `data` covers in part is a chunk of its own; whole
            // blocks go in chunks of up to `step`.
            let whole = (end / BS).saturating_sub(lb);
            let n = if lb * BS < pos || whole == 0 { 1 } else { whole.min(step) };
            match self.write_chunk(inode, pos, data, lb, n) {
                Ok(bytes) => {
                    done += bytes;
                    lb += n;
                }
                Err(FsError::NoSpace) if n > 1 => step = 1,
                Err(FsError::NoSpace) if done > 0 => break,
                Err(e) => {
                    if done > 0 {
                        // Part of the data is in: the caller must treat
                        // the file system as changed (and fail it).
                        self.mutations += 1;
                    }
                    return Err(e);
                }
            }
        }
        Ok(done)
    }

    /// Writes the part of `data` (placed at `pos`) that falls in file
    /// blocks `[lb, lb+n)`. Changes nothing if it fails, unless a block of
    /// the running transaction was being rewritten in place.
    fn write_chunk(
        &mut self,
        inode: &mut Inode,
        pos: u64,
        data: &[u8],
        lb: u64,
        n: u64,
    ) -> Result<usize, FsError> {
        let end = pos + data.len() as u64;
        let cs = lb * BS;
        let ws = pos.max(cs);
        let we = end.min(cs + n * BS);
        // Whole blocks go to the device straight from the caller's bytes
        // (a copy here would be the slowest part of a large write); a
        // chunk with a partial block is merged with the old contents.
        let merged;
        let src: &[u8] = if ws == cs && we == cs + n * BS {
            &data[(ws - pos) as usize..(we - pos) as usize]
        } else {
            merged = self.merge_chunk(
                inode,
                &data[(ws - pos) as usize..(we - pos) as usize],
                ws,
                lb,
                n,
            )?;
            &merged
        };

        // Where each block goes: in place if it is fresh, else a new block.
        let mut targets: Vec<Option<u64>> = (lb..lb + n)
            .map(|b| extent::lookup(&inode.extents, b).filter(|&p| self.fresh.contains(p)))
            .collect();
        let need = targets.iter().filter(|t| t.is_none()).count() as u64;
        let chain_extra = (chain_blocks_for(inode.extents.len() + 2) as u64)
            .saturating_sub(inode.chain.len() as u64);
        if need > 0 {
            self.ensure_available(need + chain_extra)?;
        }
        let before = self.mutations;
        let mut allocated: Vec<(u64, u64)> = Vec::new();
        let mut hint = match lb.checked_sub(1) {
            Some(prev) => extent::lookup(&inode.extents, prev).map_or(0, |p| p + 1),
            None => 0,
        };
        if hint == 0 {
            hint = inode.extents.last().map_or(0, |e| e.phys + e.len);
        }
        let mut got = 0;
        while got < need {
            match self.alloc_data(hint, need - got) {
                Ok((s, k)) => {
                    allocated.push((s, k));
                    got += k;
                    hint = s + k;
                }
                Err(e) => {
                    self.undo_alloc(&allocated, before);
                    return Err(e);
                }
            }
        }
        let mut new_blocks = allocated.iter().flat_map(|&(s, k)| s..s + k);
        let mut is_new = vec![false; n as usize];
        for (i, t) in targets.iter_mut().enumerate() {
            if t.is_none() {
                *t = new_blocks.next();
                is_new[i] = true;
            }
        }
        let phys: Vec<u64> = targets.iter().map(|t| t.unwrap_or(0)).collect();
        let mut i = 0;
        while i < phys.len() {
            let mut j = i + 1;
            while j < phys.len() && phys[j] == phys[j - 1] + 1 {
                j += 1;
            }
            let bytes = &src[i * BLOCK_SIZE..j * BLOCK_SIZE];
            if let Err(e) = self.write_blocks(phys[i], bytes) {
                let rewrote_in_place = is_new.iter().any(|&x| !x);
                self.undo_alloc(&allocated, before);
                if rewrote_in_place {
                    self.mutations += 1;
                }
                return Err(e);
            }
            i = j;
        }
        for (k, &p) in phys.iter().enumerate() {
            self.note_data(p, &src[k * BLOCK_SIZE..(k + 1) * BLOCK_SIZE]);
            if is_new[k] {
                for (s, len) in extent::map(&mut inode.extents, lb + k as u64, p, 1) {
                    self.free_blocks(s, len);
                }
            }
        }
        inode.size = inode.size.max(we);
        Ok((we - ws) as usize)
    }

    /// File blocks `[lb, lb+n)` with `part` placed at byte `ws` of the
    /// file, over the old contents of the first and last block where
    /// `part` covers them only in part.
    fn merge_chunk(
        &mut self,
        inode: &Inode,
        part: &[u8],
        ws: u64,
        lb: u64,
        n: u64,
    ) -> Result<IoBuf, FsError> {
        let cs = lb * BS;
        let we = ws + part.len() as u64;
        let mut buf = IoBuf::zeroed((n * BS) as usize);
        for blk in [lb, lb + n - 1] {
            let bs = blk * BS;
            let whole = ws <= bs && we >= bs + BS;
            if !whole
                && bs < inode.size
                && let Some(p) = extent::lookup(&inode.extents, blk)
            {
                let at = ((blk - lb) * BS) as usize;
                self.read_blocks(p, &mut buf[at..at + BLOCK_SIZE])?;
                if bs + BS > inode.size {
                    // Past the end is zero, even while shrinking.
                    buf[at + (inode.size - bs) as usize..at + BLOCK_SIZE].fill(0);
                }
            }
        }
        buf[(ws - cs) as usize..(we - cs) as usize].copy_from_slice(part);
        Ok(buf)
    }

    fn undo_alloc(&mut self, allocated: &[(u64, u64)], mutations: u64) {
        for &(s, k) in allocated {
            self.free_blocks(s, k);
        }
        self.mutations = mutations;
    }

    /// Sets the size of `inode`: growing leaves a hole (reads as zeroes),
    /// shrinking frees the blocks past the end and zeroes the tail of the
    /// new last block. The caller stores the inode.
    pub fn set_len(&mut self, inode: &mut Inode, len: u64) -> Result<(), FsError> {
        if len > MAX_FILE_SIZE {
            return Err(FsError::InvalidArgument);
        }
        if len >= inode.size {
            inode.size = len;
            return Ok(());
        }
        if !len.is_multiple_of(BS) {
            let lb = len / BS;
            if let Some(p) = extent::lookup(&inode.extents, lb) {
                let mut blk = [0u8; BLOCK_SIZE];
                self.read_blocks(p, &mut blk)?;
                let keep = (len % BS) as usize;
                if blk[keep..].iter().any(|&b| b != 0) {
                    blk[keep..].fill(0);
                    let size = inode.size;
                    inode.size = len;
                    let r = self.write_at(inode, lb * BS, &blk[..keep]);
                    inode.size = size;
                    if r? != keep {
                        return Err(FsError::NoSpace);
                    }
                }
            }
        }
        for (s, n) in extent::punch(&mut inode.extents, len.div_ceil(BS), MAX_FILE_BLOCKS) {
            self.free_blocks(s, n);
        }
        inode.size = len;
        Ok(())
    }
}
