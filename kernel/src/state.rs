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
use core::sync::atomic::{AtomicU32, Ordering};

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

/// The kernel state's home: a reader-writer spin lock whose readers each
/// raise a flag in their own CPU's area (a "big reader" lock, as Linux's
/// old brlock: readers on different CPUs share no cache line, so they do
/// not slow each other down), the writer's word, the CPU holding it for
/// writing, and the state. The same word says whether the state exists
/// yet, so taking an uncontended lock is one atomic operation (it is on
/// every syscall's path).
///
/// A reader raises its flag, then looks at the word; a writer sets the
/// word, then looks at every other CPU's flag (both sequentially
/// consistent, as in Dekker's algorithm): at least one of the two sees the
/// other, so a reader never runs beside a writer. A reader that sees the
/// word taken lowers its flag and waits; readers never hold the word, so
/// they cannot starve a writer.
struct KernelCell {
    /// [`WRITER`] and [`UNINIT`] bits: 0 when free.
    word: AtomicU32,
    /// The index of the CPU holding the lock for writing (meaningful while
    /// [`WRITER`] is set): only to tell a re-entry on the same CPU (a bug)
    /// from contention.
    owner: AtomicU32,
    /// Initialised once `word` has lost [`UNINIT`].
    kernel: UnsafeCell<MaybeUninit<Kernel>>,
}

/// A writer holds the lock.
const WRITER: u32 = 1 << 31;
/// `state::init` has not run.
const UNINIT: u32 = 1 << 29;

// SAFETY: the state is reached only through the guards: a `KernelGuard`
// (`&mut`) exists only while `WRITER` is held and no CPU's reader flag is
// up, which excludes every other guard; `ReadGuard`s (`&`) only while their
// CPU's flag is up and no writer holds the word (see above). `Kernel` is
// `Sync` (checked below), so `&Kernel` on several CPUs at once is sound.
unsafe impl Sync for KernelCell {}

const _: () = {
    const fn sync<T: Sync>() {}
    sync::<Kernel>()
};

static KERNEL: KernelCell = KernelCell {
    word: AtomicU32::new(UNINIT),
    owner: AtomicU32::new(u32::MAX),
    kernel: UnsafeCell::new(MaybeUninit::uninit()),
};

/// Shared, read-only access to the kernel state, until dropped: for the
/// syscalls that only look (`cap_info`), which then run on several CPUs at
/// once. A CPU holding one must not take [`lock`] or another `read` (a
/// panic), nor switch away.
pub struct ReadGuard {
    kernel: &'static Kernel,
    cpu: &'static crate::arch::percpu::PerCpu,
}

impl Deref for ReadGuard {
    type Target = Kernel;
    fn deref(&self) -> &Kernel {
        self.kernel
    }
}

impl Drop for ReadGuard {
    fn drop(&mut self) {
        self.cpu.reader_flag().store(false, Ordering::Release);
    }
}

/// Takes the kernel state for reading, spinning while a writer holds it.
#[inline]
pub fn read() -> ReadGuard {
    let cpu = crate::arch::percpu::current();
    if cpu.reader_flag().swap(true, Ordering::SeqCst) {
        panic!("kernel state read twice on one CPU");
    }
    if KERNEL.word.load(Ordering::SeqCst) != 0 {
        contended_read(cpu);
    }
    // SAFETY: our flag is up and no writer held the word after it went up,
    // so none can take the state until the flag is down (see `KernelCell`);
    // the state was initialised (no UNINIT bit).
    let kernel = unsafe { (*KERNEL.kernel.get()).assume_init_ref() };
    ReadGuard { kernel, cpu }
}

#[cold]
#[inline(never)]
fn contended_read(cpu: &crate::arch::percpu::PerCpu) {
    loop {
        cpu.reader_flag().store(false, Ordering::Release);
        loop {
            let word = KERNEL.word.load(Ordering::Relaxed);
            if word & UNINIT != 0 {
                panic!("kernel state used before state::init");
            }
            if word & WRITER == 0 {
                break;
            }
            if KERNEL.owner.load(Ordering::Relaxed) == cpu.index {
                panic!("kernel state read while this CPU holds it for writing");
            }
            crate::arch::smp::tlb::answer();
            core::hint::spin_loop();
        }
        cpu.reader_flag().store(true, Ordering::SeqCst);
        if KERNEL.word.load(Ordering::SeqCst) == 0 {
            return;
        }
    }
}

