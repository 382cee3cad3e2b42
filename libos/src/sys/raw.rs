//! The `syscall` instruction.
//!
//! Number in `rax`, arguments in `rdi, rsi, rdx, r10, r8, r9`, result in
//! `rax`; the kernel may also write the argument registers (results of
//! calls that return several values), and `syscall` itself clobbers `rcx`
//! and `r11`. Every other register is preserved.

use caps::abi::syscall::{Arg, Call};
use caps::abi::{Error, Syscall, decode_result};

/// All six result registers of a call.
#[derive(Clone, Copy, Debug, Default)]
pub struct Regs {
    /// rax: the encoded result.
    pub rax: u64,
    /// rdi, rsi, rdx, r10, r8, r9 after the call.
    pub out: [u64; 6],
}

/// Makes syscall `call` with six arguments and returns every register.
///
/// # Safety
/// The arguments must be valid for `call`: every pointer the kernel will
/// write through must point to memory the caller may have changed (the
/// kernel checks that it is mapped and writable, not that Rust owns it).
#[inline(always)]
pub unsafe fn syscall6(call: Syscall, a: [u64; 6]) -> Regs {
    // SAFETY: as the caller guarantees.
    unsafe { syscall6_raw(call.as_raw(), a) }
}

/// [`syscall6`] with any number in `rax`, known to the kernel or not
/// (hostile-input tests use it).
///
/// # Safety
/// As [`syscall6`].
#[inline(always)]
pub unsafe fn syscall6_raw(number: u64, a: [u64; 6]) -> Regs {
    let (rax, rdi, rsi, rdx, r10, r8, r9): (u64, u64, u64, u64, u64, u64, u64);
    // SAFETY: the caller vouches for the arguments; the asm declares every
    // register the kernel may change.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") number => rax,
            inlateout("rdi") a[0] => rdi,
            inlateout("rsi") a[1] => rsi,
            inlateout("rdx") a[2] => rdx,
            inlateout("r10") a[3] => r10,
            inlateout("r8") a[4] => r8,
            inlateout("r9") a[5] => r9,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    Regs { rax, out: [rdi, rsi, rdx, r10, r8, r9] }
}

/// Syscall with up to six arguments, decoded result.
///
/// # Safety
/// As [`syscall6`].
#[inline(always)]
pub unsafe fn syscall(call: Syscall, a: [u64; 6]) -> Result<u64, Error> {
    // SAFETY: as the caller guarantees.
    decode_result(unsafe { syscall6(call, a) }.rax)
}

/// Makes the call `args` describes: its number and argument registers come
/// from the ABI's one description (`caps::abi::syscall`). Returns every
/// register.
///
/// # Safety
/// As [`syscall6`].
#[inline(always)]
pub unsafe fn invoke6<C: Call>(args: C) -> Regs {
    // SAFETY: as the caller guarantees.
    unsafe { syscall6(C::SYSCALL, args.encode()) }
}

/// [`invoke6`] with the result decoded as the call's result type.
///
/// # Safety
/// As [`syscall6`].
#[inline(always)]
pub unsafe fn invoke<C: Call>(args: C) -> Result<C::Ret, Error> {
    // SAFETY: as the caller guarantees.
    let raw = decode_result(unsafe { invoke6(args) }.rax)?;
    C::Ret::from_reg(raw)
}
