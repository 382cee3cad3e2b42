//! Bringing up the application processors (APs), then scheduling on them.
//!
//! This is the first step of SMP (issue 16): the boot CPU (BSP) finds the
//! processors in ACPI's MADT ([`madt`]), starts each other one with
//! INIT-SIPI-SIPI through its local APIC (Intel SDM vol. 3A, 9.4.4.1; MP
//! spec B.4) and the real-mode [`trampoline`], one at a time, and waits at
//! most [`CHECK_IN_TIMEOUT_NS`] for it to check in. An AP gets its own
//! GDT, TSS and IST stacks (`gdt::CpuTables`), the shared IDT, the
//! kernel's page table, the boot CPU's control-register settings, a
//! per-CPU area (`percpu`), its local APIC enabled with the timer masked,
//! and a kernel stack; then it counts itself online and waits, halted,
//! until the boot CPU has started the first process ([`release_aps`]).
//! Then it starts its timer and runs its idle loop (`proc::switch`):
//! every CPU runs the processes of its own run queue, and steals from a
//! busy CPU's when it has none (`kerncore::runq`), under the kernel lock
//! (`state`). Device interrupts go to the CPU `irqcpu=` names, except
//! NVMe's: each CPU's queue pairs interrupt that CPU.
//!
//! An idle CPU watches for work for a while ([`halt_poll`]), then halts;
//! whoever queues work for it wakes it with an IPI, unless it is still
//! watching ([`wake_idle`]). A mapping removed from an address space another CPU
//! has loaded is shot down there before the call returns ([`tlb`]).
//!
//! An AP that does not check in is logged and sent an INIT (back to
//! wait-for-SIPI), never a panic. Whether it is given up on or waited for
//! a while more is decided by one compare-and-swap on its start record
//! ([`ApStart::claim`]): an AP claims its start before it publishes
//! anything, so one given up on before that publishes nothing.

mod madt;
pub mod tlb;
mod trampoline;

use alloc::boxed::Box;
use alloc::vec::Vec;
use bootloader_api::BootInfo;
use bootloader_api::info::MemoryRegionKind;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::PhysFrame;

use super::apic::{self, Ipi};
use super::gdt::CpuTables;
use super::percpu::PerCpu;
use crate::mem::PAGE_SIZE;
use crate::proc::kstack::KernelStack;
use crate::time;
use trampoline::Trampoline;

/// How long an AP may take from the first start-up IPI to checking in.
/// Under TCG each virtual CPU is a host thread, which a loaded host may
/// leave unscheduled for a good part of a second (100 ms, the earlier
/// value, was a bet on the host); real processors check in within
/// microseconds, and Linux waits up to 10 s (`do_boot_cpu`).
pub const CHECK_IN_TIMEOUT_NS: u64 = 1_000_000_000;
/// Wait after INIT before the first start-up IPI (SDM 9.4.4.1: 10 ms).
const INIT_DELAY_NS: u64 = 10_000_000;
/// Wait after a start-up IPI (SDM 9.4.4.1: 200 µs).
const SIPI_DELAY_NS: u64 = 200_000;
/// How long the local APIC may take to send one IPI.
const IPI_SEND_TIMEOUT_NS: u64 = 1_000_000;
/// The lowest page the trampoline may use (page 0 holds the real-mode
/// interrupt table and is the null page).
const TRAMPOLINE_MIN: u64 = 0x1000;
/// A start-up IPI names a page below 1 MiB.
const TRAMPOLINE_END: u64 = 0x10_0000;
/// The highest local APIC id the xAPIC's ICR can name (255 is broadcast).
const MAX_XAPIC_ID: u32 = 254;

/// APs that checked in (the boot CPU is not counted).
static APS_ONLINE: AtomicU32 = AtomicU32::new(0);
/// Set when the boot CPU has started the first process: the APs may
/// schedule.
static SCHEDULING: AtomicBool = AtomicBool::new(false);
/// CPUs halted in their idle loop with nothing to run, one bit per CPU
/// index. A CPU sets its bit under the kernel lock before releasing it
/// and halting, so whoever makes a process ready under the lock later
/// finds it ([`wake_idle`]).
static IDLE: AtomicU64 = AtomicU64::new(0);

