//! Extent lists: the map from file blocks to device blocks, kept sorted by
//! file block with no overlaps. Pure logic, no I/O.

use alloc::vec::Vec;

use super::FsError;
use super::layout::{BLOCK_SIZE, Extent, Geometry, MAX_FILE_SIZE};

/// Largest file block number (exclusive).
pub const MAX_FILE_BLOCKS: u64 = MAX_FILE_SIZE / BLOCK_SIZE as u64;

/// A piece of a file range: `len` blocks from file block `logical`, stored
/// from device block `phys` (or a hole when `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// First file block.
    pub logical: u64,
    /// First device block, `None` for a hole.
    pub phys: Option<u64>,
    /// Number of blocks.
    pub len: u64,
}

/// The device block holding file block `lb`.
pub fn lookup(ext: &[Extent], lb: u64) -> Option<u64> {
    let i = ext.partition_point(|e| e.logical_end() <= lb);
    ext.get(i).filter(|e| e.logical <= lb).map(|e| e.phys + (lb - e.logical))
}

/// Splits file blocks `[start, end)` into mapped runs and holes.
pub fn runs(ext: &[Extent], start: u64, end: u64) -> Vec<Run> {
    let mut out = Vec::new();
    let mut at = start;
    let mut i = ext.partition_point(|e| e.logical_end() <= start);
    while at < end {
        match ext.get(i) {
            Some(e) if e.logical <= at => {
                let stop = e.logical_end().min(end);
                out.push(Run {
                    logical: at,
                    phys: Some(e.phys + (at - e.logical)),
                    len: stop - at,
                });
                at = stop;
                i += 1;
            }
            Some(e) => {
                let stop = e.logical.min(end);
                out.push(Run { logical: at, phys: None, len: stop - at });
                at = stop;
            }
            None => {
                out.push(Run { logical: at, phys: None, len: end - at });
                at = end;
            }
        }
    }
    out
}

/// Unmaps file blocks `[start, end)` and returns the device ranges that
/// were mapped there, as `(phys, len)`.
pub fn punch(ext: &mut Vec<Extent>, start: u64, end: u64) -> Vec<(u64, u64)> {
    let mut removed = Vec::new();
    if start >= end {
        return removed;
    }
    let first = ext.partition_point(|e| e.logical_end() <= start);
    let last = ext.partition_point(|e| e.logical < end);
    if first >= last {
        return removed;
    }
    let mut keep = Vec::new();
    for e in ext.drain(first..last) {
        let (es, ee) = (e.logical, e.logical_end());
        if es < start {
            keep.push(Extent { logical: es, phys: e.phys, len: start - es });
        }
        let cs = es.max(start);
        let ce = ee.min(end);
        removed.push((e.phys + (cs - es), ce - cs));
        if ee > end {
            keep.push(Extent { logical: end, phys: e.phys + (end - es), len: ee - end });
        }
    }
    let tail = ext.split_off(first);
    ext.extend(keep);
    ext.extend(tail);
    removed
}

/// Maps file blocks `[lb, lb+n)` to device blocks `[phys, phys+n)`,
/// merging with neighbours; returns the device ranges it replaced.
pub fn map(ext: &mut Vec<Extent>, lb: u64, phys: u64, n: u64) -> Vec<(u64, u64)> {
    let removed = punch(ext, lb, lb + n);
    let mut i = ext.partition_point(|e| e.logical < lb);
    ext.insert(i, Extent { logical: lb, phys, len: n });
    if i > 0 {
        let p = ext[i - 1];
        if p.logical_end() == lb && p.phys + p.len == phys {
            ext[i - 1].len += n;
            ext.remove(i);
            i -= 1;
        }
    }
    if i + 1 < ext.len() {
        let (c, nx) = (ext[i], ext[i + 1]);
        if c.logical_end() == nx.logical && c.phys + c.len == nx.phys {
            ext[i].len += nx.len;
            ext.remove(i + 1);
        }
    }
    removed
}

