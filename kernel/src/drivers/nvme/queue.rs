//! The controller's registers, and one NVMe queue pair: a submission
//! queue, its completion queue, their doorbells, the completion queue's
//! phase tag and the command-id table (Base 2.0, 3.3: queue mechanism).
//!
//! A [`QueuePair`] is self-contained: everything it touches is its own
//! (its queues, its two doorbell registers, its command ids and the PRP
//! lists of its commands), so any number of pairs of one controller run
//! side by side without sharing state: one per CPU for each namespace.

use core::sync::atomic::{Ordering, fence};
use kerncore::nvme::{CQ_ENTRY_BYTES, PAGE, SQ_ENTRY_BYTES};
use x86_64::PhysAddr;

use crate::drivers::dma;
use crate::mem::phys_to_virt;

/// Controller register offsets in BAR0 (Base 2.0, 3.1.3, Figure 33).
pub mod reg {
    /// Controller Capabilities (64-bit).
    pub const CAP: usize = 0x00;
    /// Controller Configuration.
    pub const CC: usize = 0x14;
    /// Controller Status.
    pub const CSTS: usize = 0x1c;
    /// Admin Queue Attributes.
    pub const AQA: usize = 0x24;
    /// Admin Submission Queue base address (64-bit).
    pub const ASQ: usize = 0x28;
    /// Admin Completion Queue base address (64-bit).
    pub const ACQ: usize = 0x30;
    /// The first doorbell register (the admin submission queue's tail).
    pub const DOORBELLS: usize = 0x1000;
}

/// BAR0 of one controller, mapped uncached.
#[derive(Clone, Copy)]
pub struct Registers {
    base: *mut u8,
    /// Bytes mapped from `base`.
    len: usize,
    /// Bytes between two doorbells (CAP.DSTRD).
    stride: usize,
}

impl Registers {
    /// The registers at `base` (`len` bytes of BAR0 mapped uncached by
    /// `map_device_memory`).
    ///
    /// # Safety
    /// `base..base + len` must be the controller's BAR0, mapped for as
    /// long as any copy of the value is used, and `len` at least the
    /// controller registers' 0x1000 bytes.
    pub unsafe fn new(base: *mut u8, len: usize) -> Self {
        Registers { base, len, stride: 4 }
    }

    /// Sets the doorbell stride, once CAP is read.
    pub fn set_stride(&mut self, stride: usize) {
        self.stride = stride;
    }

    /// The address of the 32-bit register at `offset`.
    fn at(&self, offset: usize) -> *mut u32 {
        assert!(offset + 4 <= self.len && offset.is_multiple_of(4), "NVMe register {offset:#x}");
        self.base.wrapping_add(offset).cast()
    }

    /// Reads the 32-bit register at `offset`.
    pub fn read32(&self, offset: usize) -> u32 {
        // SAFETY: inside the mapped BAR (`at` checks), aligned.
        unsafe { self.at(offset).read_volatile() }
    }

    /// Writes the 32-bit register at `offset`.
    pub fn write32(&self, offset: usize, value: u32) {
        // SAFETY: as in `read32`.
        unsafe { self.at(offset).write_volatile(value) }
    }

    /// Reads a 64-bit register as two dwords, low first (Base 2.0, 3.1.2
    /// lets a host access 64-bit registers as two 32-bit accesses).
    pub fn read64(&self, offset: usize) -> u64 {
        u64::from(self.read32(offset)) | u64::from(self.read32(offset + 4)) << 32
    }

    /// Writes a 64-bit register as two dwords, low first.
    pub fn write64(&self, offset: usize, value: u64) {
        self.write32(offset, value as u32);
        self.write32(offset + 4, (value >> 32) as u32);
    }

    /// The offset of queue `qid`'s submission tail doorbell, or of its
    /// completion head doorbell (Base 2.0, 3.1.3.19).
    fn doorbell(&self, qid: u16, completion: bool) -> usize {
        reg::DOORBELLS + (2 * usize::from(qid) + usize::from(completion)) * self.stride
    }

