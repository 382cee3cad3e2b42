//! The user address space: where the kernel puts things in every process,
//! and where user code may map memory.
//!
//! ```text
//! 0x0000_0000_0000_0000  unmapped (null pointers fault)
//! 0x0000_0000_0040_0000  USER_MIN: programs are linked here (libos/user.ld)
//!        ...             program segments, the libos heap, mem_map regions
//! 0x0000_7fff_fed0_0000  MAP_END: the stack's guard gap (never mapped)
//! 0x0000_7fff_fefc_0000  the initial stack (256 KiB)
//! 0x0000_7fff_ff00_0000  STACK_TOP
//! 0x0000_7fff_ff80_0000  START_INFO_ADDR: the start page (read-only)
//! 0x0000_7fff_ffff_0000  USER_END: nothing at or above is ever mapped
//! 0xffff_8000_0000_0000  the kernel half, shared by every process, ring 0
//! ```
//! Keeping the last 64 KiB of the lower half unmapped means the address
//! after a `syscall` instruction is always canonical, so `sysretq` cannot
//! fault in ring 0.

/// Bytes in one page.
pub const PAGE_SIZE: u64 = 4096;
/// The lowest user address that can be mapped (below it, null pointers
/// fault). Programs are linked at this address (`libos/user.ld`).
pub const USER_MIN: u64 = 0x0000_0000_0040_0000;
/// The end (exclusive) of user space. The last 64 KiB of the lower half are
/// never mapped, so the address after any `syscall` instruction is
/// canonical and `sysretq` cannot fault in ring 0.
pub const USER_END: u64 = 0x0000_7fff_ffff_0000;
/// The top of the initial stack.
pub const STACK_TOP: u64 = 0x0000_7fff_ff00_0000;
/// Size of the initial stack, mapped at spawn.
pub const STACK_SIZE: u64 = 256 * 1024;
/// Size of the unmapped gap below the stack: running off the stack faults.
pub const STACK_GUARD: u64 = 1024 * 1024;
/// Where the kernel maps the read-only start page ([`super::process::StartInfo`]).
pub const START_INFO_ADDR: u64 = 0x0000_7fff_ff80_0000;
/// The end (exclusive) of the range `mem_map` accepts: above it lie the
/// stack's guard gap, the stack and the start page, which the kernel owns.
pub const MAP_END: u64 = STACK_TOP - STACK_SIZE - STACK_GUARD;
/// Where the libos heap starts (a libos convention; the kernel does not care).
pub const HEAP_BASE: u64 = 0x0000_1000_0000_0000;

const _: () = assert!(MAP_END > HEAP_BASE && START_INFO_ADDR + PAGE_SIZE <= USER_END);
