//! The GDT and the TSS, one of each per CPU.
//!
//! The segment order is fixed by `syscall`/`sysret`: kernel code, kernel
//! data, then user data and user code, so that STAR can name both pairs.
//! Every CPU's GDT has this same layout, so the selectors are the same
//! everywhere; only the TSS descriptor differs (each CPU has its own TSS).
//! The TSS gives the double-fault and NMI handlers stacks of their own, so a
//! kernel stack overflow is reported rather than turning into a triple fault.
//!
//! The boot CPU's tables are statics (they are loaded before the heap
//! exists); an application processor's are allocated by [`CpuTables::new`]
//! and live for ever.
//!
//! Each IST stack's top 16 bytes are not stack: the first word holds the
//! address of the CPU's per-CPU area (written by [`Tss::publish_percpu`]),
//! and the TSS's IST pointer is just below them. The NMI, machine-check
//! and double-fault entries, which may arrive at any instruction (even
//! between a `syscall` and its `swapgs`), find their CPU's area there
//! without trusting GS (`arch::trap`, the paranoid entry).

use alloc::boxed::Box;
use alloc::vec;
use core::cell::UnsafeCell;
use spin::Once;
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, FS, GS, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;

/// IST slot of the double-fault handler's stack.
pub const DOUBLE_FAULT_IST: u16 = 0;
/// IST slot of the NMI and machine-check handlers' stack.
pub const NMI_IST: u16 = 1;

/// Size of each interrupt stack.
const IST_STACK_SIZE: usize = 16 * 1024;
/// Bytes at the top of each IST stack kept for the per-CPU area's address
/// (one word, and one more so the stack pointer stays 16-byte aligned).
pub const IST_PERCPU_SLOT: u64 = 16;

/// A stack for one IST slot. The `UnsafeCell` puts it in writable memory
/// (a plain immutable static would land in read-only pages, and the CPU's
/// first push onto it would fault: a triple fault).
#[repr(C, align(16))]
struct IstStack(UnsafeCell<[u8; IST_STACK_SIZE]>);

// SAFETY: only the CPU writes these stacks, while delivering an exception;
// Rust code never reads or writes them.
unsafe impl Sync for IstStack {}

static DOUBLE_FAULT_STACK: IstStack = IstStack(UnsafeCell::new([0; IST_STACK_SIZE]));
static NMI_STACK: IstStack = IstStack(UnsafeCell::new([0; IST_STACK_SIZE]));

/// The selectors the rest of the kernel needs.
#[derive(Clone, Copy, Debug)]
pub struct Selectors {
    /// Ring-0 code.
    pub kernel_code: SegmentSelector,
    /// Ring-0 data.
    pub kernel_data: SegmentSelector,
    /// Ring-3 data (RPL 3).
    pub user_data: SegmentSelector,
    /// Ring-3 code (RPL 3).
    pub user_code: SegmentSelector,
    tss: SegmentSelector,
}

/// A CPU's TSS. Its ring-0 stack pointer changes at every process switch,
/// so it sits in an `UnsafeCell`; the CPU reads it on each entry from
/// ring 3. Each CPU reaches its own through its per-CPU area
/// (`percpu::PerCpu`).
pub struct Tss(UnsafeCell<TaskStateSegment>);

// SAFETY: each TSS belongs to one CPU; it is written only before it is
// loaded, by `publish_percpu` (once, by its CPU) and by
// `set_interrupt_stack` (by its CPU, interrupts off), and read by that CPU.
unsafe impl Sync for Tss {}

impl Tss {
    /// Makes `top` the stack this CPU switches to on an interrupt or
    /// exception from ring 3 (TSS.RSP0, Intel SDM vol. 3A, 8.7).
    ///
    /// Called only by the CPU this TSS belongs to, with interrupts off.
    pub fn set_interrupt_stack(&self, top: u64) {
        // SAFETY: a single aligned store into this CPU's own TSS, by that
        // CPU, interrupts off; the CPU reads the field only on a ring
        // transition.
        unsafe { (*self.0.get()).privilege_stack_table[0] = VirtAddr::new(top) };
    }

    /// Writes `area` (the CPU's per-CPU area) into the slot above each of
    /// this TSS's IST stacks (see the module docs).
    ///
    /// Called once, by the CPU this TSS belongs to, before it takes an NMI
    /// whose handler should trust it (until then the slot is 0: "no area").
    pub fn publish_percpu(&self, area: u64) {
        for slot in [DOUBLE_FAULT_IST, NMI_IST] {
            // SAFETY: reading the IST pointer of this CPU's own TSS, which
            // only this CPU writes (before it is loaded).
            let top = unsafe { (*self.0.get()).interrupt_stack_table[slot as usize] };
            // SAFETY: every IST pointer is `IST_PERCPU_SLOT` bytes below the
            // end of a live, writable, 16-byte aligned IST stack (`init`,
            // `CpuTables::new`), so the word at `top` is the slot, above
            // anything the CPU pushes there.
            unsafe { (top.as_u64() as *mut u64).write_volatile(area) };
        }
    }
}