    /// Whether queue `qid`'s doorbells lie in the mapped BAR.
    pub fn has_doorbells(&self, qid: u16) -> bool {
        self.doorbell(qid, true) + 4 <= self.len
    }
}

/// A submission queue entry (Base 2.0, 4.2, Figure 88; the PRP form of
/// the data pointer, PSDT = 0).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Command {
    /// Opcode (bits 7:0), fused operation, PSDT, command id (31:16).
    pub cdw0: u32,
    /// Namespace id.
    pub nsid: u32,
    /// Command dwords 2 and 3 (reserved or command-specific).
    pub cdw2: u32,
    /// See `cdw2`.
    pub cdw3: u32,
    /// Metadata pointer (unused: no namespace with metadata is exposed).
    pub mptr: u64,
    /// PRP entry 1.
    pub prp1: u64,
    /// PRP entry 2.
    pub prp2: u64,
    /// Command-specific dwords 10 to 15.
    pub cdw10: u32,
    /// See `cdw10`.
    pub cdw11: u32,
    /// See `cdw10`.
    pub cdw12: u32,
    /// See `cdw10`.
    pub cdw13: u32,
    /// See `cdw10`.
    pub cdw14: u32,
    /// See `cdw10`.
    pub cdw15: u32,
}

const _: () = assert!(core::mem::size_of::<Command>() == SQ_ENTRY_BYTES);

impl Command {
    /// A command with `opcode` for namespace `nsid`, everything else 0.
    pub fn new(opcode: u8, nsid: u32) -> Self {
        Command { cdw0: u32::from(opcode), nsid, ..Command::default() }
    }
}

/// A completion queue entry (Base 2.0, 4.6, Figure 89).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Completion {
    /// Command-specific result (dword 0).
    pub result: u32,
    /// Dword 1 (reserved or command-specific).
    pub dw1: u32,
    /// Submission queue head pointer.
    pub sq_head: u16,
    /// Submission queue id.
    pub sq_id: u16,
    /// The command's id.
    pub cid: u16,
    /// Phase tag (bit 0) and status field (bits 15:1).
    pub status: u16,
}

const _: () = assert!(core::mem::size_of::<Completion>() == CQ_ENTRY_BYTES);

impl Completion {
    /// The status code type and status code (Base 2.0, 4.6.1): 0 is
    /// success. The More and Do Not Retry bits are left out.
    pub fn status_code(&self) -> u16 {
        (self.status >> 1) & 0x7ff
    }
}

/// The most commands a queue pair has in flight: its command ids are the
/// bits of one word.
pub const MAX_DEPTH: usize = 64;

/// One submission/completion queue pair.
pub struct QueuePair {
    id: u16,
    /// Entries in each queue; one more than the commands in flight at
    /// most, so neither queue is ever full.
    entries: u16,
    sq_phys: u64,
    cq_phys: u64,
    /// The next submission slot to write, and the tail the controller was
    /// last told of (entries in between are written but not submitted).
    sq_next: u16,
    sq_tail: u16,
    /// The next completion slot to read, and the head the controller was
    /// last told of.
    cq_head: u16,
    cq_acknowledged: u16,
    /// The phase tag a new completion carries (Base 2.0, 4.6: it flips
    /// each time the queue wraps; the queue starts zeroed, tag 1 first).
    phase: bool,
    sq_doorbell: usize,
    cq_doorbell: usize,
    regs: Registers,
    /// Free command ids, one bit each.
    free: u64,
    /// Per command id: the tag its submitter gave it.
    tags: [u16; MAX_DEPTH],
    /// The PRP lists, one per command id, `list_entries` each (none for
    /// the admin queue).
    lists_phys: u64,
    list_entries: usize,
}

// SAFETY: the pair's memory and registers are used only through it, under
// the kernel lock (one CPU at a time).
unsafe impl Send for QueuePair {}

