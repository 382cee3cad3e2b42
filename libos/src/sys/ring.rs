//! I/O rings (`caps::abi::ring`): the unsafe part, kept small.
//!
//! [`RingMemory`] is the ring's pages, shared with the kernel, reached
//! with volatile loads and stores only (the kernel changes them between
//! our instructions' view of them, during `ring_enter`). [`Ring`] is the
//! safe API on top: it lends each request's buffer to the kernel until the
//! request's completion is collected, as [`Pending`](super::Pending) does
//! for `disk_submit`, so the kernel never writes a read's data into memory
//! Rust has given to anything else.
//!
//! Design: io_uring's shared queues and `io_uring_enter` (Axboe, 2019),
//! seL4 sDDF's single-producer single-consumer queues; the buffer
//! lifetimes follow the "owned buffers" rule of Rust io_uring wrappers
//! (tokio-uring, glommio): whoever submits gives the buffer up until the
//! completion gives it back.

use alloc::vec::Vec;
use caps::abi::kind::{DiskRange, IoRing, Memory};
use caps::abi::layout::PAGE_SIZE;
use caps::abi::ring::{
    Cqe, RING_OP_FLUSH, RING_OP_READ, RING_OP_WRITE, RingHeader, Sqe, ring_pages, valid_entries,
};
use caps::abi::syscall::calls;
use caps::abi::{Error, SECTOR_SIZE, decode_result};
use core::sync::atomic::{AtomicU64, Ordering};

use super::raw;
use crate::handle::Handle;

/// Where [`Ring::new`] maps rings: a libos convention (the kernel takes
/// any free, page-aligned user address), far above the heap's start.
pub const RING_AREA: u64 = 0x0000_2000_0000_0000;

/// The next free address in [`RING_AREA`] (rings are never reused there:
/// the area is far larger than any process's quota).
static NEXT_RING: AtomicU64 = AtomicU64::new(RING_AREA);

/// A ring's pages, shared with the kernel: the header, then the queues.
pub struct RingMemory {
    base: u64,
    entries: u32,
}

/// A header index.
#[derive(Clone, Copy, Debug)]
enum Index {
    SqHead,
    SqTail,
    CqHead,
    CqTail,
}

impl RingMemory {
    fn index_ptr(&self, i: Index) -> *mut u32 {
        let offset = match i {
            Index::SqHead => core::mem::offset_of!(RingHeader, sq_head),
            Index::SqTail => core::mem::offset_of!(RingHeader, sq_tail),
            Index::CqHead => core::mem::offset_of!(RingHeader, cq_head),
            Index::CqTail => core::mem::offset_of!(RingHeader, cq_tail),
        };
        (self.base + offset as u64) as *mut u32
    }

    fn load(&self, i: Index) -> u32 {
        // SAFETY: `base` is a ring's header page, mapped read/write by
        // `ring_create` where nothing was mapped, and unmapped only by the
        // kernel when the ring's last capability goes (which `Ring::drop`
        // does after its last use of this); the field is aligned.
        unsafe { core::ptr::read_volatile(self.index_ptr(i)) }
    }

    fn store(&self, i: Index, v: u32) {
        // SAFETY: as in `load`.
        unsafe { core::ptr::write_volatile(self.index_ptr(i), v) }
    }

    fn write_sqe(&self, index: u32, sqe: &Sqe) {
        let e = u64::from(self.entries);
        let at = self.base
            + caps::abi::ring::sq_offset(e)
            + u64::from(index & (self.entries - 1)) * caps::abi::ring::SQE_SIZE;
        // SAFETY: as in `load`: the slot lies inside the ring's submission
        // queue (`index & mask` < entries), aligned to 8.
        unsafe { core::ptr::write_volatile(at as *mut Sqe, *sqe) }
    }

    fn read_cqe(&self, index: u32) -> Cqe {
        let e = u64::from(self.entries);
        let at = self.base
            + caps::abi::ring::cq_offset(e)
            + u64::from(index & (self.entries - 1)) * caps::abi::ring::CQE_SIZE;
        // SAFETY: as in `write_sqe`, in the completion queue.
        unsafe { core::ptr::read_volatile(at as *const Cqe) }
    }
}

