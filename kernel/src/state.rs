//! The kernel's state: every table of objects, behind one lock.
//!
//! The kernel runs with interrupts off (syscalls enter with IF cleared,
//! interrupt gates clear it), and every CPU that runs kernel code on the
//! objects takes the kernel lock first: a reader-writer spin lock whose
//! readers each raise a flag of their own (`kerncore::brlock`, whose
//! protocol is model-checked with `loom` on the host). Everything that
//! changes the state takes it for writing ([`lock`]); the calls that only
//! look (`cap_info`, `clock`, `timer_info`, `disk_info`, `cap_graph`:
//! `syscall::run_shared`) take it for reading ([`read`]), so such calls on
//! several CPUs do not contend (`docs/architecture.md`, "Locks"). A CPU waiting
//! for it answers TLB shootdown requests while it spins
//! (`arch::smp::tlb`), since the holder may be waiting for it to. Taking
//! it twice on one CPU (a path that blocked or re-entered while holding
//! it) is a bug and panics rather than deadlocking.
//!
//! A context switch hands the lock over: the CPU keeps it across the
//! switch, and the context it switches to releases it
//! (`proc::switch::after_switch`), so no other CPU can resume a process
//! whose registers are still being saved.

use alloc::string::String;
use alloc::vec::Vec;
use caps::{CapSpace, ObjectId};
use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::ops::{Deref, DerefMut};
use kerncore::brlock::{BrLock, LockError};

use crate::arch::percpu::MAX_CPUS;

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
    pub ipc: crate::ipc::objects::Objects,
    /// Processes blocked on a disk.
    pub disk_waits: crate::diskio::DiskWaits,
    /// Notifications.
    pub notifications: crate::notify::Notifications,
    /// I/O rings and their requests.
    pub rings: crate::ring::Rings,
    /// Memory objects and where they are mapped.
    pub memobjs: crate::memobj::MemoryObjects,
    /// Bytes typed on the console, and their reader.
    pub console_in: crate::conin::ConsoleInput,
}

/// The kernel state's home: its lock and the state.
struct KernelCell {
    lock: BrLock<MAX_CPUS>,
    /// Initialised once the lock's `init_done` ran.
    kernel: UnsafeCell<MaybeUninit<Kernel>>,
}

// SAFETY: the state is reached only through the guards: a `KernelGuard`
// (`&mut`) exists only while this CPU holds the lock for writing, which
// excludes every other guard; `ReadGuard`s (`&`) only while their CPU
// holds it for reading, which excludes writers (`kerncore::brlock`).
// `Kernel` is `Sync` (checked below), so `&Kernel` on several CPUs at
// once is sound.
unsafe impl Sync for KernelCell {}

const _: () = {
    const fn sync<T: Sync>() {}
    sync::<Kernel>()
};

static KERNEL: KernelCell =
    KernelCell { lock: BrLock::new_uninit(), kernel: UnsafeCell::new(MaybeUninit::uninit()) };

/// Shared, read-only access to the kernel state, until dropped: for the
/// syscalls that only look (`cap_info`), which then run on several CPUs at
/// once. A CPU holding one must not take [`lock`] or another `read` (a
/// panic), nor switch away.
pub struct ReadGuard {
    kernel: &'static Kernel,
    cpu: u32,
}

impl Deref for ReadGuard {
    type Target = Kernel;
    fn deref(&self) -> &Kernel {
        self.kernel
    }
}

impl Drop for ReadGuard {
    fn drop(&mut self) {
        KERNEL.lock.read_unlock(self.cpu);
    }
}

/// Takes the kernel state for reading, spinning while a writer holds it.
#[inline]
pub fn read() -> ReadGuard {
    crate::sync::taking_kernel_lock();
    let cpu = crate::arch::percpu::index();
    if let Err(e) = KERNEL.lock.read(cpu, crate::arch::smp::tlb::answer) {
        refused(e);
    }
    // SAFETY: this CPU holds the lock for reading, which excludes writers
    // until `read_unlock`; it was initialised (`read` refuses otherwise).
    let kernel = unsafe { (*KERNEL.kernel.get()).assume_init_ref() };
    ReadGuard { kernel, cpu }
}

