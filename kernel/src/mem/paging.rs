//! Page tables, through the physical window.

use x86_64::VirtAddr;
use x86_64::registers::control::Cr3;
use x86_64::structures::paging::{OffsetPageTable, PageTable};

use super::phys_to_virt;

/// The page table this CPU is using now.
///
/// # Safety
/// The caller must not hold two of these at once, nor use one across a
/// change of CR3: each is a `&mut` to the live top-level table.
#[allow(dead_code)] // used by address spaces and the self tests
pub unsafe fn active() -> OffsetPageTable<'static> {
    let (frame, _) = Cr3::read();
    let table = phys_to_virt(frame.start_address()).as_mut_ptr::<PageTable>();
    let offset = phys_to_virt(x86_64::PhysAddr::new(0));
    // SAFETY: CR3 names a valid top-level table, mapped through the physical
    // window at `offset`; the caller guarantees this is the only reference.
    unsafe { OffsetPageTable::new(&mut *table, VirtAddr::new(offset.as_u64())) }
}
