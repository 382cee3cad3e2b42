//! NVMe logic that touches no hardware: the controller's capability
//! register decoded, the IDENTIFY data structures read, and the PRP
//! entries of a command built from a request's memory segments.
//!
//! Everything here reads values a device gave: a field out of its range
//! is refused with an error (the kernel reports the controller or the
//! namespace at boot and skips it), never trusted and never a panic.
//! Section numbers are those of the NVM Express Base Specification 2.0
//! ("Base 2.0") and the NVM Command Set Specification 1.0 ("NVM 1.0").

use alloc::string::String;

/// The memory page size the driver configures (CC.MPS = 0): 4 KiB, the
/// unit of PRP entries and of MDTS.
pub const PAGE: usize = 4096;

/// Bytes in one submission queue entry (CC.IOSQES = 6).
pub const SQ_ENTRY_BYTES: usize = 64;
/// Bytes in one completion queue entry (CC.IOCQES = 4).
pub const CQ_ENTRY_BYTES: usize = 16;

/// The controller capabilities (CAP, Base 2.0, 3.1.3.1), the fields the
/// driver uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// The most entries one I/O queue may have (MQES + 1, MQES being
    /// 0-based).
    pub max_queue_entries: u32,
    /// The longest the controller may take to become ready (or not ready)
    /// after CC.EN changes, in milliseconds (TO, in 500 ms units; 0 is
    /// taken as one unit).
    pub timeout_ms: u64,
    /// Bytes between two doorbell registers (4 << DSTRD).
    pub doorbell_stride: usize,
    /// Whether the NVM command set is supported (CSS bit 0).
    pub nvm_command_set: bool,
    /// The smallest memory page size the controller supports, in bytes
    /// (4 KiB << MPSMIN).
    pub min_page: u64,
    /// The largest, in bytes (4 KiB << MPSMAX).
    pub max_page: u64,
}

impl Capabilities {
    /// Decodes the 64-bit CAP register.
    pub fn decode(cap: u64) -> Self {
        let field = |shift: u32, bits: u32| (cap >> shift) & ((1 << bits) - 1);
        Capabilities {
            max_queue_entries: field(0, 16) as u32 + 1,
            timeout_ms: field(24, 8).max(1) * 500,
            doorbell_stride: 4 << field(32, 4),
            nvm_command_set: field(37, 8) & 1 != 0,
            min_page: (PAGE as u64) << field(48, 4),
            max_page: (PAGE as u64) << field(52, 4),
        }
    }
}

/// Bytes of every IDENTIFY data structure (Base 2.0, 5.17.2).
pub const IDENTIFY_BYTES: usize = 4096;

/// What the driver takes from the Identify Controller data structure
/// (CNS 01h, Base 2.0, 5.17.2.1, Figure 275).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerInfo {
    /// Serial number (SN, bytes 4..24), trimmed.
    pub serial: String,
    /// Model number (MN, bytes 24..64), trimmed.
    pub model: String,
    /// Firmware revision (FR, bytes 64..72), trimmed.
    pub firmware: String,
    /// The largest transfer of one command in bytes (MDTS, byte 77: a
    /// power of two in units of the minimum page size); `None` when the
    /// controller sets no limit (MDTS = 0).
    pub max_transfer: Option<u64>,
    /// Number of namespaces (NN, bytes 516..520): the highest namespace
    /// id the controller may have.
    pub namespaces: u32,
    /// Whether a volatile write cache is present (VWC bit 0, byte 525),
    /// so that FLUSH has work to do.
    pub volatile_write_cache: bool,
}

fn le32(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}

fn le64(data: &[u8], at: usize) -> u64 {
    u64::from(le32(data, at)) | u64::from(le32(data, at + 4)) << 32
}

/// An ASCII field of an IDENTIFY structure, space-padded by the device:
/// trailing spaces and NULs dropped, anything unprintable shown as `?`.
fn ascii(field: &[u8]) -> String {
    let end = field.iter().rposition(|&b| b != b' ' && b != 0).map_or(0, |i| i + 1);
    field[..end]
        .iter()
        .map(|&b| if b.is_ascii_graphic() || b == b' ' { b as char } else { '?' })
        .collect()
}

