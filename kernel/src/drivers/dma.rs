//! Memory the devices read and write: a physically contiguous pool, and
//! the `virtio-drivers` `Hal` over it.
//!
//! The pool is one block of RAM set aside at boot (like the heap) and
//! handed out in whole pages by a first-fit bitmap. Device rings, request
//! headers and the bounce buffers of asynchronous requests come from it.
//! Synchronous requests go straight to the user's frames (see
//! `syscall/disk.rs`): every buffer the device sees lives in the physical
//! window, so its device address is its kernel address minus the window's
//! offset.
//!
//! Drivers are trusted code. Without an IOMMU nothing confines a device's
//! DMA: a buggy driver could let the device write anywhere.

use crate::sync::{LeafLock, bits};
use core::ops::Range;
use core::ptr::NonNull;
use kerncore::pagepool::PagePool;
use virtio_drivers::{BufferDirection, Hal, PhysAddr as DevAddr};
use x86_64::PhysAddr;

use crate::mem::{PAGE_SIZE, phys_to_virt};

/// Pages in the DMA pool (4 MiB).
pub const POOL_PAGES: usize = 1024;

/// The pool's bookkeeping (which pages are in use): [`kerncore::pagepool`],
/// tested on the host. One bit a page, 64 to a word.
type Pool = PagePool<{ POOL_PAGES / 64 }>;

const _: () = assert!(Pool::PAGES == POOL_PAGES);

static POOL: LeafLock<Pool> = LeafLock::new("dma pool", bits::DMA, Pool::new());

/// Hands the pool its physical block (`POOL_PAGES` pages, page-aligned).
pub fn init(block: Range<u64>) {
    assert_eq!(block.end - block.start, POOL_PAGES as u64 * PAGE_SIZE);
    POOL.lock().set_base(block.start);
}

/// Takes `pages` contiguous pages, their bytes left as they are (what an
/// earlier buffer held); returns their physical address. For buffers whose
/// every byte shown to anyone is written first (bounce buffers): zeroing
/// 4 KiB costs more than the rest of a request under emulation (`rep
/// stos`, ~6,000 cycles measured).
pub fn alloc_unzeroed(pages: usize) -> Option<u64> {
    POOL.lock().alloc(pages)
}

/// Takes `pages` contiguous zeroed pages; returns their physical address.
pub fn alloc(pages: usize) -> Option<u64> {
    let phys = alloc_unzeroed(pages)?;
    // SAFETY: the pages were free in the pool, which nothing else uses;
    // the physical window maps them writable.
    unsafe {
        phys_to_virt(PhysAddr::new(phys))
            .as_mut_ptr::<u8>()
            .write_bytes(0, pages * PAGE_SIZE as usize)
    };
    Some(phys)
}

/// Gives back pages from [`alloc`]. Pages outside the pool, or not in use,
/// are a kernel bug: logged and left alone, rather than marking free pages
/// a device may still be using for another buffer.
pub fn free(phys: u64, pages: usize) {
    // The guard goes before the log takes the console's lock (one leaf
    // lock at a time: `sync`).
    let freed = POOL.lock().free(phys, pages);
    if let Err(e) = freed {
        log::error!("DMA pool: freeing {pages} pages at {phys:#x} refused: {e:?}");
    }
}

/// Pages of the pool not in use now.
pub fn free_pages() -> usize {
    POOL_PAGES - POOL.lock().used_pages()
}

/// The device address of kernel memory in the physical window.
pub fn device_address(virt: *const u8) -> u64 {
    let offset = phys_to_virt(PhysAddr::new(0)).as_u64();
    let v = virt as u64;
    assert!(v >= offset, "DMA buffer outside the physical window: {v:#x}");
    v - offset
}

/// The `Hal` the virtio drivers use.
pub struct KernelHal;

// SAFETY: `dma_alloc` returns zeroed, page-aligned pages that nothing else
// uses until `dma_dealloc`; `share` returns the device address of memory in
// the physical window (the only memory drivers give devices).
unsafe impl Hal for KernelHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (DevAddr, NonNull<u8>) {
        let phys = alloc(pages).expect("DMA pool exhausted while setting a device up");
        let virt = NonNull::new(phys_to_virt(PhysAddr::new(phys)).as_mut_ptr()).expect("non-null");
        (phys, virt)
    }

    unsafe fn dma_dealloc(paddr: DevAddr, _vaddr: NonNull<u8>, pages: usize) -> i32 {
        free(paddr, pages);
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: DevAddr, size: usize) -> NonNull<u8> {
        let virt = crate::mem::paging::map_device_memory(paddr, size as u64)
            .expect("page tables for device memory at boot");
        NonNull::new(virt.as_mut_ptr()).expect("non-null")
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> DevAddr {
        device_address(buffer.as_ptr() as *const u8)
    }

    unsafe fn unshare(_paddr: DevAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}
