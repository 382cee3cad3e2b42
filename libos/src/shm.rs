//! Shared memory: memory objects, mapped by every process that holds a
//! capability to them.
//!
//! A memory object is pages of physical memory charged to the quota it was
//! made from (`Handle::<MemoryObject>::create`). Its capability names a
//! page range, with rights: `MAP` to map it at all, `READ`, `WRITE`,
//! `EXEC` for the mapping's access (never writable and executable at
//! once, in one mapping or across two). Derive a narrower range or fewer
//! rights (`derive_pages`), hand it to another process at spawn or in a
//! message, and `revoke` it: every mapping made through a revoked
//! capability is gone when `revoke` returns.
//!
//! [`SharedBuffer`] is a mapping with checked copies: each access first
//! asks the kernel whether the capability still lives and says `Revoked`
//! if not, so a holder whose buffer was taken back gets an error rather
//! than a page fault (an access that races the revoke itself still
//! faults, ending this process alone: the kernel never lets it reach
//! memory that is no longer the object's).
//!
//! ```ignore
//! let object = Handle::<MemoryObject>::create(memory, 16)?;    // 64 KiB
//! let buf = object.map(true)?;                                // writable
//! buf.write(0, b"hello")?;
//! let peer = object.derive(Rights::MAP | Rights::READ | Rights::GRANT)?;
//! // ...send `peer` to another process, which maps it read-only...
//! object.revoke()?;   // the peer's mapping is gone now
//! ```

use caps::abi::args::{DERIVE_RANGE, MAP_WRITE};
use caps::abi::kind::{DiskRange, Memory, MemoryObject};
use caps::abi::layout::PAGE_SIZE;
use caps::abi::{Error, Rights};
use core::sync::atomic::AtomicU64;

use crate::handle::Handle;
use crate::sys;
use crate::sys::shm::SharedMapping;

impl Handle<MemoryObject> {
    /// A new object of `pages` zeroed pages, charged to `memory`'s quota
    /// until nothing refers to it. Needs `MAP | READ` on `memory`; the
    /// capability carries `MAP`, `GRANT`, `DERIVE`, `REVOKE` and whichever
    /// of `READ`, `WRITE`, `EXEC` `memory` holds. `OutOfMemory` when the
    /// quota is spent.
    pub fn create(memory: Handle<Memory>, pages: u64) -> Result<Self, Error> {
        sys::shm::mo_create(memory, pages).map(Self::from_raw)
    }

    /// How many pages this capability's range holds.
    pub fn pages(self) -> Result<u64, Error> {
        self.info().map(|i| i.count)
    }

    /// A new handle for pages `(offset, count)` of this range with
    /// `rights` (a subset). Needs `DERIVE`.
    pub fn derive_pages(self, offset: u64, count: u64, rights: Rights) -> Result<Self, Error> {
        sys::cap_derive(self.raw(), rights, DERIVE_RANGE, offset, count).map(Self::from_raw)
    }

    /// Maps the whole range here, writable if `writable` (needs `MAP |
    /// READ`, and `WRITE` to write).
    pub fn map(self, writable: bool) -> Result<SharedBuffer, Error> {
        let pages = self.pages()?;
        let flags = if writable { MAP_WRITE } else { 0 };
        SharedMapping::map(self, 0, pages, flags).map(|mapping| SharedBuffer { mapping })
    }
}

/// A memory object mapped here: bounds-checked copies in and out, each
/// refused with `Revoked` once the capability is gone (a copy that a
/// revoke on another CPU overtakes, between its check and its last byte,
/// faults instead: see the module doc). Unmapped when dropped.
#[derive(Debug)]
pub struct SharedBuffer {
    mapping: SharedMapping,
}

impl SharedBuffer {
    /// The capability it was mapped through.
    pub fn handle(&self) -> Handle<MemoryObject> {
        self.mapping.handle()
    }

    /// Its size in bytes.
    pub fn len(&self) -> usize {
        self.mapping.len()
    }

