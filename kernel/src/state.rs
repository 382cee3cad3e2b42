//! The kernel's state: every table of objects, in one cell.
//!
//! One CPU, and the kernel runs with interrupts off (syscalls enter with IF
//! cleared, interrupt gates clear it), so nothing ever contends for the
//! state: `lock` hands out one `KernelGuard` at a time, so that Rust's
//! aliasing rules hold, and turns a re-entry (a bug) into a panic. Code
//! that blocks drops the guard before it switches away (see
//! `proc::switch`). With SMP this becomes a real lock (or per-CPU state).

use alloc::string::String;
use alloc::vec::Vec;
use caps::{CapSpace, ObjectId};
use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::ops::{Deref, DerefMut};

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

/// The kernel state's home. One CPU, and the kernel only runs with
/// interrupts off, so no two contexts ever touch it at once: a plain flag
/// (not an atomic lock) catches the one mistake possible, a path re-taking
/// it, and turns it into a panic rather than a silent corruption. The same
/// flag says whether the state exists yet, so taking it is one load, one
/// compare and one store (it is on every syscall's path).
struct KernelCell {
    /// [`UNINIT`], [`FREE`] or [`TAKEN`].
    flag: UnsafeCell<u8>,
    /// Initialised once `flag` has left [`UNINIT`].
    kernel: UnsafeCell<MaybeUninit<Kernel>>,
}

/// `state::init` has not run.
const UNINIT: u8 = 2;
/// The state exists and nobody holds it.
const FREE: u8 = 0;
/// A `KernelGuard` (or `init`) holds it.
const TAKEN: u8 = 1;

// SAFETY: see above: one CPU, interrupts off whenever the kernel runs;
// `lock` hands out at most one `KernelGuard` at a time.
unsafe impl Sync for KernelCell {}

static KERNEL: KernelCell =
    KernelCell { flag: UnsafeCell::new(UNINIT), kernel: UnsafeCell::new(MaybeUninit::uninit()) };

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
        unsafe { *KERNEL.flag.get() = FREE };
    }
}

/// Sets up the (empty) kernel state. Call once at boot.
pub fn init(images: Vec<ProgramImage>, devices: Devices, max_procs: usize) {
    // SAFETY: one CPU, interrupts off, boot is single-threaded: nothing
    // else reads or writes the flag or the state now.
    let was = unsafe { core::ptr::replace(KERNEL.flag.get(), TAKEN) };
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
    // SAFETY: as above; the flag is TAKEN, so no reference to the state
    // exists while it is written.
    unsafe {
        (*KERNEL.kernel.get()).write(kernel);
        *KERNEL.flag.get() = FREE;
    }
}

/// Takes the kernel state; panics if it is already taken (a path blocked
/// or re-entered while holding it) or not yet set up.
#[inline]
pub fn lock() -> KernelGuard {
    // SAFETY: one CPU, interrupts off: no other context reads or writes the
    // flag during this read-modify-write.
    let was = unsafe { core::ptr::replace(KERNEL.flag.get(), TAKEN) };
    if was != FREE {
        refused(was);
    }
    // SAFETY: the flag was FREE, so the state was initialised and no other
    // reference to it exists; it stays ours until the guard is dropped
    // (which frees the flag).
    let kernel = unsafe { (*KERNEL.kernel.get()).assume_init_mut() };
    KernelGuard { kernel }
}

#[cold]
#[inline(never)]
fn refused(was: u8) -> ! {
    if was == UNINIT {
        panic!("kernel state used before state::init");
    }
    panic!("kernel state taken twice: a path blocked or re-entered while holding it")
}
