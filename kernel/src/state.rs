//! The kernel's state: every table of objects, behind one lock.
//!
//! The kernel runs with interrupts off (syscalls enter with IF cleared,
//! interrupt gates clear it), and every CPU that runs kernel code on the
//! objects takes [`lock`] first: a big kernel lock, the measured first
//! step of SMP (issue 16; `docs/architecture.md`, "Locks"). It is a spin
//! lock; a CPU waiting for it answers TLB shootdown requests while it
//! spins (`arch::smp::tlb`), since the holder may be waiting for it to.
//! Taking it twice on one CPU (a path that blocked or re-entered while
//! holding it) is a bug and panics rather than deadlocking.
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
use core::sync::atomic::{AtomicU8, AtomicU32, Ordering};

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

/// The kernel state's home: a spin lock's flag, the CPU holding it, and
/// the state. The same flag says whether the state exists yet, so taking
/// an uncontended lock is one compare-and-swap (it is on every syscall's
/// path).
struct KernelCell {
    /// [`UNINIT`], [`FREE`] or [`TAKEN`].
    flag: AtomicU8,
    /// The index of the CPU holding the lock (meaningful while TAKEN):
    /// only to tell a re-entry on the same CPU (a bug) from contention.
    owner: AtomicU32,
    /// Initialised once `flag` has left [`UNINIT`].
    kernel: UnsafeCell<MaybeUninit<Kernel>>,
}

/// `state::init` has not run.
const UNINIT: u8 = 2;
/// The state exists and nobody holds it.
const FREE: u8 = 0;
/// A `KernelGuard` (or `init`) holds it.
const TAKEN: u8 = 1;

// SAFETY: the state is reached only through a `KernelGuard`, and `lock`
// hands out one at a time across all CPUs (the flag's compare-and-swap
// acquires, the guard's drop releases).
unsafe impl Sync for KernelCell {}

static KERNEL: KernelCell = KernelCell {
    flag: AtomicU8::new(UNINIT),
    owner: AtomicU32::new(u32::MAX),
    kernel: UnsafeCell::new(MaybeUninit::uninit()),
};

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
        if !self.kernel.sched.ready.is_empty() {
            // Someone is ready: an idle CPU may take it as soon as the
            // lock is free.
            crate::arch::smp::wake_idle();
        }
        // No CPU's index: a CPU that finds the lock taken and its own
        // index here must be the holder.
        KERNEL.owner.store(u32::MAX, Ordering::Relaxed);
        KERNEL.flag.store(FREE, Ordering::Release);
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
    debug_assert_eq!(KERNEL.flag.load(Ordering::Relaxed), TAKEN);
    // SAFETY: the lock is held by this CPU with no guard (the caller's
    // contract), so no other reference to the state exists.
    let kernel = unsafe { (*KERNEL.kernel.get()).assume_init_mut() };
    KernelGuard { kernel }
}

/// Sets up the (empty) kernel state. Call once at boot.
pub fn init(images: Vec<ProgramImage>, devices: Devices, max_procs: usize) {
    // Boot: the other CPUs take no lock before the scheduler starts.
    let was = KERNEL.flag.swap(TAKEN, Ordering::Acquire);
    assert_eq!(was, UNINIT, "state::init runs once");
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
    // SAFETY: the flag is TAKEN by us, so no reference to the state exists
    // while it is written.
    unsafe { (*KERNEL.kernel.get()).write(kernel) };
    KERNEL.flag.store(FREE, Ordering::Release);
}

/// Takes the kernel state, spinning while another CPU holds it; panics if
/// this CPU already holds it (a path blocked or re-entered while holding
/// it) or it is not yet set up.
#[inline]
pub fn lock() -> KernelGuard {
    if KERNEL.flag.compare_exchange(FREE, TAKEN, Ordering::Acquire, Ordering::Relaxed).is_err() {
        contended();
    }
    KERNEL.owner.store(crate::arch::percpu::index(), Ordering::Relaxed);
    // SAFETY: we moved the flag from FREE to TAKEN, so the state was
    // initialised and no other reference to it exists; it stays ours until
    // the guard is dropped (which frees the flag).
    let kernel = unsafe { (*KERNEL.kernel.get()).assume_init_mut() };
    KernelGuard { kernel }
}

/// The lock was not free: a bug if this CPU holds it or it does not exist
/// yet, otherwise spin until it is ours, answering TLB shootdowns (the
/// holder may be waiting for this CPU's answer).
#[cold]
#[inline(never)]
fn contended() {
    loop {
        match KERNEL.flag.load(Ordering::Relaxed) {
            UNINIT => panic!("kernel state used before state::init"),
            TAKEN if KERNEL.owner.load(Ordering::Relaxed) == crate::arch::percpu::index() => {
                panic!("kernel state taken twice: a path blocked or re-entered while holding it")
            }
            FREE if KERNEL
                .flag
                .compare_exchange(FREE, TAKEN, Ordering::Acquire, Ordering::Relaxed)
                .is_ok() =>
            {
                return;
            }
            _ => {}
        }
        crate::arch::smp::tlb::answer();
        core::hint::spin_loop();
    }
}
