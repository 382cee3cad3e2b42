//! Sector (and frame) ranges: non-empty, overflow-safe.
//!
//! A range is `first .. first + count` with `count >= 1` and its last
//! element `first + count - 1 <= u64::MAX`, so a range may end exactly at
//! `u64::MAX` but never wraps. Every computation below is checked: no
//! `u64` wrap-around can widen a range or move a request outside it.
//!
//! Zero-length policy: a range capability is never empty (minting or
//! deriving `count == 0` is [`Error::InvalidArgument`]), and a request for
//! zero sectors is [`Error::InvalidArgument`] too, so a driver never sees
//! an empty request.

use crate::abi::Error;
use crate::object::ObjectId;

/// A range of sectors on one block device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SectorRange {
    /// The kernel's number for the block device.
    pub device: u32,
    /// The absolute first sector.
    pub first: u64,
    /// How many sectors (at least 1).
    pub count: u64,
}

/// Checks that `first .. first + count` is a valid range.
pub const fn check_span(first: u64, count: u64) -> Result<(), Error> {
    if count == 0 {
        return Err(Error::InvalidArgument);
    }
    match first.checked_add(count - 1) {
        Some(_) => Ok(()),
        None => Err(Error::OutOfRange),
    }
}

/// Whether `inner` lies within `outer` (both valid spans).
pub const fn span_within(inner: (u64, u64), outer: (u64, u64)) -> bool {
    let (first, count) = inner;
    let (outer_first, outer_count) = outer;
    // first >= outer_first, and the last element of inner is at most the
    // last of outer; written without additions that could overflow.
    first >= outer_first
        && first - outer_first < outer_count
        && count <= outer_count - (first - outer_first)
}

/// The absolute first element of the sub-span `(offset, count)` of
/// `(first, total)`, relative to `first`.
///
/// `count == 0` is [`Error::InvalidArgument`]; a sub-span that does not fit
/// is [`Error::OutOfRange`].
pub const fn sub_span(first: u64, total: u64, offset: u64, count: u64) -> Result<u64, Error> {
    if count == 0 {
        return Err(Error::InvalidArgument);
    }
    if offset >= total || count > total - offset {
        return Err(Error::OutOfRange);
    }
    // offset < total and (first, total) is valid, so this cannot overflow.
    Ok(first + offset)
}

impl SectorRange {
    /// A range, checked: `count == 0` is `InvalidArgument`, a range past
    /// `u64::MAX` is `OutOfRange`.
    pub const fn new(device: u32, first: u64, count: u64) -> Result<SectorRange, Error> {
        match check_span(first, count) {
            Ok(()) => Ok(SectorRange { device, first, count }),
            Err(error) => Err(error),
        }
    }

    /// The absolute last sector.
    pub const fn last(&self) -> u64 {
        self.first + (self.count - 1)
    }

    /// The sub-range `(offset, count)`, relative to this range's start.
    pub const fn sub_range(&self, offset: u64, count: u64) -> Result<SectorRange, Error> {
        match sub_span(self.first, self.count, offset, count) {
            Ok(first) => Ok(SectorRange { device: self.device, first, count }),
            Err(error) => Err(error),
        }
    }

    /// Translates a request for `count` sectors at relative `sector` to the
    /// absolute first sector on the device. The last sector of the range is
    /// accessible, one past is `OutOfRange`; `count == 0` is
    /// `InvalidArgument`.
    pub const fn translate(&self, sector: u64, count: u64) -> Result<u64, Error> {
        sub_span(self.first, self.count, sector, count)
    }

    /// Whether this range lies within `outer` (same device, nested span).
    pub const fn is_within(&self, outer: &SectorRange) -> bool {
        self.device == outer.device
            && span_within((self.first, self.count), (outer.first, outer.count))
    }
}

/// A range of pages of one memory object: what a `MemoryObject`
/// capability names. `first` and `count` are in pages, relative to the
/// object's first page; the kernel checks at minting that the range lies
/// inside the object, and `derive` only narrows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PageRange {
    /// The kernel's id of the memory object.
    pub object: ObjectId,
    /// The first page, relative to the object's start.
    pub first: u64,
    /// How many pages (at least 1).
    pub count: u64,
}

impl PageRange {
    /// A range, checked as [`SectorRange::new`] checks.
    pub const fn new(object: ObjectId, first: u64, count: u64) -> Result<PageRange, Error> {
        match check_span(first, count) {
            Ok(()) => Ok(PageRange { object, first, count }),
            Err(error) => Err(error),
        }
    }

    /// The sub-range `(offset, count)`, relative to this range's start.
    pub const fn sub_range(&self, offset: u64, count: u64) -> Result<PageRange, Error> {
        match sub_span(self.first, self.count, offset, count) {
            Ok(first) => Ok(PageRange { object: self.object, first, count }),
            Err(error) => Err(error),
        }
    }

    /// The object's page at relative page `page` for `count` pages: the
    /// last page is reachable, one past is `OutOfRange`, `count == 0` is
    /// `InvalidArgument`.
    pub const fn translate(&self, page: u64, count: u64) -> Result<u64, Error> {
        sub_span(self.first, self.count, page, count)
    }

