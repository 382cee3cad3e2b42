//! Memory objects mapped into this process: the unsafe part, kept small.
//!
//! [`SharedMapping`] is a memory object's pages at some address here. Other
//! processes may map the same pages and change them at any time, so Rust
//! never holds a reference into them: bytes move in and out by copies
//! ([`SharedMapping::read`], [`SharedMapping::write`]), and words that
//! processes synchronise on are atomics ([`SharedMapping::atomic_u64`]).
//! (The same discipline as seL4 sDDF's shared queues, and Linux's
//! `READ_ONCE`/`WRITE_ONCE` on memory shared with user space.)
//!
//! A mapping lasts as long as the capability it was made through: if that
//! capability dies (revoked by whoever granted it), the kernel unmaps the
//! pages, and touching them faults this process. [`SharedMapping::alive`]
//! asks the kernel whether the capability still lives, so a library can
//! turn "revoked" into an error before it touches the pages (the safe
//! wrappers in [`crate::shm`] do so before every access).

use caps::abi::args::MAX_OBJECT_PAGES;
use caps::abi::kind::{DiskRange, Endpoint, Memory, MemoryObject};
use caps::abi::layout::PAGE_SIZE;
use caps::abi::syscall::calls;
use caps::abi::{Error, RawHandle, SECTOR_SIZE};
use core::sync::atomic::{AtomicU64, Ordering};

use crate::handle::Handle;

/// Where memory objects are mapped by [`SharedMapping::map`]: a libos
/// convention (the kernel takes any free, page-aligned user address), above
/// the heap and the rings. It starts 133 pages past a 1 MiB boundary, and
/// mappings are a guard page apart: pages 1 MiB apart share a line of
/// QEMU's direct-mapped software TLB (256 entries of 4 KiB), so a buffer
/// here copied to or from one at the same offset in the heap (which starts
/// on such a boundary) would miss it on every access, ~10x slower (measured
/// by `bench-shm`); starting off the boundary, with gaps, avoids the
/// common case. (Caches that index by address have the same aliasing.)
pub const SHM_AREA: u64 = 0x0000_3000_0008_5000;

/// The next free address in [`SHM_AREA`] (never reused: the area is far
/// larger than any process's quota could map). Each mapping is followed by
/// an unmapped guard page.
static NEXT: AtomicU64 = AtomicU64::new(SHM_AREA);

/// `mo_create(memory, pages)`.
pub fn mo_create(memory: Handle<Memory>, pages: u64) -> Result<RawHandle, Error> {
    super::call(calls::MoCreate { memory: memory.raw(), pages })
}

/// `mo_map(object, offset, pages, vaddr, flags)`: the kernel maps only
/// where nothing is mapped (`AddressInUse` otherwise), so no Rust memory
/// changes.
pub fn mo_map(
    object: Handle<MemoryObject>,
    offset: u64,
    pages: u64,
    vaddr: u64,
    flags: u64,
) -> Result<(), Error> {
    super::call(calls::MoMap { object: object.raw(), offset, pages, vaddr, flags }).map(drop)
}

/// A memory object's pages mapped here, at an address this module chose.
#[derive(Debug)]
pub struct SharedMapping {
    handle: Handle<MemoryObject>,
    base: u64,
    len: usize,
}

impl SharedMapping {
    /// Maps `pages` pages from page `offset` of `handle`'s range at the next
    /// free place of [`SHM_AREA`], with `flags` (`MAP_WRITE`, or 0 for read
    /// only). Errors as `mo_map`; more pages than an object can have is
    /// `OutOfRange` before any address is taken (a huge count would move
    /// the next free place past the end of user space for good).
    pub fn map(
        handle: Handle<MemoryObject>,
        offset: u64,
        pages: u64,
        flags: u64,
    ) -> Result<Self, Error> {
        if pages > MAX_OBJECT_PAGES {
            return Err(Error::OutOfRange);
        }
        let len = pages * PAGE_SIZE;
        let room = len + PAGE_SIZE;
        let base = NEXT.fetch_add(room, Ordering::Relaxed);
        mo_map(handle, offset, pages, base, flags)?;
        Ok(SharedMapping { handle, base, len: len as usize })
    }

    /// The capability it was made through.
    pub fn handle(&self) -> Handle<MemoryObject> {
        self.handle
    }

