//! User address spaces: one top-level page table per process.
//!
//! The upper half (PML4 entries 256..512) is the kernel's and is the same
//! in every address space: those entries are copied from the boot table
//! and point to tables created once at boot (`init`), so a kernel mapping
//! added later is seen by every process. The lower half belongs to the
//! process: user pages and the tables that map them.
//!
//! Every user frame is charged to a quota. The page-table entry itself
//! records which one, as an index into the address space's small table of
//! quotas (bits 9..12 of the entry, which the CPU ignores), so unmapping a
//! page or destroying the space credits the right quota with no side list.
//! Page-table frames are charged to the process's own quota (slot 0).

use caps::ObjectId;
use caps::abi::Error;
use caps::abi::layout::{PAGE_SIZE, USER_END, USER_MIN};
use x86_64::PhysAddr;
use x86_64::registers::control::Cr3;
use x86_64::structures::paging::page_table::PageTableEntry;
use x86_64::structures::paging::{PageTable, PageTableFlags, PhysFrame};

use super::{frame, paging, phys_to_virt};

const ENTRIES: usize = 512;
/// PML4 entries from here up map the kernel half.
const KERNEL_HALF: usize = 256;

/// Bits 9..12 of a leaf entry: the quota slot that paid for the frame.
const QUOTA_SHIFT: u64 = 9;
const QUOTA_MASK: u64 = 0b111 << QUOTA_SHIFT;
/// An ignored bit of a leaf entry: the frame is a memory object's, shared
/// (`mo_map`), not this space's own. Unmapping such a page frees nothing
/// and credits nothing: the object keeps its frames (`memobj`).
const SHARED: PageTableFlags = PageTableFlags::BIT_52;
/// An ignored bit of a leaf entry: another process may unmap this page
/// while this one waits (a memory object's, which a revoke elsewhere
/// unmaps; an I/O ring's, which the holder of its last capability tears
/// down), so a device is never handed its frame for a transfer the owner
/// waits on (`UserSlice::check_for_device`).
const LENT: PageTableFlags = PageTableFlags::BIT_53;
/// How many different quotas can pay for one address space's pages.
pub const QUOTA_SLOTS: usize = 8;
/// The slot of the process's own quota (page tables, stack, image).
pub const OWN_QUOTA: usize = 0;

/// The flags of an entry pointing to a lower-level table of the user half:
/// everything below may be reached from user mode and written; the leaf
/// entry alone decides a page's access.
const TABLE_FLAGS: PageTableFlags =
    PageTableFlags::PRESENT.union(PageTableFlags::WRITABLE).union(PageTableFlags::USER_ACCESSIBLE);

/// How a page may be used from user mode. W^X: never both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read only.
    Read,
    /// Read and write.
    ReadWrite,
    /// Read and execute.
    ReadExec,
}

impl Access {
    fn leaf_flags(self) -> PageTableFlags {
        use PageTableFlags as F;
        match self {
            Access::Read => F::PRESENT | F::USER_ACCESSIBLE | F::NO_EXECUTE,
            Access::ReadWrite => F::PRESENT | F::USER_ACCESSIBLE | F::WRITABLE | F::NO_EXECUTE,
            Access::ReadExec => F::PRESENT | F::USER_ACCESSIBLE,
        }
    }
}

/// The ignored bits of a leaf entry that record quota slot `slot`.
fn slot_flags(slot: usize) -> PageTableFlags {
    PageTableFlags::from_bits_retain(((slot as u64) << QUOTA_SHIFT) & QUOTA_MASK)
}

/// The quota slot recorded in leaf entry `entry`.
fn slot_of(entry: &PageTableEntry) -> usize {
    ((entry.flags().bits() & QUOTA_MASK) >> QUOTA_SHIFT) as usize
}

/// A quota slot: which quota, and how many frames this space holds on it.
#[derive(Clone, Copy, Debug, Default)]
pub struct QuotaSlot {
    /// The quota object, if the slot is in use.
    pub quota: Option<ObjectId>,
    /// Frames charged to it by this address space.
    pub frames: u64,
}

/// Charges frames to quotas: the kernel's quota table, seen from here.
pub trait Charge {
    /// Takes one frame's worth from `quota`; `OutOfMemory` if it is spent.
    fn charge(&mut self, quota: ObjectId) -> Result<(), Error>;
    /// Gives one frame's worth back to `quota`.
    fn credit(&mut self, quota: ObjectId);
}