/// Idle CPUs watching their [`IDLE`] bit before they halt
/// ([`halt_poll`]): whoever clears such a CPU's bit sends no IPI, as it
/// sees the bit go (Linux's `TIF_POLLING_NRFLAG`).
static POLLING: AtomicU64 = AtomicU64::new(0);

/// The vector of the IPI that wakes an idle CPU (it only ends the `hlt`).
pub const WAKE_VECTOR: u8 = 0xf0;

/// Says whether the calling CPU is idle (see [`IDLE`]).
pub fn set_idle(idle: bool) {
    let bit = 1u64 << super::percpu::index();
    if idle {
        IDLE.fetch_or(bit, Ordering::AcqRel);
    } else {
        IDLE.fetch_and(!bit, Ordering::AcqRel);
    }
}

/// Whether some CPU idles (one load).
#[inline]
pub fn any_idle() -> bool {
    IDLE.load(Ordering::Relaxed) != 0
}

/// Processes are queued: wakes the idle CPUs (not the caller) that should
/// run them once the kernel lock is free (`RunQueues::to_wake`): each
/// idle CPU with a queue of its own, and one idle CPU to steal from a
/// busy CPU's queue. The caller, if it idles itself (an interrupt that
/// came in on its idle loop), runs its own queue when back in that loop.
/// A process woken on an idle CPU's queue waits for that CPU, not for the
/// first one free: it comes back to a warm TLB (under emulation, a
/// migration refills QEMU's software TLB; the disk benchmark's 4 KiB read
/// on two CPUs went from 143 to 205 µs when another CPU won the race).
///
/// A CPU's bit cleared means "look at your queue": the caller clears its
/// own when it queued work on itself from its idle loop (an interrupt
/// taken while it polls in [`halt_poll`]).
#[cold]
pub fn wake_idle(sched: &crate::proc::sched::Scheduler) {
    let index = super::percpu::index();
    let me = 1u64 << index;
    let all = IDLE.load(Ordering::SeqCst);
    if all & me != 0 && sched.runq.len(index) > 0 {
        IDLE.fetch_and(!me, Ordering::SeqCst);
    }
    let idle = all & !me;
    if idle == 0 {
        return;
    }
    let mut wake = sched.runq.to_wake(idle, sched.busy());
    while wake != 0 {
        let cpu = wake.trailing_zeros();
        wake &= wake - 1;
        // Whoever clears the bit sends the one IPI, unless the CPU polls
        // (then it sees the bit go). SeqCst, against `halt_poll`: this
        // clears IDLE, then reads POLLING; the poller clears POLLING, then
        // reads IDLE. One of the two reads sees the other's write, so the
        // CPU is either sent the IPI or sees its bit cleared.
        if IDLE.fetch_and(!(1u64 << cpu), Ordering::SeqCst) & (1u64 << cpu) == 0 {
            continue;
        }
        if POLLING.load(Ordering::SeqCst) & (1u64 << cpu) != 0 {
            continue;
        }
        if let Some(area) = super::percpu::by_index(cpu as usize) {
            apic::send_ipi(
                area.apic_id as u8,
                Ipi::Fixed { vector: WAKE_VECTOR },
                IPI_SEND_TIMEOUT_NS,
            );
        }
    }
}

/// Watches the calling CPU's [`IDLE`] bit for up to `window` TSC cycles,
/// with interrupts let in between looks; whether it was cleared (work was
/// queued for this CPU: [`wake_idle`]). The caller set the bit under the
/// kernel lock, released it, and halts if this returns `false`.
pub fn halt_poll(window: u64) -> bool {
    use x86_64::instructions::interrupts;
    let me = 1u64 << super::percpu::index();
    POLLING.fetch_or(me, Ordering::SeqCst);
    let start = super::cpu::rdtsc();
    let woken = loop {
        if IDLE.load(Ordering::SeqCst) & me == 0 {
            break true;
        }
        if super::cpu::rdtsc().wrapping_sub(start) >= window {
            break false;
        }
        // Not a single instruction between `sti` and `cli`: see the idle
        // loop's device polling.
        interrupts::enable();
        for _ in 0..HALT_POLL_SPINS {
            core::hint::spin_loop();
        }
        interrupts::disable();
    };
    POLLING.fetch_and(!me, Ordering::SeqCst);
    // A waker that found the POLLING bit sent no IPI: look once more.
    woken || IDLE.load(Ordering::SeqCst) & me == 0
}

