//! The start-up trampoline: how an application processor gets from the
//! real mode a start-up IPI leaves it in (Intel SDM vol. 3A, 9.4.4; MP
//! spec B.4) to 64-bit Rust code in the kernel half.
//!
//! The code below is copied to a page below 1 MiB (a start-up IPI names a
//! page number below 0x100), followed at [`PARAMS_OFFSET`] by the
//! [`Params`] the boot CPU fills in for the AP it is starting. The code
//! is position-independent: in real mode it finds its page from CS, and
//! the far jumps go through pointers in the parameters. The steps:
//!
//! 1. 16-bit real mode: load the trampoline's own GDT, set CR0.PE, jump to
//!    32-bit code.
//! 2. 32-bit protected mode (paging off): CR4 (PAE and the boot CPU's
//!    other bits), CR3 (a temporary root below 4 GiB: a 32-bit `mov`),
//!    EFER (LME, NXE: the page tables carry no-execute bits), then CR0 with
//!    PG, which enters long mode; jump to the 64-bit code segment.
//! 3. 64-bit mode, still in the page (identity mapped in the temporary
//!    root): load the stack and jump to the Rust entry in the kernel half.
//!
//! The temporary root ([`BootRoot`]) is the kernel half of the kernel's
//! page table plus an identity mapping of the trampoline page; the Rust
//! entry leaves it for the kernel's own root, and the boot CPU frees it
//! when every AP has checked in. So the lower half, which belongs to
//! processes, is never touched in any table a process will share.

use core::arch::global_asm;
use core::mem::offset_of;
use x86_64::PhysAddr;
use x86_64::structures::paging::{PageTable, PageTableFlags, PhysFrame};

use crate::mem::{PAGE_SIZE, frame, phys_to_virt};

/// Where in the trampoline page the parameters start (after the code).
pub const PARAMS_OFFSET: usize = 0xf00;

/// Selectors of the trampoline's GDT.
const CODE32: u16 = 0x08;
const CODE64: u16 = 0x18;

/// The trampoline's GDT: null, 32-bit code, data, 64-bit code (flat).
const GDT: [u64; 4] = [0, 0x00cf_9a00_0000_ffff, 0x00cf_9200_0000_ffff, 0x00af_9a00_0000_ffff];

/// What the boot CPU tells the AP it starts, at [`PARAMS_OFFSET`].
/// The layout is read by the assembly below (offsets by `offset_of!`).
#[repr(C)]
#[derive(Debug, Default)]
pub struct Params {
    gdt: [u64; 4],
    _pad0: [u16; 3],
    /// The `lgdt` operand: limit, then the GDT's 32-bit linear address.
    gdtr_limit: u16,
    gdtr_base: u32,
    /// Far pointer (offset, selector) to the 32-bit code.
    pm_offset: u32,
    pm_selector: u16,
    _pad1: u16,
    /// Far pointer (offset, selector) to the 64-bit code.
    lm_offset: u32,
    lm_selector: u16,
    _pad2: [u16; 3],
    cr3: u64,
    cr4: u64,
    cr0: u64,
    efer: u64,
    /// The AP's initial stack pointer (kernel half, 16-byte aligned).
    pub stack_top: u64,
    /// The Rust entry, called with `arg` as its first argument.
    pub entry: u64,
    /// The entry's argument.
    pub arg: u64,
}

const _: () = assert!(PARAMS_OFFSET + size_of::<Params>() <= PAGE_SIZE as usize);
const _: () = assert!(offset_of!(Params, gdtr_base) == offset_of!(Params, gdtr_limit) + 2);

