//! The scheduler's state and policy: round robin over each CPU's ready
//! processes, preemption after a quantum of timer ticks, sleepers, and
//! the waiters tied to the handle they blocked through.
//!
//! Plain data over the process table: the switch itself (giving the CPU
//! to the next process) is `proc::switch`, above the kernel state.

use alloc::vec::Vec;
use caps::ObjectId;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use kerncore::runq::{CpuSet, RunQueues};

use super::{Block, Process, State};
use crate::arch::percpu::MAX_CPUS;
use crate::objtable::ObjectTable;

/// Timer ticks a process runs before another ready one gets the CPU.
pub const QUANTUM_TICKS: u32 = 10;

/// One CPU's share of the scheduler: who runs on it, and for how long.
pub struct CpuSched {
    /// The process on this CPU (`None`: its idle loop).
    pub current: Option<ObjectId>,
    /// Its capability table, kept here so the syscall path need not look
    /// the process up (cleared when the process ends).
    pub current_table: Option<caps::TableId>,
    /// Ticks left in the current process's quantum. An atomic because the
    /// timer tick counts it down under the kernel lock taken for reading
    /// (`switch::tick`: most ticks change nothing else); every other
    /// change is made under the lock taken for writing, which excludes
    /// that. Relaxed: the lock orders the accesses.
    quantum: AtomicU32,
    /// The process a direct switch on this CPU put first in the ready
    /// queue (an IPC wake-up of a call's receiver or an answered caller,
    /// or `proc_yield_to`): when the current process blocks and it runs
    /// next, it gets the rest of this quantum rather than a new one
    /// (`switch::switch_away`), so a call/reply pair cannot keep the rest
    /// of the queue off the CPU by renewing its quantum at every switch.
    pub donee: Option<ObjectId>,
}

impl CpuSched {
    /// A CPU in its idle loop.
    fn idle() -> CpuSched {
        CpuSched {
            current: None,
            current_table: None,
            quantum: AtomicU32::new(QUANTUM_TICKS),
            donee: None,
        }
    }

    /// Ticks left in the current process's quantum.
    #[inline]
    pub fn quantum(&self) -> u32 {
        self.quantum.load(Ordering::Relaxed)
    }

    /// Gives the current process `ticks` more before the timer preempts it.
    #[inline]
    pub fn set_quantum(&self, ticks: u32) {
        self.quantum.store(ticks, Ordering::Relaxed);
    }

    /// Ends the current quantum at the next tick (another process must run
    /// here soon).
    #[inline]
    pub fn cut_quantum(&self) {
        self.set_quantum(self.quantum().min(1));
    }

    /// One tick of the current quantum gone; returns the ticks left. Only
    /// this CPU's tick calls it, under the kernel lock taken for reading
    /// (which excludes every other change to it).
    #[inline]
    pub fn count_tick(&self) -> u32 {
        let left = self.quantum().saturating_sub(1);
        self.set_quantum(left);
        left
    }
}

/// Who is on each CPU, who is waiting for one, and for what. Each CPU
/// has its share ([`CpuSched`], reached with [`Scheduler::here`]) and its
/// run queue (`runq`: a ready process waits on the CPU it last ran on,
/// and an idle CPU steals from a busy one; see `kerncore::runq`).
pub struct Scheduler {
    /// Each CPU's share, by CPU index (`arch::percpu::index`).
    cpus: [CpuSched; MAX_CPUS],
    /// Ready processes, per CPU.
    pub runq: RunQueues<MAX_CPUS>,
    /// Sleeping processes and when they wake (ns since boot).
    pub sleepers: Vec<(u64, ObjectId)>,
    /// Every process blocked through a handle (in its own table: `sleep`,
    /// `proc_wait`, IPC), with that handle: when the capability dies it
    /// wakes with `Revoked` (see [`Scheduler::tie`], `Kernel::cap_gone`).
    /// One mechanism for every kind of wait.
    pub through: Vec<Through>,
    /// Ended processes whose memory is freed after the next switch (on
    /// any CPU: the lock is held across a switch, so by the time another
    /// CPU can reap, the one a process ended on is off its stack).
    pub dead: Vec<ObjectId>,
}

