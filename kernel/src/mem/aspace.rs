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
use x86_64::structures::paging::PhysFrame;

use super::{frame, phys_to_virt};

const ENTRIES: usize = 512;
/// PML4 entries from here up map the kernel half.
const KERNEL_HALF: usize = 256;

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const USER: u64 = 1 << 2;
const HUGE: u64 = 1 << 7;
const NO_EXECUTE: u64 = 1 << 63;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
/// Bits 9..12 of a leaf entry: the quota slot that paid for the frame.
const QUOTA_SHIFT: u64 = 9;
const QUOTA_MASK: u64 = 0b111 << QUOTA_SHIFT;
/// How many different quotas can pay for one address space's pages.
pub const QUOTA_SLOTS: usize = 8;
/// The slot of the process's own quota (page tables, stack, image).
pub const OWN_QUOTA: usize = 0;

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
    fn leaf_bits(self) -> u64 {
        match self {
            Access::Read => PRESENT | USER | NO_EXECUTE,
            Access::ReadWrite => PRESENT | USER | WRITABLE | NO_EXECUTE,
            Access::ReadExec => PRESENT | USER,
        }
    }
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
pub struct AddressSpace {
    pml4: PhysFrame,
    quotas: [QuotaSlot; QUOTA_SLOTS],
}

