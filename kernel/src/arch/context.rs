//! Kernel context switches: from one kernel stack to another.
//!
//! A context is just a saved stack pointer: `switch` pushes the callee-saved
//! registers on the old stack, stores its pointer, loads the new one, pops
//! and returns into whatever the new stack was doing. Caller-saved
//! registers need no saving (the compiler assumes a call clobbers them),
//! and there is no FPU state (see `cpu`).
//!
//! The FS and GS selectors go with the context too: a process may load
//! either (ring 3 can, with any null or user selector), the kernel never
//! does, so whatever they hold when a context switches away is that
//! process's, and the next one must find its own, not the last one's
//! (Linux keeps them per task for the same reason). Their bases need no
//! saving: with CR4.FSGSBASE off and flat descriptors, ring 3 can only set
//! them to 0.

use core::arch::naked_asm;

/// Saves the current context into `*save_rsp` and resumes the one whose
/// stack pointer is `next_rsp`.
///
/// # Safety
/// 1. `save_rsp` is valid for a write and stays valid until this context
///    is resumed;
/// 2. `next_rsp` was saved by `switch` (or built by [`initial_stack`]) on a
///    kernel stack that is still allocated, and is resumed once;
/// 3. interrupts are disabled;
/// 4. the GS base is the kernel's (this CPU's per-CPU area).
#[unsafe(naked)]
pub unsafe extern "C" fn switch(save_rsp: *mut u64, next_rsp: u64) {
    naked_asm!(
        "push rbp",
        "push rbx",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "mov rax, fs",
        "push rax",
        "mov rax, gs",
        "push rax",
        "mov [rdi], rsp",
        "mov rsp, rsi",
        // GS: loading a selector also loads the GS base, which in the
        // kernel is the CPU's per-CPU area; so it is loaded between two
        // `swapgs`, into the process's half (Linux's `load_gs_index`).
        // Interrupts are off; an NMI in between finds the process's base
        // and its paranoid entry puts the kernel's back for its duration.
        // Skipped when unchanged (the common case: both null).
        "pop rax",
        "mov rcx, gs",
        "cmp ax, cx",
        "je 2f",
        "swapgs",
        "mov gs, ax",
        "swapgs",
        "2:",
        "pop rax",
        "mov rcx, fs",
        "cmp ax, cx",
        "je 3f",
        "mov fs, ax",
        "3:",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbx",
        "pop rbp",
        "ret",
    )
}

/// Words `switch` pops before returning (the callee-saved registers, and
/// the FS and GS selectors).
const SAVED_REGISTERS: usize = 8;

/// Prepares a fresh kernel stack so that switching to it "returns" into
/// `entry` with the stack pointer just above the return address, i.e. at
/// `frame_bottom`, with null FS and GS selectors. Returns the stack
/// pointer to pass to [`switch`].
///
/// # Safety
/// `frame_bottom` must be 8-byte aligned, with at least
/// `(SAVED_REGISTERS + 1) * 8` writable bytes below it on a kernel stack.
pub unsafe fn initial_stack(frame_bottom: u64, entry: unsafe extern "C" fn()) -> u64 {
    let mut sp = frame_bottom as *mut u64;
    // SAFETY: the caller guarantees room below `frame_bottom`.
    unsafe {
        sp = sp.sub(1);
        sp.write(entry as *const () as u64);
        for _ in 0..SAVED_REGISTERS {
            sp = sp.sub(1);
            sp.write(0);
        }
    }
    sp as u64
}
