//! Run queues: one FIFO of ready processes per CPU, with affinity and
//! stealing.
//!
//! A ready process waits on its *home* CPU's queue: the CPU it last ran
//! on, if its affinity mask allows it (soft affinity: it comes back to a
//! warm cache and, under emulation, to a software TLB that still holds
//! its pages), else the lowest online CPU the mask allows ([`home`]).
//!
//! A CPU runs its own queue first. When that is empty it *steals*: from
//! the longest queue of a CPU that is busy (running a process), the first
//! process its mask lets run here. That process would otherwise wait at
//! least a quantum while this CPU idles. A CPU never steals from an idle
//! CPU's queue: that CPU has been woken to run it ([`RunQueues::to_wake`])
//! and comes back to it warm.
//!
//! A CPU that runs a process and has a queue of its own never steals, so
//! the timer also *pulls* now and then ([`RunQueues::pull`]): a CPU whose
//! load is 2 below another's takes one of that CPU's waiting processes.
//!
//! This is the shape of most SMP schedulers since the 1990s: per-CPU run
//! queues with balancing when a CPU goes idle and periodically (Linux's
//! O(1) scheduler, FreeBSD's ULE), reduced to what exocap needs: no
//! priorities, one quantum for everyone, equal weights.
//!
//! CPU sets are bit masks by CPU index ([`CpuSet`]: bit `i` is CPU `i`);
//! `N` CPUs at most, `N <= 64`.
//!
//! Costs: push and pop from the own queue O(1); a steal O(N + length of
//! the queue stolen from); [`RunQueues::remove`] O(processes queued), and
//! O(1) for [`RunQueues::remove_near`] given the right queue's front.

use alloc::collections::VecDeque;
use caps::ObjectId;

/// A set of CPUs, by index: bit `i` is CPU `i`.
pub type CpuSet = u64;

/// The CPU a process that last ran on `last`, and may run on `allowed`,
/// waits on: `last` if `allowed` and `online` both hold it, else the
/// lowest CPU in both; `None` if none is.
pub fn home(last: u32, allowed: CpuSet, online: CpuSet) -> Option<u32> {
    let ok = allowed & online;
    if ok == 0 {
        return None;
    }
    if last < 64 && ok & (1 << last) != 0 { Some(last) } else { Some(ok.trailing_zeros()) }
}

/// A queued process and the CPUs it may run on (kept here, so a steal
/// looks at no process record).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    pid: ObjectId,
    allowed: CpuSet,
}

/// A refused queue operation: a kernel bug, reported rather than acted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunqError {
    /// The CPU is not below `N`, or not in the process's mask.
    NotAllowed,
    /// The process is already queued.
    AlreadyQueued,
}

/// The ready processes of up to `N` CPUs.
pub struct RunQueues<const N: usize> {
    queues: [VecDeque<Entry>; N],
    /// Bit `c` is set exactly when CPU `c`'s queue is not empty.
    nonempty: CpuSet,
    /// Set by a push or [`RunQueues::mark_changed`], taken by
    /// [`RunQueues::take_changed`]: whether an idle CPU may have been
    /// given something to do since it was last looked at.
    changed: bool,
}

impl<const N: usize> RunQueues<N> {
    /// Empty queues; the first `cpus` of them with room for `capacity`
    /// processes each, so that queueing allocates nothing until one of
    /// them holds more.
    pub fn new(cpus: usize, capacity: usize) -> Self {
        const { assert!(N <= 64, "a CpuSet has 64 bits") };
        let mut queues = [const { VecDeque::new() }; N];
        for q in queues.iter_mut().take(cpus) {
            q.reserve(capacity);
        }
        RunQueues { queues, nonempty: 0, changed: false }
    }

    /// Queues `pid` on CPU `cpu`, last (or first, `front`: it runs next
    /// there). `cpu` must be in `allowed`; `pid` must not be queued
    /// (checked only in debug builds: it costs a search).
    #[inline]
    pub fn push(
        &mut self,
        cpu: u32,
        pid: ObjectId,
        allowed: CpuSet,
        front: bool,
    ) -> Result<(), RunqError> {
        let c = cpu as usize;
        if c >= N || allowed & (1 << c) == 0 {
            return Err(RunqError::NotAllowed);
        }
        if cfg!(debug_assertions) && self.contains(pid) {
            return Err(RunqError::AlreadyQueued);
        }
        let entry = Entry { pid, allowed };
        if front {
            self.queues[c].push_front(entry);
        } else {
            self.queues[c].push_back(entry);
        }
        self.nonempty |= 1 << c;
        self.changed = true;
        Ok(())
    }

