//! The x86_64 processor: descriptor tables, traps, the syscall entry, the
//! local APIC, context switches, and small CPU helpers.

pub mod apic;
pub mod context;
pub mod cpu;
pub mod gdt;
pub mod mca;
pub mod percpu;
pub mod pit;
pub mod smp;
pub mod syscall;
pub mod trap;

/// Loads the GDT/TSS and the IDT. After this, every CPU exception is
/// reported instead of triple-faulting.
pub fn init() {
    gdt::init();
    trap::init();
}

/// Sets the CPU features and the syscall entry (after `init` and memory).
pub fn init_cpu() -> cpu::Features {
    let features = cpu::init();
    syscall::init();
    mca::init();
    features
}

/// Stops this CPU for good (interrupts off, `hlt` in a loop).
pub fn halt_forever() -> ! {
    x86_64::instructions::interrupts::disable();
    loop {
        x86_64::instructions::hlt();
    }
}