/// Reads the Identify Controller data structure; `min_page` is the
/// controller's minimum memory page size (MDTS's unit).
pub fn parse_identify_controller(data: &[u8; IDENTIFY_BYTES], min_page: u64) -> ControllerInfo {
    let mdts = u32::from(data[77]);
    ControllerInfo {
        serial: ascii(&data[4..24]),
        model: ascii(&data[24..64]),
        firmware: ascii(&data[64..72]),
        // A shift the width of the value or more sets no limit we could
        // reach anyway.
        max_transfer: (mdts != 0).then(|| min_page.checked_shl(mdts).unwrap_or(u64::MAX)),
        namespaces: le32(data, 516),
        volatile_write_cache: data[525] & 1 != 0,
    }
}

/// The active namespace ids of an Active Namespace ID list (CNS 02h,
/// Base 2.0, 5.17.2.2): up to 1024 ids in increasing order, the list
/// ending at the first 0. Ids out of order (a device's bug) end it too.
pub fn active_namespaces(data: &[u8; IDENTIFY_BYTES]) -> impl Iterator<Item = u32> + '_ {
    let mut last = 0;
    (0..IDENTIFY_BYTES / 4).map(move |i| le32(data, i * 4)).take_while(move |&id| {
        let in_order = id > last && id != u32::MAX;
        last = id;
        in_order
    })
}

/// What the driver takes from the Identify Namespace data structure
/// (CNS 00h, NVM 1.0, 4.1.5.1, Figure 97).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NamespaceInfo {
    /// Size in logical blocks (NSZE, bytes 0..8).
    pub blocks: u64,
    /// Bytes per logical block of the format in use (LBADS of the LBA
    /// format FLBAS selects).
    pub block_bytes: u64,
    /// Metadata bytes per logical block of that format (MS).
    pub metadata_bytes: u16,
    /// Whether the namespace is write-protected (NSATTR bit 0, byte 99).
    pub write_protected: bool,
}

/// Why an Identify Namespace data structure cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NamespaceError {
    /// NSZE is 0: no namespace behind the id.
    Inactive,
    /// FLBAS names an LBA format past NLBAF, or its LBADS is not a
    /// power of two the specification allows (at least 9, 512 bytes).
    BadFormat,
}

/// The LBA format list's offset in the structure (LBAF0, bytes 128..132).
const LBAF_OFFSET: usize = 128;
/// LBA formats the list may hold (LBAF0 to LBAF63).
const MAX_LBA_FORMATS: usize = 64;

/// Reads the Identify Namespace data structure.
pub fn parse_identify_namespace(
    data: &[u8; IDENTIFY_BYTES],
) -> Result<NamespaceInfo, NamespaceError> {
    let blocks = le64(data, 0);
    if blocks == 0 {
        return Err(NamespaceError::Inactive);
    }
    // NLBAF (byte 25) is 0-based; FLBAS (byte 26) holds the format index
    // in bits 3:0 and, from NVMe 2.0, its upper two bits in bits 6:5.
    let formats = usize::from(data[25]) + 1;
    let flbas = data[26];
    let index = usize::from(flbas & 0xf) | usize::from(flbas >> 5 & 3) << 4;
    if index >= formats.min(MAX_LBA_FORMATS) {
        return Err(NamespaceError::BadFormat);
    }
    let format = le32(data, LBAF_OFFSET + 4 * index);
    let lbads = format >> 16 & 0xff;
    if !(9..64).contains(&lbads) {
        return Err(NamespaceError::BadFormat);
    }
    Ok(NamespaceInfo {
        blocks,
        block_bytes: 1 << lbads,
        metadata_bytes: format as u16,
        write_protected: data[99] & 1 != 0,
    })
}

/// Why a command's PRP entries cannot describe its memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrpError {
    /// The first byte is not dword-aligned (Base 2.0, 4.1.1: the offset of
    /// PRP entry 1 must be).
    Misaligned,
    /// The memory is not a run of pages: a piece after the first does not
    /// start on a page boundary, or one before the last does not end on
    /// one.
    NotPageRun,
    /// More pages than the PRP list has room for.
    ListFull,
    /// The segments hold fewer bytes than the command transfers.
    Short,
}

/// A position in a request's memory segments, each given as (device
/// address, length in bytes); commands take their bytes from it in order.
#[derive(Clone, Debug)]
pub struct Cursor<'a> {
    segments: &'a [(u64, usize)],
    /// The segment the next byte is in.
    index: usize,
    /// Bytes of that segment already taken.
    offset: usize,
}