/// A request's buffer, lent to the kernel until its completion is
/// collected.
#[derive(Debug)]
pub enum Buffer<'a> {
    /// A read's destination.
    Read(&'a mut [u8]),
    /// A write's source (the kernel copied it when it consumed the entry).
    Write(&'a [u8]),
    /// A flush, or an entry pushed with [`Ring::push_raw`].
    None,
}

/// One collected completion.
#[derive(Debug)]
pub struct Completion<'a> {
    /// The tag the request was pushed with.
    pub tag: u64,
    /// Sectors moved, or the error: the request's own (a bad entry's
    /// check, `Revoked` when its capability died in flight, `IoError`).
    pub result: Result<u64, Error>,
    /// The buffer, given back.
    pub buffer: Buffer<'a>,
}

/// A slot of the lending table: what the kernel holds for one request.
enum Slot<'a> {
    Free,
    Lent(u64, Buffer<'a>),
}

/// An I/O ring: push requests (each checked by the kernel against its
/// `DiskRange` capability as `disk_submit` is), [`submit`](Self::submit)
/// them in one call, and collect completions in any order. Buffers are
/// borrowed for `'a` and lent to the kernel until their completion is
/// collected ([`Ring::pop`]); dropping the ring first waits for every
/// request in flight, then drops the ring's capability, which unmaps its
/// pages and credits their quota.
pub struct Ring<'a> {
    handle: Handle<IoRing>,
    mem: RingMemory,
    /// Our copy of the submission tail (we produce it).
    sq_tail: u32,
    /// Our copy of the completion head (we consume it).
    cq_head: u32,
    /// One slot per entry: `user_data` is the slot's index.
    slots: Vec<Slot<'a>>,
    /// Free slots.
    free: Vec<u32>,
    /// Whether the capability was dropped already ([`Ring::abandon`]).
    abandoned: bool,
}

/// The entry of a read or write of the `len` bytes at `buf`; `None` if
/// `len` is no whole number of sectors.
fn transfer(op: u32, range: Handle<DiskRange>, sector: u64, buf: u64, len: usize) -> Option<Sqe> {
    len.is_multiple_of(SECTOR_SIZE).then(|| Sqe {
        range: range.raw().as_raw(),
        op,
        sector,
        count: (len / SECTOR_SIZE) as u64,
        buf,
        ..Sqe::default()
    })
}

/// Reserves room in [`RING_AREA`] for one ring of `entries` and returns
/// its address: for a ring made and dropped again and again at the same
/// place ([`Ring::new_at`]), such as a device's batches.
pub fn reserve(entries: u32) -> u64 {
    let pages = ring_pages(u64::from(entries));
    NEXT_RING.fetch_add(pages * PAGE_SIZE, Ordering::Relaxed)
}

impl<'a> Ring<'a> {
    /// A ring of `entries` (a power of two, at most `MAX_RING_ENTRIES`)
    /// charged to `memory` (needs `MAP | READ | WRITE`), mapped at the next
    /// free place of [`RING_AREA`].
    pub fn new(memory: Handle<Memory>, entries: u32) -> Result<Self, Error> {
        Self::new_at(memory, entries, reserve(entries))
    }

    /// As [`new`](Self::new), at `vaddr` (page-aligned; nothing mapped
    /// there: the kernel refuses a mapped page with `AddressInUse`).
    pub fn new_at(memory: Handle<Memory>, entries: u32, vaddr: u64) -> Result<Self, Error> {
        if !valid_entries(u64::from(entries)) {
            return Err(Error::InvalidArgument);
        }
        // The kernel maps fresh pages only where nothing is mapped, so no
        // Rust memory changes.
        let raw = super::call(calls::RingCreate {
            memory: memory.raw(),
            entries: u64::from(entries),
            vaddr,
        })?;
        let mut slots = Vec::with_capacity(entries as usize);
        slots.resize_with(entries as usize, || Slot::Free);
        Ok(Ring {
            handle: Handle::from_raw(raw),
            mem: RingMemory { base: vaddr, entries },
            sq_tail: 0,
            cq_head: 0,
            slots,
            free: (0..entries).rev().collect(),
            abandoned: false,
        })
    }

    /// The ring's capability.
    pub fn handle(&self) -> Handle<IoRing> {
        self.handle
    }

    /// Where its pages are.
    pub fn vaddr(&self) -> u64 {
        self.mem.base
    }

    /// Entries in each queue.
    pub fn entries(&self) -> u32 {
        self.mem.entries
    }

    /// Requests pushed and not yet collected.
    pub fn outstanding(&self) -> u32 {
        self.mem.entries - self.free.len() as u32
    }

    /// Submissions pushed that the kernel has not consumed yet.
    pub fn queued(&self) -> u32 {
        self.sq_tail.wrapping_sub(self.mem.load(Index::SqHead))
    }

