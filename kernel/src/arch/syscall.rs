//! The `syscall` instruction's entry and exit.
//!
//! The entry is the only assembly on the path: it switches to the current
//! process's kernel stack, saves the user registers the kernel may change
//! into a [`SyscallFrame`], and calls `crate::syscall::dispatch`, safe Rust.
//! On the way out every register the kernel may have changed is reloaded
//! from the frame (the callee-saved ones the Rust ABI preserved), so no
//! kernel value leaks to user space.
//!
//! Syscall number 0 (`Nop`) returns at once, before even the `swapgs` and
//! the stack switch: the bare `syscall`/`sysretq` floor that benchmarks
//! compare against (it touches no memory and runs no Rust).
//!
//! Every other call swaps to the kernel's GS base first (`swapgs`: the
//! CPU's area, `arch::percpu`), keeps the user stack pointer in the area
//! while it loads the kernel stack from it, and swaps back just before
//! `sysretq`. Interrupts stay off from `syscall` to `sysretq` (SFMASK
//! clears IF), so only an NMI or a machine check can see the user GS base
//! in kernel mode, and those do not trust it (`arch::trap`).
//!
//! The `sysretq` non-canonical-RIP hazard (a #GP in ring 0 on the user's
//! stack) cannot arise: the return RIP is the one the CPU saved, and user
//! space ends below the last page of the lower half (`mem::layout`), so the
//! instruction after a `syscall` is always canonical. The dispatcher checks
//! it anyway (`SyscallFrame::rip` below `USER_END`) and kills the process
//! as for a #GP if it ever is not, rather than `sysretq` into a fault.

use x86_64::VirtAddr;
use x86_64::registers::model_specific::{LStar, SFMask, Star};
use x86_64::registers::rflags::RFlags;

use super::{gdt, percpu};

/// The user registers at a `syscall`, as the entry leaves them on the
/// kernel stack. Handlers read arguments and write results here.
#[repr(C)]
#[derive(Debug)]
pub struct SyscallFrame {
    /// In: the syscall number. Out: the result (see `caps::abi::error`).
    pub rax: u64,
    /// `rdi, rsi, rdx, r10, r8, r9`: the arguments in (decoded by
    /// `caps::abi::syscall::dispatch_raw` straight from here); extra results
    /// out (an IPC message).
    pub args: [u64; 6],
    /// Where user code resumes (saved by the CPU in rcx).
    pub rip: u64,
    /// User RFLAGS (saved by the CPU in r11).
    pub rflags: u64,
    /// User stack pointer.
    pub rsp: u64,
}

core::arch::global_asm!(
    // Its own section, so the linker can put it beside the dispatcher on
    // the hot path's pages (`kernel/hot.ld`).
    ".pushsection .text.syscall_entry, \"ax\"",
    ".global syscall_entry",
    "syscall_entry:",
    "test rax, rax",
    "jnz 2f",
    "sysretq",
    "2:",
    "swapgs",
    "mov gs:[{user_rsp}], rsp",
    "mov rsp, gs:[{kernel_rsp}]",
    "push qword ptr gs:[{user_rsp}]",
    "push r11",
    "push rcx",
    "push r9",
    "push r8",
    "push r10",
    "push rdx",
    "push rsi",
    "push rdi",
    "push rax",
    // 10 words pushed on a 16-byte aligned stack top: aligned for the call.
    "mov rdi, rsp",
    "call {dispatch}",
    "pop rax",
    "pop rdi",
    "pop rsi",
    "pop rdx",
    "pop r10",
    "pop r8",
    "pop r9",
    "pop rcx",
    "pop r11",
    "pop rsp",
    "swapgs",
    "sysretq",
    ".popsection",
    user_rsp = const percpu::USER_RSP_OFFSET,
    kernel_rsp = const percpu::KERNEL_RSP_OFFSET,
    dispatch = sym crate::syscall::dispatch,
);

unsafe extern "C" {
    fn syscall_entry();
}

/// Programs the syscall MSRs (EFER.SCE is set by `cpu::init`).
pub fn init() {
    let sel = gdt::selectors();
    Star::write(sel.user_code, sel.user_data, sel.kernel_code, sel.kernel_data)
        .expect("the GDT order is the one sysret needs");
    LStar::write(VirtAddr::new(syscall_entry as *const () as u64));
    // Interrupts off in the kernel; no single-stepping, string direction
    // forward, and AC clear so SMAP holds.
    SFMask::write(
        RFlags::INTERRUPT_FLAG
            | RFlags::TRAP_FLAG
            | RFlags::DIRECTION_FLAG
            | RFlags::ALIGNMENT_CHECK
            | RFlags::NESTED_TASK
            | RFlags::IOPL_HIGH
            | RFlags::IOPL_LOW,
    );
}