    /// Says an idle CPU may have something to do without a push (a CPU
    /// with a queue became busy: its queue may now be stolen from).
    #[inline]
    pub fn mark_changed(&mut self) {
        self.changed = true;
    }

    /// Whether a push or [`RunQueues::mark_changed`] came since the last
    /// call (which [`RunQueues::to_wake`] should then be asked).
    #[inline]
    pub fn take_changed(&mut self) -> bool {
        core::mem::take(&mut self.changed)
    }

    /// The next process for CPU `cpu`: the first of its own queue, else
    /// one stolen from a CPU in `busy()` (see the module doc), which is
    /// asked only then (the direct switches' path, where the queue holds
    /// the peer, never computes it). `None` when there is nothing `cpu`
    /// may run.
    #[inline]
    pub fn pop(&mut self, cpu: u32, busy: impl FnOnce() -> CpuSet) -> Option<ObjectId> {
        let q = self.queues.get_mut(cpu as usize)?;
        match q.pop_front() {
            Some(e) => {
                if q.is_empty() {
                    self.nonempty &= !(1 << cpu);
                }
                Some(e.pid)
            }
            None => self.steal(cpu, busy()),
        }
    }

    /// A process stolen for CPU `cpu` (below `N`) from a CPU in `busy`.
    #[inline(never)]
    fn steal(&mut self, cpu: u32, busy: CpuSet) -> Option<ObjectId> {
        let (from, at) = self.stealable(cpu, busy)?;
        let e = self.queues[from].remove(at)?;
        if self.queues[from].is_empty() {
            self.nonempty &= !(1 << from);
        }
        Some(e.pid)
    }

    /// Where [`RunQueues::pop`] would steal from for `cpu`: the queue and
    /// the position in it.
    fn stealable(&self, cpu: u32, busy: CpuSet) -> Option<(usize, usize)> {
        let me: CpuSet = 1 << cpu;
        let mut candidates = self.nonempty & busy & !me;
        let mut best: Option<(usize, usize)> = None;
        let mut best_len = 0;
        while candidates != 0 {
            let from = candidates.trailing_zeros() as usize;
            candidates &= candidates - 1;
            let q = &self.queues[from];
            if q.len() <= best_len {
                continue;
            }
            if let Some(at) = q.iter().position(|e| e.allowed & me != 0) {
                best = Some((from, at));
                best_len = q.len();
            }
        }
        best
    }

    /// Whether any queue holds a process (one load).
    #[inline]
    pub fn any(&self) -> bool {
        self.nonempty != 0
    }

    /// Which of the `idle` CPUs to wake so that every queued process runs
    /// soon: each idle CPU with a queue of its own, and, if a queue of a
    /// CPU in `busy` holds a process one of the remaining idle CPUs may
    /// run, the lowest such CPU (to steal it: one per call, as each steal
    /// is followed by another call when the stealer's switch ends).
    pub fn to_wake(&self, idle: CpuSet, busy: CpuSet) -> CpuSet {
        let mut wake = idle & self.nonempty;
        let mut spare = idle & !wake;
        while spare != 0 {
            let cpu = spare.trailing_zeros();
            spare &= spare - 1;
            if (cpu as usize) < N && self.stealable(cpu, busy).is_some() {
                wake |= 1 << cpu;
                break;
            }
        }
        wake
    }

    /// Periodic balancing, for the case stealing leaves alone: CPU `cpu`
    /// runs a process and has a queue of its own, so it never steals, while
    /// another CPU's load (its queue, plus one if it is in `running`) is
    /// at least 2 above this CPU's (six processes spawned on one CPU of
    /// two settle at four and two: the second CPU steals while its own
    /// queue is empty, and no more). Takes from the most loaded such CPU
    /// (the lowest among equals) the last process of its queue that `cpu`
    /// may run (the one that would wait longest there) and returns it,
    /// for the caller to queue on `cpu`. `None` when no CPU is loaded
    /// enough or none of its queue may run here. Linux's periodic load
    /// balancer, reduced to equal weights and one move per call.
    pub fn pull(&mut self, cpu: u32, running: CpuSet) -> Option<ObjectId> {
        let (from, at) = self.pullable(cpu, running)?;
        let e = self.queues[from].remove(at)?;
        if self.queues[from].is_empty() {
            self.nonempty &= !(1 << from);
        }
        Some(e.pid)
    }