/// A process's address space.
///
/// Page-table invariant (what makes [`AddressSpace::table`] and
/// [`AddressSpace::table_mut`] sound): the page-table frames of the user
/// half of a space are `pml4` and the frames named by present entries of
/// its tables at levels 4 (entries below `KERNEL_HALF`), 3 and 2. Each was
/// taken from the frame allocator by this space for that table alone, is
/// named by exactly one entry (or is the root), belongs to no other space
/// and is freed only by `destroy`, which consumes the space. The walk in
/// this file hands the accessors no other frame, and never descends into
/// the kernel half, whose tables every space shares.
pub struct AddressSpace {
    pml4: PhysFrame,
    quotas: [QuotaSlot; QUOTA_SLOTS],
}

fn index(vaddr: u64, level: u32) -> usize {
    ((vaddr >> (12 + 9 * (level - 1))) & 0x1ff) as usize
}

/// Whether `[addr, addr + len)` lies inside user space (no wrap-around).
pub fn is_user_range(addr: u64, len: u64) -> bool {
    addr >= USER_MIN && addr.checked_add(len).is_some_and(|end| end <= USER_END)
}

/// Gives every kernel-half PML4 slot a table, so that kernel mappings made
/// after boot appear in every address space. Call once at boot.
pub fn init() {
    // SAFETY: boot, one CPU, before any process exists: nothing else holds
    // a reference to the live (boot) top-level table.
    let mut active = unsafe { paging::active() };
    for entry in active.level_4_table_mut().iter_mut().skip(KERNEL_HALF) {
        if !entry.flags().contains(PageTableFlags::PRESENT) {
            let f = frame::alloc_zeroed().expect("memory for the kernel's page tables");
            entry.set_frame(f, PageTableFlags::PRESENT | PageTableFlags::WRITABLE);
        }
    }
}

impl AddressSpace {
    /// A new address space holding only the kernel half; its top-level
    /// table is charged to `own_quota`.
    pub fn new(own_quota: ObjectId, charge: &mut impl Charge) -> Result<Self, Error> {
        charge.charge(own_quota)?;
        let Some(pml4) = frame::alloc_zeroed() else {
            charge.credit(own_quota);
            return Err(Error::OutOfMemory);
        };
        let mut quotas = [QuotaSlot::default(); QUOTA_SLOTS];
        quotas[OWN_QUOTA] = QuotaSlot { quota: Some(own_quota), frames: 1 };
        let mut space = AddressSpace { pml4, quotas };
        // SAFETY: the kernel makes these one at a time (boot code and the
        // kernel-stack mapper, neither running now) and drops this one at
        // the end of `new`; only its kernel half is read, which never
        // changes after `init`.
        let active = unsafe { paging::active() };
        let dst = space.table_mut(pml4).iter_mut();
        for (d, s) in dst.zip(active.level_4_table().iter()).skip(KERNEL_HALF) {
            *d = s.clone();
        }
        Ok(space)
    }

    /// The value to load into CR3 to run in this space.
    pub fn root(&self) -> PhysFrame {
        self.pml4
    }

    /// The page table in `frame`, seen through the physical window.
    /// `frame` must be one of this space's page-table frames (see the
    /// invariant on [`AddressSpace`]).
    fn table(&self, frame: PhysFrame) -> &PageTable {
        // SAFETY: by the page-table invariant `frame` is a live table of
        // this space, mapped by the physical window and aligned; the only
        // references to it are made here and in `table_mut`, each borrowing
        // `self`, so no `&mut` to it lives while this `&` does. (The CPU
        // itself may set accessed/dirty bits while the space is active; we
        // read them as plain bits and rely on none.)
        unsafe { &*phys_to_virt(frame.start_address()).as_ptr::<PageTable>() }
    }

    /// The page table in `frame`, writable; as [`AddressSpace::table`].
    fn table_mut(&mut self, frame: PhysFrame) -> &mut PageTable {
        // SAFETY: as in `table`; `&mut self` makes this the only reference
        // to any table of this space while it lives.
        unsafe { &mut *phys_to_virt(frame.start_address()).as_mut_ptr::<PageTable>() }
    }

    /// The last-level table for user address `vaddr`, walking down through
    /// entries that carry all of `need` (and are not huge pages). `None`
    /// if a table is missing or lacks `need`, or `vaddr` is in the kernel
    /// half.
    fn walk(&self, vaddr: u64, need: PageTableFlags) -> Option<PhysFrame> {
        if index(vaddr, 4) >= KERNEL_HALF {
            return None;
        }
        let mut t = self.pml4;
        for level in [4, 3, 2] {
            let entry = &self.table(t)[index(vaddr, level)];
            if !entry.flags().contains(need) {
                return None;
            }
            t = entry.frame().ok()?;
        }
        Some(t)
    }