/// A use of the lock `kerncore::brlock` refused: a kernel bug.
#[cold]
#[inline(never)]
fn refused(e: LockError) -> ! {
    match e {
        LockError::Uninit => panic!("kernel state used before state::init"),
        LockError::Reentered => {
            panic!("kernel state taken twice: a path blocked or re-entered while holding it")
        }
        other => panic!("kernel lock misused: {other:?}"),
    }
}

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
        // Someone is ready and a CPU idles: it may take it as soon as the
        // lock is free (one load when no CPU idles, as on a busy machine;
        // looked at only when the queues or who is busy changed, not on
        // every syscall of a process beside an idle CPU it cannot use).
        if crate::arch::smp::any_idle()
            && self.kernel.sched.runq.any()
            && self.kernel.sched.runq.take_changed()
        {
            crate::arch::smp::wake_idle(&self.kernel.sched);
        }
        KERNEL.lock.write_unlock();
    }
}

impl KernelGuard {
    /// Keeps the lock held past this guard, for a context switch: the
    /// context switched to takes it over with [`resume_held`].
    pub fn hand_over(self) {
        core::mem::forget(self);
    }
}

/// The guard of a lock this CPU holds across a context switch
/// ([`KernelGuard::hand_over`] in the context it left).
///
/// # Safety
/// The calling CPU holds the lock and no guard for it exists: it was
/// handed over by the context this one was switched to from.
pub unsafe fn resume_held() -> KernelGuard {
    debug_assert!(KERNEL.lock.is_write_locked());
    // SAFETY: the lock is held by this CPU with no guard (the caller's
    // contract), so no other reference to the state exists.
    let kernel = unsafe { (*KERNEL.kernel.get()).assume_init_mut() };
    KernelGuard { kernel }
}

/// Sets up the (empty) kernel state. Call once at boot.
pub fn init(images: Vec<ProgramImage>, devices: Devices, max_procs: usize) {
    // Boot: the other CPUs take no lock before the scheduler starts.
    assert!(KERNEL.lock.begin_init(), "state::init runs once");
    let kernel = Kernel {
        caps: CapSpace::new(MAX_CAPABILITIES),
        procs: ObjectTable::new(max_procs.min(MAX_PROCESSES)),
        quotas: Quotas::new(),
        images,
        sched: Scheduler::new(),
        init: None,
        devices,
        async_io: AsyncIo::new(),
        ipc: crate::ipc::objects::Objects::new(),
        disk_waits: crate::diskio::DiskWaits::new(),
        notifications: crate::notify::table(),
        rings: crate::ring::Rings::new(),
        memobjs: crate::memobj::MemoryObjects::new(),
        console_in: crate::conin::ConsoleInput::new(),
    };
    // SAFETY: `begin_init` took the lock for writing, so no reference to
    // the state exists while it is written.
    unsafe { (*KERNEL.kernel.get()).write(kernel) };
    KERNEL.lock.init_done();
}

/// Takes the kernel state, spinning while another CPU holds it or reads
/// it; panics if this CPU already holds or reads it (a path blocked or
/// re-entered while holding it) or it is not yet set up.
#[inline]
pub fn lock() -> KernelGuard {
    crate::sync::taking_kernel_lock();
    let me = crate::arch::percpu::index();
    let cpus = crate::arch::percpu::count();
    if let Err(e) = KERNEL.lock.write(me, cpus, crate::arch::smp::tlb::answer) {
        refused(e);
    }
    // On one CPU `write` does not look at the reader flags: the only
    // reader (`syscall::cap_info_shared`) takes no other lock, so this
    // cannot happen; the test kernels check it all the same.
    if cfg!(feature = "authority-checks") && cpus == 1 && KERNEL.lock.reading(me) {
        refused(LockError::WriteWhileReading);
    }
    // SAFETY: this CPU holds the lock for writing and no CPU reads, so the
    // state was initialised and no other reference to it exists; it stays
    // ours until the guard is dropped (or handed over and dropped).
    let kernel = unsafe { (*KERNEL.kernel.get()).assume_init_mut() };
    KernelGuard { kernel }
}
