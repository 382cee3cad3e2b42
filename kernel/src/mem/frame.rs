//! The physical frame allocator.
//!
//! Frames never handed out yet are taken in order from the usable regions
//! of the boot memory map (a bump pointer per region); freed frames go on an
//! intrusive free list threaded through the frames themselves (each free
//! frame's first word holds the address of the next). Both are O(1).

use core::ops::Range;
use spin::Mutex;
use x86_64::PhysAddr;
use x86_64::structures::paging::{FrameAllocator, PhysFrame, Size4KiB};

use super::{PAGE_SIZE, phys_to_virt};

/// How many usable regions the allocator tracks (after merging adjacent
/// ones); the rest are ignored and logged. BIOS maps have a handful; UEFI
/// maps split memory into many pieces, most of them adjacent.
const MAX_REGIONS: usize = 64;
/// Frames below 1 MiB hold BIOS data and are never used.
const LOW_MEMORY_END: u64 = 0x10_0000;

/// End-of-list marker for the free list (never a valid frame: below 1 MiB).
const NIL: u64 = 0;

struct Allocator {
    regions: [Range<u64>; MAX_REGIONS],
    region_count: usize,
    /// Regions before this index are used up.
    current: usize,
    free_head: u64,
    free_count: u64,
}

static ALLOCATOR: Mutex<Allocator> = Mutex::new(Allocator {
    regions: [const { 0..0 }; MAX_REGIONS],
    region_count: 0,
    current: 0,
    free_head: NIL,
    free_count: 0,
});

/// Hands the allocator the usable physical ranges.
pub fn init(usable: impl Iterator<Item = Range<u64>>) {
    let mut a = ALLOCATOR.lock();
    for r in usable {
        let start = r.start.max(LOW_MEMORY_END).next_multiple_of(PAGE_SIZE);
        let end = r.end & !(PAGE_SIZE - 1);
        if start >= end {
            continue;
        }
        if let Some(last) = a.region_count.checked_sub(1).map(|i| &mut a.regions[i])
            && last.end == start
        {
            last.end = end;
            a.free_count += (end - start) / PAGE_SIZE;
            continue;
        }
        if a.region_count == MAX_REGIONS {
            log::warn!(
                "frame allocator: memory region {start:#x}..{end:#x} ignored (too many regions)"
            );
            continue;
        }
        let n = a.region_count;
        a.regions[n] = start..end;
        a.region_count += 1;
        a.free_count += (end - start) / PAGE_SIZE;
    }
}

/// Takes one frame; its contents are whatever was there.
pub fn alloc() -> Option<PhysFrame> {
    let mut a = ALLOCATOR.lock();
    if a.free_head != NIL {
        let frame = a.free_head;
        // SAFETY: `frame` is on the free list, so it is ours and its first
        // word holds the next entry (written by `free`).
        a.free_head = unsafe { phys_to_virt(PhysAddr::new(frame)).as_ptr::<u64>().read() };
        a.free_count -= 1;
        return Some(PhysFrame::containing_address(PhysAddr::new(frame)));
    }
    while a.current < a.region_count {
        let i = a.current;
        let r = &mut a.regions[i];
        if r.start < r.end {
            let frame = r.start;
            r.start += PAGE_SIZE;
            a.free_count -= 1;
            return Some(PhysFrame::containing_address(PhysAddr::new(frame)));
        }
        a.current += 1;
    }
    None
}

/// Takes one frame filled with zeros.
pub fn alloc_zeroed() -> Option<PhysFrame> {
    let frame = alloc()?;
    // SAFETY: the frame was just taken from the allocator, so nothing else
    // refers to it; the physical window maps it writable.
    unsafe {
        phys_to_virt(frame.start_address()).as_mut_ptr::<u8>().write_bytes(0, PAGE_SIZE as usize);
    }
    Some(frame)
}

/// Gives a frame back.
///
/// # Safety
/// 1. `frame` came from [`alloc`] and has not been freed since;
/// 2. nothing (no mapping, no kernel pointer) uses it any more.
#[allow(dead_code)] // address spaces free their frames
pub unsafe fn free(frame: PhysFrame) {
    let mut a = ALLOCATOR.lock();
    let addr = frame.start_address();
    // SAFETY: by (1) and (2) the frame is ours alone; its first word now
    // links the free list.
    unsafe { phys_to_virt(addr).as_mut_ptr::<u64>().write(a.free_head) };
    a.free_head = addr.as_u64();
    a.free_count += 1;
}

/// How many frames are free now.
pub fn free_frames() -> u64 {
    ALLOCATOR.lock().free_count
}

/// The allocator as the `x86_64` crate's page-table code wants it.
pub struct GlobalFrames;

// SAFETY: `alloc` hands out each frame once until it is freed.
unsafe impl FrameAllocator<Size4KiB> for GlobalFrames {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        alloc_zeroed()
    }
}