global_asm!(
    ".section .text.ap_trampoline, \"ax\"",
    ".global ap_trampoline_start",
    ".global ap_trampoline_pm",
    ".global ap_trampoline_lm",
    ".global ap_trampoline_end",
    ".code16",
    "ap_trampoline_start:",
    "cli",
    "cld",
    // DS = CS = the page's paragraph; EBX = the page's physical address.
    "mov %cs, %ax",
    "mov %ax, %ds",
    "movzwl %ax, %ebx",
    "shl $4, %ebx",
    "lgdtl ({params} + {gdtr})",
    "mov %cr0, %eax",
    "or $1, %eax",
    "mov %eax, %cr0",
    "ljmpl *({params} + {pm})",
    ".code32",
    "ap_trampoline_pm:",
    "mov $0x10, %ax",
    "mov %ax, %ds",
    "mov %ax, %es",
    "mov %ax, %ss",
    "mov %ax, %fs",
    "mov %ax, %gs",
    "mov ({params} + {cr4})(%ebx), %eax",
    "mov %eax, %cr4",
    "mov ({params} + {cr3})(%ebx), %eax",
    "mov %eax, %cr3",
    "mov $0xc0000080, %ecx",
    "mov ({params} + {efer})(%ebx), %eax",
    "mov ({params} + {efer} + 4)(%ebx), %edx",
    "wrmsr",
    "mov ({params} + {cr0})(%ebx), %eax",
    "mov %eax, %cr0",
    "ljmpl *({params} + {lm})(%ebx)",
    ".code64",
    "ap_trampoline_lm:",
    // The upper halves of the registers are undefined after the switch.
    "mov %ebx, %ebx",
    "mov ({params} + {stack})(%rbx), %rsp",
    "mov ({params} + {arg})(%rbx), %rdi",
    "mov ({params} + {entry})(%rbx), %rax",
    "xor %ebp, %ebp",
    "call *%rax",
    "ud2",
    "ap_trampoline_end:",
    ".text",
    params = const PARAMS_OFFSET,
    gdtr = const offset_of!(Params, gdtr_limit),
    pm = const offset_of!(Params, pm_offset),
    lm = const offset_of!(Params, lm_offset),
    cr3 = const offset_of!(Params, cr3),
    cr4 = const offset_of!(Params, cr4),
    cr0 = const offset_of!(Params, cr0),
    efer = const offset_of!(Params, efer),
    stack = const offset_of!(Params, stack_top),
    entry = const offset_of!(Params, entry),
    arg = const offset_of!(Params, arg),
    options(att_syntax),
);

unsafe extern "C" {
    static ap_trampoline_start: u8;
    static ap_trampoline_pm: u8;
    static ap_trampoline_lm: u8;
    static ap_trampoline_end: u8;
}

/// Offset of a trampoline label from its start.
fn offset_of_label(label: *const u8) -> usize {
    label as usize - (&raw const ap_trampoline_start) as usize
}

/// The trampoline installed in its page, ready to start APs.
#[derive(Debug)]
pub struct Trampoline {
    /// The page's physical address (below 1 MiB, page-aligned).
    page: u64,
    root: BootRoot,
}

/// Why the trampoline could not be set up.
#[derive(Debug)]
pub enum Error {
    /// No frame for the temporary page-table root below 4 GiB.
    NoRoot,
}

impl Trampoline {
    /// Copies the trampoline into `page` (physical, page-aligned, below
    /// 1 MiB, never handed out by the frame allocator) and builds the
    /// temporary root that identity-maps it.
    pub fn install(page: u64) -> Result<Trampoline, Error> {
        assert!(page.is_multiple_of(PAGE_SIZE) && page < 0x10_0000 && page != 0);
        let start = &raw const ap_trampoline_start;
        let len = offset_of_label(&raw const ap_trampoline_end);
        // SAFETY: the symbols delimit the trampoline's code in the kernel
        // image, which is mapped and never written.
        let code = unsafe { core::slice::from_raw_parts(start, len) };
        assert!(code.len() <= PARAMS_OFFSET, "the trampoline fits before its parameters");
        let root = BootRoot::new(page).ok_or(Error::NoRoot)?;
        let dst = phys_to_virt(PhysAddr::new(page)).as_mut_ptr::<u8>();
        // SAFETY: `page` is a usable RAM page below 1 MiB that nothing
        // else uses (the caller's promise), mapped writable by the window.
        unsafe { core::ptr::copy_nonoverlapping(code.as_ptr(), dst, code.len()) };
        Ok(Trampoline { page, root })
    }

    /// The start-up IPI's vector: the page number.
    pub fn vector(&self) -> u8 {
        (self.page >> 12) as u8
    }

