//! The kernel's state: every table of objects, in one cell.
//!
//! One CPU, and the kernel runs with interrupts off (syscalls enter with IF
//! cleared, interrupt gates clear it), so nothing ever contends for the
//! state: `lock` hands out one `KernelGuard` at a time, so that Rust's
//! aliasing rules hold, and turns a re-entry (a bug) into a panic. Code
//! that blocks drops the guard before it switches away (see
//! `proc::sched`). With SMP this becomes a real lock (or per-CPU state).

use alloc::string::String;
use alloc::vec::Vec;
use caps::abi::Error;
use caps::{CapSpace, Capability, Object, ObjectId, Removed};
use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};

use crate::diskio::AsyncIo;
use crate::drivers::block::Devices;
use crate::objtable::ObjectTable;
use crate::proc::sched::Scheduler;
use crate::proc::{Block, Process, State};
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

/// The kernel state's home. One CPU, and the kernel only runs with
/// interrupts off, so no two contexts ever touch it at once: a plain flag
/// (not an atomic lock) catches the one mistake possible, a path re-taking
/// it, and turns it into a panic rather than a silent corruption.
struct KernelCell {
    taken: UnsafeCell<bool>,
    kernel: UnsafeCell<Option<Kernel>>,
}

// SAFETY: see above: one CPU, interrupts off whenever the kernel runs;
// `lock` hands out at most one `KernelGuard` at a time.
unsafe impl Sync for KernelCell {}

static KERNEL: KernelCell =
    KernelCell { taken: UnsafeCell::new(false), kernel: UnsafeCell::new(None) };

/// Exclusive access to the kernel state, until dropped.
pub struct KernelGuard {
    kernel: &'static mut Kernel,
}

impl Deref for KernelGuard {
    type Target = Kernel;
    fn deref(&self) -> &Kernel {
        self.kernel
    }
}

impl DerefMut for KernelGuard {
    fn deref_mut(&mut self) -> &mut Kernel {
        self.kernel
    }
}

impl Drop for KernelGuard {
    fn drop(&mut self) {
        // SAFETY: one CPU, interrupts off: nothing else reads the flag now.
        unsafe { *KERNEL.taken.get() = false };
    }
}

/// Sets up the (empty) kernel state. Call once at boot.
pub fn init(images: Vec<ProgramImage>, devices: Devices, max_procs: usize) {
    let _guard = lock_raw();
    // SAFETY: the flag is taken (no guard exists), and boot is single-threaded.
    unsafe {
        *KERNEL.kernel.get() = Some(Kernel {
            caps: CapSpace::new(MAX_CAPABILITIES),
            procs: ObjectTable::new(max_procs.min(MAX_PROCESSES)),
            quotas: Quotas::new(),
            images,
            sched: Scheduler::new(),
            init: None,
            devices,
            async_io: AsyncIo::new(),
            ipc: crate::ipc::Objects::new(),
        })
    };
}

/// Sets the taken flag, panicking if it already was.
fn lock_raw() -> TakenFlag {
    // SAFETY: one CPU, interrupts off: no other context reads or writes the
    // flag during this read-modify-write.
    let was = unsafe { core::ptr::replace(KERNEL.taken.get(), true) };
    assert!(!was, "kernel state taken twice: a path blocked or re-entered while holding it");
    TakenFlag
}

/// Clears the flag when dropped (for `init`, which has no guard).
struct TakenFlag;

impl Drop for TakenFlag {
    fn drop(&mut self) {
        // SAFETY: as in `lock_raw`.
        unsafe { *KERNEL.taken.get() = false };
    }
}

/// Takes the kernel state.
pub fn lock() -> KernelGuard {
    let flag = lock_raw();
    core::mem::forget(flag); // the guard clears it instead
    // SAFETY: the flag was clear, so no other reference to the state
    // exists; it stays ours until the guard is dropped.
    let kernel = unsafe { (*KERNEL.kernel.get()).as_mut() }.expect("state::init runs at boot");
    KernelGuard { kernel }
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

    /// Notes that the capability of removal `r` is gone: first wakes the
    /// process blocked through it, if any, with `Revoked`
    /// ([`Kernel::wake_revoked`]), then `cap_removed`. In that order, so
    /// the waiter hears `Revoked`, not the `PeerGone` the same removal
    /// may give the others.
    pub fn cap_gone(&mut self, r: &Removed) {
        if let Some(pid) = self.sched.untie(r.table, r.handle) {
            self.wake_revoked(pid);
        }
        self.cap_removed(&r.capability);
    }

    /// Wakes process `pid`, blocked through a capability that just died,
    /// with `Revoked`, out of whatever it waits in, with nothing delivered
    /// to or from it: a queued message is discarded with the handles it
    /// carries (they stay the sender's); a caller waiting for its answer
    /// leaves its reply with no caller (the answer gets `PeerGone`); a
    /// `proc_wait` leaves its child's waiters; a sleep its timer.
    pub fn wake_revoked(&mut self, pid: ObjectId) {
        let Some(p) = self.procs.get_mut(pid) else { return };
        let State::Blocked(block) = p.state else { return };
        match block {
            Block::Send(ep) => crate::ipc::endpoint::unlink_sender(self, ep, pid),
            Block::Recv(ep) => crate::ipc::endpoint::unlink_receiver(self, ep, pid),
            // `ipc::wake` takes it out of the callers' queue.
            Block::Reply(r) => crate::ipc::reply::caller_gone(self, r),
            Block::Wait(child) => {
                if let Some(c) = self.procs.get_mut(child) {
                    c.waiters.retain(|&w| w != pid);
                }
            }
            Block::Sleep(_) => {}
        }
        match block {
            Block::Send(_) | Block::Recv(_) | Block::Reply(_) => {
                crate::ipc::wake(self, pid, Err(Error::Revoked), false);
            }
            Block::Wait(_) | Block::Sleep(_) => {
                if let Some(p) = self.procs.get_mut(pid) {
                    p.revoked = true;
                }
                self.sched.wake(&mut self.procs, pid);
            }
        }
    }

    /// `cap_gone` for each of a batch of removals.
    pub fn caps_removed(&mut self, removed: &[Removed]) {
        for r in removed {
            self.cap_gone(r);
        }
    }
}
