//! Checking a program image before anything of it is loaded.
//!
//! Programs are static ELF executables for x86_64 (`ET_EXEC`), linked at
//! `USER_MIN` or above (`libos/user.ld`). The image comes from the ramdisk
//! and is not trusted: every header field is checked (with overflow-safe
//! arithmetic) and a bad image is refused with `InvalidArgument` — never a
//! panic. The `elf` crate parses; the policy is here.

use alloc::vec::Vec;
use caps::abi::Error;
use caps::abi::layout::{MAP_END, PAGE_SIZE, USER_MIN};
use elf::ElfBytes;
use elf::abi::{EM_X86_64, ET_EXEC, PF_W, PF_X, PT_DYNAMIC, PT_INTERP, PT_LOAD, PT_TLS};
use elf::endian::LittleEndian;
use elf::file::Class;

use crate::mem::aspace::Access;

/// Most loadable segments a program may have.
pub const MAX_SEGMENTS: usize = 8;

/// One segment to load: map `[vaddr, vaddr + mem_size)` page-rounded with
/// `access`, then copy `file_size` bytes from `offset` of the image.
#[derive(Clone, Copy, Debug)]
pub struct Segment {
    /// Virtual address of the first byte.
    pub vaddr: u64,
    /// Bytes in memory (the tail past `file_size` is zero).
    pub mem_size: u64,
    /// Offset of the bytes in the image.
    pub offset: u64,
    /// Bytes to copy from the image.
    pub file_size: u64,
    /// How user code may use the pages.
    pub access: Access,
}

impl Segment {
    /// First page address.
    pub fn page_start(&self) -> u64 {
        self.vaddr & !(PAGE_SIZE - 1)
    }

    /// Pages covered.
    pub fn pages(&self) -> u64 {
        let end = self.vaddr + self.mem_size; // checked in `parse`
        (end.next_multiple_of(PAGE_SIZE) - self.page_start()) / PAGE_SIZE
    }
}

/// A checked program image.
#[derive(Debug)]
pub struct Program {
    /// Where execution starts.
    pub entry: u64,
    /// The loadable segments, in address order, page ranges disjoint.
    pub segments: Vec<Segment>,
}

fn bad<T>(_: T) -> Error {
    Error::InvalidArgument
}

/// Checks `image` and describes how to load it.
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
            (true, false) => Access::ReadWrite,
            (false, true) => Access::ReadExec,
            (false, false) => Access::Read,
        };
        let seg = Segment {
            vaddr: ph.p_vaddr,
            mem_size: ph.p_memsz,
            offset: ph.p_offset,
            file_size: ph.p_filesz,
            access,
        };
        if segments.len() == MAX_SEGMENTS {
            return Err(Error::InvalidArgument);
        }
        segments.push(seg);
    }
    let segs = &mut segments;
    segs.sort_unstable_by_key(|s| s.vaddr);
    // Two segments may not share a page: each page gets one access mode.
    if segs.windows(2).any(|w| w[0].page_start() + w[0].pages() * PAGE_SIZE > w[1].page_start()) {
        return Err(Error::InvalidArgument);
    }
    let entry = h.e_entry;
    let entry_ok = segs
        .iter()
        .any(|s| s.access == Access::ReadExec && entry >= s.vaddr && entry < s.vaddr + s.mem_size);
    if !entry_ok {
        return Err(Error::InvalidArgument);
    }
    Ok(Program { entry, segments })
}
