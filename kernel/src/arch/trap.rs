//! CPU exceptions: the IDT, the entry stubs, and the report of a fault.
//!
//! Every exception vector has a small naked stub that makes the stack look
//! the same for all of them (a dummy error code where the CPU pushes none,
//! then the vector number) and jumps to one common entry, which saves the
//! general registers into a [`TrapFrame`] and calls [`trap_dispatch`], plain
//! Rust, which acts on the vector's [`Policy`]:
//!
//! | vectors | policy | user mode | kernel mode |
//! |---|---|---|---|
//! | #DE #DB #BP #OF #BR #UD #NM #TS #NP #SS #GP #PF #MF #AC #XM #CP | [`Policy::Fault`] | the process dies alone | kernel bug: report, power off |
//! | NMI | [`Policy::External`] | counted, reported at the next timer tick; the process carries on | same |
//! | #MC | [`Policy::Fatal`] | hardware error: report with the machine-check banks, power off | same |
//! | #DF, #CSO, #VE, #HV, #VC, #SX and the reserved vectors | [`Policy::Fatal`] | cannot be raised by a process; report, power off | same |
//!
//! A kernel-bug report gives the vector, error code, RIP, CR2 and
//! registers, and the machine powers off with a failure code. A process
//! cannot reach the fatal vectors on purpose: `int n` from ring 3 to a gate
//! of privilege 0 is a #GP (its own fault), #DF needs a fault while
//! delivering a fault (kernel-side only), and #VE/#HV/#VC/#SX exist only in
//! guests of kinds exocap does not run as. Single-stepping (RFLAGS.TF) is
//! cleared on `syscall` entry (`arch::syscall`), so a process that sets it
//! traps only itself.
//!
//! GS: every stub of a trap from ring 3 swaps to the kernel's GS base and
//! back (`swapgs`); NMI, #MC and #DF take a paranoid entry that checks the
//! GS base itself (see the entries below and `arch::percpu`).

use core::arch::naked_asm;
use core::fmt;
use spin::Once;
use x86_64::PrivilegeLevel;
use x86_64::VirtAddr;
use x86_64::registers::control::Cr2;
use x86_64::structures::idt::InterruptDescriptorTable;

use super::gdt;
use crate::console::emergency_println;
use crate::qemu;

/// The registers of the interrupted context, as the entry code leaves them
/// on the stack (lowest address first).
#[repr(C)]
#[derive(Clone, Debug)]
#[allow(missing_docs)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// Pushed by the stub.
    pub vector: u64,
    /// Pushed by the CPU, or 0 by the stub for vectors without one.
    pub error: u64,
    // Pushed by the CPU.
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

impl TrapFrame {
    /// Whether the interrupted code ran in ring 3.
    #[allow(dead_code)] // the process layer uses it
    pub fn is_user_mode(&self) -> bool {
        self.cs & 3 == 3
    }
}

/// Mnemonic and name of each architectural exception vector.
const EXCEPTIONS: [(&str, &str); 32] = [
    ("#DE", "divide error"),
    ("#DB", "debug"),
    ("NMI", "non-maskable interrupt"),
    ("#BP", "breakpoint"),
    ("#OF", "overflow"),
    ("#BR", "bound range exceeded"),
    ("#UD", "invalid opcode"),
    ("#NM", "device not available"),
    ("#DF", "double fault"),
    ("#CSO", "coprocessor segment overrun"),
    ("#TS", "invalid TSS"),
    ("#NP", "segment not present"),
    ("#SS", "stack-segment fault"),
    ("#GP", "general protection"),
    ("#PF", "page fault"),
    ("#15", "reserved"),
    ("#MF", "x87 floating point"),
    ("#AC", "alignment check"),
    ("#MC", "machine check"),
    ("#XM", "SIMD floating point"),
    ("#VE", "virtualization"),
    ("#CP", "control protection"),
    ("#22", "reserved"),
    ("#23", "reserved"),
    ("#24", "reserved"),
    ("#25", "reserved"),
    ("#26", "reserved"),
    ("#27", "reserved"),
    ("#HV", "hypervisor injection"),
    ("#VC", "VMM communication"),
    ("#SX", "security"),
    ("#31", "reserved"),
];

