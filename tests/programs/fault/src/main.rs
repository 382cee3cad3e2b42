//! Dies of the CPU exception named by its `kind=` argument. The kernel must
//! kill it alone, with a report, and run the next program.
#![no_std]
#![no_main]

use core::arch::asm;
use libos::{Start, println};

libos::main!(main);

/// A kernel-half address (the kernel image).
const KERNEL_ADDR: u64 = 0xffff_ffff_8000_0000;

#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 32]);
    recurse(frame[1] + 1) + frame[9]
}

fn main(start: &Start) -> i32 {
    let kind = start.arg("kind").unwrap_or("");
    println!("fault: raising {kind}");
    // SAFETY: none of this is sound: each arm deliberately breaks a rule of
    // the machine so that the kernel has to kill this process.
    unsafe {
        match kind {
            "page-fault" => {
                core::ptr::read_volatile(0x10 as *const u64);
            }
            "write-code" => core::ptr::write_volatile(main as *const () as *mut u8, 0),
            "kernel-read" => {
                core::ptr::read_volatile(KERNEL_ADDR as *const u64);
            }
            "kernel-jump" => asm!("jmp {a}", a = in(reg) KERNEL_ADDR),
            "noncanonical-jump" => asm!("jmp {a}", a = in(reg) 0x8000_0000_0000_0000u64),
            "general-protection" => {
                asm!("mov rax, [{a}]", a = in(reg) 0x8000_0000_0000_0000u64, out("rax") _)
            }
            "privileged" => asm!("hlt"),
            "cli" => asm!("cli"),
            "port-io" => asm!("out dx, al", in("dx") 0xf4u16, in("al") 0u8),
            "divide" => {
                asm!("xor edx, edx", "xor eax, eax", "div ecx", in("ecx") 0u32, out("eax") _, out("edx") _)
            }
            "invalid-opcode" => asm!("ud2"),
            "breakpoint" => asm!("int3"),
            // The trap flag: the next instruction raises #DB in ring 3.
            "single-step" => asm!("pushfq", "or qword ptr [rsp], 0x100", "popfq", "nop"),
            // The trap flag set across a syscall (`yield`, through the
            // whole dispatcher): `syscall` clears it on
            // entry (SFMASK), so the kernel never single-steps; sysret
            // restores it and the process traps itself after returning.
            "single-step-syscall" => asm!(
                "pushfq", "or qword ptr [rsp], 0x100", "popfq",
                "syscall", "nop",
                inout("rax") 11u64 => _, out("rcx") _, out("r11") _
            ),
            // `int n` to a kernel-only vector (a reserved one and the
            // double fault): a #GP of this process, never the vector.
            "int-reserved" => asm!("int 15"),
            "int-double-fault" => asm!("int 8"),
            // Setting the GS base straight: CR4.FSGSBASE is off, so a #UD
            // (on, it would have been harmless to the kernel anyway).
            "wrgsbase" => asm!("wrgsbase {a}", a = in(reg) KERNEL_ADDR),
            // `int1` (ICEBP) raises #DB whatever the gate's privilege: the
            // #DB stub must take it as a trap from ring 3 (swapgs).
            "icebp" => asm!(".byte 0xf1"),
            // The NMI and timer vectors by `int n`: gates of privilege 0,
            // so a #GP of this process, never the kernel's handler.
            "int-nmi" => asm!("int 2"),
            "int-timer" => asm!("int 32"),
            // `iretq` from ring 3 to the kernel's code segment (a return to
            // an inner privilege): #GP.
            "iret-to-kernel" => asm!(
                "mov rax, rsp",
                "push 0x10",
                "push rax",
                "pushfq",
                "push 0x08",
                "lea rax, [rip]",
                "push rax",
                "iretq",
                out("rax") _
            ),
            // The trap flag with `mov ss` just before `syscall`: `mov ss`
            // holds debug traps back over the next instruction, which must
            // not land a #DB on the kernel's first instruction (on the
            // user's stack, with the user's GS base).
            "mov-ss-syscall" => asm!(
                "pushfq", "or qword ptr [rsp], 0x100", "popfq",
                "mov ax, ss",
                "mov ss, ax",
                "syscall", "nop",
                inout("rax") 11u64 => _, out("rcx") _, out("r11") _
            ),
            "x87" => asm!("fldz"),
            "sse" => asm!("xorps xmm0, xmm0", out("xmm0") _),
            "stack-overflow" => {
                recurse(0);
            }
            _ => {
                println!("fault: unknown kind {kind:?}");
                return 2;
            }
        }
    }
    println!("fault: {kind} did not fault");
    3
}
