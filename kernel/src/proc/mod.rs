//! Processes: an address space, a capability table, a kernel stack, and
//! the state the scheduler needs.
//!
//! Life of a process: `spawn` builds it whole or not at all (a failed spawn
//! leaves nothing behind); it runs; it ends by `exit` or by a fault, at
//! which point its capability table is destroyed (releasing everything it
//! held) and its waiters are woken; its address space and kernel stack are
//! freed right after the switch away from it (they are in use until then);
//! the small record with its exit status stays until no `Process`
//! capability names it any more.

pub mod elf;
pub mod fault;
pub mod kstack;
pub mod sched;
pub mod spawn;

use alloc::string::String;
use alloc::vec::Vec;
use caps::abi::process::ExitStatus;
use caps::{ObjectId, TableId};

use crate::mem::aspace::AddressSpace;
use crate::qemu::ExitCode;
use crate::state::Kernel;
use kstack::KernelStack;

/// Why a process is not running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Block {
    /// In `proc_wait` on this process.
    Wait(ObjectId),
    /// In `sleep` until this clock value (ns).
    Sleep(u64),
    /// In `ipc_send` or `ipc_call`, queued on this endpoint.
    Send(ObjectId),
    /// In `ipc_recv` or `ipc_reply_recv`, queued on this endpoint.
    Recv(ObjectId),
    /// In `ipc_call`, waiting for the answer through this reply object.
    Reply(ObjectId),
}

/// Where a process is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Waiting for the CPU.
    Ready,
    /// On the CPU.
    Running,
    /// Waiting for something.
    Blocked(Block),
    /// Ended; its status is in `exit`.
    Dead,
}

/// One process.
pub struct Process {
    /// The program's name (for messages).
    pub name: String,
    /// Where it is in its life.
    pub state: State,
    /// Its address space (`None` once torn down).
    pub aspace: Option<AddressSpace>,
    /// Its capability table (`None` once destroyed).
    pub table: Option<TableId>,
    /// The quota its own memory is charged to.
    pub own_quota: ObjectId,
    /// Its kernel stack (`None` once freed).
    pub kstack: Option<KernelStack>,
    /// How it ended.
    pub exit: Option<ExitStatus>,
    /// Processes blocked in `proc_wait` on it.
    pub waiters: Vec<ObjectId>,
    /// `Process` capabilities naming it.
    pub handle_refs: u64,
    /// Its IPC state: queue link, pending message, kernel buffer.
    pub ipc: crate::ipc::IpcState,
    /// Woken from `proc_wait` or `sleep` because the capability it blocked
    /// through died (see `sched::Scheduler::tie`); the syscall wrapper
    /// turns it into `Revoked` when the process runs again.
    pub revoked: bool,
}

impl Process {
    /// Whether it has ended and every resource but this record is freed.
    pub fn is_reaped(&self) -> bool {
        self.state == State::Dead && self.aspace.is_none() && self.kstack.is_none()
    }
}

/// Ends process `pid` with `status`: destroys its capability table, wakes
/// its waiters, and queues its address space and kernel stack to be freed
/// once we are off them. Does not switch away: the caller does.
pub fn terminate(k: &mut Kernel, pid: ObjectId, status: ExitStatus) {
    let Some(p) = k.procs.get_mut(pid) else { return };
    if p.state == State::Dead {
        return;
    }
    crate::ipc::on_terminate(k, pid);
    let p = k.procs.get_mut(pid).expect("checked above");
    if let State::Blocked(block) = p.state {
        k.sched.forget_blocked(pid, block);
    }
    let p = k.procs.get_mut(pid).expect("checked above");
    p.state = State::Dead;
    p.exit = Some(status);
    let waiters = core::mem::take(&mut p.waiters);
    let table = p.table.take();
    if k.sched.current == Some(pid) {
        k.sched.current_table = None;
    }
    if let Some(table) = table {
        let mut removed = Vec::new();
        let _ = k.caps.destroy_table(table, |r| removed.push(r));
        k.caps_removed(&removed);
    }
    for w in waiters {
        k.sched.wake(&mut k.procs, w);
    }
    k.async_io.orphan(pid, &mut k.devices);
    k.sched.ready.retain(|&r| r != pid);
    k.sched.dead.push(pid);
    if k.init == Some(pid) {
        init_ended(status);
    }
}

/// The first process ended: the run is over; power off with its verdict.
fn init_ended(status: ExitStatus) -> ! {
    let code = if status.success() { ExitCode::Success } else { ExitCode::Failure };
    log::info!("init ended: {status:?}; powering off");
    crate::qemu::exit(code)
}

/// Frees the address spaces and kernel stacks of processes that ended,
/// now that the CPU is off them. Called right after every switch.
pub fn reap(k: &mut Kernel) {
    while let Some(pid) = k.sched.dead.pop() {
        let Some(p) = k.procs.get_mut(pid) else { continue };
        let aspace = p.aspace.take();
        let kstack = p.kstack.take();
        let own = p.own_quota;
        let orphan = p.handle_refs == 0;
        if let Some(a) = aspace {
            a.destroy(&mut k.quotas);
        }
        if let Some(s) = kstack {
            s.free();
            for _ in 0..kstack::STACK_PAGES {
                crate::mem::aspace::Charge::credit(&mut k.quotas, own);
            }
        }
        k.quotas.release(own);
        if orphan {
            k.procs.remove(pid);
        }
    }
}