/// The exception's mnemonic and name, for reports.
pub fn exception_name(vector: u64) -> (&'static str, &'static str) {
    EXCEPTIONS.get(vector as usize).copied().unwrap_or(("#??", "unknown vector"))
}

/// The page-fault vector, whose report adds CR2.
const PAGE_FAULT: u64 = 14;

// Common entry: swap to the kernel's GS base if the trap came from ring 3
// (the RPL of the saved CS, at [rsp + 24] above the vector and error
// code), save the general registers into a `TrapFrame`, clear RFLAGS (AC
// and DF: an interrupt gate leaves AC as user code set it, and AC would
// switch SMAP off for the handler), call the dispatcher. `trap_return`
// swaps back if it returns to ring 3. A new process starts by "returning"
// through `trap_return` with a prepared frame.
//
// Only NMI, #MC and #DF can arrive while kernel code runs with the user's
// GS base (between a `syscall` and its `swapgs`, or a `swapgs` and the
// `sysretq`/`iretq` after it: every other interrupt is masked there, and
// no other exception can happen there), and they take `trap_paranoid`.
core::arch::global_asm!(
    ".global trap_common",
    ".global trap_return",
    "trap_common:",
    "test byte ptr [rsp + 24], 3",
    "jz 1f",
    "swapgs",
    "1:",
    "push rax", "push rbx", "push rcx", "push rdx", "push rsi", "push rdi", "push rbp",
    "push r8", "push r9", "push r10", "push r11", "push r12", "push r13", "push r14",
    "push r15",
    "push 0",
    "popfq",
    // The frame is 16-byte aligned here (the CPU aligns before pushing
    // SS, and 22 words have been pushed since), as the call needs.
    "mov rdi, rsp",
    "call {dispatch}",
    "trap_return:",
    "pop r15", "pop r14", "pop r13", "pop r12", "pop r11", "pop r10", "pop r9", "pop r8",
    "pop rbp", "pop rdi", "pop rsi", "pop rdx", "pop rcx", "pop rbx", "pop rax",
    "add rsp, 16",
    "test byte ptr [rsp + 8], 3",
    "jz 1f",
    "swapgs",
    "1:",
    "iretq",
    dispatch = sym trap_dispatch,
);

// The paranoid entry of NMI, #MC and #DF (on IST stacks): the saved CS
// does not say whose GS base is loaded (see above), so it reads
// IA32_GS_BASE and compares it with this CPU's area, whose address sits
// just above the IST frame (`gdt::IST_PERCPU_SLOT`); if they differ it
// writes the area's address, and on the way out it writes back what it
// found. It neither uses nor changes IA32_KERNEL_GS_BASE. Before the
// CPU has an area (the slot holds 0) it leaves GS alone. rbx (the area)
// and r12 (the base found) are callee-saved, so they survive the call.
core::arch::global_asm!(
    ".global trap_paranoid",
    "trap_paranoid:",
    "push rax", "push rbx", "push rcx", "push rdx", "push rsi", "push rdi", "push rbp",
    "push r8", "push r9", "push r10", "push r11", "push r12", "push r13", "push r14",
    "push r15",
    "push 0",
    "popfq",
    "mov rbx, [rsp + {frame}]",
    "mov ecx, {gs_base}",
    "rdmsr",
    "shl rdx, 32",
    "or rax, rdx",
    "mov r12, rax",
    "test rbx, rbx",
    "jz 1f",
    "cmp r12, rbx",
    "je 1f",
    "mov rax, rbx",
    "mov rdx, rbx",
    "shr rdx, 32",
    "wrmsr",
    "1:",
    "mov rdi, rsp",
    "call {dispatch}",
    "test rbx, rbx",
    "jz 2f",
    "cmp r12, rbx",
    "je 2f",
    "mov ecx, {gs_base}",
    "mov rax, r12",
    "mov rdx, r12",
    "shr rdx, 32",
    "wrmsr",
    "2:",
    "pop r15", "pop r14", "pop r13", "pop r12", "pop r11", "pop r10", "pop r9", "pop r8",
    "pop rbp", "pop rdi", "pop rsi", "pop rdx", "pop rcx", "pop rbx", "pop rax",
    "add rsp, 16",
    "iretq",
    frame = const core::mem::size_of::<TrapFrame>(),
    gs_base = const IA32_GS_BASE,
    dispatch = sym trap_dispatch,
);