    /// Whether [`RunQueues::pull`] would move a process to `cpu` (looks at
    /// queue lengths, and at masks only of a queue loaded enough).
    pub fn should_pull(&self, cpu: u32, running: CpuSet) -> bool {
        self.pullable(cpu, running).is_some()
    }

    /// Where [`RunQueues::pull`] takes from: the queue and the position.
    fn pullable(&self, cpu: u32, running: CpuSet) -> Option<(usize, usize)> {
        let c = cpu as usize;
        if c >= N {
            return None;
        }
        let load = |q: usize| self.queues[q].len() + usize::from(running & (1 << q) != 0);
        let floor = load(c) + 2;
        let me: CpuSet = 1 << c;
        let mut best: Option<(usize, usize)> = None;
        let mut best_load = 0;
        let mut candidates = self.nonempty & !me;
        while candidates != 0 {
            let from = candidates.trailing_zeros() as usize;
            candidates &= candidates - 1;
            let l = load(from);
            if l < floor || l <= best_load {
                continue;
            }
            if let Some(at) = self.queues[from].iter().rposition(|e| e.allowed & me != 0) {
                best = Some((from, at));
                best_load = l;
            }
        }
        best
    }

    /// Takes `pid` out of whichever queue holds it; whether one did.
    pub fn remove(&mut self, pid: ObjectId) -> bool {
        self.remove_near(pid, 0)
    }

    /// [`RunQueues::remove`], looking first at the front of CPU `hint`'s
    /// queue (where a directed yield finds its target: O(1) there).
    #[inline]
    pub fn remove_near(&mut self, pid: ObjectId, hint: u32) -> bool {
        let h = hint as usize;
        if let Some(q) = self.queues.get_mut(h)
            && q.front().is_some_and(|e| e.pid == pid)
        {
            q.pop_front();
            if q.is_empty() {
                self.nonempty &= !(1 << h);
            }
            return true;
        }
        let mut queued = self.nonempty;
        while queued != 0 {
            let c = queued.trailing_zeros() as usize;
            queued &= queued - 1;
            if let Some(at) = self.queues[c].iter().position(|e| e.pid == pid) {
                self.queues[c].remove(at);
                if self.queues[c].is_empty() {
                    self.nonempty &= !(1 << c);
                }
                return true;
            }
        }
        false
    }

    /// The CPU whose queue holds `pid`, and its mask.
    pub fn queued_on(&self, pid: ObjectId) -> Option<(u32, CpuSet)> {
        self.queues
            .iter()
            .enumerate()
            .find_map(|(c, q)| q.iter().find(|e| e.pid == pid).map(|e| (c as u32, e.allowed)))
    }

    /// Whether `pid` is queued.
    pub fn contains(&self, pid: ObjectId) -> bool {
        self.queued_on(pid).is_some()
    }

    /// Processes waiting on CPU `cpu`.
    #[inline]
    pub fn len(&self, cpu: u32) -> usize {
        self.queues.get(cpu as usize).map_or(0, VecDeque::len)
    }

