//! The global allocator: a first-fit heap (`linked_list_allocator`) at
//! `HEAP_BASE`, grown on demand with `mem_map` on the process's `memory`
//! capability.

use caps::abi::RawHandle;
use caps::abi::args::MAP_WRITE;
use caps::abi::layout::{HEAP_BASE, MAP_END, PAGE_SIZE};
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use linked_list_allocator::Heap;
use spin::Mutex;

use crate::Start;

/// The least the heap grows by at a time.
const GROW_MIN: u64 = 256 * 1024;

struct Grower {
    heap: Heap,
    memory: Option<RawHandle>,
    /// End of the mapped heap.
    top: u64,
}

struct Allocator(Mutex<Grower>);

#[global_allocator]
static ALLOCATOR: Allocator =
    Allocator(Mutex::new(Grower { heap: Heap::empty(), memory: None, top: HEAP_BASE }));

/// Remembers the `memory` handle the heap grows from.
pub fn init(start: &Start) {
    ALLOCATOR.0.lock().memory = start.raw("memory");
}

impl Grower {
    fn grow(&mut self, at_least: u64) -> bool {
        let Some(memory) = self.memory else { return false };
        let len = at_least.max(GROW_MIN).next_multiple_of(PAGE_SIZE);
        if self.top.checked_add(len).is_none_or(|end| end > MAP_END) {
            return false;
        }
        if super::mem_map(memory, self.top, len, MAP_WRITE).is_err() {
            return false;
        }
        if self.top == HEAP_BASE {
            // SAFETY: [HEAP_BASE, HEAP_BASE + len) was just mapped writable
            // and nothing else uses it.
            unsafe { self.heap.init(HEAP_BASE as *mut u8, len as usize) };
        } else {
            // SAFETY: the new pages start exactly at the heap's top.
            unsafe { self.heap.extend(len as usize) };
        }
        self.top += len;
        true
    }
}

// SAFETY: allocations come from `linked_list_allocator`, which hands out
// disjoint blocks of the requested layout; the lock serialises access.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut g = self.0.lock();
        loop {
            if let Ok(p) = g.heap.allocate_first_fit(layout) {
                return p.as_ptr();
            }
            let need = (layout.size() + layout.align()) as u64 + PAGE_SIZE;
            if !g.grow(need) {
                return core::ptr::null_mut();
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(p) = NonNull::new(ptr) {
            // SAFETY: `ptr` came from `alloc` with this layout.
            unsafe { self.0.lock().heap.deallocate(p, layout) };
        }
    }
}