    fn push(&mut self, sqe: Sqe, tag: u64, buffer: Buffer<'a>) -> Result<(), (Error, Buffer<'a>)> {
        // One slot per outstanding request, as many as entries: the
        // submission queue can never overflow.
        let Some(slot) = self.free.pop() else { return Err((Error::Busy, buffer)) };
        self.slots[slot as usize] = Slot::Lent(tag, buffer);
        self.mem.write_sqe(self.sq_tail, &Sqe { user_data: u64::from(slot), ..sqe });
        self.sq_tail = self.sq_tail.wrapping_add(1);
        self.mem.store(Index::SqTail, self.sq_tail);
        Ok(())
    }

    /// Queues a read of `buf.len() / 512` sectors at `sector` (relative to
    /// `range`) into `buf`, tagged `tag`; `buf` comes back with the
    /// completion. `Busy` (and `buf` back) when every entry is
    /// outstanding; `InvalidArgument` when `buf` is no whole number of
    /// sectors. Other checks are the kernel's, reported in the completion.
    pub fn read(
        &mut self,
        range: Handle<DiskRange>,
        sector: u64,
        buf: &'a mut [u8],
        tag: u64,
    ) -> Result<(), (Error, &'a mut [u8])> {
        let Some(sqe) = transfer(RING_OP_READ, range, sector, buf.as_mut_ptr() as u64, buf.len())
        else {
            return Err((Error::InvalidArgument, buf));
        };
        self.push(sqe, tag, Buffer::Read(buf)).map_err(|(e, b)| match b {
            Buffer::Read(b) => (e, b),
            _ => unreachable!("push gives back the buffer it was given"),
        })
    }

    /// Queues a write of `buf` at `sector`, tagged `tag`. As [`read`](Self::read).
    pub fn write(
        &mut self,
        range: Handle<DiskRange>,
        sector: u64,
        buf: &'a [u8],
        tag: u64,
    ) -> Result<(), Error> {
        let sqe = transfer(RING_OP_WRITE, range, sector, buf.as_ptr() as u64, buf.len())
            .ok_or(Error::InvalidArgument)?;
        self.push(sqe, tag, Buffer::Write(buf)).map_err(|(e, _)| e)
    }

    /// Queues a flush of `range`'s device, tagged `tag`.
    pub fn flush(&mut self, range: Handle<DiskRange>, tag: u64) -> Result<(), Error> {
        let sqe = Sqe { range: range.raw().as_raw(), op: RING_OP_FLUSH, ..Sqe::default() };
        self.push(sqe, tag, Buffer::None).map_err(|(e, _)| e)
    }

    /// Queues `sqe` as it is (its `user_data` replaced by the slot; `tag`
    /// comes back in the completion): for tests that hand the kernel bad
    /// entries.
    ///
    /// # Safety
    /// If the kernel can take it as a read (`op` 0), `sqe.buf` must be
    /// valid for writes of `count * 512` bytes, and unused by anything
    /// else, until its completion is collected.
    pub unsafe fn push_raw(&mut self, sqe: Sqe, tag: u64) -> Result<(), Error> {
        self.push(sqe, tag, Buffer::None).map_err(|(e, _)| e)
    }

    /// Stores `sq_tail` and `cq_head` in the header as they are, without
    /// any check: for tests of the kernel's refusal of garbage indices.
    /// Our own copies are kept, and written back by the next push or pop.
    ///
    /// # Safety
    /// A `ring_enter` while the header says more submissions than were
    /// pushed makes the kernel consume stale entries, whose buffers may be
    /// in use again: restore the header ([`restore_indices`](Self::restore_indices))
    /// before entering, unless the kernel is to refuse the indices.
    pub unsafe fn store_indices(&mut self, sq_tail: u32, cq_head: u32) {
        self.mem.store(Index::SqTail, sq_tail);
        self.mem.store(Index::CqHead, cq_head);
    }

    /// Writes our copies of the indices back into the header.
    pub fn restore_indices(&mut self) {
        self.mem.store(Index::SqTail, self.sq_tail);
        self.mem.store(Index::CqHead, self.cq_head);
    }

    /// `ring_enter`: hands the kernel every queued submission and waits
    /// until `min_complete` completions can be collected (or none of the
    /// ring's requests is in flight). Returns how many submissions the
    /// kernel consumed: fewer than were queued when its completion queue,
    /// the DMA pool or the device is full (the rest stay queued).
    pub fn submit(&mut self, min_complete: u32) -> Result<u32, Error> {
        let to_submit = u64::from(self.queued());
        // SAFETY: the kernel writes only into the buffers of reads we
        // pushed, which stay lent (in `slots`) until their completion is
        // collected; the header's indices are our own.
        unsafe { self.enter(to_submit, u64::from(min_complete)) }.map(|n| n as u32)
    }