    /// Whether it is empty (never).
    pub fn is_empty(&self) -> bool {
        self.mapping.is_empty()
    }

    /// Its size in pages.
    pub fn pages(&self) -> u64 {
        self.mapping.len() as u64 / PAGE_SIZE
    }

    /// Where it is mapped (to show; touching it directly is
    /// [`SharedMapping`]'s business).
    pub fn addr(&self) -> u64 {
        self.mapping.addr()
    }

    fn check(&self) -> Result<(), Error> {
        if self.mapping.alive() { Ok(()) } else { Err(Error::Revoked) }
    }

    /// Copies bytes at `offset` into `out`. `Revoked` if the capability
    /// is gone; `OutOfRange` past the end.
    pub fn read(&self, offset: usize, out: &mut [u8]) -> Result<(), Error> {
        self.check()?;
        self.mapping.read(offset, out)
    }

    /// Copies `data` to `offset`. `Revoked`, `OutOfRange` as
    /// [`read`](Self::read).
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<(), Error> {
        self.check()?;
        self.mapping.write(offset, data)
    }

    /// The word at `offset` (8-byte aligned), shared atomically with the
    /// object's other holders.
    pub fn atomic_u64(&self, offset: usize) -> Result<&AtomicU64, Error> {
        self.check()?;
        self.mapping.atomic_u64(offset)
    }

    /// Reads `len` bytes (whole sectors) from sector `sector` of `range`
    /// straight into the buffer at `offset`: a storage server fills a
    /// client's buffer with no copy through its own memory. Needs READ on
    /// `range`. Returns the sectors read.
    pub fn read_from_disk(
        &self,
        range: Handle<DiskRange>,
        sector: u64,
        offset: usize,
        len: usize,
    ) -> Result<u64, Error> {
        self.check()?;
        self.mapping.disk(false, range, sector, (offset, len))
    }

    /// Writes `len` bytes (whole sectors) at `offset` to sector `sector` of
    /// `range`. Needs WRITE on `range`.
    pub fn write_to_disk(
        &self,
        range: Handle<DiskRange>,
        sector: u64,
        offset: usize,
        len: usize,
    ) -> Result<u64, Error> {
        self.check()?;
        self.mapping.disk(true, range, sector, (offset, len))
    }
}

/// Calls `ep` with `words` and lends the callee `buf` for the length of
/// the call (Hubris's leases): a child capability with `MAP | READ` (and
/// `WRITE` if `writable`) goes with the request, and is revoked when the
/// answer comes back, whatever the answer, so the callee's mapping of it
/// ends with the call. Large payloads go both ways this way with no copy
/// through the kernel: the caller writes its request into `buf`, the
/// callee reads it (and writes its answer there, if lent writable).
pub fn call_with_lease(
    ep: Handle<crate::kind::Endpoint>,
    words: &[u64],
    buf: &SharedBuffer,
    writable: bool,
) -> Result<crate::ipc::Received, Error> {
    // REVOKE: for the caller to end the lease (the callee may only revoke
    // what it derives itself).
    let mut rights = Rights::MAP | Rights::READ | Rights::GRANT | Rights::REVOKE;
    if writable {
        rights |= Rights::WRITE;
    }
    let lease = buf.handle().derive(rights)?;
    let answer = crate::ipc::Msg::new(words).and_then(|m| m.with(lease)).and_then(|m| ep.call(&m));
    // The callee's copy (and whatever it derived) dies here.
    let revoked = lease.revoke();
    lease.close()?;
    let answer = answer?;
    revoked?;
    Ok(answer)
}

/// The callee's side of [`call_with_lease`]: maps the lent buffer carried
/// as handle `index` of `request`, writable if `writable` (and lent so).
/// The mapping ends when the caller's call returns.
pub fn map_lease(
    request: &crate::ipc::Received,
    index: usize,
    writable: bool,
) -> Result<SharedBuffer, Error> {
    let lease: Handle<MemoryObject> = request.handle(index).ok_or(Error::InvalidArgument)?;
    lease.map(writable)
}