impl<'a> Cursor<'a> {
    /// The start of `segments`.
    pub fn new(segments: &'a [(u64, usize)]) -> Self {
        Cursor { segments, index: 0, offset: 0 }
    }

    /// The next contiguous piece of at most `most` bytes that stays
    /// within one page: (device address, length). `None` at the end.
    fn next_chunk(&mut self, most: usize) -> Option<(u64, usize)> {
        while let Some(&(address, len)) = self.segments.get(self.index) {
            if self.offset < len {
                let at = address + self.offset as u64;
                let to_page_end = PAGE - (at % PAGE as u64) as usize;
                let n = most.min(to_page_end).min(len - self.offset);
                self.offset += n;
                return Some((at, n));
            }
            self.index += 1;
            self.offset = 0;
        }
        None
    }
}

/// The data pointer of one command (Base 2.0, 4.1.1): PRP entry 1, and
/// how many entries were written to its PRP list. PRP entry 2 is then 0
/// (none), the list's only entry (one), or the list's address (more).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prps {
    /// PRP entry 1: the first byte's device address.
    pub prp1: u64,
    /// Entries written to the list: the start of every page after the
    /// first.
    pub listed: usize,
}

impl Prps {
    /// PRP entry 2, given the list's device address: 0, the second page,
    /// or the list.
    pub fn prp2(&self, list: &[u64], list_address: u64) -> u64 {
        match self.listed {
            0 => 0,
            1 => list[0],
            _ => list_address,
        }
    }
}