/// The GS base MSR (Intel SDM vol. 4, table 2-2).
const IA32_GS_BASE: u32 = 0xC000_0101;
// `trap_paranoid` finds the IST slot `size_of::<TrapFrame>()` bytes above
// its frame: the CPU's 5 words, the error code and vector, 15 registers.
const _: () = assert!(core::mem::size_of::<TrapFrame>() == 22 * 8);

unsafe extern "C" {
    fn trap_common();
    fn trap_paranoid();
    /// Pops a [`TrapFrame`] off the stack and returns to it with `iretq`
    /// (swapping to the user's GS base if it returns to ring 3).
    pub fn trap_return();
}

/// Defines the entry stub of one vector.
macro_rules! stub {
    ($name:ident, $vector:literal) => {
        #[unsafe(naked)]
        extern "C" fn $name() {
            naked_asm!("push 0", "push {v}", "jmp {common}", v = const $vector, common = sym trap_common)
        }
    };
    ($name:ident, $vector:literal, error_code) => {
        #[unsafe(naked)]
        extern "C" fn $name() {
            naked_asm!("push {v}", "jmp {common}", v = const $vector, common = sym trap_common)
        }
    };
    ($name:ident, $vector:literal, paranoid) => {
        #[unsafe(naked)]
        extern "C" fn $name() {
            naked_asm!("push 0", "push {v}", "jmp {entry}", v = const $vector, entry = sym trap_paranoid)
        }
    };
    ($name:ident, $vector:literal, error_code, paranoid) => {
        #[unsafe(naked)]
        extern "C" fn $name() {
            naked_asm!("push {v}", "jmp {entry}", v = const $vector, entry = sym trap_paranoid)
        }
    };
}

stub!(stub_de, 0);
stub!(stub_db, 1);
stub!(stub_nmi, 2, paranoid);
stub!(stub_bp, 3);
stub!(stub_of, 4);
stub!(stub_br, 5);
stub!(stub_ud, 6);
stub!(stub_nm, 7);
stub!(stub_df, 8, error_code, paranoid);
stub!(stub_ts, 10, error_code);
stub!(stub_np, 11, error_code);
stub!(stub_ss, 12, error_code);
stub!(stub_gp, 13, error_code);
stub!(stub_pf, 14, error_code);
stub!(stub_mf, 16);
stub!(stub_ac, 17, error_code);
stub!(stub_mc, 18, paranoid);
stub!(stub_xm, 19);
stub!(stub_ve, 20);
stub!(stub_cp, 21, error_code);
stub!(stub_hv, 28);
stub!(stub_vc, 29, error_code);
stub!(stub_sx, 30, error_code);
stub!(stub_timer, 32);
stub!(stub_disk, 33);
const _: () = assert!(super::smp::WAKE_VECTOR == 0xf0 && super::smp::tlb::TLB_VECTOR == 0xf1);
stub!(stub_wake, 0xf0);
stub!(stub_tlb, 0xf1);
stub!(stub_spurious, 255);

/// The local APIC timer's vector.
pub const TIMER_VECTOR: u8 = 32;
/// The local APIC's spurious-interrupt vector.
pub const SPURIOUS_VECTOR: u8 = 255;

static IDT: Once<InterruptDescriptorTable> = Once::new();

fn addr(stub: extern "C" fn()) -> VirtAddr {
    VirtAddr::new(stub as *const () as u64)
}

