//! The x86_64 processor: descriptor tables, traps, and small CPU helpers.

pub mod gdt;
pub mod trap;

/// Loads the GDT/TSS and the IDT. After this, every CPU exception is
/// reported instead of triple-faulting.
pub fn init() {
    gdt::init();
    trap::init();
}

/// Stops this CPU for good (interrupts off, `hlt` in a loop).
pub fn halt_forever() -> ! {
    x86_64::instructions::interrupts::disable();
    loop {
        x86_64::instructions::hlt();
    }
}
