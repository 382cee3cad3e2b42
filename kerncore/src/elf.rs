//! Checking a program image before anything of it is loaded.
//!
//! Programs are static ELF executables for x86_64 (`ET_EXEC`), linked at
//! `USER_MIN` or above (`libos/user.ld`). The image comes from the ramdisk
//! and is not trusted: every header field is checked (with overflow-safe
//! arithmetic) and a bad image is refused with `InvalidArgument` — never a
//! panic. The `elf` crate parses; the policy is here. Loading (mapping the
//! pages and copying the bytes) is the kernel's part.
//!
//! A checked [`Program`] promises: every segment lies in `[USER_MIN,
//! MAP_END)` (so never in the kernel half, never wrapping), its file bytes
//! lie in the image, no page is shared by two segments (each page gets one
//! access mode), none is writable and executable, and the entry point is
//! in an executable segment.

use alloc::vec::Vec;
use caps::abi::Error;
use caps::abi::layout::{MAP_END, PAGE_SIZE, USER_MIN};
use elf::ElfBytes;
use elf::abi::{EM_X86_64, ET_EXEC, PF_W, PF_X, PT_DYNAMIC, PT_INTERP, PT_LOAD, PT_TLS};
use elf::endian::LittleEndian;
use elf::file::Class;

/// Most loadable segments a program may have.
pub const MAX_SEGMENTS: usize = 8;

/// How user code may use a segment's pages. W^X: never both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Perm {
    /// Read only.
    Read,
    /// Read and write.
    ReadWrite,
    /// Read and execute.
    ReadExec,
}

/// One segment to load: map `[vaddr, vaddr + mem_size)` page-rounded with
/// `access` (a [`Perm`], or the kernel's own type for it), then copy
/// `file_size` bytes from `offset` of the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<A = Perm> {
    /// Virtual address of the first byte.
    pub vaddr: u64,
    /// Bytes in memory (the tail past `file_size` is zero).
    pub mem_size: u64,
    /// Offset of the bytes in the image.
    pub offset: u64,
    /// Bytes to copy from the image.
    pub file_size: u64,
    /// How user code may use the pages.
    pub access: A,
}

impl<A> Segment<A> {
    /// First page address.
    pub fn page_start(&self) -> u64 {
        self.vaddr & !(PAGE_SIZE - 1)
    }

    /// Pages covered.
    pub fn pages(&self) -> u64 {
        let end = self.vaddr + self.mem_size; // below MAP_END: checked in `parse`
        (end.next_multiple_of(PAGE_SIZE) - self.page_start()) / PAGE_SIZE
    }

    /// The address just past the last page covered.
    fn page_end(&self) -> u64 {
        self.page_start() + self.pages() * PAGE_SIZE
    }
}

/// A checked program image.
#[derive(Debug)]
pub struct Program<A = Perm> {
    /// Where execution starts.
    pub entry: u64,
    /// The loadable segments, in address order, page ranges disjoint.
    pub segments: Vec<Segment<A>>,
}

impl Program {
    /// The same program with each segment's access translated by `f` (to
    /// the kernel's page-table type).
    pub fn map_access<B>(self, f: impl Fn(Perm) -> B) -> Program<B> {
        let segments = self
            .segments
            .into_iter()
            .map(|s| Segment {
                vaddr: s.vaddr,
                mem_size: s.mem_size,
                offset: s.offset,
                file_size: s.file_size,
                access: f(s.access),
            })
            .collect();
        Program { entry: self.entry, segments }
    }
}

fn bad<T>(_: T) -> Error {
    Error::InvalidArgument
}

