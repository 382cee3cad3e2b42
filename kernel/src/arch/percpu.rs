//! The per-CPU area: one small block per CPU, reached through the GS base.
//!
//! Each CPU's `IA32_GS_BASE` points to its own [`PerCpu`], whose first
//! field points to itself, so a GS-relative load (`mov rax, gs:[0]`)
//! answers "which CPU am I". The boot CPU gets its area right after the heap exists,
//! each application processor as it comes up (`arch::smp`).
//!
//! Not yet: the entries from user mode do not `swapgs`. A process can load
//! a segment selector into GS, which on x86_64 sets the GS base too (to 0),
//! so on the boot CPU, where processes run, [`current`] is only trustworthy
//! until the first process starts; nothing calls it after that yet. The
//! application processors never run user code. Making the entries swap to
//! the kernel's GS base is the next step of SMP (`docs/architecture.md`).

use alloc::boxed::Box;
use core::sync::atomic::{AtomicU32, Ordering};
use x86_64::VirtAddr;
use x86_64::registers::model_specific::GsBase;

/// One CPU's area. `#[repr(C)]`: the first field is read by offset 0 from
/// GS.
#[repr(C)]
#[derive(Debug)]
pub struct PerCpu {
    /// This area's own address (what `gs:[0]` reads).
    self_ptr: *const PerCpu,
    /// The CPU's index: 0 for the boot CPU, then 1, 2... in the order the
    /// application processors came up.
    pub index: u32,
    /// The CPU's local APIC id.
    pub apic_id: u32,
}

// SAFETY: the area is never written after `install`; the raw pointer is
// only its own address.
unsafe impl Sync for PerCpu {}

/// How many per-CPU areas were handed out (the next CPU index).
static NEXT_INDEX: AtomicU32 = AtomicU32::new(0);

/// The initial local APIC id of the calling CPU (CPUID leaf 1, EBX bits
/// 24..32; Intel SDM vol. 2A, CPUID), which needs no APIC mapping.
fn initial_apic_id() -> u32 {
    core::arch::x86_64::__cpuid(1).ebx >> 24
}

/// Makes a per-CPU area for the calling CPU and points its GS base at it.
/// Called once per CPU: by the boot CPU first (index 0), then by each
/// application processor.
pub fn install() -> &'static PerCpu {
    let index = NEXT_INDEX.fetch_add(1, Ordering::Relaxed);
    let area: &'static mut PerCpu = Box::leak(Box::new(PerCpu {
        self_ptr: core::ptr::null(),
        index,
        apic_id: initial_apic_id(),
    }));
    area.self_ptr = area as *const PerCpu;
    let area: &'static PerCpu = area;
    GsBase::write(VirtAddr::from_ptr(area));
    area
}

/// The calling CPU's area (see the module docs for when this holds on the
/// boot CPU).
///
/// Panics if this CPU has no area yet (a boot-order bug).
#[allow(dead_code)] // the first users are the next SMP steps
pub fn current() -> &'static PerCpu {
    assert!(GsBase::read().as_u64() != 0, "percpu::install runs first on every CPU");
    let ptr: *const PerCpu;
    // SAFETY: GS base points to a `PerCpu` made by `install` (checked
    // non-null just above; only `install` writes the GS base), whose
    // first field is its own address.
    unsafe {
        core::arch::asm!("mov {}, gs:[0]", out(reg) ptr, options(nostack, readonly, preserves_flags))
    };
    // SAFETY: `install` leaked the area, so it lives for ever, and it is
    // never written after `install`.
    unsafe { &*ptr }
}