/// Waits until no other CPU reads the state (the caller, CPU `me`, holds
/// `WRITER`); panics if `me` itself reads it.
///
/// The only reader (`syscall::cap_info_shared`) takes no other lock, so
/// this CPU reading here is a bug that cannot happen; the test kernels
/// check it all the same, the others only when several CPUs are up.
#[inline]
fn wait_for_readers(me: u32) {
    let cpus = crate::arch::percpu::count();
    if cpus > 1 {
        wait_for_other_readers(me, cpus);
    } else if cfg!(feature = "authority-checks")
        && crate::arch::percpu::current().reader_flag().load(Ordering::Relaxed)
    {
        reading_here();
    }
}

#[inline(never)]
fn wait_for_other_readers(me: u32, cpus: usize) {
    for i in 0..cpus {
        let Some(cpu) = crate::arch::percpu::by_index(i) else { continue };
        if i == me as usize {
            if cpu.reader_flag().load(Ordering::Relaxed) {
                reading_here();
            }
            continue;
        }
        while cpu.reader_flag().load(Ordering::SeqCst) {
            core::hint::spin_loop();
        }
    }
}

#[cold]
#[inline(never)]
fn reading_here() -> ! {
    panic!("kernel state locked for writing while this CPU reads it")
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
        // lock is free (one load when no CPU idles, as on a busy machine).
        if crate::arch::smp::any_idle() && !self.kernel.sched.ready.is_empty() {
            crate::arch::smp::wake_idle();
        }
        // No CPU's index: a CPU that finds the lock taken and its own
        // index here must be the holder.
        KERNEL.owner.store(u32::MAX, Ordering::Relaxed);
        KERNEL.word.store(0, Ordering::Release);
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
    debug_assert_ne!(KERNEL.word.load(Ordering::Relaxed) & WRITER, 0);
    // SAFETY: the lock is held by this CPU with no guard (the caller's
    // contract), so no other reference to the state exists.
    let kernel = unsafe { (*KERNEL.kernel.get()).assume_init_mut() };
    KernelGuard { kernel }
}

/// Sets up the (empty) kernel state. Call once at boot.
pub fn init(images: Vec<ProgramImage>, devices: Devices, max_procs: usize) {
    // Boot: the other CPUs take no lock before the scheduler starts.
    let was = KERNEL.word.swap(WRITER, Ordering::Acquire);
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
    // SAFETY: we hold WRITER, so no reference to the state exists while it
    // is written.
    unsafe { (*KERNEL.kernel.get()).write(kernel) };
    KERNEL.word.store(0, Ordering::Release);
}

/// Takes the kernel state, spinning while another CPU holds it or reads
/// it; panics if this CPU already holds or reads it (a path blocked or
/// re-entered while holding it) or it is not yet set up.
#[inline]
pub fn lock() -> KernelGuard {
    if KERNEL.word.compare_exchange(0, WRITER, Ordering::SeqCst, Ordering::Relaxed).is_err() {
        contended();
    }
    let me = crate::arch::percpu::index();
    KERNEL.owner.store(me, Ordering::Relaxed);
    wait_for_readers(me);
    // SAFETY: we set WRITER and no CPU reads (others: waited above; ours:
    // checked there too), so the state was
    // initialised and no other reference to it exists; it stays ours
    // until the guard is dropped (which clears WRITER).
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
        let word = KERNEL.word.load(Ordering::Relaxed);
        if word & UNINIT != 0 {
            panic!("kernel state used before state::init");
        }
        if word & WRITER != 0
            && KERNEL.owner.load(Ordering::Relaxed) == crate::arch::percpu::index()
        {
            panic!("kernel state taken twice: a path blocked or re-entered while holding it");
        }
        if word == 0
            && KERNEL.word.compare_exchange(0, WRITER, Ordering::SeqCst, Ordering::Relaxed).is_ok()
        {
            return;
        }
        crate::arch::smp::tlb::answer();
        core::hint::spin_loop();
    }
}