/// Checks `image` and describes how to load it; `InvalidArgument` for
/// anything but a static x86_64 executable within the user layout.
pub fn parse(image: &[u8]) -> Result<Program, Error> {
    let file = ElfBytes::<LittleEndian>::minimal_parse(image).map_err(bad)?;
    let h = &file.ehdr;
    if h.class != Class::ELF64 || h.e_machine != EM_X86_64 || h.e_type != ET_EXEC {
        return Err(Error::InvalidArgument);
    }
    let phdrs = file.segments().ok_or(Error::InvalidArgument)?;
    let mut segments = Vec::new();
    for ph in phdrs.iter() {
        match ph.p_type {
            PT_LOAD => {}
            // Only static executables: no interpreter, no dynamic linking,
            // no thread-local storage.
            PT_INTERP | PT_DYNAMIC | PT_TLS => return Err(Error::InvalidArgument),
            _ => continue,
        }
        if ph.p_memsz == 0 {
            continue;
        }
        let mem_end = ph.p_vaddr.checked_add(ph.p_memsz).ok_or(Error::InvalidArgument)?;
        let file_end = ph.p_offset.checked_add(ph.p_filesz).ok_or(Error::InvalidArgument)?;
        if ph.p_filesz > ph.p_memsz
            || file_end > image.len() as u64
            || ph.p_vaddr < USER_MIN
            || mem_end > MAP_END
        {
            return Err(Error::InvalidArgument);
        }
        let write = ph.p_flags & PF_W != 0;
        let exec = ph.p_flags & PF_X != 0;
        let access = match (write, exec) {
            (true, true) => return Err(Error::InvalidArgument), // W^X
            (true, false) => Perm::ReadWrite,
            (false, true) => Perm::ReadExec,
            (false, false) => Perm::Read,
        };
        if segments.len() == MAX_SEGMENTS {
            return Err(Error::InvalidArgument);
        }
        segments.push(Segment {
            vaddr: ph.p_vaddr,
            mem_size: ph.p_memsz,
            offset: ph.p_offset,
            file_size: ph.p_filesz,
            access,
        });
    }
    segments.sort_unstable_by_key(|s| s.vaddr);
    // Two segments may not share a page: each page gets one access mode.
    if segments.windows(2).any(|w| w[0].page_end() > w[1].page_start()) {
        return Err(Error::InvalidArgument);
    }
    let entry = h.e_entry;
    let entry_ok = segments
        .iter()
        .any(|s| s.access == Perm::ReadExec && entry >= s.vaddr && entry < s.vaddr + s.mem_size);
    if !entry_ok {
        return Err(Error::InvalidArgument);
    }
    Ok(Program { entry, segments })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    use elf::abi::{ELFCLASS64, ELFDATA2LSB, EM_386, ET_DYN, EV_CURRENT, PF_R, PT_NOTE};
    use proptest::prelude::*;

    /// Bytes of the ELF header and of one program header (ELF64).
    const EHDR_SIZE: usize = 64;
    const PHDR_SIZE: usize = 56;
    /// Where test segments' file bytes start (after the headers).
    const DATA: u64 = 0x1000;

    /// One program header for [`image`].
    #[derive(Clone, Copy, Debug)]
    struct Ph {
        kind: u32,
        flags: u32,
        offset: u64,
        vaddr: u64,
        filesz: u64,
        memsz: u64,
    }

    fn load(flags: u32, vaddr: u64, memsz: u64) -> Ph {
        Ph { kind: PT_LOAD, flags, offset: DATA, vaddr, filesz: 0, memsz }
    }

    /// A little-endian ELF64 image: header, program headers, then zeros to
    /// `DATA + 0x1000`.
    fn image_of(kind: u16, machine: u16, entry: u64, phs: &[Ph]) -> Vec<u8> {
        let mut b = vec![0u8; (DATA + 0x1000) as usize];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = ELFCLASS64;
        b[5] = ELFDATA2LSB;
        b[6] = EV_CURRENT;
        b[16..18].copy_from_slice(&kind.to_le_bytes());
        b[18..20].copy_from_slice(&machine.to_le_bytes());
        b[20..24].copy_from_slice(&u32::from(EV_CURRENT).to_le_bytes());
        b[24..32].copy_from_slice(&entry.to_le_bytes());
        b[32..40].copy_from_slice(&(EHDR_SIZE as u64).to_le_bytes()); // e_phoff
        b[52..54].copy_from_slice(&(EHDR_SIZE as u16).to_le_bytes());
        b[54..56].copy_from_slice(&(PHDR_SIZE as u16).to_le_bytes());
        b[56..58].copy_from_slice(&(phs.len() as u16).to_le_bytes());
        b[58..60].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
        for (i, ph) in phs.iter().enumerate() {
            let o = EHDR_SIZE + i * PHDR_SIZE;
            b[o..o + 4].copy_from_slice(&ph.kind.to_le_bytes());
            b[o + 4..o + 8].copy_from_slice(&ph.flags.to_le_bytes());
            b[o + 8..o + 16].copy_from_slice(&ph.offset.to_le_bytes());
            b[o + 16..o + 24].copy_from_slice(&ph.vaddr.to_le_bytes());
            b[o + 24..o + 32].copy_from_slice(&ph.vaddr.to_le_bytes()); // p_paddr
            b[o + 32..o + 40].copy_from_slice(&ph.filesz.to_le_bytes());
            b[o + 40..o + 48].copy_from_slice(&ph.memsz.to_le_bytes());
            b[o + 48..o + 56].copy_from_slice(&PAGE_SIZE.to_le_bytes());
        }
        b
    }

    fn image(entry: u64, phs: &[Ph]) -> Vec<u8> {
        image_of(ET_EXEC, EM_X86_64, entry, phs)
    }

    const RX: u32 = PF_R | PF_X;
    const RW: u32 = PF_R | PF_W;

    fn text() -> Ph {
        Ph { filesz: 0x800, ..load(RX, USER_MIN, 0x1800) }
    }

    #[test]
    fn a_good_program_is_described() {
        let data = load(RW, USER_MIN + 0x2000, 0x10);
        let p = parse(&image(USER_MIN + 4, &[data, text()])).unwrap();
        assert_eq!(p.entry, USER_MIN + 4);
        assert_eq!(p.segments.len(), 2);
        let t = p.segments[0];
        assert_eq!(
            (t.vaddr, t.access, t.pages(), t.file_size),
            (USER_MIN, Perm::ReadExec, 2, 0x800)
        );
        assert_eq!(p.segments[1].access, Perm::ReadWrite, "sorted by address");
        let mapped = p.map_access(|a| a == Perm::ReadWrite);
        assert!(!mapped.segments[0].access && mapped.segments[1].access);
    }

    #[test]
    fn segments_outside_the_user_layout_are_refused() {
        let bad = [
            load(RW, USER_MIN - PAGE_SIZE, 0x10),    // below USER_MIN
            load(RW, MAP_END - 0x10, 0x11),          // past MAP_END by one
            load(RW, 0xffff_8000_0000_0000, 0x1000), // the kernel half
            load(RW, 0xffff_ffff_ffff_f000, 0x2000), // wraps
            load(RW, USER_MIN + 0x4000, u64::MAX - USER_MIN), // wraps past everything
        ];
        for ph in bad {
            assert_eq!(
                parse(&image(USER_MIN, &[text(), ph])).map(|_| ()),
                Err(Error::InvalidArgument),
                "{ph:?}"
            );
        }
        // The last byte just below MAP_END is fine.
        assert!(parse(&image(USER_MIN, &[text(), load(RW, MAP_END - 0x10, 0x10)])).is_ok());
    }

    #[test]
    fn file_bytes_must_lie_in_the_image() {
        let len = DATA + 0x1000;
        let past = Ph { offset: len - 0x10, filesz: 0x11, ..load(RW, USER_MIN + 0x4000, 0x100) };
        let wraps = Ph { offset: u64::MAX, filesz: 2, ..load(RW, USER_MIN + 0x4000, 0x100) };
        let more_file_than_memory = Ph { filesz: 0x20, ..load(RW, USER_MIN + 0x4000, 0x10) };
        for ph in [past, wraps, more_file_than_memory] {
            assert!(parse(&image(USER_MIN, &[text(), ph])).is_err(), "{ph:?}");
        }
        let exact = Ph { offset: len - 0x10, filesz: 0x10, ..load(RW, USER_MIN + 0x4000, 0x100) };
        assert!(parse(&image(USER_MIN, &[text(), exact])).is_ok());
    }

    #[test]
    fn segments_sharing_a_page_are_refused() {
        // text covers [USER_MIN, USER_MIN + 0x1800): its second page too.
        let touching = load(RW, USER_MIN + 0x1800, 0x10);
        assert!(parse(&image(USER_MIN, &[text(), touching])).is_err());
        let next_page = load(RW, USER_MIN + 0x2000, 0x10);
        assert!(parse(&image(USER_MIN, &[text(), next_page])).is_ok());
    }

    #[test]
    fn writable_and_executable_is_refused() {
        let wx = load(PF_R | PF_W | PF_X, USER_MIN, 0x100);
        assert!(parse(&image(USER_MIN, &[wx])).is_err());
    }

    #[test]
    fn the_entry_must_be_in_an_executable_segment() {
        let data = load(RW, USER_MIN + 0x2000, 0x10);
        let ok = |entry| parse(&image(entry, &[text(), data])).is_ok();
        assert!(ok(USER_MIN));
        assert!(ok(USER_MIN + 0x17ff));
        assert!(!ok(USER_MIN + 0x1800), "one past the text");
        assert!(!ok(USER_MIN + 0x2000), "in the data");
        assert!(!ok(USER_MIN - 1));
    }

    #[test]
    fn only_static_x86_64_executables() {
        assert!(parse(&image_of(ET_DYN, EM_X86_64, USER_MIN, &[text()])).is_err());
        assert!(parse(&image_of(ET_EXEC, EM_386, USER_MIN, &[text()])).is_err());
        for kind in [PT_INTERP, PT_DYNAMIC, PT_TLS] {
            let ph = Ph { kind, ..load(PF_R, USER_MIN + 0x4000, 0x10) };
            assert!(parse(&image(USER_MIN, &[text(), ph])).is_err(), "type {kind}");
        }
        // Other header types are skipped, as are empty segments.
        let note = Ph { kind: PT_NOTE, ..load(PF_R, 0, 0x10) };
        let empty = load(PF_R, 0, 0);
        assert_eq!(parse(&image(USER_MIN, &[text(), note, empty])).unwrap().segments.len(), 1);
    }

    #[test]
    fn at_most_max_segments() {
        let seg = |i: u64| load(if i == 0 { RX } else { RW }, USER_MIN + i * PAGE_SIZE, 0x10);
        let most: Vec<Ph> = (0..MAX_SEGMENTS as u64).map(seg).collect();
        assert!(parse(&image(USER_MIN, &most)).is_ok());
        let over: Vec<Ph> = (0..=MAX_SEGMENTS as u64).map(seg).collect();
        assert!(parse(&image(USER_MIN, &over)).is_err());
    }

    #[test]
    fn garbage_is_refused_not_a_panic() {
        assert!(parse(&[]).is_err());
        assert!(parse(b"\x7fELF").is_err());
        let mut truncated = image(USER_MIN, &[text()]);
        truncated.truncate(EHDR_SIZE + 10);
        assert!(parse(&truncated).is_err());
    }

    /// An address near one of the edges the checks care about.
    fn addr() -> impl Strategy<Value = u64> {
        let near =
            |base: u64| (0u64..0x3000).prop_map(move |d| base.wrapping_add(d).wrapping_sub(0x1800));
        prop_oneof![
            near(USER_MIN),
            near(MAP_END),
            near(0xffff_8000_0000_0000),
            near(0),
            any::<u64>()
        ]
    }

    fn size() -> impl Strategy<Value = u64> {
        prop_oneof![0u64..0x3000, any::<u64>()]
    }

    proptest! {
        /// One executable segment plus one data segment anywhere: accepted
        /// exactly when the model (wide arithmetic, page sets) says both lie
        /// in `[USER_MIN, MAP_END)` on pages of their own and the entry is
        /// in the text; every accepted segment keeps the promises.
        #[test]
        fn accepts_exactly_what_the_model_does(
            tv in addr(), tsize in size(), dv in addr(), dsize in size(), entry in addr(),
        ) {
            let phs = [load(RX, tv, tsize), load(RW, dv, dsize)];
            let got = parse(&image(entry, &phs));
            let span = |v: u64, s: u64| (u128::from(v), u128::from(v) + u128::from(s));
            let inside = |(a, b): (u128, u128)| a >= u128::from(USER_MIN) && b <= u128::from(MAP_END);
            let pages = |(a, b): (u128, u128)| (a / 4096, b.div_ceil(4096));
            let (t, d) = (span(tv, tsize), span(dv, dsize));
            let live: Vec<(u128, u128)> = [t, d].into_iter().filter(|&(a, b)| b > a).collect();
            let mut ok = live.iter().all(|&s| inside(s)) && tsize > 0;
            if ok && live.len() == 2 {
                let (tp, dp) = (pages(t), pages(d));
                ok = tp.1 <= dp.0 || dp.1 <= tp.0;
            }
            ok = ok && u128::from(entry) >= t.0 && u128::from(entry) < t.1;
            prop_assert_eq!(got.is_ok(), ok, "text {:?} data {:?} entry {:#x}", t, d, entry);
            if let Ok(p) = got {
                for s in &p.segments {
                    prop_assert!(s.vaddr >= USER_MIN && s.page_start() + s.pages() * PAGE_SIZE <= MAP_END.next_multiple_of(PAGE_SIZE));
                }
            }
        }
    }
}
