//! Processes: an address space, a capability table, a kernel stack, and
//! the state the scheduler needs.
//!
//! The process record and its states; what happens to processes as they
//! start, switch and end is above the kernel state (`spawn`, `switch`,
//! `crate::lifecycle`).
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
pub mod switch;

use alloc::string::String;
use alloc::vec::Vec;
use caps::abi::process::ExitStatus;
use caps::{ObjectId, TableId};

use crate::mem::aspace::AddressSpace;
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
    /// In `disk_read`, `disk_write` or `disk_flush`, until the device is
    /// done (its transfer is in `Kernel::disk_waits`).
    Disk,
    /// In `disk_complete`, until the device is done with this request.
    DiskComplete(crate::drivers::block::RequestId),
    /// In `ring_enter`, until one of this ring's requests is done (listed
    /// in `Rings::waiters`).
    Ring(ObjectId),
    /// In `cap_revoke`, until the devices are done with the requests that
    /// ran through what it destroyed (listed in `Kernel::disk_waits`).
    Settle,
    /// In `notify_wait`, queued on this notification.
    Notify(ObjectId),
    /// In `console_read`, until a byte is typed (the one reader of
    /// `Kernel::console_in`).
    ConsoleRead,
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
    pub ipc: crate::ipc::message::IpcState,
    /// Woken from `proc_wait` or `sleep` because the capability it blocked
    /// through died (see `sched::Scheduler::tie`); the syscall wrapper
    /// turns it into `Revoked` when the process runs again.
    pub revoked: bool,
    /// The bits a signal handed it while it waited in `notify_wait`
    /// (`notify::signal`); the syscall wrapper returns them when it runs.
    pub notified: u64,
    /// The last few ranges `(vaddr, pages)` of memory-object pages taken
    /// from it by the death of their capability (a revoke), newest last:
    /// a page fault there is reported as such (`proc::fault`).
    pub revoked_maps: [(u64, u64); 4],
    /// The CPU it runs on, last ran on, or waits on when ready (its run
    /// queue's: see `sched::Scheduler::enqueue`).
    pub cpu: u32,
    /// The CPUs it may run on (online ones only; set at spawn and by
    /// `proc_set_cpus`).
    pub cpus: kerncore::runq::CpuSet,
    /// A mask `proc_set_cpus` gave it while it ran on a CPU the mask leaves
    /// out: it takes effect where it stops running there (`switch::park`),
    /// so it never runs, nor waits, outside [`cpus`](Self::cpus).
    pub next_cpus: Option<kerncore::runq::CpuSet>,
}

impl Process {
    /// Takes on the mask `proc_set_cpus` left pending, if any (it stops
    /// running where that mask leaves out: `switch::park`). Reads before
    /// it writes: this is on every switch.
    #[inline]
    pub fn apply_next_cpus(&mut self) {
        if let Some(cpus) = self.next_cpus {
            self.cpus = cpus;
            self.next_cpus = None;
        }
    }

    /// Whether it has ended and every resource but this record is freed.
    pub fn is_reaped(&self) -> bool {
        self.state == State::Dead && self.aspace.is_none() && self.kstack.is_none()
    }
}