/// Total mapped blocks.
pub fn mapped_blocks(ext: &[Extent]) -> u64 {
    ext.iter().map(|e| e.len).sum()
}

/// Checks that an extent list read from disk is sorted, disjoint, inside
/// the data region and within `limit_blocks` file blocks.
pub fn validate(ext: &[Extent], geo: &Geometry, limit_blocks: u64) -> Result<(), FsError> {
    let mut prev_end = 0;
    for e in ext {
        if e.len == 0 || !geo.is_data_range(e.phys, e.len) {
            return Err(FsError::Corrupt("extent outside the data region"));
        }
        let end = e.logical.checked_add(e.len).ok_or(FsError::Corrupt("extent overflows"))?;
        if e.logical < prev_end || end > limit_blocks.min(MAX_FILE_BLOCKS) {
            return Err(FsError::Corrupt("extents overlap or pass the file end"));
        }
        prev_end = end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(logical: u64, phys: u64, len: u64) -> Extent {
        Extent { logical, phys, len }
    }

    #[test]
    fn map_merges_contiguous_appends() {
        let mut x = Vec::new();
        assert!(map(&mut x, 0, 100, 2).is_empty());
        map(&mut x, 2, 102, 3);
        assert_eq!(x, [e(0, 100, 5)]);
        map(&mut x, 10, 200, 1);
        assert_eq!(x, [e(0, 100, 5), e(10, 200, 1)]);
        assert_eq!(lookup(&x, 4), Some(104));
        assert_eq!(lookup(&x, 5), None);
        assert_eq!(lookup(&x, 10), Some(200));
    }

    #[test]
    fn map_over_existing_splits_and_reports_replaced() {
        let mut x = vec![e(0, 100, 10)];
        let old = map(&mut x, 3, 500, 2);
        assert_eq!(old, [(103, 2)]);
        assert_eq!(x, [e(0, 100, 3), e(3, 500, 2), e(5, 105, 5)]);
        let old = map(&mut x, 0, 600, 10);
        assert_eq!(old, [(100, 3), (500, 2), (105, 5)]);
        assert_eq!(x, [e(0, 600, 10)]);
    }

    #[test]
    fn punch_to_end_truncates() {
        let mut x = vec![e(0, 100, 4), e(6, 300, 4)];
        let gone = punch(&mut x, 2, MAX_FILE_BLOCKS);
        assert_eq!(gone, [(102, 2), (300, 4)]);
        assert_eq!(x, [e(0, 100, 2)]);
        assert_eq!(mapped_blocks(&x), 2);
    }

    #[test]
    fn runs_cover_holes_and_extents() {
        let x = vec![e(2, 100, 2), e(6, 300, 1)];
        let r = runs(&x, 0, 8);
        let want = [
            Run { logical: 0, phys: None, len: 2 },
            Run { logical: 2, phys: Some(100), len: 2 },
            Run { logical: 4, phys: None, len: 2 },
            Run { logical: 6, phys: Some(300), len: 1 },
            Run { logical: 7, phys: None, len: 1 },
        ];
        assert_eq!(r, want);
        assert_eq!(runs(&x, 3, 4), [Run { logical: 3, phys: Some(101), len: 1 }]);
    }

    #[test]
    fn validate_rejects_bad_lists() {
        let g = Geometry::for_blocks(1024).unwrap();
        let d = g.data_start;
        assert!(validate(&[e(0, d, 2), e(2, d + 5, 1)], &g, 10).is_ok());
        assert!(validate(&[e(0, d, 2), e(1, d + 5, 1)], &g, 10).is_err());
        assert!(validate(&[e(0, 0, 2)], &g, 10).is_err());
        assert!(validate(&[e(0, d, 0)], &g, 10).is_err());
        assert!(validate(&[e(9, d, 2)], &g, 10).is_err());
        assert!(validate(&[e(u64::MAX, d, 2)], &g, u64::MAX).is_err());
    }
}
