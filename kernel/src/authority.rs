//! Authority checks: after every syscall, check the invariants that make
//! the system secure. A debug feature (`authority-checks`), on in the test
//! and fuzzing kernels; a violation is a kernel bug, reported with the
//! syscall that caused it, and the machine powers off with a failure.
//!
//! What is checked:
//! - the capability space's own invariants (`CapSpace::check_invariants`):
//!   every derived capability's rights within its parent's, every range
//!   within its parent's, the tree and the tables consistent;
//! - every capability names a live object (process, quota, image, disk,
//!   endpoint, reply),
//!   and every disk range lies on its device;
//! - every root capability (one derived from nothing) is of a kind the
//!   kernel mints — whole disks, consoles, timers, images, quotas,
//!   processes — so no table holds a capability it was neither given nor
//!   derived;
//! - every table belongs to a live process, and every live process has one;
//! - every quota is within its limit.

use alloc::format;
use alloc::string::String;
use caps::Object;
use caps::abi::Syscall;

use crate::proc::State;
use crate::qemu;
use crate::state::Kernel;

/// Runs every check; the first violation, described.
pub fn check(k: &mut Kernel) -> Result<(), String> {
    k.caps.check_invariants().map_err(|v| format!("capability space: {v:?}"))?;
    for (id, p) in k.procs.iter() {
        match (p.state, p.table) {
            (State::Dead, Some(_)) => {
                return Err(format!("dead process {:#x} still has a table", id.0));
            }
            (State::Dead, None) => {}
            (_, None) => return Err(format!("live process {:#x} has no table", id.0)),
            _ => {}
        }
    }
    for (id, q) in k.quotas.0.iter() {
        if q.used > q.limit {
            return Err(format!("quota {:#x} over its limit: {} of {}", id.0, q.used, q.limit));
        }
    }
    let audited: alloc::vec::Vec<_> =
        k.caps.audit().map(|a| (a.table, *a.capability, a.parent.copied())).collect();
    for (table, cap, parent) in audited {
        if !k.procs.iter().any(|(_, p)| p.table == Some(table)) {
            return Err(format!("table {:#x} belongs to no live process", table.as_u64()));
        }
        let live = match cap.object {
            Object::Process(id) => k.procs.get(id).is_some(),
            Object::Memory(id) => k.quotas.0.get(id).is_some(),
            Object::Image(id) => (id.0 as usize) < k.images.len(),
            Object::Endpoint(id) => k.ipc.endpoints.get(id).is_some(),
            Object::Reply(id) => k.ipc.replies.get(id).is_some(),
            Object::DiskRange(r) => k.devices.get(r.device).is_some_and(|d| {
                r.first.checked_add(r.count).is_some_and(|end| end <= d.sector_count())
            }),
            _ => true,
        };
        if !live {
            return Err(format!("capability {cap:?} names nothing"));
        }
        if parent.is_none() {
            let minted = match cap.object {
                // Only whole disks are minted; every other range is derived.
                Object::DiskRange(r) => {
                    r.first == 0
                        && k.devices.get(r.device).is_some_and(|d| r.count == d.sector_count())
                }
                _ => true,
            };
            if !minted {
                return Err(format!("root capability {cap:?} was never minted by the kernel"));
            }
        }
    }
    Ok(())
}

/// Checks after `call`; a violation powers the machine off with a failure.
pub fn after_syscall(call: Option<Syscall>) {
    let mut k = crate::state::lock();
    if let Err(violation) = check(&mut k) {
        let pid = k.sched.current.map_or(0, |p| p.0);
        crate::console::emergency_println(format_args!(
            "AUTHORITY CHECK FAILED after {} by process {pid:#x}: {violation}",
            call.map_or("an unknown syscall", Syscall::name)
        ));
        qemu::exit(qemu::ExitCode::Failure);
    }
}