    /// Its first address.
    pub fn addr(&self) -> u64 {
        self.base
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it is empty (never: a mapping has at least one page).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the capability still lives (so the pages are still mapped,
    /// unless this process unmapped them).
    pub fn alive(&self) -> bool {
        super::cap_kind(self.handle.raw()).is_ok()
    }

    fn span(&self, offset: usize, len: usize) -> Result<*mut u8, Error> {
        let end = offset.checked_add(len).ok_or(Error::OutOfRange)?;
        if end > self.len {
            return Err(Error::OutOfRange);
        }
        Ok((self.base as usize + offset) as *mut u8)
    }

    /// Copies `out.len()` bytes from `offset` into `out`. `OutOfRange` past
    /// the end.
    pub fn read(&self, offset: usize, out: &mut [u8]) -> Result<(), Error> {
        let src = self.span(offset, out.len())?;
        // SAFETY: `[src, src + len)` lies inside the mapping (checked), which
        // Rust never references; another process may write it meanwhile,
        // which only changes which bytes are copied (the protocol on top
        // orders accesses with atomics). If the mapping was revoked, the
        // load faults and the kernel ends this process: no Rust memory is
        // ever read from a page that is not this object's.
        unsafe { core::ptr::copy_nonoverlapping(src, out.as_mut_ptr(), out.len()) };
        Ok(())
    }

    /// Copies `data` to `offset`. `OutOfRange` past the end; a read-only
    /// mapping faults (map it writable to write).
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<(), Error> {
        let dst = self.span(offset, data.len())?;
        // SAFETY: as in `read`: inside the mapping, which no Rust
        // reference covers.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len()) };
        Ok(())
    }

    /// Calls `f` with a view of the bytes `[offset, offset + len)` in
    /// place, with no copy: for a consumer that reads data a peer
    /// published and promised not to touch until it is released (the bulk
    /// channel's `recv_in_place`). `OutOfRange` past the end.
    pub fn with_bytes<R>(
        &self,
        offset: usize,
        len: usize,
        f: impl FnOnce(SharedBytes<'_>) -> R,
    ) -> Result<R, Error> {
        let ptr = self.span(offset, len)?;
        Ok(f(SharedBytes { ptr, len, mapping: core::marker::PhantomData }))
    }

    /// The 8-byte-aligned word at `offset`, as an atomic shared with the
    /// other processes that map the page. `OutOfRange` past the end,
    /// `InvalidArgument` if unaligned.
    pub fn atomic_u64(&self, offset: usize) -> Result<&AtomicU64, Error> {
        let p = self.span(offset, 8)?;
        if !(p as usize).is_multiple_of(8) {
            return Err(Error::InvalidArgument);
        }
        // SAFETY: aligned, inside the mapping, which lives as long as
        // `self` (or faults if revoked: never memory of another object);
        // every access to these bytes, here and in the other processes, is
        // atomic by the protocol's rules.
        Ok(unsafe { AtomicU64::from_ptr(p as *mut u64) })
    }

    /// `disk_read` (or `disk_write` if `write`) of `len / 512` sectors at
    /// `sector` of `range`, straight into (or from) `[offset, offset + len)`
    /// of the mapping: the sectors land in the shared pages with no copy
    /// through this process. Returns the sectors transferred.
    pub fn disk(
        &self,
        write: bool,
        range: Handle<DiskRange>,
        sector: u64,
        (offset, len): (usize, usize),
    ) -> Result<u64, Error> {
        let buf = self.span(offset, len)? as u64;
        let count = (len / SECTOR_SIZE) as u64;
        let range = range.raw();
        // A read writes only into the mapping, which no Rust reference
        // covers; the kernel checks every page itself.
        if write {
            super::call(calls::DiskWrite { range, sector, count, buf })
        } else {
            super::call(calls::DiskRead { range, sector, count, buf })
        }
    }
}

impl SharedMapping {
    /// `ipc_recv` on `ep` with `[offset, offset + len)` of the mapping as
    /// the buffer: a long message's bytes land in the shared pages with no
    /// copy through this process (the kernel checks every page itself).
    /// `OutOfRange` past the end.
    pub fn recv_into(
        &self,
        ep: Handle<Endpoint>,
        offset: usize,
        len: usize,
    ) -> Result<crate::ipc::Received, Error> {
        let buf = self.span(offset, len)? as u64;
        let call = calls::IpcRecv { endpoint: ep.raw(), flags: 0, buf, len: len as u64 };
        // SAFETY: the kernel writes only within `[buf, buf + len)`, inside
        // the mapping, which no Rust reference covers.
        super::ipc_regs(unsafe { super::raw::invoke6(call) }).map(crate::ipc::Received::from_regs)
    }
}

/// Bytes of a mapping seen in place ([`SharedMapping::with_bytes`]). Not a
/// `&[u8]`: a peer that breaks its protocol may change them while they are
/// looked at, and Rust may assume a slice's bytes do not change (reading
/// one twice and acting on two values: the double fetch of Xen's XSA-155).
/// So each byte is loaded once, when asked for, and a copy out is taken in
/// one go; what the caller then checks is its own private copy.
pub struct SharedBytes<'a> {
    ptr: *mut u8,
    len: usize,
    mapping: core::marker::PhantomData<&'a SharedMapping>,
}

impl SharedBytes<'_> {
    /// How many bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The byte at `i`, loaded now (`None` past the end).
    pub fn get(&self, i: usize) -> Option<u8> {
        // SAFETY: `i < len`, so the load is inside the mapping, which the
        // borrow of the `SharedMapping` keeps mapped (or, revoked, faults:
        // never another object's memory); a volatile load reads it once.
        (i < self.len).then(|| unsafe { self.ptr.add(i).read_volatile() })
    }

    /// Copies the bytes from `at` into `out`. `OutOfRange` past the end.
    pub fn copy_to(&self, at: usize, out: &mut [u8]) -> Result<(), Error> {
        let end = at.checked_add(out.len()).ok_or(Error::OutOfRange)?;
        if end > self.len {
            return Err(Error::OutOfRange);
        }
        // SAFETY: inside the mapping (checked), which no Rust reference
        // covers; `out` is private memory, so the copy is what the caller
        // checks afterwards.
        unsafe { core::ptr::copy_nonoverlapping(self.ptr.add(at), out.as_mut_ptr(), out.len()) };
        Ok(())
    }
}

impl Drop for SharedMapping {
    fn drop(&mut self) {
        // SAFETY: no Rust reference points into the mapping (atomics
        // borrowed from it end with `self`'s borrow); unmapping pages that a
        // revoke already took is harmless.
        let _ = unsafe { super::mem_unmap(self.base, self.len as u64) };
    }
}