/// Builds and loads the IDT: every architectural exception has a handler.
pub fn init() {
    let idt = IDT.call_once(|| {
        let mut idt = InterruptDescriptorTable::new();
        // SAFETY: for every `set_handler_addr` below: each address is one
        // of the stubs above, which keep the stack layout `trap_common`
        // expects for its vector (error code pushed by the CPU exactly where
        // the stub does not push one) and return with `iretq`.
        unsafe {
            idt.divide_error.set_handler_addr(addr(stub_de));
            idt.debug.set_handler_addr(addr(stub_db));
            idt.non_maskable_interrupt
                .set_handler_addr(addr(stub_nmi))
                .set_stack_index(gdt::NMI_IST);
            // int3 and into from user code are faults of that process, not
            // #GP: let ring 3 raise them.
            idt.breakpoint
                .set_handler_addr(addr(stub_bp))
                .set_privilege_level(PrivilegeLevel::Ring3);
            idt.overflow.set_handler_addr(addr(stub_of)).set_privilege_level(PrivilegeLevel::Ring3);
            idt.bound_range_exceeded.set_handler_addr(addr(stub_br));
            idt.invalid_opcode.set_handler_addr(addr(stub_ud));
            idt.device_not_available.set_handler_addr(addr(stub_nm));
            idt.double_fault.set_handler_addr(addr(stub_df)).set_stack_index(gdt::DOUBLE_FAULT_IST);
            idt.invalid_tss.set_handler_addr(addr(stub_ts));
            idt.segment_not_present.set_handler_addr(addr(stub_np));
            idt.stack_segment_fault.set_handler_addr(addr(stub_ss));
            idt.general_protection_fault.set_handler_addr(addr(stub_gp));
            idt.page_fault.set_handler_addr(addr(stub_pf));
            idt.x87_floating_point.set_handler_addr(addr(stub_mf));
            idt.alignment_check.set_handler_addr(addr(stub_ac));
            idt.machine_check.set_handler_addr(addr(stub_mc)).set_stack_index(gdt::NMI_IST);
            idt.simd_floating_point.set_handler_addr(addr(stub_xm));
            idt.virtualization.set_handler_addr(addr(stub_ve));
            idt.cp_protection_exception.set_handler_addr(addr(stub_cp));
            idt.hv_injection_exception.set_handler_addr(addr(stub_hv));
            idt.vmm_communication_exception.set_handler_addr(addr(stub_vc));
            idt.security_exception.set_handler_addr(addr(stub_sx));
            idt[TIMER_VECTOR].set_handler_addr(addr(stub_timer));
            idt[crate::drivers::DISK_VECTOR].set_handler_addr(addr(stub_disk));
            idt[super::smp::WAKE_VECTOR].set_handler_addr(addr(stub_wake));
            idt[super::smp::tlb::TLB_VECTOR].set_handler_addr(addr(stub_tlb));
            idt[SPURIOUS_VECTOR].set_handler_addr(addr(stub_spurious));
        }
        idt
    });
    idt.load();
}

/// What an exception means for the code it interrupted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Raised by the instruction that ran: in user mode the process broke
    /// the rules of its own address space and dies alone; in kernel mode it
    /// is a kernel bug.
    Fault,
    /// Comes from outside the running code (NMI: a watchdog, a debugger,
    /// the platform): nobody's fault. Counted and reported; the interrupted
    /// code, user or kernel, carries on.
    External,
    /// A hardware error (#MC, see `arch::mca`) or a vector only a kernel
    /// bug or an unsupported platform can raise: reported, and the machine
    /// powers off with a failure.
    Fatal,
}

/// The deliberate policy of each vector below 32 (the module docs give the
/// table and the reasons).
pub const fn policy(vector: u64) -> Policy {
    match vector {
        0 | 1 | 3 | 4 | 5 | 6 | 7 | 10 | 11 | 12 | 13 | 14 | 16 | 17 | 19 | 21 => Policy::Fault,
        NMI => Policy::External,
        _ => Policy::Fatal,
    }
}

/// The non-maskable-interrupt vector.
const NMI: u64 = 2;
/// The machine-check vector, whose report adds the error banks.
const MACHINE_CHECK: u64 = 18;

/// NMIs taken and not yet reported. The NMI handler may interrupt the
/// kernel anywhere, even with the console or the state locked, so it only
/// counts; the timer tick (which never interrupts the kernel: kernel code
/// runs with interrupts off) reports.
static NMI_PENDING: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
/// NMIs taken since boot.
static NMI_TOTAL: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// NMIs whose handler did not find the kernel's GS base in place (the self
/// test `nmi-with-user-gs` expects none).
#[cfg(feature = "selftest")]
static NMI_GS_WRONG: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// NMIs taken since boot, and how many of them ran with a wrong GS base
/// (for the self tests).
#[cfg(feature = "selftest")]
pub fn nmi_counts() -> (u64, u64) {
    use core::sync::atomic::Ordering::Relaxed;
    (NMI_TOTAL.load(Relaxed), NMI_GS_WRONG.load(Relaxed))
}

fn report_nmis() {
    use core::sync::atomic::Ordering::Relaxed;
    let n = NMI_PENDING.swap(0, Relaxed);
    if n != 0 {
        log::warn!(
            "nmi: {n} non-maskable interrupt(s) received ({} since boot); external event, carrying on",
            NMI_TOTAL.load(Relaxed)
        );
    }
}