    /// Writes the parameters for the next AP: the boot CPU's control
    /// registers, and where it goes (`stack_top`, `entry(arg)`).
    pub fn prepare(&self, stack_top: u64, entry: extern "C" fn(u64) -> !, arg: u64) {
        use x86_64::registers::control::{Cr0, Cr4, Cr4Flags};
        use x86_64::registers::model_specific::{Efer, EferFlags};
        let base = self.page as u32;
        let (pm, lm) = (&raw const ap_trampoline_pm, &raw const ap_trampoline_lm);
        let params = Params {
            gdt: GDT,
            gdtr_limit: (size_of_val(&GDT) - 1) as u16,
            gdtr_base: base + (PARAMS_OFFSET + offset_of!(Params, gdt)) as u32,
            pm_offset: base + offset_of_label(pm) as u32,
            pm_selector: CODE32,
            lm_offset: base + offset_of_label(lm) as u32,
            lm_selector: CODE64,
            cr3: self.root.pml4.start_address().as_u64(),
            // PCIDE may only be set in long mode (SDM vol. 3A, 4.10.1).
            cr4: (Cr4::read() - Cr4Flags::PCID).bits(),
            cr0: Cr0::read().bits(),
            efer: (Efer::read() - EferFlags::LONG_MODE_ACTIVE).bits(),
            stack_top,
            entry: entry as usize as u64,
            arg,
            ..Params::default()
        };
        let dst = phys_to_virt(PhysAddr::new(self.page + PARAMS_OFFSET as u64));
        // SAFETY: the parameters lie in the trampoline's page (asserted
        // above), aligned (PARAMS_OFFSET is), and no AP reads them now: the
        // previous one checked in or was sent back to wait-for-SIPI.
        unsafe { dst.as_mut_ptr::<Params>().write_volatile(params) };
    }

    /// Frees the temporary root. Every AP must have left it (checked in, or
    /// been sent an INIT).
    pub fn remove(self) {
        self.root.free();
    }
}

/// A temporary top-level table: the kernel half of the active one, plus an
/// identity mapping of the trampoline page through tables of its own.
#[derive(Debug)]
struct BootRoot {
    pml4: PhysFrame,
    /// The PDPT, page directory and page table of the identity mapping.
    lower: [PhysFrame; 3],
}

/// Where the kernel half starts in a top-level table.
const KERNEL_HALF: usize = 256;
/// Below this a 32-bit `mov` to CR3 can name the root.
const FOUR_GIB: u64 = 1 << 32;

fn table(frame: PhysFrame) -> &'static mut PageTable {
    // SAFETY: the caller passes a frame it just allocated (zeroed) for a
    // table and holds no other reference to it; the window maps it.
    unsafe { &mut *phys_to_virt(frame.start_address()).as_mut_ptr::<PageTable>() }
}

impl BootRoot {
    fn new(page: u64) -> Option<BootRoot> {
        let pml4 = frame::alloc_zeroed()?;
        let lower = [frame::alloc_zeroed(), frame::alloc_zeroed(), frame::alloc_zeroed()];
        let root = match lower {
            [Some(a), Some(b), Some(c)] => BootRoot { pml4, lower: [a, b, c] },
            _ => {
                for f in lower.into_iter().flatten().chain([pml4]) {
                    // SAFETY: just allocated, never used.
                    unsafe { frame::free(f) };
                }
                return None;
            }
        };
        if pml4.start_address().as_u64() >= FOUR_GIB {
            root.free();
            return None;
        }
        let flags = PageTableFlags::PRESENT | PageTableFlags::WRITABLE;
        let addr = x86_64::VirtAddr::new(page);
        let [pdpt, pd, pt] = root.lower;
        table(pml4)[addr.p4_index()].set_frame(pdpt, flags);
        table(pdpt)[addr.p3_index()].set_frame(pd, flags);
        table(pd)[addr.p2_index()].set_frame(pt, flags);
        // Executable: the AP runs the trampoline from it.
        table(pt)[addr.p1_index()].set_addr(PhysAddr::new(page), flags);
        // SAFETY: boot, one CPU running kernel code: no other reference to
        // the live table; only its kernel half is read, which never changes
        // after `mem::aspace::init` (every entry present, shared tables).
        let active = unsafe { crate::mem::paging::active() };
        let src = active.level_4_table().iter().skip(KERNEL_HALF);
        for (d, s) in table(pml4).iter_mut().skip(KERNEL_HALF).zip(src) {
            *d = s.clone();
        }
        Some(root)
    }

    fn free(self) {
        for f in self.lower.into_iter().chain([self.pml4]) {
            // SAFETY: allocated in `new`; no CPU uses the root any more (the
            // caller's promise), and its kernel half points to tables it does
            // not own, which are not freed.
            unsafe { frame::free(f) };
        }
    }
}