    /// The last-level table for user address `vaddr`, creating missing
    /// tables (each charged to the own quota) when `charge` is given.
    /// Errors: `BadAddress` if a table is missing and `charge` is `None`
    /// (or `vaddr` is in the kernel half); `OutOfMemory` from the quota or
    /// the frame allocator.
    fn walk_create(
        &mut self,
        vaddr: u64,
        mut charge: Option<&mut dyn Charge>,
    ) -> Result<PhysFrame, Error> {
        if index(vaddr, 4) >= KERNEL_HALF {
            return Err(Error::BadAddress);
        }
        let own = self.own_quota();
        let mut t = self.pml4;
        for level in [4, 3, 2] {
            let i = index(vaddr, level);
            if !self.table(t)[i].flags().contains(PageTableFlags::PRESENT) {
                let Some(c) = charge.as_deref_mut() else { return Err(Error::BadAddress) };
                c.charge(own)?;
                let Some(f) = frame::alloc_zeroed() else {
                    c.credit(own);
                    return Err(Error::OutOfMemory);
                };
                self.quotas[OWN_QUOTA].frames += 1;
                self.table_mut(t)[i].set_frame(f, TABLE_FLAGS);
            }
            t = self.table(t)[i].frame().map_err(|_| Error::BadAddress)?;
        }
        Ok(t)
    }

    /// The quota slot for `quota`, taking a free slot if needed.
    pub fn quota_slot(&mut self, quota: ObjectId) -> Result<usize, Error> {
        if let Some(i) = self.quotas.iter().position(|s| s.quota == Some(quota)) {
            return Ok(i);
        }
        let free = self.quotas.iter().position(|s| s.quota.is_none()).ok_or(Error::TableFull)?;
        self.quotas[free] = QuotaSlot { quota: Some(quota), frames: 0 };
        Ok(free)
    }

    fn release_slot_if_unused(&mut self, slot: usize) {
        if slot != OWN_QUOTA && self.quotas[slot].frames == 0 {
            self.quotas[slot].quota = None;
        }
    }

    fn own_quota(&self) -> ObjectId {
        self.quotas[OWN_QUOTA].quota.expect("slot 0 holds the own quota")
    }

    /// Whether `vaddr`'s page is mapped.
    pub fn is_mapped(&self, vaddr: u64) -> bool {
        self.walk(vaddr, PageTableFlags::PRESENT).is_some_and(|t| {
            self.table(t)[index(vaddr, 1)].flags().contains(PageTableFlags::PRESENT)
        })
    }

    /// Maps `pages` fresh zeroed pages at `vaddr`, charged to `quota`.
    /// Errors: `InvalidArgument` for an unaligned or empty range or one
    /// outside user space, `AddressInUse` if a page there is mapped,
    /// `OutOfMemory`. On failure nothing stays mapped or charged (tables
    /// created on the way stay, charged to the own quota, and are reused
    /// later).
    pub fn map_zeroed(
        &mut self,
        vaddr: u64,
        pages: u64,
        access: Access,
        quota: ObjectId,
        charge: &mut impl Charge,
    ) -> Result<(), Error> {
        let len = pages.checked_mul(PAGE_SIZE).ok_or(Error::InvalidArgument)?;
        if !vaddr.is_multiple_of(PAGE_SIZE) || pages == 0 || !is_user_range(vaddr, len) {
            return Err(Error::InvalidArgument);
        }
        if (0..pages).any(|i| self.is_mapped(vaddr + i * PAGE_SIZE)) {
            return Err(Error::AddressInUse);
        }
        let slot = self.quota_slot(quota)?;
        for i in 0..pages {
            if let Err(e) = self.map_one(vaddr + i * PAGE_SIZE, access, slot, charge) {
                self.unmap_pages(vaddr, i, charge);
                self.release_slot_if_unused(slot);
                return Err(e);
            }
        }
        Ok(())
    }

    fn map_one(
        &mut self,
        vaddr: u64,
        access: Access,
        slot: usize,
        charge: &mut impl Charge,
    ) -> Result<(), Error> {
        let quota = self.quotas[slot].quota.expect("slot in use");
        let pt = self.walk_create(vaddr, Some(charge))?;
        charge.charge(quota)?;
        let Some(f) = frame::alloc_zeroed() else {
            charge.credit(quota);
            return Err(Error::OutOfMemory);
        };
        self.quotas[slot].frames += 1;
        self.table_mut(pt)[index(vaddr, 1)].set_frame(f, access.leaf_flags() | slot_flags(slot));
        Ok(())
    }