    /// Whether this range lies within `outer` (same object, nested span).
    pub const fn is_within(&self, outer: &PageRange) -> bool {
        self.object.0 == outer.object.0
            && span_within((self.first, self.count), (outer.first, outer.count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u64 = u64::MAX;

    #[test]
    fn new_refuses_empty_and_wrapping_ranges() {
        assert_eq!(SectorRange::new(0, 5, 0), Err(Error::InvalidArgument));
        assert_eq!(SectorRange::new(0, MAX, 2), Err(Error::OutOfRange));
        assert_eq!(
            SectorRange::new(0, 1, MAX),
            Ok(SectorRange { device: 0, first: 1, count: MAX })
        );
        assert_eq!(SectorRange::new(0, 2, MAX), Err(Error::OutOfRange));
        let top = SectorRange::new(0, MAX, 1).unwrap();
        assert_eq!(top.last(), MAX);
        assert_eq!(SectorRange::new(0, 0, MAX).unwrap().last(), MAX - 1);
    }

    #[test]
    fn translate_allows_the_last_sector_and_refuses_one_past() {
        let range = SectorRange::new(1, 100, 10).unwrap();
        assert_eq!(range.translate(0, 10), Ok(100));
        assert_eq!(range.translate(9, 1), Ok(109));
        assert_eq!(range.translate(10, 1), Err(Error::OutOfRange));
        assert_eq!(range.translate(9, 2), Err(Error::OutOfRange));
        assert_eq!(range.translate(0, 11), Err(Error::OutOfRange));
        assert_eq!(range.translate(0, 0), Err(Error::InvalidArgument));
        assert_eq!(range.translate(10, 0), Err(Error::InvalidArgument));
    }

    #[test]
    fn translate_cannot_be_wrapped_around() {
        let range = SectorRange::new(0, 100, 10).unwrap();
        assert_eq!(range.translate(MAX, 2), Err(Error::OutOfRange));
        assert_eq!(range.translate(5, MAX), Err(Error::OutOfRange));
        assert_eq!(range.translate(MAX - 4, 10), Err(Error::OutOfRange));
        let top = SectorRange::new(0, MAX - 9, 10).unwrap();
        assert_eq!(top.translate(9, 1), Ok(MAX));
        assert_eq!(top.translate(0, 10), Ok(MAX - 9));
        assert_eq!(top.translate(10, 1), Err(Error::OutOfRange));
        assert_eq!(top.translate(1, MAX), Err(Error::OutOfRange));
    }

    #[test]
    fn sub_ranges_nest_and_never_widen() {
        let range = SectorRange::new(2, 1000, 100).unwrap();
        let sub = range.sub_range(10, 20).unwrap();
        assert_eq!(sub, SectorRange { device: 2, first: 1010, count: 20 });
        assert!(sub.is_within(&range));
        assert!(range.is_within(&range));
        assert!(!range.is_within(&sub));
        assert_eq!(range.sub_range(99, 1).unwrap().first, 1099);
        assert_eq!(range.sub_range(100, 1), Err(Error::OutOfRange));
        assert_eq!(range.sub_range(0, 101), Err(Error::OutOfRange));
        assert_eq!(range.sub_range(1, MAX), Err(Error::OutOfRange));
        assert_eq!(range.sub_range(MAX, 2), Err(Error::OutOfRange));
        assert_eq!(range.sub_range(5, 0), Err(Error::InvalidArgument));
        let other_device = SectorRange { device: 3, ..sub };
        assert!(!other_device.is_within(&range));
    }

    #[test]
    fn sub_ranges_at_the_top_of_the_u64_space() {
        let whole = SectorRange::new(0, 0, MAX).unwrap();
        let top = SectorRange::new(0, MAX, 1).unwrap();
        assert!(!top.is_within(&whole), "sector MAX is not in 0..MAX");
        let upper = SectorRange::new(0, 1, MAX).unwrap();
        assert!(top.is_within(&upper));
        assert_eq!(upper.sub_range(MAX - 1, 1), Ok(top));
        assert_eq!(upper.sub_range(MAX - 1, 2), Err(Error::OutOfRange));
    }

    #[test]
    fn span_within_handles_extremes() {
        assert!(span_within((0, MAX), (0, MAX)));
        assert!(span_within((MAX, 1), (MAX, 1)));
        assert!(!span_within((MAX, 1), (0, MAX)));
        assert!(!span_within((5, 1), (6, 10)));
        assert!(!span_within((6, 11), (6, 10)));
        assert!(span_within((15, 1), (6, 10)));
        assert!(!span_within((16, 1), (6, 10)));
    }

    #[test]
    fn page_ranges_narrow_within_their_object_only() {
        let r = PageRange::new(ObjectId(3), 0, 16).unwrap();
        let sub = r.sub_range(4, 4).unwrap();
        assert_eq!((sub.first, sub.count), (4, 4));
        assert!(sub.is_within(&r));
        assert!(!r.is_within(&sub));
        assert!(!PageRange::new(ObjectId(4), 4, 4).unwrap().is_within(&r));
        assert_eq!(r.sub_range(12, 5), Err(Error::OutOfRange));
        assert_eq!(r.sub_range(0, 0), Err(Error::InvalidArgument));
        assert_eq!(sub.translate(3, 1), Ok(7));
        assert_eq!(sub.translate(4, 1), Err(Error::OutOfRange));
        assert_eq!(sub.translate(MAX, 2), Err(Error::OutOfRange));
        assert_eq!(PageRange::new(ObjectId(0), MAX, 2), Err(Error::OutOfRange));
    }
}