/// The boot CPU's TSS and GDT.
static TSS: Tss = Tss(UnsafeCell::new(TaskStateSegment::new()));
static GDT: Once<(GlobalDescriptorTable, Selectors)> = Once::new();

/// An IST pointer for `stack`: below its per-CPU slot.
fn stack_top(stack: &'static IstStack) -> VirtAddr {
    VirtAddr::from_ptr(stack.0.get()) + IST_STACK_SIZE as u64 - IST_PERCPU_SLOT
}

/// A GDT in the layout described in the module docs, naming `tss`.
fn build(tss: &'static TaskStateSegment) -> (GlobalDescriptorTable, Selectors) {
    let mut gdt = GlobalDescriptorTable::new();
    let kernel_code = gdt.append(Descriptor::kernel_code_segment());
    let kernel_data = gdt.append(Descriptor::kernel_data_segment());
    let user_data = gdt.append(Descriptor::user_data_segment());
    let user_code = gdt.append(Descriptor::user_code_segment());
    let tss = gdt.append(Descriptor::tss_segment(tss));
    (gdt, Selectors { kernel_code, kernel_data, user_data, user_code, tss })
}

/// Loads `gdt` on this CPU, the kernel segments and the TSS it names, and
/// null FS and GS selectors: whatever the firmware left there may name a
/// descriptor of its own GDT, and the context switch reloads the FS and GS
/// a context was saved with (`context::switch`), so the boot context's
/// must be valid in ours. Runs before the per-CPU area sets the GS base.
fn load(gdt: &'static GlobalDescriptorTable, sel: &Selectors) {
    gdt.load();
    // SAFETY: the selectors index descriptors of the GDT just loaded, which
    // lives for ever; code and data are the ring-0 segments, and the TSS
    // descriptor (not yet busy: each TSS is loaded once, by its own CPU)
    // names a TSS that lives for ever. A null FS or GS is always allowed
    // in 64-bit mode, and nothing uses their bases yet.
    unsafe {
        CS::set_reg(sel.kernel_code);
        SS::set_reg(sel.kernel_data);
        DS::set_reg(sel.kernel_data);
        ES::set_reg(sel.kernel_data);
        FS::set_reg(SegmentSelector(0));
        GS::set_reg(SegmentSelector(0));
        load_tss(sel.tss);
    }
}

/// Builds and loads the boot CPU's GDT and TSS.
pub fn init() {
    // SAFETY: boot, interrupts off, before the TSS is loaded: nothing else
    // reads or writes it.
    let tss: &'static TaskStateSegment = unsafe {
        let tss = &mut *TSS.0.get();
        tss.interrupt_stack_table[DOUBLE_FAULT_IST as usize] = stack_top(&DOUBLE_FAULT_STACK);
        tss.interrupt_stack_table[NMI_IST as usize] = stack_top(&NMI_STACK);
        tss
    };
    let (gdt, sel) = GDT.call_once(|| build(tss));
    load(gdt, sel);
}

/// An application processor's GDT, TSS and IST stacks (heap memory that
/// is never freed: a CPU that came up keeps them for ever).
pub struct CpuTables {
    gdt: &'static GlobalDescriptorTable,
    selectors: Selectors,
    tss: &'static Tss,
}

impl CpuTables {
    /// Allocates the tables and IST stacks of one more CPU (on the heap;
    /// panics only if the heap is exhausted, as any allocation does).
    pub fn new() -> CpuTables {
        let mut tss = TaskStateSegment::new();
        for slot in [DOUBLE_FAULT_IST, NMI_IST] {
            // Zeroed straight on the heap (no 16 KiB temporary on the stack).
            let stack: &'static mut [u8] = vec![0u8; IST_STACK_SIZE].leak();
            let top = VirtAddr::from_ptr(stack.as_ptr_range().end).align_down(16u64);
            tss.interrupt_stack_table[slot as usize] = top - IST_PERCPU_SLOT;
        }
        let tss: &'static Tss = Box::leak(Box::new(Tss(UnsafeCell::new(tss))));
        // SAFETY: the TSS is not loaded yet; this shared view is used only
        // to build its descriptor (the address and limit).
        let (gdt, selectors) = build(unsafe { &*tss.0.get() });
        CpuTables { gdt: Box::leak(Box::new(gdt)), selectors, tss }
    }

    /// This CPU's TSS.
    pub fn tss(&self) -> &'static Tss {
        self.tss
    }

    /// Loads these tables on the calling CPU, which must be the one they
    /// were made for, once.
    pub fn load(&self) {
        load(self.gdt, &self.selectors);
    }
}

/// The boot CPU's TSS.
pub fn boot_tss() -> &'static Tss {
    &TSS
}

/// The selectors of the loaded GDT.
pub fn selectors() -> Selectors {
    GDT.get().expect("gdt::init runs first at boot").1
}