/// `pause`s between two looks of [`halt_poll`].
const HALT_POLL_SPINS: u32 = 16;

/// Whether the scheduler runs (the boot CPU has released the APs): before,
/// the kernel state may not exist yet, and an AP halted waiting for it
/// may take a device interrupt routed to it (`irqcpu=`) that must then
/// do nothing (the devices are polled at every tick anyway).
pub fn scheduling() -> bool {
    SCHEDULING.load(Ordering::Acquire)
}

/// Lets the APs schedule: called by the boot CPU once the first process
/// is ready, right before its own idle loop.
pub fn release_aps() {
    SCHEDULING.store(true, Ordering::Release);
    for i in 1..super::percpu::count() {
        if let Some(area) = super::percpu::by_index(i) {
            apic::send_ipi(
                area.apic_id as u8,
                Ipi::Fixed { vector: WAKE_VECTOR },
                IPI_SEND_TIMEOUT_NS,
            );
        }
    }
}

/// The self test `absent-cpu` (test builds): a processor the MADT does not
/// list, with this local APIC id (which QEMU's machines never use for up
/// to 4 CPUs), is tried first, so the timeout path runs and the real APs
/// after it must still come up.
#[cfg(feature = "selftest")]
static ABSENT_CPU: AtomicBool = AtomicBool::new(false);
#[cfg(feature = "selftest")]
const ABSENT_APIC_ID: u8 = 200;

/// Arms the `absent-cpu` self test (see [`ABSENT_CPU`]).
#[cfg(feature = "selftest")]
pub fn selftest_absent_cpu() {
    ABSENT_CPU.store(true, Ordering::Relaxed);
}

/// The self test `stalled-ap` (test builds): the first AP to start stops
/// after installing its per-CPU area, before it checks in, as one the
/// host stopped scheduling would; the boot CPU must give up on it and
/// take the area back ([`start_one`]).
#[cfg(feature = "selftest")]
static STALLED_AP: AtomicBool = AtomicBool::new(false);

/// Arms the `stalled-ap` self test (see [`STALLED_AP`]).
#[cfg(feature = "selftest")]
pub fn selftest_stalled_ap() {
    STALLED_AP.store(true, Ordering::Relaxed);
}

/// [`ApStart::claim`]: neither side has decided yet.
const STARTING: u8 = 0;
/// [`ApStart::claim`]: the AP goes on; it will check in.
const CLAIMED: u8 = 1;
/// [`ApStart::claim`]: the boot CPU gave up; the AP halts unseen.
const ABANDONED: u8 = 2;

/// What an AP needs to get from the trampoline to its parking loop; made
/// by the boot CPU, leaked (an AP keeps its tables and stack for ever).
struct ApStart {
    /// Who decides this start: the AP claims it ([`CLAIMED`]) before it
    /// publishes anything, or the boot CPU, timing out, abandons it
    /// ([`ABANDONED`]); the one compare-and-swap that wins decides, so
    /// an abandoned AP never publishes and a claimed one is waited for.
    claim: AtomicU8,
    tables: CpuTables,
    /// Its per-CPU area, made here: an AP takes no lock before it checks
    /// in (an AP given up on and reset with INIT must not die holding the
    /// heap's).
    percpu: core::cell::Cell<Option<&'static mut PerCpu>>,
    /// The kernel's page-table root, which the AP switches to from the
    /// trampoline's temporary one.
    root: PhysFrame,
    root_flags: Cr3Flags,
    _stack: KernelStack,
}

