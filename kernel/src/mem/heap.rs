//! The kernel heap: one physically contiguous block, reached through the
//! physical window, managed by `linked_list_allocator`.
//!
//! Taking one block at boot keeps the heap free of page-table work; the
//! fast paths (syscalls, IPC, disk requests) do not allocate, so a simple
//! first-fit allocator is fast enough for the rest.

use core::alloc::{GlobalAlloc, Layout};
use core::ops::Range;
use core::ptr::NonNull;
use linked_list_allocator::Heap;
use x86_64::PhysAddr;

use crate::sync::{LeafLock, bits};

use super::{PAGE_SIZE, phys_to_virt};

/// Size of the kernel heap.
pub const HEAP_SIZE: u64 = 16 * 1024 * 1024;

/// `linked_list_allocator`'s heap under a leaf lock (its own `LockedHeap`
/// is the same with a plain spin lock, outside the lock-order check).
struct KernelHeap(LeafLock<Heap>);

// SAFETY: `Heap` hands out blocks of its region that are not in use, of
// the layout asked for, and takes back only blocks it handed out (the
// caller's contract for `dealloc`); the lock makes each call exclusive.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.0.lock().allocate_first_fit(layout).map_or(core::ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(ptr) = NonNull::new(ptr) {
            // SAFETY: `ptr` was handed out by `alloc` with `layout` (the
            // `GlobalAlloc` contract).
            unsafe { self.0.lock().deallocate(ptr, layout) };
        }
    }
}

#[global_allocator]
static HEAP: KernelHeap = KernelHeap(LeafLock::new("heap", bits::HEAP, Heap::empty()));

/// Takes `HEAP_SIZE` bytes from the first usable region large enough and
/// makes it the kernel heap. Returns the physical range taken.
pub fn init(mut usable: impl Iterator<Item = Range<u64>>) -> Range<u64> {
    let block = usable
        .find_map(|r| {
            let start = r.start.max(0x10_0000).next_multiple_of(PAGE_SIZE);
            (start.checked_add(HEAP_SIZE)? <= r.end).then_some(start..start + HEAP_SIZE)
        })
        .expect("no usable memory region can hold the kernel heap");
    let virt = phys_to_virt(PhysAddr::new(block.start));
    // SAFETY: the block is usable RAM that the frame allocator will never
    // hand out (see `exclude`), mapped writable through the physical window,
    // and this runs once, before the first allocation.
    unsafe { HEAP.0.lock().init(virt.as_mut_ptr(), HEAP_SIZE as usize) };
    block
}

/// `region` without the part `taken` (zero, one or two ranges).
pub fn exclude(region: Range<u64>, taken: Range<u64>) -> impl Iterator<Item = Range<u64>> {
    let before = region.start..region.end.min(taken.start);
    let after = region.start.max(taken.end)..region.end;
    [before, after].into_iter().filter(|r| r.start < r.end)
}

/// Bytes of heap in use.
#[allow(dead_code)]
pub fn used() -> usize {
    HEAP.0.lock().used()
}
