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
pub unsafe fn active() -> OffsetPageTable<'static> {
    let (frame, _) = Cr3::read();
    let table = phys_to_virt(frame.start_address()).as_mut_ptr::<PageTable>();
    let offset = phys_to_virt(x86_64::PhysAddr::new(0));
    // SAFETY: CR3 names a valid top-level table, mapped through the physical
    // window at `offset`; the caller guarantees this is the only reference.
    unsafe { OffsetPageTable::new(&mut *table, VirtAddr::new(offset.as_u64())) }
}

/// Device memory (a PCI BAR) at `phys`, `len` bytes, reached through the
/// physical window. The bootloader maps the window only over the memory
/// map's regions; firmware may place BARs far above them (OVMF puts 64-bit
/// BARs in an aperture above all RAM), so any page of the range the window
/// lacks is mapped here, uncached, writable, never executable. Called at
/// boot, before any address space copies the kernel half.
///
/// Errors: `None` if a page table could not be allocated.
pub fn map_device_memory(phys: u64, len: u64) -> Option<VirtAddr> {
    use x86_64::structures::paging::mapper::{MapToError, Translate};
    use x86_64::structures::paging::{Mapper, Page, PageTableFlags, PhysFrame, Size4KiB};

    let first = phys & !(super::PAGE_SIZE - 1);
    let end = phys.checked_add(len.max(1))?;
    // SAFETY: boot code, one CPU, interrupts off: no other reference to
    // the live table exists while this one is used.
    let mut table = unsafe { active() };
    let flags = PageTableFlags::PRESENT
        | PageTableFlags::WRITABLE
        | PageTableFlags::NO_CACHE
        | PageTableFlags::WRITE_THROUGH
        | PageTableFlags::NO_EXECUTE;
    let mut at = first;
    while at < end {
        let virt = phys_to_virt(x86_64::PhysAddr::new(at));
        if table.translate_addr(virt).is_none() {
            let page = Page::<Size4KiB>::containing_address(virt);
            let frame = PhysFrame::containing_address(x86_64::PhysAddr::new(at));
            // SAFETY: maps device registers at the window's own offset, a
            // virtual address nothing else uses (it was unmapped), to
            // memory that is not RAM the frame allocator could hand out.
            match unsafe { table.map_to(page, frame, flags, &mut super::frame::GlobalFrames) } {
                Ok(flush) => flush.flush(),
                Err(MapToError::PageAlreadyMapped(_)) => {}
                Err(_) => return None,
            }
        }
        at += super::PAGE_SIZE;
    }
    Some(phys_to_virt(x86_64::PhysAddr::new(phys)))
}