    /// `ring_enter(ring, to_submit, min_complete, 0)` as it is.
    ///
    /// # Safety
    /// As [`push_raw`](Self::push_raw) and [`store_indices`](Self::store_indices):
    /// every read the kernel may consume has a buffer valid until its
    /// completion is collected.
    pub unsafe fn enter(&mut self, to_submit: u64, min_complete: u64) -> Result<u64, Error> {
        let args = calls::RingEnter { ring: self.handle.raw(), to_submit, min_complete, flags: 0 };
        // SAFETY: as the caller guarantees.
        unsafe { raw::invoke(args) }
    }

    /// Completions the kernel posted and we have not collected.
    pub fn ready(&self) -> u32 {
        self.mem.load(Index::CqTail).wrapping_sub(self.cq_head)
    }

    /// Collects the next completion, if one is posted, and gives back its
    /// buffer.
    pub fn pop(&mut self) -> Option<Completion<'a>> {
        if self.ready() == 0 {
            return None;
        }
        let cqe = self.mem.read_cqe(self.cq_head);
        self.cq_head = self.cq_head.wrapping_add(1);
        self.mem.store(Index::CqHead, self.cq_head);
        let result = decode_result(cqe.result);
        let slot = usize::try_from(cqe.user_data).ok().filter(|&s| s < self.slots.len());
        let Some(slot) = slot else {
            // Not one of ours (the kernel echoes user_data): nothing lent.
            return Some(Completion { tag: cqe.user_data, result, buffer: Buffer::None });
        };
        match core::mem::replace(&mut self.slots[slot], Slot::Free) {
            Slot::Lent(tag, buffer) => {
                self.free.push(slot as u32);
                Some(Completion { tag, result, buffer })
            }
            Slot::Free => Some(Completion { tag: cqe.user_data, result, buffer: Buffer::None }),
        }
    }

    /// Submits what is queued and waits until every outstanding request
    /// has completed; collects them all into `out` (in completion order).
    pub fn drain(&mut self, out: &mut Vec<Completion<'a>>) -> Result<(), Error> {
        while self.outstanding() > 0 {
            while let Some(c) = self.pop() {
                out.push(c);
            }
            if self.outstanding() == 0 {
                break;
            }
            let want = self.outstanding() - self.queued();
            self.submit(want.max(1))?;
            if self.ready() == 0 && self.queued() == self.outstanding() {
                // Nothing consumed, nothing in flight: the kernel has no
                // room now (a full DMA pool); let others run.
                super::yield_now();
            }
        }
        Ok(())
    }
}

impl Ring<'_> {
    /// Ends the ring at once, without waiting for its requests in flight
    /// and without touching its pages: drops its capability, so the kernel
    /// tears the ring down. Its requests in flight are cancelled: no read's
    /// data is ever copied (the kernel copies only during a `ring_enter`,
    /// which a dead ring no longer takes); their bounce buffers go back to
    /// the kernel's pool once the device is done; the pages are unmapped
    /// and credited to their quota unless already unmapped. Every lent
    /// buffer is free again when this returns. (A copy of the capability
    /// made with `derive` keeps the ring alive; only an unsafe raw
    /// `ring_enter` through it could then post into those buffers.) The
    /// capability's error if the drop failed.
    pub fn abandon(mut self) -> Result<(), Error> {
        self.abandoned = true;
        super::cap_drop(self.handle.raw())
    }
}

impl Drop for Ring<'_> {
    fn drop(&mut self) {
        if self.abandoned {
            return;
        }
        // The kernel may still write into lent read buffers: wait until
        // every consumed request completed. Queued submissions are
        // withdrawn (the kernel consumes only up to the header's tail).
        let consumed = self.outstanding() - self.queued();
        if consumed > 0 {
            self.sq_tail = self.mem.load(Index::SqHead);
            self.mem.store(Index::SqTail, self.sq_tail);
            while self.pop().is_some() {}
            let left = self.outstanding() - self.queued();
            // SAFETY: as `submit`; nothing more is queued.
            let _ = unsafe { self.enter(0, u64::from(left)) };
        }
        // Dropping the capability tears the ring down (the kernel unmaps
        // its pages); nothing reads them after this.
        let _ = super::cap_drop(self.handle.raw());
    }
}
