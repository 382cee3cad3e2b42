//! Machine-check architecture (Intel SDM vol. 3B, ch. 15 "Machine-Check
//! Architecture"; AMD APM vol. 2, ch. 9).
//!
//! At boot every error-reporting bank is enabled (`IA32_MCG_CTL` and each
//! `IA32_MCi_CTL` set to all ones, stale `IA32_MCi_STATUS` cleared) and
//! `CR4.MCE` is set. Without this a machine check is not an exception but
//! a processor shutdown: the machine would vanish with no report.
//!
//! Policy: a machine check (#MC, vector 18) signals an *uncorrected*
//! hardware error (corrected ones are only logged in the banks and never
//! raise #MC). It is nobody's fault, but the kernel cannot tell which
//! frames or which in-flight state the error touched, so carrying on could
//! hand corrupted data to a process as if it were good. The kernel reports
//! every bank with a valid error and powers the machine off with a failure,
//! whether the CPU was in user or kernel mode.

use core::fmt;
use x86_64::registers::control::{Cr4, Cr4Flags};
use x86_64::registers::model_specific::Msr;

const CPUID_FEATURES: u32 = 1;
const CPUID1_EDX_MCE: u32 = 1 << 7;
const CPUID1_EDX_MCA: u32 = 1 << 14;

const IA32_MCG_CAP: u32 = 0x179;
const IA32_MCG_STATUS: u32 = 0x17a;
const IA32_MCG_CTL: u32 = 0x17b;
/// `IA32_MC0_CTL`; bank `i`'s registers are at `+ 4 * i`: CTL, STATUS,
/// ADDR, MISC.
const IA32_MC0_CTL: u32 = 0x400;
const MCG_CAP_COUNT: u64 = 0xff;
const MCG_CAP_CTL_P: u64 = 1 << 8;
const MCI_STATUS_VAL: u64 = 1 << 63;

/// The banks this CPU reports errors in; 0 before `init` or without MCA.
static BANKS: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);

/// Enables machine-check reporting, where the CPU has it. Returns the
/// number of error-reporting banks (0 without MCA).
pub fn init() -> u8 {
    let edx = core::arch::x86_64::__cpuid(CPUID_FEATURES).edx;
    if edx & CPUID1_EDX_MCE == 0 {
        return 0;
    }
    let mut banks = 0;
    if edx & CPUID1_EDX_MCA != 0 {
        let cap = read(IA32_MCG_CAP);
        banks = (cap & MCG_CAP_COUNT) as u8;
        if cap & MCG_CAP_CTL_P != 0 {
            write(IA32_MCG_CTL, u64::MAX);
        }
        for bank in 0..u32::from(banks) {
            write(IA32_MC0_CTL + 4 * bank, u64::MAX);
            write(IA32_MC0_CTL + 4 * bank + 1, 0);
        }
    }
    BANKS.store(banks, core::sync::atomic::Ordering::Relaxed);
    // SAFETY: CR4.MCE only turns machine checks into exception 18, whose
    // handler is installed (on its own IST stack) before this runs.
    unsafe { Cr4::update(|f| f.insert(Cr4Flags::MACHINE_CHECK_EXCEPTION)) };
    banks
}

/// The machine-check state at the time of the exception, for the report.
pub struct Report;

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "  mcg_status={:#x}", read(IA32_MCG_STATUS))?;
        for bank in 0..u32::from(BANKS.load(core::sync::atomic::Ordering::Relaxed)) {
            let status = read(IA32_MC0_CTL + 4 * bank + 1);
            if status & MCI_STATUS_VAL != 0 {
                write!(
                    f,
                    "\n  bank {bank}: status={status:#018x} addr={:#x} misc={:#x}",
                    read(IA32_MC0_CTL + 4 * bank + 2),
                    read(IA32_MC0_CTL + 4 * bank + 3)
                )?;
            }
        }
        Ok(())
    }
}

fn read(msr: u32) -> u64 {
    // SAFETY: only called for MCA registers the CPU reports (CPUID.1:EDX
    // MCE/MCA and the bank count from IA32_MCG_CAP); reading them has no
    // side effect.
    unsafe { Msr::new(msr).read() }
}

fn write(msr: u32, value: u64) {
    // SAFETY: as for `read`; enabling reporting or clearing a status only
    // changes how errors are reported, never memory the kernel relies on.
    unsafe { Msr::new(msr).write(value) }
}