/// Starts every other processor the MADT lists and logs how many CPUs
/// are online (`cpus: N online`, counting the boot CPU). Runs once on the
/// boot CPU, after `time::init` (delays are measured with the TSC) and
/// before the first process exists.
pub fn start(boot_info: &BootInfo) -> u32 {
    let bsp = u32::from(apic::id());
    let ids = match madt::processors(boot_info.rsdp_addr.into_option()) {
        Ok(ids) => ids,
        Err(e) => {
            log::warn!("cpus: cannot list the processors ({e}); only the boot CPU runs");
            Vec::new()
        }
    };
    let mut aps = Vec::new();
    for id in ids.into_iter().filter(|&id| id != bsp) {
        match u8::try_from(id) {
            Ok(_) if aps.len() + 1 >= super::percpu::MAX_CPUS => {
                log::warn!(
                    "cpu: APIC id {id}: more than {} CPUs; not started",
                    super::percpu::MAX_CPUS
                )
            }
            Ok(id) if u32::from(id) <= MAX_XAPIC_ID => aps.push(id),
            _ => log::warn!("cpu: APIC id {id} needs x2APIC mode; not started"),
        }
    }
    #[cfg(feature = "selftest")]
    if ABSENT_CPU.load(Ordering::Relaxed) {
        aps.insert(0, ABSENT_APIC_ID);
    }
    if !aps.is_empty() {
        match trampoline_page(boot_info).map(Trampoline::install) {
            None => {
                log::warn!("cpus: no usable page below 1 MiB for the trampoline; APs not started")
            }
            Some(Err(e)) => log::warn!("cpus: trampoline: {e:?}; APs not started"),
            Some(Ok(tramp)) => {
                let mut settled = true;
                for id in aps {
                    settled = start_one(&tramp, id);
                    if !settled {
                        log::warn!("cpus: an AP may still run the trampoline; no more started");
                        break;
                    }
                }
                // An AP that could not be sent back to wait-for-SIPI may
                // still run the trampoline: its page tables stay then.
                if settled {
                    tramp.remove();
                }
            }
        }
    }
    let online = 1 + APS_ONLINE.load(Ordering::Acquire);
    log::info!("cpus: {online} online");
    online
}

/// A usable RAM page below 1 MiB for the trampoline. Nothing else uses
/// such memory: the frame allocator, the heap and the DMA pool start at
/// 1 MiB (`kerncore::framemap::LOW_MEMORY_END`), so the page stays ours.
fn trampoline_page(boot_info: &BootInfo) -> Option<u64> {
    boot_info.memory_regions.iter().filter(|r| r.kind == MemoryRegionKind::Usable).find_map(|r| {
        let start = r.start.max(TRAMPOLINE_MIN).next_multiple_of(PAGE_SIZE);
        (start + PAGE_SIZE <= r.end.min(TRAMPOLINE_END)).then_some(start)
    })
}