/// Where [`Scheduler::enqueue`] puts a ready process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Last in its CPU's queue.
    Back,
    /// First in its CPU's queue (woken by a device: see
    /// [`Scheduler::wake_first`]).
    Front,
    /// First in the calling CPU's queue, to run next here (the direct
    /// switch of an IPC call or answer): the caller's CPU becomes its
    /// CPU, unless its mask forbids, when it goes first on its own.
    Here,
}

/// A process queued where its mask forbids, or twice: a kernel bug.
#[cold]
#[inline(never)]
pub(super) fn queueing_failed(pid: ObjectId, cpu: u32, e: kerncore::runq::RunqError) -> ! {
    panic!("process {:#x} queued on CPU {cpu}: {e:?}", pid.0);
}

/// Processes moved by [`Scheduler::pull`] since boot (logged at
/// power-off).
static PULLS: AtomicU64 = AtomicU64::new(0);

/// Processes moved by balancing since boot.
pub fn pulls() -> u64 {
    PULLS.load(Ordering::Relaxed)
}

/// The CPUs of `cpus` (each CPU's share, by index) running a process.
fn busy(cpus: &[CpuSched]) -> CpuSet {
    let mut busy = 0;
    for (i, s) in cpus.iter().enumerate().take(crate::arch::percpu::count()) {
        if s.current.is_some() {
            busy |= 1 << i;
        }
    }
    busy
}

/// The online CPUs of `cpus` (a `SpawnArgs::cpus` or `proc_set_cpus`
/// mask); `InvalidArgument` if there are none.
pub fn usable(cpus: CpuSet) -> Result<CpuSet, caps::abi::Error> {
    match cpus & online() {
        0 => Err(caps::abi::Error::InvalidArgument),
        cpus => Ok(cpus),
    }
}

/// The CPUs online, as a set (their indices are `0..count`).
pub fn online() -> CpuSet {
    let n = crate::arch::percpu::count().clamp(1, MAX_CPUS);
    u64::MAX >> (64 - n)
}

impl Scheduler {
    /// Nothing to run yet.
    pub fn new() -> Self {
        Scheduler {
            cpus: core::array::from_fn(|_| CpuSched::idle()),
            runq: RunQueues::new(crate::arch::percpu::count(), super::kstack::MAX_STACKS),
            sleepers: Vec::new(),
            through: Vec::new(),
            dead: Vec::new(),
        }
    }

    /// Queues ready process `pid` (record `p`), where `place` says;
    /// returns whether it was queued on the calling CPU.
    ///
    /// A process to run first (`Place::Front`, or `Place::Here` when its
    /// mask keeps it off this CPU) whose CPU is busy queues here if it may
    /// (this CPU's caller preempts for it), else first on its CPU, whose
    /// quantum is cut to end at the next tick: it waits at most a tick,
    /// not a quantum.
    ///
    /// A process woken from this CPU's idle loop (by an interrupt it took)
    /// queues here, if its mask allows, rather than on the CPU it last ran
    /// on: this CPU is awake and will run it at once, while waking a
    /// halted one costs an IPI and the time its emulator thread takes to
    /// resume (under TCG that wake-up is what makes a round trip between
    /// two CPUs cost 82–91 µs without halt polling, against 12–13 µs on
    /// one CPU).
    ///
    /// On every switch of a yield and every IPC wake-up: the common cases
    /// (the process last ran here, or is allowed here and this CPU idles)
    /// are decided first, without the general rule's look at which CPUs
    /// are online.
    #[inline]
    pub fn enqueue(&mut self, p: &mut Process, pid: ObjectId, place: Place) -> bool {
        let here = crate::arch::percpu::index();
        let front = place != Place::Back;
        let allowed_here = p.cpus & (1 << here) != 0;
        let cpu = if allowed_here
            && (place == Place::Here || p.cpu == here || self.cpu_mut(here).current.is_none())
        {
            if place == Place::Here {
                self.cpu_mut(here).donee = Some(pid);
            }
            here
        } else {
            self.elsewhere(p, here, front)
        };
        p.cpu = cpu;
        if let Err(e) = self.runq.push(cpu, pid, p.cpus, front) {
            queueing_failed(pid, cpu, e);
        }
        cpu == here
    }

