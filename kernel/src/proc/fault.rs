//! A CPU exception in user code: the process that caused it dies alone.

use caps::abi::process::ExitStatus;
use x86_64::registers::control::Cr2;

use crate::arch::trap::{TrapFrame, exception_name};
use crate::state;

/// The page-fault vector, whose report names the address.
const PAGE_FAULT: u64 = 14;

/// Kills the current process for `reason`, reporting it as a fault with
/// `vector`, and runs another.
pub fn kill_current(reason: &str, vector: u8) -> ! {
    let mut k = state::lock();
    let pid = k.sched.here().current.expect("a syscall has a current process");
    let pname = k.procs.get(pid).map_or("?", |p| p.name.as_str());
    log::warn!("process {} ({pname}) killed: {reason}", pid.0);
    crate::lifecycle::terminate(&mut k, pid, ExitStatus::Faulted(vector));
    super::switch::exit_current(k)
}

/// Kills the current process for the exception in `frame` and runs another.
pub fn user_fault(frame: &TrapFrame) -> ! {
    let mut k = state::lock();
    let pid = k.sched.here().current.expect("a user-mode trap has a current process");
    let (mnemonic, name) = exception_name(frame.vector);
    let pname = k.procs.get(pid).map_or("?", |p| p.name.as_str());
    if frame.vector == PAGE_FAULT {
        let addr = Cr2::read_raw();
        // A touch of a page whose memory object was revoked from it says so.
        let revoked = k.procs.get(pid).is_some_and(|p| {
            p.revoked_maps.iter().any(|&(va, pages)| {
                addr >= va && addr - va < pages.saturating_mul(caps::abi::layout::PAGE_SIZE)
            })
        });
        let why = if revoked { " (a memory object's page, revoked)" } else { "" };
        log::warn!(
            "process {} ({pname}) killed: {mnemonic} {name} at rip={:#x} addr={addr:#x} error={:#x}{why}",
            pid.0,
            frame.rip,
            frame.error
        );
    } else {
        log::warn!(
            "process {} ({pname}) killed: {mnemonic} {name} at rip={:#x} error={:#x}",
            pid.0,
            frame.rip,
            frame.error
        );
    }
    crate::lifecycle::terminate(&mut k, pid, ExitStatus::Faulted(frame.vector as u8));
    super::switch::exit_current(k)
}