/// Pages for `bytes` bytes.
fn pages(bytes: usize) -> usize {
    bytes.div_ceil(PAGE)
}

impl QueuePair {
    /// Allocates queue pair `id` of `depth` commands (at most
    /// [`MAX_DEPTH`]), with a PRP list of `list_entries` entries per
    /// command (a power of two of at most a page's worth, or 0). The
    /// controller learns of it separately (AQA/ASQ/ACQ for the admin
    /// pair, the Create I/O queue commands for the others). `None` when
    /// the DMA pool has no room or `regs` lacks its doorbells.
    pub fn new(regs: Registers, id: u16, depth: usize, list_entries: usize) -> Option<Self> {
        let depth = depth.clamp(1, MAX_DEPTH);
        assert!(list_entries == 0 || list_entries.is_power_of_two() && list_entries * 8 <= PAGE);
        if !regs.has_doorbells(id) {
            return None;
        }
        let entries = depth + 1;
        let [sq_pages, cq_pages, list_pages] = Self::page_counts(depth, list_entries);
        let sq_phys = dma::alloc(sq_pages)?;
        let Some(cq_phys) = dma::alloc(cq_pages) else {
            dma::free(sq_phys, sq_pages);
            return None;
        };
        let lists_phys = if list_pages == 0 {
            0
        } else if let Some(p) = dma::alloc(list_pages) {
            p
        } else {
            dma::free(sq_phys, sq_pages);
            dma::free(cq_phys, cq_pages);
            return None;
        };
        Some(QueuePair {
            id,
            entries: entries as u16,
            sq_phys,
            cq_phys,
            sq_next: 0,
            sq_tail: 0,
            cq_head: 0,
            cq_acknowledged: 0,
            phase: true,
            sq_doorbell: regs.doorbell(id, false),
            cq_doorbell: regs.doorbell(id, true),
            regs,
            free: if depth == MAX_DEPTH { u64::MAX } else { (1 << depth) - 1 },
            tags: [0; MAX_DEPTH],
            lists_phys,
            list_entries,
        })
    }

    /// The DMA pool pages [`new`](Self::new) takes for a pair of `depth`
    /// commands with PRP lists of `list_entries`.
    pub fn pool_pages(depth: usize, list_entries: usize) -> usize {
        Self::page_counts(depth.clamp(1, MAX_DEPTH), list_entries).iter().sum()
    }

    /// Pages of the submission queue, the completion queue and the PRP
    /// lists (`depth` already clamped).
    fn page_counts(depth: usize, list_entries: usize) -> [usize; 3] {
        let entries = depth + 1;
        [
            pages(entries * SQ_ENTRY_BYTES),
            pages(entries * CQ_ENTRY_BYTES),
            pages(depth * list_entries * 8),
        ]
    }

    /// The pair's queue id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// Entries in each queue.
    pub fn entries(&self) -> u16 {
        self.entries
    }

    /// The submission queue's physical address.
    pub fn sq_phys(&self) -> u64 {
        self.sq_phys
    }

    /// The completion queue's physical address.
    pub fn cq_phys(&self) -> u64 {
        self.cq_phys
    }

    /// The most commands in flight at once.
    pub fn depth(&self) -> usize {
        usize::from(self.entries) - 1
    }

    /// Free command ids.
    pub fn free_ids(&self) -> usize {
        self.free.count_ones() as usize
    }

    /// Takes a free command id for a command tagged `tag` (given back
    /// when it completes); `None` if all are in use.
    pub fn claim(&mut self, tag: u16) -> Option<u16> {
        if self.free == 0 {
            return None;
        }
        let cid = self.free.trailing_zeros() as u16;
        self.free &= !(1 << cid);
        self.tags[usize::from(cid)] = tag;
        Some(cid)
    }