    /// Every queued process with its CPU and mask, CPU by CPU, in queue
    /// order (for the kernel's consistency checks).
    pub fn iter(&self) -> impl Iterator<Item = (u32, ObjectId, CpuSet)> + '_ {
        self.queues
            .iter()
            .enumerate()
            .flat_map(|(c, q)| q.iter().map(move |e| (c as u32, e.pid, e.allowed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    const N: usize = 4;
    const ALL: CpuSet = (1 << N) - 1;

    fn pid(n: u64) -> ObjectId {
        ObjectId(n)
    }

    #[test]
    fn home_prefers_the_last_cpu_then_the_lowest_allowed() {
        assert_eq!(home(2, ALL, ALL), Some(2));
        assert_eq!(home(2, 0b0011, ALL), Some(0));
        assert_eq!(home(0, 0b1100, ALL), Some(2));
        assert_eq!(home(3, ALL, 0b0011), Some(0), "an offline CPU is never home");
        assert_eq!(home(63, 1 << 63, u64::MAX), Some(63));
        assert_eq!(home(64, ALL, ALL), Some(0), "an index past the set");
        assert_eq!(home(0, 0b1000, 0b0111), None);
        assert_eq!(home(0, 0, ALL), None);
    }

    #[test]
    fn a_cpu_two_below_another_pulls_its_last_process() {
        let mut q = RunQueues::<N>::new(N, 8);
        // CPU 0 runs one and has three waiting; CPU 1 runs one and has
        // one waiting: 4 against 2.
        for p in 1..=3 {
            q.push(0, pid(p), ALL, false).unwrap();
        }
        q.push(1, pid(9), ALL, false).unwrap();
        let running = 0b0011;
        assert!(q.should_pull(1, running));
        assert_eq!(q.pull(1, running), Some(pid(3)), "the last of CPU 0's queue");
        // 3 against 2 (with it queued on CPU 1 by the caller: 3 against 3).
        assert!(!q.should_pull(1, running));
        assert_eq!(q.pull(1, running), None);
        assert!(!q.should_pull(0, running), "CPU 0 is not below CPU 1");
    }

    #[test]
    fn a_pull_needs_a_difference_of_two_and_a_process_allowed_here() {
        let mut q = RunQueues::<N>::new(N, 8);
        q.push(0, pid(1), ALL, false).unwrap();
        q.push(0, pid(2), ALL, false).unwrap();
        // CPU 0: 2 waiting and running (3); CPU 1 idle-running (1): pull.
        assert!(q.should_pull(1, 0b0011));
        // CPU 1 runs nothing either (0 against 2): pull.
        assert!(q.should_pull(1, 0b0001));
        // CPU 0 not running: 2 against 1, no pull.
        assert!(!q.should_pull(1, 0b0010));
        // Pinned to CPU 0: nothing CPU 1 may take.
        let mut pinned = RunQueues::<N>::new(N, 8);
        pinned.push(0, pid(1), 0b0001, false).unwrap();
        pinned.push(0, pid(2), 0b0001, false).unwrap();
        pinned.push(0, pid(3), 0b0101, false).unwrap();
        assert_eq!(pinned.pull(1, 0b0011), None);
        assert_eq!(pinned.pull(2, 0b0011), Some(pid(3)), "the one CPU 2 may run");
        assert_eq!(pinned.len(0), 2, "the pinned ones stay");
        assert_eq!(pinned.pull(9, 0b0011), None, "a CPU past N");
    }

    #[test]
    fn a_pull_takes_from_the_most_loaded_cpu() {
        let mut q = RunQueues::<N>::new(N, 8);
        q.push(0, pid(1), ALL, false).unwrap();
        q.push(0, pid(2), ALL, false).unwrap();
        for p in 3..=6 {
            q.push(2, pid(p), ALL, false).unwrap();
        }
        assert_eq!(q.pull(1, 0b0111), Some(pid(6)));
        assert_eq!(q.len(2), 3);
        assert_eq!(q.len(0), 2);
    }

    #[test]
    fn own_queue_first_in_order() {
        let mut q = RunQueues::<N>::new(N, 8);
        q.push(1, pid(1), ALL, false).unwrap();
        q.push(1, pid(2), ALL, false).unwrap();
        q.push(1, pid(3), ALL, true).unwrap();
        assert_eq!(q.pop(1, || ALL), Some(pid(3)));
        assert_eq!(q.pop(1, || ALL), Some(pid(1)));
        assert_eq!(q.pop(1, || ALL), Some(pid(2)));
        assert_eq!(q.pop(1, || ALL), None);
        assert!(!q.any());
    }

    #[test]
    fn steals_only_from_busy_cpus_and_only_what_it_may_run() {
        let mut q = RunQueues::<N>::new(N, 8);
        q.push(0, pid(1), 0b0001, false).unwrap(); // pinned to CPU 0
        q.push(0, pid(2), ALL, false).unwrap();
        // CPU 0 idles (it was woken to run them): nothing is stolen.
        assert_eq!(q.pop(1, || 0), None);
        // CPU 0 is busy: CPU 1 takes the first process it may run.
        assert_eq!(q.pop(1, || 0b0001), Some(pid(2)));
        assert_eq!(q.pop(1, || 0b0001), None, "the pinned one stays");
        assert_eq!(q.len(0), 1);
    }

    #[test]
    fn steals_from_the_longest_queue() {
        let mut q = RunQueues::<N>::new(N, 8);
        q.push(0, pid(1), ALL, false).unwrap();
        q.push(2, pid(2), ALL, false).unwrap();
        q.push(2, pid(3), ALL, false).unwrap();
        assert_eq!(q.pop(3, || ALL), Some(pid(2)));
    }

    #[test]
    fn to_wake_names_idle_owners_then_one_stealer() {
        let mut q = RunQueues::<N>::new(N, 8);
        q.push(1, pid(1), ALL, false).unwrap();
        // CPU 1 idles with work of its own: it is woken, nobody else.
        assert_eq!(q.to_wake(0b1110, 0b0001), 0b0010);
        // CPU 1 is busy: one idle CPU is woken to steal.
        assert_eq!(q.to_wake(0b1100, 0b0011), 0b0100);
        // A process pinned to its busy CPU: nobody.
        let mut q = RunQueues::<N>::new(N, 8);
        q.push(0, pid(1), 0b0001, false).unwrap();
        assert_eq!(q.to_wake(0b1110, 0b0001), 0);
    }

    #[test]
    fn pushes_and_marks_say_something_changed() {
        let mut q = RunQueues::<N>::new(N, 8);
        assert!(!q.take_changed());
        q.push(1, pid(1), ALL, false).unwrap();
        assert!(q.take_changed());
        assert!(!q.take_changed(), "taken");
        q.pop(1, || 0);
        assert!(!q.take_changed(), "a pop gives nobody anything to do");
        q.mark_changed();
        assert!(q.take_changed());
    }

    #[test]
    fn refusals_change_nothing() {
        let mut q = RunQueues::<N>::new(N, 8);
        assert_eq!(q.push(1, pid(1), 0b0001, false), Err(RunqError::NotAllowed));
        assert_eq!(q.push(N as u32, pid(1), u64::MAX, false), Err(RunqError::NotAllowed));
        q.push(0, pid(1), 0b0001, false).unwrap();
        if cfg!(debug_assertions) {
            // Checked in debug builds only (a search on every push).
            assert_eq!(q.push(0, pid(1), 0b0001, false), Err(RunqError::AlreadyQueued));
        }
        assert_eq!(q.pop(N as u32, || ALL), None);
        assert_eq!(q.iter().collect::<Vec<_>>(), [(0, pid(1), 0b0001)]);
    }

    /// One step of the property test.
    #[derive(Clone, Debug)]
    enum Step {
        Push { cpu: u32, pid: u64, allowed: CpuSet, front: bool },
        Pop { cpu: u32, busy: CpuSet },
        Pull { cpu: u32, running: CpuSet },
        Remove { pid: u64, hint: Option<u32> },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0..N as u32 + 1, 0..12u64, 0..=ALL, any::<bool>())
                .prop_map(|(cpu, pid, allowed, front)| Step::Push { cpu, pid, allowed, front }),
            (0..N as u32 + 1, 0..=ALL).prop_map(|(cpu, busy)| Step::Pop { cpu, busy }),
            (0..N as u32 + 1, 0..=ALL).prop_map(|(cpu, running)| Step::Pull { cpu, running }),
            (0..12u64, proptest::option::of(0..N as u32 + 1))
                .prop_map(|(pid, hint)| Step::Remove { pid, hint }),
        ]
    }

    /// The reference: one list of `(cpu, pid, allowed)` in queue order.
    #[derive(Default)]
    struct Model(Vec<(u32, u64, CpuSet)>);

    impl Model {
        fn queue(&self, cpu: u32) -> Vec<(u64, CpuSet)> {
            self.0.iter().filter(|e| e.0 == cpu).map(|e| (e.1, e.2)).collect()
        }

        fn take(&mut self, pid: u64) -> Option<(u32, u64, CpuSet)> {
            let at = self.0.iter().position(|e| e.1 == pid)?;
            Some(self.0.remove(at))
        }

        fn pop(&mut self, cpu: u32, busy: CpuSet) -> Option<u64> {
            if cpu as usize >= N {
                return None;
            }
            if let Some(&(p, _)) = self.queue(cpu).first() {
                return self.take(p).map(|e| e.1);
            }
            // The longest busy queue (lowest CPU among equals) holding a
            // process this CPU may run; its first such process.
            let mut best: Option<(usize, u64)> = None;
            for c in 0..N as u32 {
                if c == cpu || busy & (1 << c) == 0 {
                    continue;
                }
                let q = self.queue(c);
                if let Some(&(p, _)) = q.iter().find(|e| e.1 & (1 << cpu) != 0)
                    && best.is_none_or(|(len, _)| q.len() > len)
                {
                    best = Some((q.len(), p));
                }
            }
            let (_, p) = best?;
            self.take(p).map(|e| e.1)
        }

        fn pull(&mut self, cpu: u32, running: CpuSet) -> Option<u64> {
            if cpu as usize >= N {
                return None;
            }
            let load = |c: u32| self.queue(c).len() + usize::from(running & (1 << c) != 0);
            // The most loaded CPU (lowest among equals) at least 2 above
            // this one with a process this CPU may run; its last such.
            let mut best: Option<(usize, u64)> = None;
            for c in 0..N as u32 {
                if c == cpu || load(c) < load(cpu) + 2 {
                    continue;
                }
                if let Some(&(p, _)) = self.queue(c).iter().rev().find(|e| e.1 & (1 << cpu) != 0)
                    && best.is_none_or(|(l, _)| load(c) > l)
                {
                    best = Some((load(c), p));
                }
            }
            let (_, p) = best?;
            self.take(p).map(|e| e.1)
        }
    }

    proptest! {
        #[test]
        fn matches_the_model(steps in proptest::collection::vec(step(), 0..200)) {
            let mut q = RunQueues::<N>::new(2, 4);
            let mut m = Model::default();
            for s in steps {
                match s {
                    Step::Push { cpu, pid: p, allowed, front } => {
                        let ok = (cpu as usize) < N && allowed & (1 << cpu) != 0;
                        let dup = m.0.iter().any(|e| e.1 == p);
                        if dup && !cfg!(debug_assertions) {
                            // The caller's contract, checked in debug
                            // builds only.
                            continue;
                        }
                        let got = q.push(cpu, pid(p), allowed, front);
                        if !ok {
                            prop_assert_eq!(got, Err(RunqError::NotAllowed));
                        } else if dup {
                            prop_assert_eq!(got, Err(RunqError::AlreadyQueued));
                        } else {
                            prop_assert_eq!(got, Ok(()));
                            if front {
                                let at = m.0.iter().position(|e| e.0 == cpu).unwrap_or(0);
                                m.0.insert(at, (cpu, p, allowed));
                            } else {
                                m.0.push((cpu, p, allowed));
                            }
                        }
                    }
                    Step::Pop { cpu, busy } => {
                        let got = q.pop(cpu, || busy);
                        prop_assert_eq!(got.map(|p| p.0), m.pop(cpu, busy));
                    }
                    Step::Pull { cpu, running } => {
                        let should = q.should_pull(cpu, running);
                        let got = q.pull(cpu, running);
                        prop_assert_eq!(should, got.is_some());
                        prop_assert_eq!(got.map(|p| p.0), m.pull(cpu, running));
                    }
                    Step::Remove { pid: p, hint: None } => {
                        prop_assert_eq!(q.remove(pid(p)), m.take(p).is_some());
                    }
                    Step::Remove { pid: p, hint: Some(h) } => {
                        prop_assert_eq!(q.remove_near(pid(p), h), m.take(p).is_some());
                    }
                }
                // Same queues, in the same order; the non-empty mask true.
                let got: Vec<_> = q.iter().map(|(c, p, a)| (c, p.0, a)).collect();
                let mut want = Vec::new();
                for c in 0..N as u32 {
                    want.extend(m.queue(c).into_iter().map(|(p, a)| (c, p, a)));
                }
                prop_assert_eq!(got, want);
                for c in 0..N as u32 {
                    prop_assert_eq!(q.nonempty & (1 << c) != 0, q.len(c) > 0);
                    // Nothing waits where its mask forbids.
                    prop_assert!(q.iter().all(|(c, _, a)| a & (1 << c) != 0));
                }
                // An idle CPU is woken for its own queue, and only one
                // spare idle CPU for a steal.
                let wake = q.to_wake(ALL, 0b0101);
                prop_assert_eq!(wake & q.nonempty, q.nonempty);
                prop_assert!((wake & !q.nonempty).count_ones() <= 1);
            }
        }
    }
}
