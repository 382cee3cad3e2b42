//! The GDT and the TSS.
//!
//! The segment order is fixed by `syscall`/`sysret`: kernel code, kernel
//! data, then user data and user code, so that STAR can name both pairs.
//! The TSS gives the double-fault and NMI handlers stacks of their own, so a
//! kernel stack overflow is reported rather than turning into a triple fault.

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

/// The TSS. Its ring-0 stack pointer changes at every process switch, so it
/// sits in an `UnsafeCell`; the CPU reads it on each entry from ring 3.
struct TssCell(UnsafeCell<TaskStateSegment>);

// SAFETY: one CPU; written only by `set_interrupt_stack` with interrupts
// off, read by the CPU.
unsafe impl Sync for TssCell {}

static TSS: TssCell = TssCell(UnsafeCell::new(TaskStateSegment::new()));
static GDT: Once<(GlobalDescriptorTable, Selectors)> = Once::new();

fn stack_top(stack: &'static IstStack) -> VirtAddr {
    VirtAddr::from_ptr(stack.0.get()) + IST_STACK_SIZE as u64
}

/// Builds and loads the GDT and TSS on this CPU.
pub fn init() {
    // SAFETY: boot, interrupts off, before the TSS is loaded: nothing else
    // reads or writes it.
    let tss: &'static TaskStateSegment = unsafe {
        let tss = &mut *TSS.0.get();
        tss.interrupt_stack_table[DOUBLE_FAULT_IST as usize] = stack_top(&DOUBLE_FAULT_STACK);
        tss.interrupt_stack_table[NMI_IST as usize] = stack_top(&NMI_STACK);
        tss
    };
    let (gdt, sel) = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let kernel_code = gdt.append(Descriptor::kernel_code_segment());
        let kernel_data = gdt.append(Descriptor::kernel_data_segment());
        let user_data = gdt.append(Descriptor::user_data_segment());
        let user_code = gdt.append(Descriptor::user_code_segment());
        let tss = gdt.append(Descriptor::tss_segment(tss));
        (gdt, Selectors { kernel_code, kernel_data, user_data, user_code, tss })
    });
    gdt.load();
    // SAFETY: the selectors index descriptors of the GDT just loaded, which
    // lives for ever in a `static`; code and data are the ring-0 segments.
    unsafe {
        CS::set_reg(sel.kernel_code);
        SS::set_reg(sel.kernel_data);
        DS::set_reg(sel.kernel_data);
        ES::set_reg(sel.kernel_data);
        load_tss(sel.tss);
    }
}

/// Sets the stack the CPU switches to on an interrupt or exception from
/// ring 3 (TSS.RSP0).
pub fn set_interrupt_stack(top: u64) {
    // SAFETY: a single aligned store into the TSS, with interrupts off on
    // our one CPU; the CPU reads the field only on a ring transition.
    unsafe { (*TSS.0.get()).privilege_stack_table[0] = VirtAddr::new(top) };
}

/// The selectors of the loaded GDT.
pub fn selectors() -> Selectors {
    GDT.get().expect("gdt::init runs first at boot").1
}