/// Starts the AP with local APIC id `id` and waits for it to check in.
/// Returns whether it is settled: checked in, never sent anything, or sent
/// back to wait-for-SIPI (INIT); `false` if it may still run the
/// trampoline later.
fn start_one(tramp: &Trampoline, id: u8) -> bool {
    let Some(stack) = KernelStack::new() else {
        log::warn!("cpu: APIC id {id}: no kernel stack; not started");
        return true;
    };
    let (root, root_flags) = Cr3::read();
    let stack_top = stack.top();
    let tables = CpuTables::new();
    let percpu = core::cell::Cell::new(Some(super::percpu::allocate(tables.tss())));
    let start: &'static ApStart = Box::leak(Box::new(ApStart {
        claim: AtomicU8::new(STARTING),
        tables,
        percpu,
        root,
        root_flags,
        _stack: stack,
    }));
    tramp.prepare(stack_top, ap_entry, start as *const ApStart as u64);

    let before = APS_ONLINE.load(Ordering::Acquire);
    let installed_before = super::percpu::count();
    let checked_in = || APS_ONLINE.load(Ordering::Acquire) != before;
    let began = time::now_ns();
    let sent = apic::send_ipi(id, Ipi::Init, IPI_SEND_TIMEOUT_NS)
        && !time::spin_until(INIT_DELAY_NS, || false)
        && apic::send_ipi(id, Ipi::Startup { page: tramp.vector() }, IPI_SEND_TIMEOUT_NS);
    // The second start-up IPI only if the first did not start it (SDM
    // 9.4.4.1 sends two; a started AP ignores the second anyway).
    let sent = sent
        && (time::spin_until(SIPI_DELAY_NS, checked_in)
            || apic::send_ipi(id, Ipi::Startup { page: tramp.vector() }, IPI_SEND_TIMEOUT_NS));
    if sent
        && time::spin_until(CHECK_IN_TIMEOUT_NS.saturating_sub(time::now_ns() - began), checked_in)
    {
        return true;
    }
    let claimed = start
        .claim
        .compare_exchange(STARTING, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
        .is_err();
    // Claimed: it runs the kernel's code and publishes itself, but its
    // host thread lags; it checks in unless it stops for good.
    if claimed && time::spin_until(CHECK_IN_TIMEOUT_NS, checked_in) {
        log::warn!("cpu: APIC id {id} checked in late");
        return true;
    }
    log::warn!("cpu: APIC id {id} did not start");
    // Back to wait-for-SIPI, so it cannot run the trampoline later, with
    // the next AP's parameters. It holds no lock: it takes none before it
    // checks in (its per-CPU area was made here).
    if !apic::send_ipi(id, Ipi::Init, IPI_SEND_TIMEOUT_NS) {
        return false;
    }
    // Abandoned, it published nothing and never will. Claimed but stuck
    // for a second more: once the INIT has landed, nothing it published
    // stays, so nothing counts it or gives it work (its area once stayed
    // in `percpu::count`, and NVMe gave it a queue pair). APs start one at
    // a time, so these are all its own. (Only the INIT delay says it has
    // landed: under emulation, a host thread stopped in the middle of a
    // block of translated code finishes that block first.)
    if claimed {
        time::spin_until(INIT_DELAY_NS, || false);
        super::percpu::withdraw(installed_before);
        APS_ONLINE.store(before, Ordering::Release);
    }
    true
}

/// Where an AP enters Rust, on its own kernel stack, from the trampoline
/// (`arg`: its [`ApStart`]); interrupts are off.
extern "C" fn ap_entry(arg: u64) -> ! {
    // SAFETY: the boot CPU passed the address of a leaked `ApStart` that
    // nothing writes any more.
    let start = unsafe { &*(arg as *const ApStart) };
    start.tables.load();
    super::trap::init();
    // SAFETY: the kernel's root maps everything the trampoline's temporary
    // root maps in the kernel half (the same entries), so the code, stack
    // and data in use stay mapped; the lower half holds nothing this CPU
    // uses any more.
    unsafe { Cr3::write(start.root, start.root_flags) };
    super::cpu::init();
    // Every CPU's own MSRs: the `syscall` entry and its machine-check banks.
    super::syscall::init();
    super::mca::init();
    if start.claim.compare_exchange(STARTING, CLAIMED, Ordering::AcqRel, Ordering::Acquire).is_err()
    {
        // The boot CPU gave up on this start (and sends an INIT).
        super::halt_forever();
    }
    match start.percpu.take() {
        Some(area) => {
            super::percpu::install(area);
        }
        // Made by the boot CPU for this AP alone; it cannot be gone.
        None => super::halt_forever(),
    }
    #[cfg(feature = "selftest")]
    if STALLED_AP.swap(false, Ordering::AcqRel) {
        super::halt_forever();
    }
    apic::init_ap();
    APS_ONLINE.fetch_add(1, Ordering::Release);
    // Halted until the boot CPU has a process running: only its wake-up
    // IPI (or an NMI, counted) ends a `hlt` here.
    while !SCHEDULING.load(Ordering::Acquire) {
        x86_64::instructions::interrupts::enable_and_hlt();
        x86_64::instructions::interrupts::disable();
    }
    apic::start_timer();
    crate::proc::switch::idle_loop()
}
