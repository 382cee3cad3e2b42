//! The kernel's state: every table of objects, behind one lock.
//!
//! One CPU, and the kernel runs with interrupts off (syscalls enter with IF
//! cleared, interrupt gates clear it), so the lock is never contended: it
//! is there so that Rust's rules hold, and `lock` turns a re-entry (a bug)
//! into a panic rather than a silent deadlock. Code that blocks drops the
//! guard before it switches away (see `proc::sched`).

use alloc::string::String;
use alloc::vec::Vec;
use caps::{CapSpace, Capability, Object, ObjectId, Removed};
use spin::{Mutex, MutexGuard, Once};

use crate::diskio::AsyncIo;
use crate::drivers::block::Devices;
use crate::objtable::ObjectTable;
use crate::proc::Process;
use crate::proc::sched::Scheduler;
use crate::quota::Quotas;

/// Most capabilities in all tables together.
pub const MAX_CAPABILITIES: usize = 1 << 20;
/// Most processes at once (live or waiting to be reaped).
pub const MAX_PROCESSES: usize = crate::proc::kstack::MAX_STACKS;
/// The console object's id (there is one console).
pub const CONSOLE_ID: ObjectId = ObjectId(0);
/// The timer object's id (there is one clock).
pub const TIMER_ID: ObjectId = ObjectId(0);

/// A program in the boot ramdisk, which `Image` capabilities name by index.
pub struct ProgramImage {
    /// The file name under `bin/`.
    pub name: String,
    /// The ELF bytes (in the ramdisk, never freed).
    pub bytes: &'static [u8],
}

/// Everything the kernel keeps about the objects it hands out.
pub struct Kernel {
    /// Every capability table and the derivation tree.
    pub caps: CapSpace,
    /// Processes, by id.
    pub procs: ObjectTable<Process>,
    /// Memory quotas.
    pub quotas: Quotas,
    /// Programs in the ramdisk.
    pub images: Vec<ProgramImage>,
    /// Who runs next.
    pub sched: Scheduler,
    /// The first process, whose end powers the machine off.
    pub init: Option<ObjectId>,
    /// Block devices.
    pub devices: Devices,
    /// Asynchronous disk requests.
    pub async_io: AsyncIo,
    /// IPC endpoints and replies.
    pub ipc: crate::ipc::Objects,
}

static KERNEL: Once<Mutex<Kernel>> = Once::new();

/// Sets up the (empty) kernel state. Call once at boot.
pub fn init(images: Vec<ProgramImage>, devices: Devices) {
    KERNEL.call_once(|| {
        Mutex::new(Kernel {
            caps: CapSpace::new(MAX_CAPABILITIES),
            procs: ObjectTable::new(MAX_PROCESSES),
            quotas: Quotas::new(),
            images,
            sched: Scheduler::new(),
            init: None,
            devices,
            async_io: AsyncIo::new(),
            ipc: crate::ipc::Objects::new(),
        })
    });
}

/// Takes the kernel lock.
pub fn lock() -> MutexGuard<'static, Kernel> {
    KERNEL
        .get()
        .expect("state::init runs at boot")
        .try_lock()
        .expect("kernel lock taken twice: a path blocked or re-entered while holding it")
}

impl Kernel {
    /// Notes a new capability (objects count their holders; endpoints
    /// count those with SEND and with RECV apart).
    pub fn cap_created(&mut self, cap: &Capability) {
        match &cap.object {
            Object::Memory(id) => self.quotas.hold(*id),
            Object::Process(id) => {
                if let Some(p) = self.procs.get_mut(*id) {
                    p.handle_refs += 1;
                }
            }
            Object::Endpoint(id) => crate::ipc::endpoint::cap_created(self, *id, cap.rights),
            Object::Reply(id) => crate::ipc::reply::cap_created(self, *id),
            _ => {}
        }
    }

    /// Notes that a capability is gone; frees what nothing refers to any
    /// more, and wakes IPC peers that can no longer be answered.
    pub fn cap_removed(&mut self, cap: &Capability) {
        match &cap.object {
            Object::Memory(id) => self.quotas.release(*id),
            Object::Process(id) => {
                let Some(p) = self.procs.get_mut(*id) else { return };
                p.handle_refs -= 1;
                if p.handle_refs == 0 && p.is_reaped() {
                    self.procs.remove(*id);
                }
            }
            Object::Endpoint(id) => crate::ipc::endpoint::cap_removed(self, *id, cap.rights),
            Object::Reply(id) => crate::ipc::reply::cap_removed(self, *id),
            _ => {}
        }
    }

    /// `cap_removed` for each of a batch of removals.
    pub fn caps_removed(&mut self, removed: &[Removed]) {
        for r in removed {
            self.cap_removed(&r.capability);
        }
    }
}
