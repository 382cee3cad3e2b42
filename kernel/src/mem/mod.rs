//! Physical memory: the frame allocator, the kernel heap, and page tables.
//!
//! The bootloader maps all of physical memory at one offset in the upper
//! half (the "physical window"); the kernel reaches any frame through it.

pub mod aspace;
pub mod builtins;
pub mod copy;
pub mod frame;
pub mod heap;
pub mod paging;
pub mod user;

use bootloader_api::BootInfo;
use bootloader_api::info::MemoryRegionKind;
use spin::Once;
use x86_64::{PhysAddr, VirtAddr};

/// Size of a page and of a physical frame.
pub const PAGE_SIZE: u64 = 4096;

static PHYS_OFFSET: Once<u64> = Once::new();

/// The virtual address at which physical address `phys` is mapped.
pub fn phys_to_virt(phys: PhysAddr) -> VirtAddr {
    let offset = *PHYS_OFFSET.get().expect("mem::init runs first at boot");
    VirtAddr::new(offset + phys.as_u64())
}

/// What `init` found and set up, for the boot log.
pub struct Summary {
    usable_bytes: u64,
    regions: usize,
    heap_bytes: u64,
    phys_offset: u64,
    /// The physical range set aside for device DMA (kept out of the frame
    /// allocator; `drivers::dma` manages it).
    pub dma: core::ops::Range<u64>,
}

impl Summary {
    /// Prints the memory summary line.
    pub fn log(&self) {
        log::info!(
            "memory: {} MiB usable in {} regions; {} frames free ({} MiB); kernel heap {} KiB; physical window at {:#x}",
            self.usable_bytes >> 20,
            self.regions,
            frame::free_frames(),
            (frame::free_frames() * PAGE_SIZE) >> 20,
            self.heap_bytes >> 10,
            self.phys_offset,
        );
    }
}

/// Sets up the frame allocator and the kernel heap from the boot memory
/// map, and sets aside `dma_pages` contiguous pages (above 1 MiB) for
/// device DMA, which the summary names (`Summary::dma`) and the frame
/// allocator never hands out.
pub fn init(boot_info: &BootInfo, dma_pages: usize) -> Summary {
    let phys_offset = boot_info
        .physical_memory_offset
        .into_option()
        .expect("the bootloader config asks for the physical memory window");
    PHYS_OFFSET.call_once(|| phys_offset);

    let usable = || {
        boot_info
            .memory_regions
            .iter()
            .filter(|r| r.kind == MemoryRegionKind::Usable)
            .map(|r| r.start..r.end)
    };
    let usable_bytes = usable().map(|r| r.end - r.start).sum();
    let regions = usable().count();
    let heap = heap::init(usable());
    let dma_bytes = dma_pages as u64 * PAGE_SIZE;
    let dma = usable()
        .flat_map(|r| heap::exclude(r, heap.clone()))
        .find_map(|r| {
            let start = r.start.max(0x10_0000).next_multiple_of(PAGE_SIZE);
            (start.checked_add(dma_bytes)? <= r.end).then_some(start..start + dma_bytes)
        })
        .expect("no usable memory region can hold the DMA pool");
    frame::init(
        usable()
            .flat_map(|r| heap::exclude(r, heap.clone()))
            .flat_map(|r| heap::exclude(r, dma.clone())),
    );
    Summary { usable_bytes, regions, heap_bytes: heap.end - heap.start, phys_offset, dma }
}
