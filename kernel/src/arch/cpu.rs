//! Processor features and control-register settings.
//!
//! - SMEP and SMAP, where the CPU has them: the kernel never executes user
//!   pages, and touches user memory only inside the user-copy routines.
//! - No-execute pages (EFER.NXE), so W^X holds for user mappings.
//! - The FPU and SIMD units stay off (CR0.EM set, CR4.OSFXSR/OSXSAVE clear):
//!   kernel and user code are built soft-float, and with no FPU state to
//!   save, a process switch leaks no register state. An x87/SSE/AVX
//!   instruction faults (#NM or #UD) and kills the process that ran it.
//! - `rdfsbase`/`wrfsbase`/`rdgsbase`/`wrgsbase` off (CR4.FSGSBASE clear,
//!   whatever the bootloader left): the kernel does not use them, and a
//!   process can then set its GS base only by loading a selector (a base of
//!   0 from its descriptor), never to a kernel address; the instruction is
//!   a #UD that kills it. The kernel's GS base is safe either way
//!   (`arch::percpu`), this only narrows what a process can do.

use core::sync::atomic::{AtomicBool, Ordering};
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::model_specific::{Efer, EferFlags};

static SMAP: AtomicBool = AtomicBool::new(false);

/// CPUID leaf 7, sub-leaf 0: structured extended features.
const CPUID_EXT_FEATURES: u32 = 7;
const CPUID7_EBX_SMEP: u32 = 1 << 7;
const CPUID7_EBX_SMAP: u32 = 1 << 20;

/// What `init` turned on, for the boot log.
pub struct Features {
    /// Supervisor-mode execution prevention.
    pub smep: bool,
    /// Supervisor-mode access prevention.
    pub smap: bool,
}

/// Sets the control registers as described in the module docs.
pub fn init() -> Features {
    let leaf7 = core::arch::x86_64::__cpuid_count(CPUID_EXT_FEATURES, 0);
    let smep = leaf7.ebx & CPUID7_EBX_SMEP != 0;
    let smap = leaf7.ebx & CPUID7_EBX_SMAP != 0;

    let mut cr4 = Cr4::read();
    cr4.remove(
        Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE | Cr4Flags::OSXSAVE | Cr4Flags::FSGSBASE,
    );
    cr4.set(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION, smep);
    cr4.set(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION, smap);
    let mut cr0 = Cr0::read();
    cr0.insert(Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::MONITOR_COPROCESSOR);
    // SAFETY: the kernel is built soft-float and never uses the FPU; the
    // bootloader mapped no kernel code user-accessible (SMEP) and the
    // kernel reaches user memory only through `mem::user`, which opens
    // access with `stac` (SMAP); NXE only adds protection.
    unsafe {
        Cr4::write(cr4);
        Cr0::write(cr0);
        Efer::update(|f| {
            f.insert(EferFlags::NO_EXECUTE_ENABLE | EferFlags::SYSTEM_CALL_EXTENSIONS)
        });
    }
    SMAP.store(smap, Ordering::Relaxed);
    Features { smep, smap }
}

/// Whether SMAP is on (the user-copy routines then bracket with stac/clac).
#[inline]
pub fn smap() -> bool {
    SMAP.load(Ordering::Relaxed)
}

/// Reads the time-stamp counter.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no side effects; CR4.TSD is clear, so it is allowed.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// CPUID leaf 1 ECX: RDRAND.
const CPUID1_ECX_RDRAND: u32 = 1 << 30;

/// 64 unpredictable bits: RDRAND where the CPU has it, else the TSC run
/// through a mixer (weak, but the values still differ per call and boot).
pub fn random_u64() -> u64 {
    static COUNTER: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
    let leaf1 = core::arch::x86_64::__cpuid(1);
    if leaf1.ecx & CPUID1_ECX_RDRAND != 0 {
        for _ in 0..16 {
            let (value, ok): (u64, u8);
            // SAFETY: RDRAND exists (CPUID says so); it only writes the
            // destination and CF.
            unsafe {
                core::arch::asm!("rdrand {v}", "setc {ok}", v = out(reg) value, ok = out(reg_byte) ok, options(nomem, nostack))
            };
            if ok != 0 {
                return value;
            }
        }
    }
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    splitmix64(rdtsc() ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
