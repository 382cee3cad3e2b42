//! The per-CPU area: one small block per CPU, reached through the GS base.
//!
//! Each CPU's `IA32_GS_BASE` points to its own [`PerCpu`] whenever it runs
//! kernel code, whose first field points to itself, so a GS-relative load
//! (`mov rax, gs:[0]`) answers "which CPU am I". The boot CPU gets its
//! area right after the heap exists, each application processor as it
//! comes up (`arch::smp`).
//!
//! Every entry from user mode swaps to it, and every return to user mode
//! swaps back (`swapgs`, Intel SDM vol. 2B): the `syscall` entry
//! (`arch::syscall`), and every interrupt and exception stub whose saved
//! CS says ring 3 (`arch::trap`). While the kernel runs, the process's GS
//! base waits in `IA32_KERNEL_GS_BASE`; whatever a process does to GS (load
//! a selector, which sets the base from the descriptor; `wrgsbase` is
//! off, see `arch::cpu`) changes only its own base. NMI, machine check and
//! double fault may arrive between an entry and its `swapgs`, so they do
//! not trust the saved CS: they read `IA32_GS_BASE`, compare it with this
//! CPU's area (whose address sits above their IST stack, see `arch::gdt`),
//! and put back what they found when they return.
//!
//! The `syscall` entry keeps its scratch here, at fixed offsets
//! ([`KERNEL_RSP_OFFSET`], [`USER_RSP_OFFSET`]) it reaches with `gs:`.

use alloc::boxed::Box;
use core::mem::offset_of;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use x86_64::VirtAddr;
use x86_64::registers::model_specific::{GsBase, KernelGsBase};

use super::gdt::Tss;

/// One CPU's area. `#[repr(C)]`: the entry code reads fields by offset
/// from GS (the `*_OFFSET` constants).
#[repr(C)]
pub struct PerCpu {
    /// This area's own address (what `gs:[0]` reads).
    self_ptr: *const PerCpu,
    /// Top of the kernel stack of the process this CPU runs: the `syscall`
    /// entry's stack (TSS.RSP0 holds the same for interrupts).
    kernel_rsp: AtomicU64,
    /// Where the `syscall` entry parks the user stack pointer while it
    /// switches stacks.
    user_rsp: AtomicU64,
    /// This CPU's TSS.
    tss: &'static Tss,
    /// The CPU's index: 0 for the boot CPU, then 1, 2... in the order the
    /// application processors came up.
    pub index: u32,
    /// The CPU's local APIC id.
    pub apic_id: u32,
}

/// Offset of the area's own address: 0, so `gs:[0]` is the area.
const SELF_OFFSET: usize = offset_of!(PerCpu, self_ptr);
const _: () = assert!(SELF_OFFSET == 0, "gs:[0] must be the area's address");
/// Offset of the current kernel stack's top (`gs:[KERNEL_RSP_OFFSET]`).
pub const KERNEL_RSP_OFFSET: usize = offset_of!(PerCpu, kernel_rsp);
/// Offset of the `syscall` entry's user stack pointer scratch word.
pub const USER_RSP_OFFSET: usize = offset_of!(PerCpu, user_rsp);

// SAFETY: `self_ptr`, `tss`, `index` and `apic_id` are never written after
// `install`; the rest are atomics, and only the CPU the area belongs to
// writes them.
unsafe impl Sync for PerCpu {}

impl PerCpu {
    /// Makes `top` the kernel stack for this CPU's next entry from user
    /// mode, by `syscall` and by interrupt (TSS.RSP0).
    ///
    /// Called by the CPU this area belongs to, with interrupts off.
    pub fn set_kernel_stack(&self, top: u64) {
        self.kernel_rsp.store(top, Ordering::Relaxed);
        self.tss.set_interrupt_stack(top);
    }
}

/// How many per-CPU areas were handed out (the next CPU index).
static NEXT_INDEX: AtomicU32 = AtomicU32::new(0);

/// The initial local APIC id of the calling CPU (CPUID leaf 1, EBX bits
/// 24..32; Intel SDM vol. 2A, CPUID), which needs no APIC mapping.
fn initial_apic_id() -> u32 {
    core::arch::x86_64::__cpuid(1).ebx >> 24
}