fn table(phys: u64) -> *mut [u64; ENTRIES] {
    phys_to_virt(PhysAddr::new(phys)).as_mut_ptr()
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
    let (boot, _) = Cr3::read();
    let pml4 = table(boot.start_address().as_u64());
    for i in KERNEL_HALF..ENTRIES {
        // SAFETY: boot, before any process exists: the boot PML4 is ours
        // alone, reached through the physical window.
        let entry = unsafe { &mut (*pml4)[i] };
        if *entry & PRESENT == 0 {
            let f = frame::alloc_zeroed().expect("memory for the kernel's page tables");
            *entry = f.start_address().as_u64() | PRESENT | WRITABLE;
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
        let (boot, _) = Cr3::read();
        let src = table(boot.start_address().as_u64());
        let dst = table(pml4.start_address().as_u64());
        // SAFETY: `dst` is a fresh frame only we know; `src` is the live
        // top-level table, whose kernel half never changes after `init`.
        unsafe { (&mut (*dst))[KERNEL_HALF..].copy_from_slice(&(&(*src))[KERNEL_HALF..]) };
        let mut quotas = [QuotaSlot::default(); QUOTA_SLOTS];
        quotas[OWN_QUOTA] = QuotaSlot { quota: Some(own_quota), frames: 1 };
        Ok(AddressSpace { pml4, quotas })
    }

    /// The value to load into CR3 to run in this space.
    pub fn root(&self) -> PhysFrame {
        self.pml4
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

    /// The leaf entry for `vaddr`, creating missing tables (charged to the
    /// own quota) when `create` is set.
    fn leaf(&mut self, vaddr: u64, create: Option<&mut dyn Charge>) -> Result<*mut u64, Error> {
        let own = self.own_quota();
        let mut charge = create;
        let mut t = table(self.pml4.start_address().as_u64());
        for level in [4, 3, 2] {
            // SAFETY: `t` is a page table of this address space (the root,
            // or reached from it through present entries we created).
            let entry = unsafe { &mut (*t)[index(vaddr, level)] };
            if *entry & PRESENT == 0 {
                let Some(c) = charge.as_deref_mut() else { return Err(Error::BadAddress) };
                c.charge(own)?;
                let Some(f) = frame::alloc_zeroed() else {
                    c.credit(own);
                    return Err(Error::OutOfMemory);
                };
                self.quotas[OWN_QUOTA].frames += 1;
                *entry = f.start_address().as_u64() | PRESENT | WRITABLE | USER;
            }
            t = table(*entry & ADDR_MASK);
        }
        // SAFETY: `t` is now the last-level table for `vaddr`.
        Ok(unsafe { &mut (*t)[index(vaddr, 1)] } as *mut u64)
    }

    /// Whether `vaddr`'s page is mapped.
    pub fn is_mapped(&mut self, vaddr: u64) -> bool {
        // SAFETY: `leaf` returned a pointer to a live entry of our table.
        self.leaf(vaddr, None).is_ok_and(|e| unsafe { *e } & PRESENT != 0)
    }

    /// Maps `pages` fresh zeroed pages at `vaddr`, charged to `quota`.
    /// On failure nothing stays mapped or charged (tables created on the
    /// way stay, charged to the own quota, and are reused later).
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
            return Err(Error::InvalidArgument);
        }
        let slot = self.quota_slot(quota)?;
        for i in 0..pages {
            if let Err(e) = self.map_one(vaddr + i * PAGE_SIZE, access, slot, charge) {
                for j in 0..i {
                    self.unmap_one(vaddr + j * PAGE_SIZE, charge);
                }
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
        let entry = self.leaf(vaddr, Some(charge))?;
        charge.charge(quota)?;
        let Some(f) = frame::alloc_zeroed() else {
            charge.credit(quota);
            return Err(Error::OutOfMemory);
        };
        self.quotas[slot].frames += 1;
        // SAFETY: `entry` points into our last-level table (see `leaf`).
        unsafe {
            *entry = f.start_address().as_u64() | access.leaf_bits() | (slot as u64) << QUOTA_SHIFT
        };
        Ok(())
    }

    /// Unmaps the page at `vaddr` if mapped, frees its frame and credits
    /// its quota. Returns whether a page was there.
    fn unmap_one(&mut self, vaddr: u64, charge: &mut impl Charge) -> bool {
        let Ok(entry) = self.leaf(vaddr, None) else { return false };
        // SAFETY: `entry` points into our last-level table (see `leaf`).
        let pte = unsafe { entry.replace(0) };
        if pte & PRESENT == 0 {
            return false;
        }
        if Cr3::read().0 == self.pml4 {
            x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(vaddr));
        }
        self.free_leaf(pte, charge);
        true
    }

    fn free_leaf(&mut self, pte: u64, charge: &mut impl Charge) {
        let slot = ((pte & QUOTA_MASK) >> QUOTA_SHIFT) as usize;
        let frame = PhysFrame::containing_address(PhysAddr::new(pte & ADDR_MASK));
        // SAFETY: the entry was this space's only reference to the frame,
        // which `map_one` took from the allocator; the entry is cleared.
        unsafe { frame::free(frame) };
        let s = &mut self.quotas[slot];
        s.frames -= 1;
        charge.credit(s.quota.expect("a mapped page's slot is in use"));
        self.release_slot_if_unused(slot);
    }

    /// Unmaps every mapped page in `[vaddr, vaddr + pages * PAGE_SIZE)`.
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
        Ok((0..pages).filter(|i| self.unmap_one(vaddr + i * PAGE_SIZE, charge)).count() as u64)
    }

    /// The physical frame behind a user page, if mapped with at least the
    /// given access from user mode.
    pub fn translate(&self, vaddr: u64, write: bool) -> Option<PhysAddr> {
        let need = PRESENT | USER | if write { WRITABLE } else { 0 };
        let mut t = table(self.pml4.start_address().as_u64());
        for level in [4, 3, 2, 1] {
            // SAFETY: `t` is a table of this address space.
            let entry = unsafe { (*t)[index(vaddr, level)] };
            if entry & need != need || (level > 1 && entry & HUGE != 0) {
                return None;
            }
            if level == 1 {
                return Some(PhysAddr::new((entry & ADDR_MASK) | (vaddr & (PAGE_SIZE - 1))));
            }
            t = table(entry & ADDR_MASK);
        }
        None
    }

    /// Frees every user page and page table and credits their quotas. The
    /// space must not be the active one.
    pub fn destroy(mut self, charge: &mut impl Charge) {
        assert_ne!(Cr3::read().0, self.pml4, "destroying the active address space");
        let own = self.own_quota();
        let root = table(self.pml4.start_address().as_u64());
        for i4 in 0..KERNEL_HALF {
            // SAFETY (all reads below): tables of this space, reached through
            // present entries; nothing else uses them any more.
            let e4 = unsafe { (*root)[i4] };
            if e4 & PRESENT == 0 {
                continue;
            }
            let pdpt = table(e4 & ADDR_MASK);
            for i3 in 0..ENTRIES {
                let e3 = unsafe { (*pdpt)[i3] };
                if e3 & PRESENT == 0 {
                    continue;
                }
                let pd = table(e3 & ADDR_MASK);
                for i2 in 0..ENTRIES {
                    let e2 = unsafe { (*pd)[i2] };
                    if e2 & PRESENT == 0 {
                        continue;
                    }
                    let pt = table(e2 & ADDR_MASK);
                    for i1 in 0..ENTRIES {
                        let e1 = unsafe { (*pt)[i1] };
                        if e1 & PRESENT != 0 {
                            self.free_leaf(e1, charge);
                        }
                    }
                    self.free_table(e2, own, charge);
                }
                self.free_table(e3, own, charge);
            }
            self.free_table(e4, own, charge);
        }
        let root = self.pml4;
        // SAFETY: the root table is unused now (not active, asserted above).
        unsafe { frame::free(root) };
        charge.credit(own);
    }

    fn free_table(&mut self, entry: u64, own: ObjectId, charge: &mut impl Charge) {
        // SAFETY: a page-table frame of this space that nothing points to
        // any more (its parent is being torn down).
        unsafe { frame::free(PhysFrame::containing_address(PhysAddr::new(entry & ADDR_MASK))) };
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
        let mut t = table(self.pml4.start_address().as_u64());
        for level in [4, 3, 2, 1] {
            // SAFETY: `t` is a table of this address space.
            let entry = unsafe { (*t)[index(vaddr, level)] };
            if entry & PRESENT == 0 {
                return None;
            }
            if level == 1 {
                return Some(PhysAddr::new((entry & ADDR_MASK) | (vaddr & (PAGE_SIZE - 1))));
            }
            t = table(entry & ADDR_MASK);
        }
        None
    }

    /// The frames this space holds on each quota (for the authority checks).
    #[allow(dead_code)]
    pub fn quota_slots(&self) -> &[QuotaSlot; QUOTA_SLOTS] {
        &self.quotas
    }
}