/// Called by `trap_common` with the saved context of the interrupted code.
extern "C" fn trap_dispatch(frame: &mut TrapFrame) {
    match frame.vector {
        v if v < 32 => match (policy(v), frame.is_user_mode()) {
            (Policy::External, _) => {
                use core::sync::atomic::Ordering::Relaxed;
                #[cfg(feature = "selftest")]
                if !super::percpu::gs_is_kernel() {
                    NMI_GS_WRONG.fetch_add(1, Relaxed);
                }
                NMI_PENDING.fetch_add(1, Relaxed);
                NMI_TOTAL.fetch_add(1, Relaxed);
            }
            (Policy::Fault, true) => crate::proc::fault::user_fault(frame),
            (Policy::Fault, false) | (Policy::Fatal, _) => kernel_fault(frame),
        },
        v if v == TIMER_VECTOR as u64 => {
            #[cfg(feature = "authority-checks")]
            if let Err(e) = super::percpu::check() {
                emergency_println(format_args!("AUTHORITY CHECK FAILED at a timer tick: {e}"));
                qemu::exit(qemu::ExitCode::Failure);
            }
            super::apic::end_of_interrupt();
            report_nmis();
            crate::time::tick(frame.is_user_mode());
        }
        v if v == crate::drivers::DISK_VECTOR as u64 => {
            super::percpu::current().count_disk_interrupt();
            super::apic::end_of_interrupt();
            if super::smp::scheduling() {
                crate::iowait::interrupt(frame.is_user_mode());
            }
        }
        // Another CPU made a process ready: the `hlt` it interrupted is
        // over, and the idle loop looks at the ready queue.
        v if v == super::smp::WAKE_VECTOR as u64 => super::apic::end_of_interrupt(),
        v if v == super::smp::tlb::TLB_VECTOR as u64 => {
            super::smp::tlb::answer();
            super::apic::end_of_interrupt();
        }
        v if v == SPURIOUS_VECTOR as u64 => {}
        v => log::warn!("unexpected interrupt vector {v}"),
    }
}

/// An exception in kernel code, or a fatal one anywhere: report it and
/// power off with a failure.
fn kernel_fault(frame: &TrapFrame) -> ! {
    if frame.vector == MACHINE_CHECK {
        emergency_println(format_args!(
            "MACHINE CHECK: uncorrected hardware error, powering off\n{}\n{}",
            FaultReport(frame),
            super::mca::Report
        ));
    } else {
        emergency_println(format_args!("{}", FaultReport(frame)));
    }
    qemu::exit(qemu::ExitCode::Failure)
}

/// The multi-line report of a fault: what, where, and the registers.
pub struct FaultReport<'a>(pub &'a TrapFrame);

impl fmt::Display for FaultReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        let (mnemonic, name) = exception_name(t.vector);
        let ring = match (policy(t.vector), t.is_user_mode()) {
            (Policy::Fault, true) => "user",
            _ => "KERNEL",
        };
        write!(
            f,
            "{ring} EXCEPTION {mnemonic} {name} (vector {}) error={:#x} rip={:#018x}",
            t.vector, t.error, t.rip
        )?;
        if t.vector == PAGE_FAULT {
            write!(f, " cr2={:#018x}", Cr2::read_raw())?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "  cs={:#x} ss={:#x} rflags={:#x} rsp={:#018x} rbp={:#018x}",
            t.cs, t.ss, t.rflags, t.rsp, t.rbp
        )?;
        writeln!(
            f,
            "  rax={:#018x} rbx={:#018x} rcx={:#018x} rdx={:#018x}",
            t.rax, t.rbx, t.rcx, t.rdx
        )?;
        writeln!(
            f,
            "  rsi={:#018x} rdi={:#018x} r8 ={:#018x} r9 ={:#018x}",
            t.rsi, t.rdi, t.r8, t.r9
        )?;
        writeln!(
            f,
            "  r10={:#018x} r11={:#018x} r12={:#018x} r13={:#018x}",
            t.r10, t.r11, t.r12, t.r13
        )?;
        write!(f, "  r14={:#018x} r15={:#018x}", t.r14, t.r15)
    }
}