    /// [`Scheduler::enqueue`]'s CPU for a process not simply queued here.
    #[inline(never)]
    fn elsewhere(&mut self, p: &Process, here: u32, front: bool) -> u32 {
        // `p.cpus` holds an online CPU (spawn checked), so there is one.
        let home = kerncore::runq::home(p.cpu, p.cpus, online()).unwrap_or(here);
        if !front || self.cpu_mut(home).current.is_none() {
            return home;
        }
        if p.cpus & (1 << here) != 0 {
            return here;
        }
        self.cpu_mut(home).cut_quantum();
        home
    }

    /// The next process for the calling CPU (index `cpu`): the first of
    /// its queue, else one stolen from a busy CPU.
    #[inline]
    pub fn pick(&mut self, cpu: u32) -> Option<ObjectId> {
        let cpus = &self.cpus;
        self.runq.pop(cpu, || busy(cpus))
    }

    /// The CPUs running a process.
    pub fn busy(&self) -> CpuSet {
        busy(&self.cpus)
    }

    /// The calling CPU's share.
    #[inline]
    pub fn here(&self) -> &CpuSched {
        &self.cpus[Self::slot(crate::arch::percpu::index())]
    }

    /// The calling CPU's share, to change.
    #[inline]
    pub fn here_mut(&mut self) -> &mut CpuSched {
        &mut self.cpus[Self::slot(crate::arch::percpu::index())]
    }

    /// CPU `index`'s share, to change (`index` is the caller's, read once).
    #[inline]
    pub fn cpu_mut(&mut self, index: u32) -> &mut CpuSched {
        &mut self.cpus[Self::slot(index)]
    }

    /// A CPU index's slot: every index is below `MAX_CPUS` (`arch::smp`
    /// starts no more), and the mask lets the compiler drop the bounds
    /// check on these hot paths.
    #[inline]
    fn slot(index: u32) -> usize {
        const { assert!(MAX_CPUS.is_power_of_two()) };
        index as usize & (MAX_CPUS - 1)
    }

    /// Every CPU's share, by index (for the authority checks).
    #[cfg(feature = "authority-checks")]
    pub fn cpus(&self) -> &[CpuSched] {
        &self.cpus
    }

    /// Ties process `pid` (of table `table`), about to block, to its
    /// capability `handle`: if that dies first, it wakes with `Revoked`
    /// ([`Scheduler::untie`]). `pid` is running, so it has no tie: a
    /// process's tie ends when it wakes ([`Scheduler::forget_blocked`]),
    /// or, for a `proc_wait`, when its call resumes (checked after every
    /// syscall in the test kernels: `authority.rs`).
    pub fn tie(&mut self, pid: ObjectId, table: caps::TableId, handle: caps::abi::RawHandle) {
        debug_assert!(!self.through.iter().any(|t| t.pid == pid), "a running process was tied");
        self.through.push(Through { pid, table, handle });
    }

    /// Makes a blocked process ready.
    pub fn wake(&mut self, procs: &mut ObjectTable<Process>, pid: ObjectId) {
        if let Some(p) = procs.get_mut(pid)
            && let State::Blocked(block) = p.state
        {
            p.state = State::Ready;
            self.forget_blocked(pid, block);
            self.enqueue(p, pid, Place::Back);
        }
    }

    /// Makes a blocked process ready, first in line: it waited for a
    /// device, and an I/O-bound process that runs as soon as its request
    /// completes keeps the device busy while costing the others little
    /// (the interactivity rule of most schedulers since 4.3BSD). Whether
    /// it was queued on the calling CPU (whose caller then preempts its
    /// own process for it: `iowait::interrupt`, the tick).
    pub fn wake_first(&mut self, procs: &mut ObjectTable<Process>, pid: ObjectId) -> bool {
        if let Some(p) = procs.get_mut(pid)
            && let State::Blocked(block) = p.state
        {
            p.state = State::Ready;
            self.forget_blocked(pid, block);
            return self.enqueue(p, pid, Place::Front);
        }
        false
    }

