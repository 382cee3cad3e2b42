//! The physical frame allocator.
//!
//! `kerncore::framemap` keeps one bit per frame over the span of usable RAM
//! and hands frames out next fit: each allocation takes the first free
//! frame after the last one handed out. Consecutive allocations therefore
//! get ascending, adjacent frames wherever free runs exist, whatever order
//! frames were freed in, so a program's buffers map to few DMA segments
//! (`diskio` merges adjacent pages) no matter what ran before it (issue 13;
//! a LIFO free list handed a second program its frames in reverse). Free is
//! O(1); alloc scans 64 frames per word and is O(1) amortised.
//!
//! The bitmap (2 bits per frame of the span: free, usable) is carved at
//! boot out of the first usable region large enough, and never handed out.
//! A free the bitmap refuses (a double free, a frame that is not usable
//! RAM) is a kernel bug: it is logged and changes nothing.

use crate::sync::{LeafLock, bits};
use core::ops::Range;
use kerncore::framemap::{FrameMap, FreeError, LOW_MEMORY_END};
use x86_64::PhysAddr;
use x86_64::structures::paging::{FrameAllocator, PhysFrame, Size4KiB};

use super::{PAGE_SIZE, heap, phys_to_virt};

/// How many usable regions the allocator tracks (after merging adjacent
/// ones); the rest are ignored and logged. BIOS maps have a handful; UEFI
/// maps split memory into many pieces, most of them adjacent.
const MAX_REGIONS: usize = 64;

/// The free frames; `None` until [`init`].
static FRAMES: LeafLock<Option<FrameMap<'static>>> = LeafLock::new("frames", bits::FRAMES, None);

/// Hands the allocator the usable physical ranges (without the kernel heap
/// and the DMA pool). Runs once, at boot.
pub fn init(usable: impl Iterator<Item = Range<u64>>) {
    let mut regions = [const { 0..0 }; MAX_REGIONS];
    let mut count: usize = 0;
    for r in usable {
        let start = r.start.max(LOW_MEMORY_END).next_multiple_of(PAGE_SIZE);
        let end = r.end & !(PAGE_SIZE - 1);
        if start >= end {
            continue;
        }
        if let Some(last) = count.checked_sub(1).map(|i| &mut regions[i])
            && last.end == start
        {
            last.end = end;
            continue;
        }
        if count == MAX_REGIONS {
            log::warn!(
                "frame allocator: memory region {start:#x}..{end:#x} ignored (too many regions)"
            );
            continue;
        }
        regions[count] = start..end;
        count += 1;
    }
    let regions = &regions[..count];
    let span = regions.iter().map(|r| r.start).min().expect("usable memory above 1 MiB")
        ..regions.iter().map(|r| r.end).max().expect("usable memory above 1 MiB");
    let words = FrameMap::words_for(&span);
    let bytes = (words as u64 * 8).next_multiple_of(PAGE_SIZE);
    let bitmap = regions
        .iter()
        .find(|r| r.end - r.start >= bytes)
        .map(|r| r.start..r.start + bytes)
        .expect("no usable memory region can hold the frame bitmap");

    let mut frames = FRAMES.lock();
    assert!(frames.is_none(), "frame::init runs once");
    // SAFETY: `bitmap` is page-aligned usable RAM (so aligned for u64),
    // mapped writable through the physical window, outside the heap and the
    // DMA pool (the caller left them out of `usable`) and never marked
    // usable below, so nothing else ever refers to it; this runs once (just
    // checked, under the lock), so the slice is the only reference. Any bit
    // pattern is a valid u64.
    let storage: &'static mut [u64] = unsafe {
        core::slice::from_raw_parts_mut(
            phys_to_virt(PhysAddr::new(bitmap.start)).as_mut_ptr::<u64>(),
            words,
        )
    };
    let mut map = FrameMap::new(storage, span).expect("the bitmap is sized for its span");
    for r in regions {
        for part in heap::exclude(r.clone(), bitmap.clone()) {
            map.add_usable(part);
        }
    }
    *frames = Some(map);
}

/// Takes one frame; its contents are whatever was there.
pub fn alloc() -> Option<PhysFrame> {
    let addr = FRAMES.lock().as_mut()?.alloc()?;
    Some(PhysFrame::containing_address(PhysAddr::new(addr)))
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

/// Gives a frame back. A frame already free or not usable RAM is refused
/// and logged as a kernel bug; nothing changes.
///
/// # Safety
/// 1. `frame` came from [`alloc`] and has not been freed since;
/// 2. nothing (no mapping, no kernel pointer) uses it any more.
///
/// A breach of (1) is caught (see above); a breach of (2) is not: the frame
/// would be handed out again while still in use.
#[allow(dead_code)] // address spaces free their frames
pub unsafe fn free(frame: PhysFrame) {
    let addr = frame.start_address().as_u64();
    let result = FRAMES.lock().as_mut().map_or(Err(FreeError::NotUsable), |m| m.free(addr));
    if let Err(e) = result {
        log::error!("frame allocator: freeing frame {addr:#x} refused: {e:?}");
    }
}

/// How many frames are free now.
pub fn free_frames() -> u64 {
    FRAMES.lock().as_ref().map_or(0, |m| m.free_count())
}

/// The allocator as the `x86_64` crate's page-table code wants it.
pub struct GlobalFrames;

// SAFETY: `alloc` hands out each frame once until it is freed.
unsafe impl FrameAllocator<Size4KiB> for GlobalFrames {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        alloc_zeroed()
    }
}