/// Takes the next `bytes` bytes from `cursor` as one command's data
/// pointer: PRP entry 1 and, in `list`, the start of every further page.
/// `list` must not cross a page boundary (the driver's lists are
/// naturally aligned and at most a page). Errors: see [`PrpError`]; the
/// cursor has moved by an unspecified amount then.
pub fn command_prps(
    cursor: &mut Cursor<'_>,
    bytes: usize,
    list: &mut [u64],
) -> Result<Prps, PrpError> {
    let (prp1, first) = cursor.next_chunk(bytes).ok_or(PrpError::Short)?;
    if !prp1.is_multiple_of(4) {
        return Err(PrpError::Misaligned);
    }
    let mut taken = first;
    let mut end = prp1 + first as u64;
    let mut listed = 0;
    while taken < bytes {
        let (at, n) = cursor.next_chunk(bytes - taken).ok_or(PrpError::Short)?;
        if !end.is_multiple_of(PAGE as u64) || !at.is_multiple_of(PAGE as u64) {
            return Err(PrpError::NotPageRun);
        }
        *list.get_mut(listed).ok_or(PrpError::ListFull)? = at;
        listed += 1;
        taken += n;
        end = at + n as u64;
    }
    Ok(Prps { prp1, listed })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    #[test]
    fn capabilities_decode_qemus_register() {
        // QEMU 7.2's CAP: MQES 2047, CQR, TO 15, DSTRD 0, CSS NVM, MPSMAX 4.
        let cap = 0x7ff | 1 << 16 | 0xf << 24 | 1 << 37 | 4 << 52;
        let c = Capabilities::decode(cap);
        assert_eq!(c.max_queue_entries, 2048);
        assert_eq!(c.timeout_ms, 7500);
        assert_eq!(c.doorbell_stride, 4);
        assert!(c.nvm_command_set);
        assert_eq!((c.min_page, c.max_page), (4096, 65536));
        let c = Capabilities::decode(3 << 32 | 1 << 48);
        assert_eq!((c.doorbell_stride, c.min_page, c.timeout_ms), (32, 8192, 500));
        assert!(!c.nvm_command_set);
    }

    fn identify() -> [u8; IDENTIFY_BYTES] {
        [0; IDENTIFY_BYTES]
    }

    #[test]
    fn identify_controller_fields() {
        let mut d = identify();
        d[4..24].copy_from_slice(b"exocap-data         ");
        d[24..64]
            .copy_from_slice(b"QEMU NVMe Ctrl\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
        d[64..72].copy_from_slice(b"7.2\x01    ");
        d[77] = 7;
        d[516..520].copy_from_slice(&256u32.to_le_bytes());
        d[525] = 1;
        let c = parse_identify_controller(&d, 4096);
        assert_eq!(c.serial, "exocap-data");
        assert_eq!(c.model, "QEMU NVMe Ctrl");
        assert_eq!(c.firmware, "7.2?");
        assert_eq!(c.max_transfer, Some(512 * 1024));
        assert_eq!(c.namespaces, 256);
        assert!(c.volatile_write_cache);
        d[77] = 0;
        assert_eq!(parse_identify_controller(&d, 4096).max_transfer, None);
        d[77] = 255;
        assert_eq!(parse_identify_controller(&d, 4096).max_transfer, Some(u64::MAX));
    }

    #[test]
    fn active_namespace_list_ends_at_zero_or_disorder() {
        let mut d = identify();
        for (i, id) in [1u32, 2, 5, 0, 9].iter().enumerate() {
            d[i * 4..i * 4 + 4].copy_from_slice(&id.to_le_bytes());
        }
        assert_eq!(active_namespaces(&d).collect::<Vec<_>>(), [1, 2, 5]);
        d[12..16].copy_from_slice(&3u32.to_le_bytes());
        assert_eq!(active_namespaces(&d).collect::<Vec<_>>(), [1, 2, 5]);
        let mut full = identify();
        for i in 0..1024 {
            full[i * 4..i * 4 + 4].copy_from_slice(&(i as u32 + 1).to_le_bytes());
        }
        assert_eq!(active_namespaces(&full).count(), 1024);
    }

    fn namespace(blocks: u64, nlbaf: u8, flbas: u8, formats: &[(u16, u8)]) -> [u8; 4096] {
        let mut d = identify();
        d[0..8].copy_from_slice(&blocks.to_le_bytes());
        d[25] = nlbaf;
        d[26] = flbas;
        for (i, &(ms, lbads)) in formats.iter().enumerate() {
            let f = u32::from(ms) | u32::from(lbads) << 16;
            d[128 + 4 * i..132 + 4 * i].copy_from_slice(&f.to_le_bytes());
        }
        d
    }

    #[test]
    fn identify_namespace_formats() {
        let d = namespace(2001, 1, 1, &[(0, 9), (0, 12)]);
        let n = parse_identify_namespace(&d).unwrap();
        assert_eq!((n.blocks, n.block_bytes, n.metadata_bytes), (2001, 4096, 0));
        let d = namespace(8, 0, 0, &[(8, 9)]);
        assert_eq!(parse_identify_namespace(&d).unwrap().metadata_bytes, 8);
        // The upper index bits of NVMe 2.0: format 16.
        let mut formats = [(0, 9); 17];
        formats[16] = (0, 13);
        let d = namespace(8, 16, 1 << 5, &formats);
        assert_eq!(parse_identify_namespace(&d).unwrap().block_bytes, 8192);
        let mut d = namespace(8, 0, 0, &[(0, 9)]);
        d[99] = 1;
        assert!(parse_identify_namespace(&d).unwrap().write_protected);
    }

    #[test]
    fn identify_namespace_refusals() {
        let d = namespace(0, 0, 0, &[(0, 9)]);
        assert_eq!(parse_identify_namespace(&d), Err(NamespaceError::Inactive));
        let d = namespace(8, 0, 1, &[(0, 9), (0, 12)]);
        assert_eq!(parse_identify_namespace(&d), Err(NamespaceError::BadFormat));
        for lbads in [0, 8, 64, 255] {
            let d = namespace(8, 0, 0, &[(0, lbads)]);
            assert_eq!(parse_identify_namespace(&d), Err(NamespaceError::BadFormat), "{lbads}");
        }
        let d = namespace(8, 63, 0x6f, &[(0, 9)]);
        assert_eq!(parse_identify_namespace(&d), Err(NamespaceError::BadFormat));
    }

    #[test]
    fn prps_of_one_two_and_many_pages() {
        let mut list = [0u64; 8];
        let segs = [(0x10_0000, 512)];
        let p = command_prps(&mut Cursor::new(&segs), 512, &mut list).unwrap();
        assert_eq!(p, Prps { prp1: 0x10_0000, listed: 0 });
        assert_eq!(p.prp2(&list, 0xdead_0000), 0);
        // 8 KiB from offset 512: three pages.
        let segs = [(0x10_0200, 3584), (0x20_0000, 4096), (0x30_0000, 512)];
        let p = command_prps(&mut Cursor::new(&segs), 8192, &mut list).unwrap();
        assert_eq!(p, Prps { prp1: 0x10_0200, listed: 2 });
        assert_eq!(&list[..2], &[0x20_0000, 0x30_0000]);
        assert_eq!(p.prp2(&list, 0xdead_0000), 0xdead_0000);
        let segs = [(0x10_0000, 8192)];
        let p = command_prps(&mut Cursor::new(&segs), 8192, &mut list).unwrap();
        assert_eq!(p.prp2(&list, 0xdead_0000), 0x10_1000);
    }

    #[test]
    fn prps_refuse_what_breaks_the_rule() {
        let mut list = [0u64; 2];
        let segs = [(0x10_0002, 512)];
        let r = command_prps(&mut Cursor::new(&segs), 512, &mut list);
        assert_eq!(r, Err(PrpError::Misaligned));
        // A segment ending mid-page followed by another.
        let segs = [(0x10_0000, 512), (0x20_0000, 512)];
        let r = command_prps(&mut Cursor::new(&segs), 1024, &mut list);
        assert_eq!(r, Err(PrpError::NotPageRun));
        // A second segment starting mid-page.
        let segs = [(0x10_0000, 4096), (0x20_0200, 512)];
        let r = command_prps(&mut Cursor::new(&segs), 4608, &mut list);
        assert_eq!(r, Err(PrpError::NotPageRun));
        let segs = [(0x10_0000, 4 * 4096)];
        let r = command_prps(&mut Cursor::new(&segs), 4 * 4096, &mut list);
        assert_eq!(r, Err(PrpError::ListFull));
        let segs = [(0x10_0000, 512)];
        let r = command_prps(&mut Cursor::new(&segs), 1024, &mut list);
        assert_eq!(r, Err(PrpError::Short));
        let r = command_prps(&mut Cursor::new(&[]), 512, &mut list);
        assert_eq!(r, Err(PrpError::Short));
    }

    /// A run of pages: a first segment starting at a sector inside its
    /// page, whole pages, a last segment ending at a sector.
    fn page_run() -> impl Strategy<Value = Vec<(u64, usize)>> {
        (0usize..8, proptest::collection::vec((1u64..1000, 1usize..4), 0..6), 1usize..9, 1u64..1000)
            .prop_map(|(first_offset, middle, last_sectors, last_page)| {
                let mut segs =
                    vec![(0x1000_0000 + first_offset as u64 * 512, 4096 - first_offset * 512)];
                for (page, pages) in middle {
                    segs.push((page * 0x10_0000, pages * PAGE));
                }
                segs.push((last_page * 0x10_0000 + 0x8_0000, last_sectors * 512));
                segs
            })
    }

    /// The bytes a command's PRPs describe, as (address, length) runs
    /// within pages.
    fn described(p: Prps, list: &[u64], bytes: usize) -> Vec<(u64, usize)> {
        let first = bytes.min(PAGE - (p.prp1 % PAGE as u64) as usize);
        let mut out = vec![(p.prp1, first)];
        let mut left = bytes - first;
        for &page in &list[..p.listed] {
            let n = left.min(PAGE);
            out.push((page, n));
            left -= n;
        }
        assert_eq!(left, 0);
        out
    }

    /// Every byte of the segments, one (address, 1) per sector, in order.
    fn sectors(runs: &[(u64, usize)]) -> Vec<u64> {
        runs.iter().flat_map(|&(a, n)| (0..n / 512).map(move |i| a + i as u64 * 512)).collect()
    }

    proptest! {
        /// Cut into commands of at most `most` sectors, a page run is
        /// described exactly, sector by sector, each command within its
        /// list.
        #[test]
        fn commands_describe_the_run_exactly(segs in page_run(), most in 1usize..300) {
            let total: usize = segs.iter().map(|s| s.1).sum();
            let most = most * 512;
            let mut cursor = Cursor::new(&segs);
            let mut got = Vec::new();
            let mut done = 0;
            while done < total {
                let bytes = most.min(total - done);
                let mut list = vec![0u64; bytes.div_ceil(PAGE)];
                let p = command_prps(&mut cursor, bytes, &mut list).unwrap();
                prop_assert!(p.listed < bytes.div_ceil(PAGE) + 1);
                got.extend(sectors(&described(p, &list, bytes)));
                done += bytes;
            }
            prop_assert_eq!(got, sectors(&segs));
            prop_assert_eq!(command_prps(&mut cursor, 512, &mut [0; 1]), Err(PrpError::Short));
        }
    }
}