    /// Drops the bookkeeping of a process's block (it woke or died).
    ///
    /// A `proc_wait` keeps its tie: woken, it runs its lookup again when it
    /// next runs, through the same handle, so a revoke between its wake-up
    /// and then must still reach it (it would otherwise learn the status
    /// after the revoke returned). The syscall wrapper unties it when it
    /// resumes (`untie_process`), `lifecycle::terminate` if it dies first.
    pub fn forget_blocked(&mut self, pid: ObjectId, block: Block) {
        if let Block::Sleep(_) = block {
            self.sleepers.retain(|&(_, p)| p != pid);
        }
        if !matches!(block, Block::Wait(_)) {
            self.untie_process(pid);
        }
    }

    /// Drops process `pid`'s tie, if it has one. A process has at most one
    /// ([`Scheduler::tie`] replaces it), so the first found is the one. On
    /// every IPC round trip (twice a side), so a plain search rather than
    /// `retain`'s general compaction, from the newest tie: the process an
    /// IPC wake-up unties is the one that tied last (a call's receiver, an
    /// answered caller), while long waits (servers idle on other
    /// endpoints, a parent in `proc_wait`) sit at the front.
    pub fn untie_process(&mut self, pid: ObjectId) {
        if let Some(i) = self.through.iter().rposition(|t| t.pid == pid) {
            self.through.swap_remove(i);
        }
    }

    /// Takes the tie of the process blocked through `handle` of `table`,
    /// if one is: that capability died, and the caller wakes the process
    /// with `Revoked` (`Kernel::cap_gone`). O(processes blocked through a
    /// handle).
    pub fn untie(
        &mut self,
        table: caps::TableId,
        handle: caps::abi::RawHandle,
    ) -> Option<ObjectId> {
        let i = self.through.iter().position(|t| t.table == table && t.handle == handle)?;
        Some(self.through.swap_remove(i).pid)
    }

    /// Whether a sleeper is due at `now` ([`Scheduler::wake_sleepers`]
    /// would wake one). O(sleepers), no change.
    pub fn sleeper_due(&self, now: u64) -> bool {
        self.sleepers.iter().any(|&(t, _)| t <= now)
    }

    /// Balancing at the end of a quantum (`switch::tick`): if another
    /// CPU's load is at least 2 above the calling CPU's (`cpu`), one of
    /// its waiting processes moves to the back of this CPU's queue
    /// (`kerncore::runq`'s `pull`). Returns whether one did.
    pub fn pull(&mut self, procs: &mut ObjectTable<Process>, cpu: u32) -> bool {
        let Some(pid) = self.runq.pull(cpu, busy(&self.cpus)) else { return false };
        let Some(p) = procs.get_mut(pid) else {
            // A queued process always has a record (`lifecycle` takes it
            // out of the queues first); reported, not acted on.
            log::error!("sched: process {} queued without a record", pid.0);
            return false;
        };
        p.cpu = cpu;
        if let Err(e) = self.runq.push(cpu, pid, p.cpus, false) {
            queueing_failed(pid, cpu, e);
        }
        PULLS.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Wakes the sleepers whose time has come.
    pub fn wake_sleepers(&mut self, procs: &mut ObjectTable<Process>, now: u64) {
        while let Some(i) = self.sleepers.iter().position(|&(t, _)| t <= now) {
            let (_, pid) = self.sleepers.swap_remove(i);
            self.wake(procs, pid);
        }
    }
}

/// A process blocked through a handle of its own (see `Scheduler::through`).
#[derive(Clone, Copy, Debug)]
pub struct Through {
    /// The blocked process.
    pub pid: ObjectId,
    /// Its table.
    pub table: caps::TableId,
    /// The handle it blocked through.
    pub handle: caps::abi::RawHandle,
}