    /// Maps `frames` (a memory object's, which keeps them) at `vaddr`, one
    /// page each, marked shared so that unmapping frees nothing. Page
    /// tables made on the way are charged to the own quota. Errors:
    /// `BadAddress` outside user space, `AddressInUse` if a page there is
    /// mapped, `OutOfMemory` for a page table; on failure nothing stays
    /// mapped.
    pub fn map_frames(
        &mut self,
        vaddr: u64,
        frames: &[PhysFrame],
        access: Access,
        charge: &mut impl Charge,
    ) -> Result<(), Error> {
        let len = (frames.len() as u64).checked_mul(PAGE_SIZE).ok_or(Error::InvalidArgument)?;
        if !vaddr.is_multiple_of(PAGE_SIZE) || frames.is_empty() {
            return Err(Error::InvalidArgument);
        }
        if !is_user_range(vaddr, len) {
            return Err(Error::BadAddress);
        }
        if (0..frames.len() as u64).any(|i| self.is_mapped(vaddr + i * PAGE_SIZE)) {
            return Err(Error::AddressInUse);
        }
        for (i, f) in frames.iter().enumerate() {
            let va = vaddr + i as u64 * PAGE_SIZE;
            match self.walk_create(va, Some(charge)) {
                Ok(pt) => {
                    let flags = access.leaf_flags() | SHARED | LENT;
                    self.table_mut(pt)[index(va, 1)].set_frame(*f, flags)
                }
                Err(e) => {
                    self.unmap_pages(vaddr, i as u64, charge);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Unmaps the page at `vaddr` if mapped, frees its frame and credits
    /// its quota (a shared page's frame stays its object's). Returns
    /// whether a page was there.
    fn unmap_one(&mut self, vaddr: u64, charge: &mut impl Charge) -> bool {
        let Some(pt) = self.walk(vaddr, PageTableFlags::PRESENT) else { return false };
        let entry = &mut self.table_mut(pt)[index(vaddr, 1)];
        let pte = entry.clone();
        entry.set_unused();
        if !pte.flags().contains(PageTableFlags::PRESENT) {
            return false;
        }
        if Cr3::read().0 == self.pml4 {
            x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(vaddr));
        }
        self.free_leaf(&pte, charge);
        true
    }

    fn free_leaf(&mut self, pte: &PageTableEntry, charge: &mut impl Charge) {
        if pte.flags().contains(SHARED) {
            return;
        }
        let slot = slot_of(pte);
        let frame = PhysFrame::containing_address(pte.addr());
        // SAFETY: the entry was this space's only reference to the frame,
        // which `map_one` took from the allocator; the entry is cleared.
        unsafe { frame::free(frame) };
        let s = &mut self.quotas[slot];
        s.frames -= 1;
        charge.credit(s.quota.expect("a mapped page's slot is in use"));
        self.release_slot_if_unused(slot);
    }

    /// Unmaps every mapped page in `[vaddr, vaddr + pages * PAGE_SIZE)`
    /// (a memory object's pages too: their frames stay the object's).
    pub fn unmap(
        &mut self,
        vaddr: u64,
        pages: u64,
        charge: &mut impl Charge,
    ) -> Result<u64, Error> {
        let len = pages.checked_mul(PAGE_SIZE).ok_or(Error::InvalidArgument)?;
        if !vaddr.is_multiple_of(PAGE_SIZE) || pages == 0 || !is_user_range(vaddr, len) {
            return Err(Error::InvalidArgument);
        }
        Ok(self.unmap_pages(vaddr, pages, charge))
    }

    /// [`unmap`](Self::unmap) of a range already checked (also the undoing
    /// of a failed `map_zeroed` or `map_frames`: a CPU that stayed in this
    /// space may have cached the pages they had just mapped, for the
    /// processor may load any present translation ahead of use; found by
    /// review, the undoing flushed this CPU's TLB only). Returns how many
    /// pages were mapped.
    fn unmap_pages(&mut self, vaddr: u64, pages: u64, charge: &mut impl Charge) -> u64 {
        let unmapped =
            (0..pages).filter(|i| self.unmap_one(vaddr + i * PAGE_SIZE, charge)).count() as u64;
        if unmapped > 0 {
            // Before the caller can free what the pages held (a memory
            // object's frames) or return: another CPU may have this space
            // loaded (its process, if the unmap is a revoke's, or an idle
            // loop that stayed in it). The private frames `unmap_one`
            // freed above may still be reachable there until it answers
            // (a ring's pages unmapped by another process's revoke while
            // their owner runs elsewhere), but nothing can reuse them
            // before: every allocation takes the kernel lock, which we
            // hold until every target has answered.
            crate::arch::smp::tlb::shootdown(self.pml4, crate::arch::smp::tlb::Action::Flush);
        }
        unmapped
    }

    /// The physical address behind user address `vaddr`, if its page is
    /// mapped with at least the given access from user mode, and whether
    /// the page is lent: one another process may unmap (see `LENT`).
    pub fn user_page(&self, vaddr: u64, write: bool) -> Option<(PhysAddr, bool)> {
        let mut need = PageTableFlags::PRESENT | PageTableFlags::USER_ACCESSIBLE;
        if write {
            need |= PageTableFlags::WRITABLE;
        }
        let entry = &self.table(self.walk(vaddr, need)?)[index(vaddr, 1)];
        if !entry.flags().contains(need) {
            return None;
        }
        Some((entry.addr() + (vaddr & (PAGE_SIZE - 1)), entry.flags().contains(LENT)))
    }

    /// Marks the mapped pages of `[vaddr, vaddr + pages * PAGE_SIZE)` lent
    /// (an I/O ring's pages: see `LENT`).
    pub fn lend(&mut self, vaddr: u64, pages: u64) {
        for i in 0..pages {
            let va = vaddr + i * PAGE_SIZE;
            let Some(pt) = self.walk(va, PageTableFlags::PRESENT) else { continue };
            let entry = &mut self.table_mut(pt)[index(va, 1)];
            if entry.flags().contains(PageTableFlags::PRESENT) {
                let flags = entry.flags() | LENT;
                entry.set_flags(flags);
            }
        }
    }

    /// Frees every user page and page table and credits their quotas. The
    /// space must not be the active one.
    pub fn destroy(mut self, charge: &mut impl Charge) {
        assert_ne!(Cr3::read().0, self.pml4, "destroying the active address space");
        let own = self.own_quota();
        let root = self.pml4;
        self.free_below(root, 4, own, charge);
        // SAFETY: the root table is unused now (not active, asserted above).
        unsafe { frame::free(root) };
        charge.credit(own);
    }

    /// Frees every page and table below table `t` (at `level`, 4 = the
    /// root, whose kernel half is left alone), crediting their quotas.
    fn free_below(&mut self, t: PhysFrame, level: u32, own: ObjectId, charge: &mut impl Charge) {
        let entries = if level == 4 { KERNEL_HALF } else { ENTRIES };
        for i in 0..entries {
            let entry = self.table(t)[i].clone();
            if !entry.flags().contains(PageTableFlags::PRESENT) {
                continue;
            }
            if level == 1 {
                self.free_leaf(&entry, charge);
            } else {
                let child = PhysFrame::containing_address(entry.addr());
                self.free_below(child, level - 1, own, charge);
                self.free_table(child, own, charge);
            }
        }
    }

    fn free_table(&mut self, table: PhysFrame, own: ObjectId, charge: &mut impl Charge) {
        // SAFETY: a page-table frame of this space that nothing points to
        // any more (its parent is being torn down).
        unsafe { frame::free(table) };
        self.quotas[OWN_QUOTA].frames -= 1;
        charge.credit(own);
    }

    /// Writes `data` at `vaddr` of this (possibly inactive) space through
    /// the physical window, page by page; the pages must be mapped.
    pub fn write_phys(&self, vaddr: u64, data: &[u8]) -> Result<(), Error> {
        let mut done = 0usize;
        while done < data.len() {
            let va = vaddr + done as u64;
            let room = (PAGE_SIZE - va % PAGE_SIZE) as usize;
            let n = room.min(data.len() - done);
            // Kernel-side write: the user-mode permission does not matter.
            let pa = self.translate_any(va).ok_or(Error::BadAddress)?;
            // SAFETY: `pa` is a frame of this space, reached through the
            // physical window; `n` stays within its page.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    data[done..].as_ptr(),
                    phys_to_virt(pa).as_mut_ptr::<u8>(),
                    n,
                )
            };
            done += n;
        }
        Ok(())
    }

    /// The frame behind a page of this space, whatever its permissions.
    pub fn translate_any(&self, vaddr: u64) -> Option<PhysAddr> {
        let entry = &self.table(self.walk(vaddr, PageTableFlags::PRESENT)?)[index(vaddr, 1)];
        if !entry.flags().contains(PageTableFlags::PRESENT) {
            return None;
        }
        Some(entry.addr() + (vaddr & (PAGE_SIZE - 1)))
    }

    /// The frames this space holds on each quota (for the authority checks).
    #[allow(dead_code)]
    pub fn quota_slots(&self) -> &[QuotaSlot; QUOTA_SLOTS] {
        &self.quotas
    }
}