/// A per-CPU area for a CPU whose TSS is `tss`, not yet anyone's: made on
/// the boot CPU for each AP before it is started, so that an AP takes no
/// lock (the heap's) before it checks in, and an AP the boot CPU gives up
/// on (and resets with INIT) cannot die holding one.
pub fn allocate(tss: &'static Tss) -> &'static mut PerCpu {
    Box::leak(Box::new(PerCpu {
        self_ptr: core::ptr::null(),
        kernel_rsp: AtomicU64::new(0),
        user_rsp: AtomicU64::new(0),
        tss,
        index: 0,
        apic_id: 0,
    }))
}

/// Makes `area` the calling CPU's: numbers it, points the GS base at it and
/// its IST stacks' slots too (`Tss::publish_percpu`); the user GS base
/// (`IA32_KERNEL_GS_BASE`) starts at 0. Called once per CPU, in kernel
/// mode: by the boot CPU first (index 0), then by each application
/// processor. Takes no lock and allocates nothing.
pub fn install(area: &'static mut PerCpu) -> &'static PerCpu {
    area.index = NEXT_INDEX.fetch_add(1, Ordering::Relaxed);
    area.apic_id = initial_apic_id();
    area.self_ptr = area as *const PerCpu;
    let area: &'static PerCpu = area;
    GsBase::write(VirtAddr::from_ptr(area));
    KernelGsBase::write(VirtAddr::zero());
    area.tss.publish_percpu(area as *const PerCpu as u64);
    area
}

/// The calling CPU's area.
///
/// Kernel code only (every entry from user mode swaps to the kernel's GS
/// base), after `install` on this CPU; panics if the GS base names no area.
pub fn current() -> &'static PerCpu {
    let ptr: *const PerCpu;
    // SAFETY: in kernel code the GS base is this CPU's area (the entries
    // swap to it; `install` set it before any entry from user mode could
    // happen), whose first field is its own address; the load reads only
    // that word.
    unsafe {
        core::arch::asm!("mov {}, gs:[0]", out(reg) ptr, options(nostack, readonly, preserves_flags))
    };
    assert!(!ptr.is_null(), "percpu::install runs first on every CPU");
    // SAFETY: `install` leaked the area, so it lives for ever; its plain
    // fields are never written after `install`.
    unsafe { &*ptr }
}

/// Whether `IA32_GS_BASE` names a per-CPU area (a non-zero base whose
/// first word is its own address). Kernel code only: a base that names no
/// mapped memory faults (a kernel bug, reported).
#[cfg(feature = "selftest")]
pub fn gs_is_kernel() -> bool {
    let base = GsBase::read().as_u64();
    base != 0 && current() as *const PerCpu as u64 == base
}

/// Checks that the kernel's GS base is right on this CPU: `IA32_GS_BASE`
/// names an area whose APIC id is this CPU's (read from the local APIC,
/// not through GS), and the user's GS base (in `IA32_KERNEL_GS_BASE` while
/// the kernel runs) is not that area. The authority checks run it after
/// every syscall and timer tick in the test kernel; a process that changed
/// its GS selector or base must not be able to fail it.
#[cfg(feature = "authority-checks")]
pub fn check() -> Result<(), alloc::string::String> {
    use alloc::format;
    let base = GsBase::read().as_u64();
    let user = KernelGsBase::read().as_u64();
    if base == 0 {
        return Err(format!("GS base is 0 in the kernel (user GS base {user:#x})"));
    }
    let cpu = current();
    if cpu as *const PerCpu as u64 != base {
        return Err(format!("gs:[0] is {:#x}, GS base {base:#x}", cpu as *const PerCpu as u64));
    }
    let apic = u32::from(super::apic::id());
    if cpu.apic_id != apic {
        return Err(format!(
            "GS names CPU {} (APIC id {}), running on APIC id {apic}",
            cpu.index, cpu.apic_id
        ));
    }
    if user == base {
        return Err(format!("the user GS base is the kernel's area {base:#x}"));
    }
    Ok(())
}
