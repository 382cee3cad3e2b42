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

use alloc::boxed::Box;
use alloc::vec;
use core::cell::UnsafeCell;
use spin::Once;
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;

/// IST slot of the double-fault handler's stack.
pub const DOUBLE_FAULT_IST: u16 = 0;
/// IST slot of the NMI and machine-check handlers' stack.
pub const NMI_IST: u16 = 1;

/// Size of each interrupt stack.
const IST_STACK_SIZE: usize = 16 * 1024;

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

/// A TSS. Its ring-0 stack pointer changes at every process switch, so it
/// sits in an `UnsafeCell`; the CPU reads it on each entry from ring 3.
struct TssCell(UnsafeCell<TaskStateSegment>);

// SAFETY: each TSS belongs to one CPU; it is written only before it is
// loaded and by `set_interrupt_stack` (boot CPU, interrupts off), and read
// by that CPU.
unsafe impl Sync for TssCell {}

/// The boot CPU's TSS and GDT.
static TSS: TssCell = TssCell(UnsafeCell::new(TaskStateSegment::new()));
static GDT: Once<(GlobalDescriptorTable, Selectors)> = Once::new();

fn stack_top(stack: &'static IstStack) -> VirtAddr {
    VirtAddr::from_ptr(stack.0.get()) + IST_STACK_SIZE as u64
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

/// Loads `gdt` on this CPU, the kernel segments and the TSS it names.
fn load(gdt: &'static GlobalDescriptorTable, sel: &Selectors) {
    gdt.load();
    // SAFETY: the selectors index descriptors of the GDT just loaded, which
    // lives for ever; code and data are the ring-0 segments, and the TSS
    // descriptor (not yet busy: each TSS is loaded once, by its own CPU)
    // names a TSS that lives for ever.
    unsafe {
        CS::set_reg(sel.kernel_code);
        SS::set_reg(sel.kernel_data);
        DS::set_reg(sel.kernel_data);
        ES::set_reg(sel.kernel_data);
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
            tss.interrupt_stack_table[slot as usize] = top;
        }
        let tss: &'static TaskStateSegment = Box::leak(Box::new(tss));
        let (gdt, selectors) = build(tss);
        CpuTables { gdt: Box::leak(Box::new(gdt)), selectors }
    }

    /// Loads these tables on the calling CPU, which must be the one they
    /// were made for, once.
    pub fn load(&self) {
        load(self.gdt, &self.selectors);
    }
}

/// Sets the stack the boot CPU switches to on an interrupt or exception
/// from ring 3 (its TSS.RSP0). Only the boot CPU runs processes for now
/// (application processors are parked, see `arch::smp`).
pub fn set_interrupt_stack(top: u64) {
    // SAFETY: a single aligned store into the boot CPU's TSS, by the boot
    // CPU (the only one running processes) with interrupts off; the CPU reads the field only on a ring transition.
    unsafe { (*TSS.0.get()).privilege_stack_table[0] = VirtAddr::new(top) };
}

/// The selectors of the loaded GDT.
pub fn selectors() -> Selectors {
    GDT.get().expect("gdt::init runs first at boot").1
}
