//! Per-process kernel stacks.
//!
//! Each process has its own kernel stack, so a process can block inside a
//! syscall while others run. The stacks live in a reserved region of the
//! kernel half, one fixed-size slot each, and every slot begins with an
//! unmapped guard page: a kernel stack overflow faults (and is reported as
//! a double fault) instead of silently overwriting a neighbour.

use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::VirtAddr;
use x86_64::structures::paging::{Mapper, Page, PageTableFlags, Size4KiB};

use crate::mem::{PAGE_SIZE, frame, paging};

/// Where the kernel-stack slots start (PML4 entry 508, unused by the
/// bootloader's placements, which start at the bottom of the upper half).
const REGION_BASE: u64 = 0xffff_fe00_0000_0000;
/// Most processes (and so kernel stacks) at once.
pub const MAX_STACKS: usize = 512;
/// Usable pages per stack.
pub const STACK_PAGES: u64 = 8;
/// Bytes between the starts of two slots: guard page + stack, rounded up.
const SLOT_STRIDE: u64 = 64 * 1024;

const _: () = assert!((STACK_PAGES + 1) * PAGE_SIZE <= SLOT_STRIDE);

/// Which slots are in use, a bit each.
static USED: [AtomicU64; MAX_STACKS / 64] = [const { AtomicU64::new(0) }; MAX_STACKS / 64];
/// The saved stack pointer of each slot's context while it is switched out.
static SAVED_RSP: [AtomicU64; MAX_STACKS] = [const { AtomicU64::new(0) }; MAX_STACKS];

/// A mapped kernel stack; freed with [`KernelStack::free`].
#[derive(Debug)]
pub struct KernelStack {
    slot: usize,
}

/// Whether the boot page table maps nothing in the kernel-stack region
/// (checked at boot, before `mem::aspace::init` fills the kernel half).
pub fn region_is_free() -> bool {
    // SAFETY: boot, before any other page-table user.
    let table = unsafe { paging::active() };
    let index = ((REGION_BASE >> 39) & 0x1ff) as usize;
    table.level_4_table()[index].is_unused()
}

impl KernelStack {
    /// Takes a free slot and maps its stack pages. `None` when every slot
    /// is taken or memory ran out.
    pub fn new() -> Option<KernelStack> {
        let slot = take_slot()?;
        let stack = KernelStack { slot };
        // SAFETY: only the kernel-stack code maps pages in this region, and
        // this slot is ours.
        let mut table = unsafe { paging::active() };
        for i in 0..STACK_PAGES {
            let page =
                Page::<Size4KiB>::containing_address(VirtAddr::new(stack.bottom() + i * PAGE_SIZE));
            // Zeroed, though nothing reads a stack before writing it: under
            // emulation, a frame that last held a program's code keeps
            // QEMU's translated blocks for it, and until a write covers
            // them every store to the page takes QEMU's slow path (its
            // self-modifying-code check). A kernel stack is stored to on
            // every syscall; on such frames, yields measured 3-7x slower
            // (docs/architecture.md, "Scheduling"). Writing the whole page
            // once drops the stale blocks.
            let Some(f) = frame::alloc_zeroed() else {
                stack.free();
                return None;
            };
            let flags =
                PageTableFlags::PRESENT | PageTableFlags::WRITABLE | PageTableFlags::NO_EXECUTE;
            // SAFETY: the page is in our slot, unmapped; the frame is fresh.
            match unsafe { table.map_to(page, f, flags, &mut frame::GlobalFrames) } {
                Ok(flush) => flush.flush(),
                Err(_) => {
                    // SAFETY: the frame was not mapped; nothing uses it.
                    unsafe { frame::free(f) };
                    stack.free();
                    return None;
                }
            }
        }
        Some(stack)
    }

    fn bottom(&self) -> u64 {
        REGION_BASE + self.slot as u64 * SLOT_STRIDE + PAGE_SIZE
    }

    /// The top of the stack (16-byte aligned; the stack grows down from it).
    pub fn top(&self) -> u64 {
        self.bottom() + STACK_PAGES * PAGE_SIZE
    }

    /// Where this stack's context keeps its stack pointer while switched out.
    pub fn saved_rsp(&self) -> *mut u64 {
        SAVED_RSP[self.slot].as_ptr()
    }

    /// Unmaps the stack and frees its frames and slot. The stack must not
    /// be in use (not the one we are running on, nor one switched out).
    pub fn free(self) {
        // SAFETY: as in `new`; the slot is ours and unused.
        let mut table = unsafe { paging::active() };
        for i in 0..STACK_PAGES {
            let page =
                Page::<Size4KiB>::containing_address(VirtAddr::new(self.bottom() + i * PAGE_SIZE));
            if let Ok((f, flush)) = table.unmap(page) {
                flush.flush();
                // SAFETY: unmapped just now; it was this stack's own frame.
                unsafe { frame::free(f) };
            }
        }
        USED[self.slot / 64].fetch_and(!(1 << (self.slot % 64)), Ordering::Relaxed);
    }
}

fn take_slot() -> Option<usize> {
    for (w, word) in USED.iter().enumerate() {
        let bits = word.load(Ordering::Relaxed);
        if bits != u64::MAX {
            let bit = (!bits).trailing_zeros() as usize;
            word.fetch_or(1 << bit, Ordering::Relaxed);
            return Some(w * 64 + bit);
        }
    }
    None
}
