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
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
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
    /// The idle loop's saved stack pointer while a process runs here.
    idle_rsp: AtomicU64,
    /// The page-table root this CPU has loaded (physical address), for
    /// TLB shootdowns: written only by this CPU, read by any.
    pub root: AtomicU64,
    /// The last TLB shootdown this CPU answered (`arch::smp::tlb`).
    pub tlb_answered: AtomicU64,
    /// Switches from this CPU's idle loop to a process since boot (the
    /// power-off log gives them per CPU).
    switches: AtomicU64,
    /// Disk interrupts taken on this CPU since boot (likewise).
    disk_interrupts: AtomicU64,
}

/// Most CPUs the kernel runs on (more are left parked in wait-for-SIPI).
pub const MAX_CPUS: usize = 16;

/// Every CPU's area by index, once installed: how one CPU finds another's
/// APIC id, loaded root and shootdown answer.
static AREAS: [AtomicPtr<PerCpu>; MAX_CPUS] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_CPUS];

/// CPUs installed so far (their areas are `AREAS[..count]`).
#[inline]
pub fn count() -> usize {
    NEXT_INDEX.load(Ordering::Acquire) as usize
}

/// CPU `index`'s area, if it is installed.
pub fn by_index(index: usize) -> Option<&'static PerCpu> {
    let ptr = AREAS.get(index)?.load(Ordering::Acquire);
    // SAFETY: a non-null entry is an area `install` leaked (lives for
    // ever), whose plain fields are never written after it was published.
    (!ptr.is_null()).then(|| unsafe { &*ptr })
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

    /// Loads page-table root `root` on this CPU, whose area this must be
    /// (a full flush of the TLB's entries, none being global), and records
    /// it for TLB shootdowns.
    ///
    /// # Safety
    /// `root` is the root of a live address space or the kernel's own
    /// table, whose kernel half is the same as every other's (so the code
    /// and stack running stay mapped), and the caller holds the kernel lock
    /// or is this CPU's shootdown answer (nothing else changes a CPU's
    /// root).
    #[inline]
    pub unsafe fn load_root(&self, root: x86_64::structures::paging::PhysFrame) {
        use x86_64::registers::control::{Cr3, Cr3Flags};
        // SAFETY: the caller's contract.
        unsafe { Cr3::write(root, Cr3Flags::empty()) };
        self.root.store(root.start_address().as_u64(), Ordering::Release);
    }

    /// Counts a switch to a process on this CPU (the CPU this area is).
    pub fn count_switch(&self) {
        bump(&self.switches);
    }

    /// Switches to a process on this CPU since boot.
    pub fn switches(&self) -> u64 {
        self.switches.load(Ordering::Relaxed)
    }

    /// Counts a disk interrupt taken on this CPU (the CPU this area is).
    pub fn count_disk_interrupt(&self) {
        bump(&self.disk_interrupts);
    }

    /// Disk interrupts taken on this CPU since boot.
    pub fn disk_interrupts(&self) -> u64 {
        self.disk_interrupts.load(Ordering::Relaxed)
    }

    /// Where this CPU's idle loop keeps its stack pointer while a process
    /// runs here (a `context::switch` save slot).
    pub fn idle_slot(&self) -> *mut u64 {
        self.idle_rsp.as_ptr()
    }
}

/// Adds one to a counter only its own CPU writes: no locked
/// read-modify-write needed.
fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
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
        idle_rsp: AtomicU64::new(0),
        root: AtomicU64::new(0),
        tlb_answered: AtomicU64::new(0),
        switches: AtomicU64::new(0),
        disk_interrupts: AtomicU64::new(0),
    }))
}

/// Makes `area` the calling CPU's: numbers it, points the GS base at it and
/// its IST stacks' slots too (`Tss::publish_percpu`); the user GS base
/// (`IA32_KERNEL_GS_BASE`) starts at 0. Called once per CPU, in kernel
/// mode: by the boot CPU first (index 0), then by each application
/// processor. Takes no lock and allocates nothing.
pub fn install(area: &'static mut PerCpu) -> &'static PerCpu {
    // `arch::smp` starts no more than `MAX_CPUS`, so every index fits.
    area.index = NEXT_INDEX.load(Ordering::Relaxed).min(MAX_CPUS as u32 - 1);
    area.apic_id = initial_apic_id();
    area.self_ptr = area as *const PerCpu;
    area.root.store(
        x86_64::registers::control::Cr3::read().0.start_address().as_u64(),
        Ordering::Relaxed,
    );
    let area: &'static PerCpu = area;
    if let Some(slot) = AREAS.get(area.index as usize) {
        slot.store(area as *const PerCpu as *mut PerCpu, Ordering::Release);
    }
    // Published after the area: `count` covers only installed areas.
    NEXT_INDEX.store(area.index + 1, Ordering::Release);
    GsBase::write(VirtAddr::from_ptr(area));
    KernelGsBase::write(VirtAddr::zero());
    area.tss.publish_percpu(area as *const PerCpu as u64);
    area
}

/// Takes back the areas installed at index `count` and after: their CPU
/// was given up on and sent back to wait-for-SIPI before it checked in,
/// so [`count`] and [`by_index`] must not name it. Boot CPU only, while it
/// starts the APs (no other CPU installs meanwhile).
pub fn withdraw(count: usize) {
    for slot in AREAS.iter().skip(count) {
        slot.store(core::ptr::null_mut(), Ordering::Release);
    }
    NEXT_INDEX.store(count as u32, Ordering::Release);
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

/// The kernel's own page table (the bootloader's, whose lower half holds
/// nothing a process owns): where a CPU goes when the address space it is
/// in is about to be freed. Set by the boot CPU before any process exists.
static KERNEL_ROOT: AtomicU64 = AtomicU64::new(0);

/// Records the page table loaded now as the kernel's own (boot CPU, once).
pub fn set_kernel_root() {
    let root = x86_64::registers::control::Cr3::read().0.start_address().as_u64();
    KERNEL_ROOT.store(root, Ordering::Relaxed);
}

/// Leaves the address space whose root is `root` for the kernel's own
/// table, if this CPU is in it (its page tables are about to be freed).
pub fn leave_root(root: x86_64::structures::paging::PhysFrame) {
    use x86_64::registers::control::Cr3;
    if Cr3::read().0 == root {
        // SAFETY: the kernel's table maps the kernel half like every
        // address space; we are leaving `root`, not entering one.
        unsafe { current().load_root(kernel_root()) };
    }
}

/// The kernel's own page-table root.
pub fn kernel_root() -> x86_64::structures::paging::PhysFrame {
    x86_64::structures::paging::PhysFrame::containing_address(x86_64::PhysAddr::new(
        KERNEL_ROOT.load(Ordering::Relaxed),
    ))
}

/// The calling CPU's index (0 for the boot CPU): one GS-relative load.
/// Kernel code only, after `install` on this CPU.
#[inline]
pub fn index() -> u32 {
    let index: u32;
    // SAFETY: in kernel code the GS base is this CPU's area (see
    // `current`); the load reads its `index` field, never written after
    // `install`.
    unsafe {
        core::arch::asm!("mov {:e}, gs:[{off}]", out(reg) index, off = const INDEX_OFFSET,
            options(nostack, readonly, preserves_flags))
    };
    index
}

/// Offset of the CPU's index (`gs:[INDEX_OFFSET]`).
const INDEX_OFFSET: usize = offset_of!(PerCpu, index);

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
