//! TLB shootdown: when a mapping goes away from an address space that
//! another CPU has loaded, that CPU's TLB is emptied of it before the call
//! that removed it returns.
//!
//! The kernel uses no PCIDs and no global pages, so a CPU caches
//! translations only for the address space it has loaded now; loading
//! another drops them all. A process runs on one CPU at a time, but an
//! idle CPU stays in the address space of the process it last ran (its
//! TLB warm for it: `proc::switch`), and a memory object's revoke unmaps
//! pages from processes running elsewhere. So a shootdown goes to every
//! other CPU whose loaded root (`PerCpu::root`) is the one changed:
//! - [`Action::Flush`]: reload the root (its TLB entries go);
//! - [`Action::Leave`]: the address space is about to be freed; load the
//!   kernel's own table instead (only an idle CPU can be in it then).
//!
//! The initiator holds the kernel lock (so one shootdown runs at a time),
//! publishes the request, sends each target an IPI on [`TLB_VECTOR`] and
//! waits for each to answer. A target answers from that interrupt (in
//! user mode, or halted in its idle loop), or while it spins for the
//! kernel lock, which the initiator holds: an IPI cannot reach it there,
//! interrupts being off ([`answer`] is called from the spin). This is the
//! protocol of most kernels (Linux's `flush_tlb_mm_range`, seL4's
//! `doMaskReschedule`-style IPIs), without the batching yet.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use x86_64::registers::control::Cr3;
use x86_64::structures::paging::PhysFrame;

use super::super::apic::{self, Ipi};
use super::super::percpu;

/// The vector of the TLB shootdown IPI.
pub const TLB_VECTOR: u8 = 0xf1;

/// How long a shootdown waits for a CPU's answer before it says so in the
/// log (and waits on).
const ANSWER_TIMEOUT_NS: u64 = 1_000_000_000;
/// How long the local APIC may take to send the IPI.
const SEND_TIMEOUT_NS: u64 = 1_000_000;

/// What a target does when the address space is its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Reload it: some of its mappings went away.
    Flush,
    /// Leave it for the kernel's table: it is about to be freed.
    Leave,
}

/// The current request: its number (0: none yet), targets (a bit per CPU
/// index), root and action. Only the holder of the kernel lock writes
/// them, before it bumps the number.
static GENERATION: AtomicU64 = AtomicU64::new(0);
static TARGETS: AtomicU64 = AtomicU64::new(0);
static ROOT: AtomicU64 = AtomicU64::new(0);
static LEAVE: AtomicBool = AtomicBool::new(false);
/// Shootdowns sent since boot, and the time they took in all (from the
/// first IPI to the last answer), for the power-off report.
static SENT: AtomicU64 = AtomicU64::new(0);
static TOTAL_NS: AtomicU64 = AtomicU64::new(0);

/// Shootdowns that had at least one target since boot, and their mean
/// time in ns (first IPI sent to last answer in).
pub fn stats() -> (u64, u64) {
    let n = SENT.load(Ordering::Relaxed);
    (n, TOTAL_NS.load(Ordering::Relaxed) / n.max(1))
}

/// Removes what other CPUs cache of the address space whose root is
/// `root` (see the module docs); returns when every such CPU has answered.
/// The caller holds the kernel lock and has seen to this CPU's own TLB.
pub fn shootdown(root: PhysFrame, action: Action) {
    let me = percpu::index() as usize;
    let root = root.start_address().as_u64();
    // Nothing but its answer changes another CPU's root while we hold the
    // lock, so the targets chosen here are the ones to wait for.
    let mut targets = 0u64;
    for i in (0..percpu::count()).filter(|&i| i != me) {
        if percpu::by_index(i).is_some_and(|cpu| cpu.root.load(Ordering::Acquire) == root) {
            targets |= 1 << i;
        }
    }
    if targets == 0 {
        return;
    }
    ROOT.store(root, Ordering::Relaxed);
    LEAVE.store(action == Action::Leave, Ordering::Relaxed);
    TARGETS.store(targets, Ordering::Relaxed);
    let generation = GENERATION.fetch_add(1, Ordering::AcqRel) + 1;
    let began = crate::time::now_ns();
    let each = |f: &mut dyn FnMut(usize, &'static percpu::PerCpu)| {
        for i in (0..percpu::MAX_CPUS).filter(|i| targets & (1 << i) != 0) {
            if let Some(cpu) = percpu::by_index(i) {
                f(i, cpu);
            }
        }
    };
    each(&mut |_, cpu| {
        apic::send_ipi(cpu.apic_id as u8, Ipi::Fixed { vector: TLB_VECTOR }, SEND_TIMEOUT_NS);
    });
    each(&mut |i, cpu| {
        let answered = || cpu.tlb_answered.load(Ordering::Acquire) >= generation;
        if !crate::time::spin_until(ANSWER_TIMEOUT_NS, answered) {
            // Under emulation a virtual CPU's host thread can be kept off
            // the host's cores that long; the answer still comes.
            log::warn!("tlb: CPU {i} has not answered a shootdown for 1 s; waiting");
            while !answered() {
                core::hint::spin_loop();
            }
        }
    });
    // Not a target of our own request: mark it answered here, so that a
    // later `answer` on this CPU does not act on it.
    percpu::current().tlb_answered.store(generation, Ordering::Release);
    SENT.fetch_add(1, Ordering::Relaxed);
    TOTAL_NS.fetch_add(crate::time::now_ns() - began, Ordering::Relaxed);
}

/// Answers the current shootdown request, if this CPU has not yet: from
/// the IPI, and from the kernel lock's spin. Cheap when there is none
/// (one load and a compare).
#[inline]
pub fn answer() {
    let cpu = percpu::current();
    let generation = GENERATION.load(Ordering::Acquire);
    if cpu.tlb_answered.load(Ordering::Relaxed) == generation {
        return;
    }
    // Only a target acts: a CPU that was not one (the sender, or one that
    // took no interrupt and never spun on the lock since) may come here
    // much later, when the root has been freed and perhaps handed out
    // again as another address space's, which a stale "leave" would tear
    // it out of (found on review).
    let loaded = Cr3::read().0;
    let targets = TARGETS.load(Ordering::Relaxed);
    if acts(targets, cpu.index, ROOT.load(Ordering::Relaxed), loaded.start_address().as_u64()) {
        if LEAVE.load(Ordering::Relaxed) {
            percpu::leave_root(loaded);
        } else {
            x86_64::instructions::tlb::flush_all();
        }
    }
    cpu.tlb_answered.store(generation, Ordering::Release);
}

/// Whether CPU `index`, with root `loaded` in CR3, acts on a request for
/// `root` sent to `targets`: only a target in that address space.
fn acts(targets: u64, index: u32, root: u64, loaded: u64) -> bool {
    targets & (1u64 << index) != 0 && loaded == root
}

/// The self test `tlb-targets`: a CPU acts on a request only if it is a
/// target and in the address space named (a stale request replayed by a
/// non-target tore a reused root out from under a process before).
#[cfg(feature = "selftest")]
pub fn selftest_targets() -> Result<(), &'static str> {
    let (r, s) = (0x5000, 0x9000);
    let cases = [
        (0b10, 0, r, r, false, "a non-target in the root named"),
        (0b01, 0, r, r, true, "a target in the root named"),
        (0b01, 0, r, s, false, "a target in another root"),
        (0b100, 2, r, r, true, "a target with another index"),
        (0, 0, r, r, false, "a request with no target"),
    ];
    for (targets, index, root, loaded, want, what) in cases {
        if acts(targets, index, root, loaded) != want {
            return Err(what);
        }
    }
    Ok(())
}