    /// Gives back command id `cid` and returns its tag: when its command
    /// completed, or when it was claimed and never submitted. `None` if
    /// `cid` was not in use (a device's bug: a completion it invented).
    pub fn release(&mut self, cid: u16) -> Option<u16> {
        let bit = 1u64.checked_shl(u32::from(cid)).filter(|b| self.free & b == 0)?;
        if usize::from(cid) >= self.depth() {
            return None;
        }
        self.free |= bit;
        Some(self.tags[usize::from(cid)])
    }

    /// Command id `cid`'s PRP list, and its device address.
    pub fn prp_list(&mut self, cid: u16) -> (&mut [u64], u64) {
        let bytes = self.list_entries * 8;
        let phys = self.lists_phys + usize::from(cid) as u64 * bytes as u64;
        assert!(usize::from(cid) < self.depth(), "command id {cid}");
        let list = phys_to_virt(PhysAddr::new(phys)).as_mut_ptr::<u64>();
        // SAFETY: command id `cid`'s list in this pair's DMA pages (the
        // index is checked above), used only for the command `cid` names,
        // and by the device only while that command is in flight; the
        // borrow of `self` keeps a second view from being made meanwhile.
        (unsafe { core::slice::from_raw_parts_mut(list, self.list_entries) }, phys)
    }

    /// Writes `command` with id `cid` to the next submission slot; the
    /// controller sees it after [`submit`](Self::submit).
    pub fn write(&mut self, cid: u16, mut command: Command) {
        command.cdw0 = (command.cdw0 & 0xffff) | u32::from(cid) << 16;
        let slot = phys_to_virt(PhysAddr::new(self.sq_phys)).as_mut_ptr::<Command>();
        // SAFETY: slot `sq_next` of the submission queue (`entries`
        // entries in our DMA pages). The controller reads only slots from
        // its head to the tail it was told, and `sq_next` is past that
        // tail: the queue is never full (one more entry than commands).
        unsafe { slot.add(usize::from(self.sq_next)).write_volatile(command) };
        self.sq_next = (self.sq_next + 1) % self.entries;
    }

    /// Forgets the commands written since the last
    /// [`submit`](Self::submit) (their ids are released separately).
    pub fn discard(&mut self) {
        self.sq_next = self.sq_tail;
    }

    /// Hands the written commands to the controller: one doorbell write.
    pub fn submit(&mut self) {
        if self.sq_next != self.sq_tail {
            // The entries are in memory before the controller is told.
            fence(Ordering::Release);
            self.regs.write32(self.sq_doorbell, u32::from(self.sq_next));
            self.sq_tail = self.sq_next;
        }
    }

    /// The next new completion, if the controller posted one (its command
    /// id is still in use: [`release`](Self::release) it).
    pub fn pop(&mut self) -> Option<Completion> {
        let slot = phys_to_virt(PhysAddr::new(self.cq_phys)).as_ptr::<Completion>();
        // SAFETY: slot `cq_head` of the completion queue (`entries`
        // entries in our DMA pages), which the controller writes whole;
        // the status word (phase tag) is read first and the rest only
        // after it shows the entry is new.
        let entry = unsafe { slot.add(usize::from(self.cq_head)) };
        // SAFETY: as above; the status field is the entry's last u16.
        let status = unsafe { core::ptr::addr_of!((*entry).status).read_volatile() };
        if (status & 1 != 0) != self.phase {
            return None;
        }
        fence(Ordering::Acquire);
        // SAFETY: as above.
        let completion = unsafe { entry.read_volatile() };
        self.cq_head += 1;
        if self.cq_head == self.entries {
            self.cq_head = 0;
            self.phase = !self.phase;
        }
        Some(completion)
    }

    /// Tells the controller which completions were consumed (their slots
    /// may be reused): one doorbell write, if any were.
    pub fn acknowledge(&mut self) {
        if self.cq_head != self.cq_acknowledged {
            self.regs.write32(self.cq_doorbell, u32::from(self.cq_head));
            self.cq_acknowledged = self.cq_head;
        }
    }
}
