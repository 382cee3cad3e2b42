//! Giving the CPU to the next process: yield, block, exit, preemption by
//! the timer, and the idle loop on the boot stack when nobody is ready.
//!
//! Switching: the code that gives up the CPU (yield, block, exit,
//! preemption) picks the next context under the kernel lock, then switches
//! kernel stacks (and CR3, and the stack the CPU and the syscall entry use
//! next) still holding it, and the context it switches to releases it
//! ([`after_switch`]): until the switch is done, no other CPU may resume
//! the context being saved. Whatever runs after the switch first frees the
//! processes that ended (`lifecycle::reap`): only then is the CPU off
//! their stacks and address spaces.
//!
//! Each CPU has its own idle loop, on its own stack (the boot stack on the
//! boot CPU, the stack `arch::smp` gave an AP), and its own share of the
//! scheduler (`Scheduler::here`) and run queue (`Scheduler::runq`).

use caps::ObjectId;
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::registers::control::Cr3;
use x86_64::structures::paging::PhysFrame;

use super::sched::QUANTUM_TICKS;
use super::{Block, State};
use crate::arch::{context, percpu, smp};
use crate::state::{self, Kernel, KernelGuard};
use kerncore::haltpoll::HaltPoll;
/// How long the idle loop polls busy devices before it halts, in TSC
/// cycles (`iopoll=`).
static IDLE_POLL_CYCLES: AtomicU64 = AtomicU64::new(0);

/// The longest an idle CPU watches for work before it halts, in TSC
/// cycles (`haltpoll=`; 0: it never does). See `kerncore::haltpoll`.
static HALT_POLL_CYCLES: AtomicU64 = AtomicU64::new(0);

/// `pause`s between two polls of the idle loop, with interrupts on.
const IDLE_POLL_SPINS: u32 = 32;

/// Sets the idle loop's polling window (`iopoll=`, in µs).
pub fn set_idle_poll(us: u64) {
    IDLE_POLL_CYCLES.store(tsc_cycles(us), Ordering::Relaxed);
}

/// `us` microseconds in TSC cycles.
fn tsc_cycles(us: u64) -> u64 {
    crate::time::tsc_hz() / 1_000_000 * us
}

/// Sets how long an idle CPU watches for work before it halts
/// (`haltpoll=`, in µs).
pub fn set_halt_poll(us: u64) {
    HALT_POLL_CYCLES.store(tsc_cycles(us), Ordering::Relaxed);
}

/// Where to switch to.
struct Target {
    rsp: u64,
    cr3: PhysFrame,
    kernel_stack_top: Option<u64>,
}

fn target(k: &Kernel, cpu: &percpu::PerCpu, next: Option<ObjectId>) -> Target {
    match next.and_then(|pid| k.procs.get(pid)) {
        Some(p) => {
            let stack = p.kstack.as_ref().expect("a runnable process has a kernel stack");
            Target {
                // SAFETY: the slot's saved stack pointer, written by `switch`
                // or by spawn; read under the kernel lock, which the CPU
                // that saved it held until it was off that stack.
                rsp: unsafe { *stack.saved_rsp() },
                cr3: p.aspace.as_ref().expect("a runnable process has an address space").root(),
                kernel_stack_top: Some(stack.top()),
            }
        }
        None => Target {
            // SAFETY: this CPU's idle slot, written by `switch` when its
            // idle loop switched away; read under the kernel lock on the
            // CPU it belongs to.
            rsp: unsafe { *cpu.idle_slot() },
            cr3: percpu::kernel_root(),
            kernel_stack_top: None,
        },
    }
}

/// Gives the CPU to `next` (taken from the run queues; `None`: the idle
/// loop), saving the current context in `save`. Returns when this context
/// is resumed.
///
/// The next process gets a new quantum, unless `direct` and it is the one
/// a direct switch named (`Scheduler::donee`: an IPC wake-up that put it
/// first, or `proc_yield_to`): then it runs for the rest of this one's.
/// So processes that hand the CPU to each other share one quantum, and
/// the timer still reaches the rest of the ready queue.
fn switch_away(mut k: KernelGuard, save: *mut u64, next: Option<ObjectId>, direct: bool) {
    let cpu = percpu::current();
    let here = k.sched.cpu_mut(cpu.index);
    let donee = here.donee.take();
    let quantum = if direct && next.is_some() && next == donee {
        here.quantum().max(1)
    } else {
        QUANTUM_TICKS
    };
    let previous = here.current;
    // The idle loop touches only the kernel half, the same in every
    // address space: it stays in the one it finds (under emulation a CR3
    // write empties the whole TLB, so a process that blocks on a disk and
    // is woken while the CPU idles comes back to a warm one), unless its
    // process has ended and its page tables are about to be freed.
    let keep_cr3 = next.is_none()
        && previous.and_then(|pid| k.procs.get(pid)).is_some_and(|p| p.state != State::Dead);
    if let Some(pid) = next {
        let p = k.procs.get_mut(pid).expect("ready processes exist");
        p.state = State::Running;
        p.cpu = cpu.index;
        if previous.is_none() {
            // From the idle loop: enough to show every CPU runs processes,
            // and off the direct switches' path.
            cpu.count_switch();
            // This CPU is busy now: an idle one may steal from its queue.
            k.sched.runq.mark_changed();
        }
    }
    let table = next.and_then(|pid| k.procs.get(pid)).and_then(|p| p.table);
    let here = k.sched.cpu_mut(cpu.index);
    here.current = next;
    here.current_table = table;
    here.set_quantum(quantum);
    let t = target(&k, cpu, next);
    // Held across the switch; `after_switch` releases it.
    k.hand_over();
    if !keep_cr3 && Cr3::read().0 != t.cr3 {
        // SAFETY: `t.cr3` is the root of a live address space (or the
        // kernel's table), whose kernel half is the same as every other's,
        // so the code and stack we run on stay mapped; we hold the lock.
        unsafe { cpu.load_root(t.cr3) };
    }
    if let Some(top) = t.kernel_stack_top {
        cpu.set_kernel_stack(top);
    }
    // SAFETY: `save` is this context's slot (a kernel-stack slot or the idle
    // slot), valid for as long as this context exists; `t.rsp` was saved by
    // `switch` or built by spawn and is resumed once (the process is no
    // longer in the ready queue); interrupts are off.
    unsafe { context::switch(save, t.rsp) };
    after_switch();
}

/// Runs first in every context the CPU switches to (a new process's first
/// entry too), holding the lock the context it came from handed over, and
/// releases it.
pub extern "C" fn after_switch() {
    // SAFETY: every switch is made by `switch_away`, which hands the lock
    // over to the context it switches to, and this is that context.
    let mut k = unsafe { state::resume_held() };
    crate::lifecycle::reap(&mut k);
}

fn current_save_slot(k: &Kernel) -> *mut u64 {
    match k.sched.here().current.and_then(|pid| k.procs.get(pid)) {
        Some(p) => p.kstack.as_ref().expect("running process has a stack").saved_rsp(),
        None => percpu::current().idle_slot(),
    }
}

/// Puts the current process at the back of the ready queue and runs the
/// next one; returns when it is this process's turn again.
///
/// The next one is this CPU's, or one stolen from a busy CPU whose queue
/// waits (so the end of a quantum also balances the CPUs: a process
/// alone on its CPU takes turns with those queued elsewhere).
pub fn yield_now(mut k: KernelGuard) {
    let here = percpu::index();
    let Some(pid) = k.sched.cpu_mut(here).current else { return };
    let Some(next) = k.sched.pick(here) else {
        // Told to leave this CPU (`proc_set_cpus`): it goes, even with
        // nothing else to run here (`park_ready` queues it elsewhere).
        // Looked at only here, off the path of a switch.
        if k.procs.get(pid).is_some_and(|p| p.next_cpus.is_some()) {
            let save = park_ready(&mut k, pid, here);
            switch_away(k, save, None, false);
            return;
        }
        k.sched.cpu_mut(here).set_quantum(QUANTUM_TICKS);
        return;
    };
    let save = park_ready(&mut k, pid, here);
    switch_away(k, save, Some(next), false);
}

/// Parks the current process `pid` as ready, last in the queue of this
/// CPU (`here`: it runs here, so its mask allows it; or, with a mask
/// `proc_set_cpus` left pending, by that mask), and returns its kernel
/// stack's save slot: one lookup for all.
fn park_ready(k: &mut Kernel, pid: ObjectId, here: u32) -> *mut u64 {
    let kernel = &mut *k;
    let p = kernel.procs.get_mut(pid).expect("current exists");
    p.state = State::Ready;
    let save = p.kstack.as_ref().expect("running process has a stack").saved_rsp();
    if p.next_cpus.is_some() {
        queue_moved(kernel, pid);
    } else if let Err(e) = kernel.sched.runq.push(here, pid, p.cpus, false) {
        super::sched::queueing_failed(pid, here, e);
    }
    save
}

/// Applies the mask `proc_set_cpus` left pending for ready process `pid`
/// and queues it where that mask allows; out of line, off the path of
/// every switch (a directed yield pair cost 40 more instructions with
/// this inline, measured under `-icount`).
#[cold]
#[inline(never)]
fn queue_moved(k: &mut Kernel, pid: ObjectId) {
    let Kernel { procs, sched, .. } = k;
    let p = procs.get_mut(pid).expect("current exists");
    p.apply_next_cpus();
    sched.enqueue(p, pid, super::sched::Place::Back);
}

/// Sets the current process `pid`'s state (it is giving up the CPU; a
/// mask `proc_set_cpus` left pending takes effect, for its wake-up) and
/// returns its kernel stack's save slot: one lookup for both.
fn park(k: &mut Kernel, pid: ObjectId, state: State) -> *mut u64 {
    let p = k.procs.get_mut(pid).expect("current exists");
    p.state = state;
    p.apply_next_cpus();
    p.kstack.as_ref().expect("running process has a stack").saved_rsp()
}

/// Runs ready process `target` now, for the rest of the current process's
/// quantum (a directed yield: a pair yielding to each other shares one
/// quantum, so the timer still hands the CPU to the rest of the queue),
/// and puts the current process at the back of the ready queue; returns
/// when it is this process's turn again. `target` must be ready (checked
/// by `proc_yield_to` under the same guard), and allowed on this CPU.
pub fn yield_to(mut k: KernelGuard, target: ObjectId) {
    let here = percpu::index();
    let Some(pid) = k.sched.cpu_mut(here).current else { return };
    let near = k.procs.get(target).map_or(here, |p| p.cpu);
    if !k.sched.runq.remove_near(target, near) {
        return;
    }
    let save = park_ready(&mut k, pid, here);
    k.sched.cpu_mut(here).donee = Some(target);
    switch_away(k, save, Some(target), true);
}

/// Blocks the current process for `block` and runs another; returns when
/// it has been woken.
pub fn block_current(mut k: KernelGuard, block: Block) {
    let here = percpu::index();
    let pid = k.sched.cpu_mut(here).current.expect("only a process blocks");
    let save = park(&mut k, pid, State::Blocked(block));
    if let Block::Sleep(deadline) = block {
        k.sched.sleepers.push((deadline, pid));
    }
    let next = k.sched.pick(here);
    switch_away(k, save, next, true);
}

/// Switches away from a process that has just ended; never returns.
pub fn exit_current(mut k: KernelGuard) -> ! {
    let save = current_save_slot(&k);
    let next = k.sched.pick(percpu::index());
    switch_away(k, save, next, false);
    unreachable!("an ended process was resumed");
}

/// The timer interrupt: wakes sleepers; preempts a user process whose
/// quantum is spent when another is ready.
///
/// Most ticks change nothing but the quantum: they look under the kernel
/// lock taken for reading, and take it for writing only when a sleeper is
/// due, a device or a wait may have something to reap, a byte was typed,
/// or the quantum ran out. Every CPU ticks 1,000 times a second; taken
/// for writing each time, the lock made the other CPUs' readers wait and
/// cost two processes making null syscalls on two CPUs about a tenth of
/// their calls (`smp_syscalls_per_sec_2`, measured in one sitting).
pub fn tick(now_ns: u64, from_user: bool) {
    let typed = {
        let k = state::read();
        let here = k.sched.here();
        let expired = from_user && here.current.is_some() && here.count_tick() == 0;
        let typed = crate::conin::take_typed();
        if !expired
            && typed.is_none()
            && !k.sched.sleeper_due(now_ns)
            && crate::iowait::nothing_to_reap(&k)
            && !crate::conin::reader_to_wake(&k)
        {
            return;
        }
        typed
    };
    let mut k = state::lock();
    let kernel = &mut *k;
    kernel.sched.wake_sleepers(&mut kernel.procs, now_ns);
    // A safety net for devices without a completion interrupt (or one
    // lost): a wait lasts at most a tick longer. Under emulation the tick
    // often finds a completion before its interrupt arrives (1-2% of them,
    // measured); the interrupt then finds nothing to do, so the tick must
    // run the woken process at once as the interrupt would have (it used
    // to wait for the end of the quantum, up to 10 ms: a disk-bound process
    // beside a CPU-bound one lost half its reads to that).
    let woke = crate::iowait::on_completion(kernel);
    // Typed bytes: polled here, as the UART's interrupt is not routed
    // (`conin`); the reader runs at once, as a disk waiter would.
    let woke = woke + crate::conin::poll(kernel, typed);
    let here = kernel.sched.here_mut();
    if !from_user || here.current.is_none() {
        return;
    }
    // Counted down above (not again here); only this CPU ever raises it,
    // so a quantum spent then is still 0.
    let expired = here.quantum() == 0;
    if expired {
        // Every quantum a busy CPU looks for a CPU 2 above it in load
        // (one with a queue of its own never steals): no cost on the
        // ticks that only count.
        kernel.sched.pull(&mut kernel.procs, percpu::index());
    }
    if expired || woke > 0 {
        yield_now(k);
    }
}

/// Makes sure no CPU is in the address space whose root is `root`, about
/// to be freed: an idle loop may have stayed in it (this CPU's, or another
/// CPU's, which a TLB shootdown sends to the kernel's table). Under the
/// kernel lock.
pub fn leave_address_space(root: PhysFrame) {
    percpu::leave_root(root);
    smp::tlb::shootdown(root, smp::tlb::Action::Leave);
}

/// The idle loop of the calling CPU: runs whatever is ready; when nothing
/// is, polls the devices that have requests in flight for up to the
/// polling window (`iopoll=`), letting interrupts in between polls, then
/// watches for work queued for it for a while (`haltpoll=`: `HaltPoll`),
/// then halts until an interrupt (a tick, a device, or another CPU's wake-up
/// IPI: `arch::smp::wake_idle`). Runs on the CPU's own stack, in whichever
/// address space the CPU was in (see `switch_away`), and never returns.
pub fn idle_loop() -> ! {
    use x86_64::instructions::interrupts;
    let cpu = percpu::current();
    let mut polling_since = None;
    let mut halt = HaltPoll::default();
    loop {
        let mut k = state::lock();
        let busy = k.devices.in_flight_total() > 0;
        if busy {
            crate::iowait::on_completion(&mut k);
        }
        if let Some(next) = k.sched.pick(cpu.index) {
            polling_since = None;
            switch_away(k, cpu.idle_slot(), Some(next), false);
            continue;
        }
        // Said under the lock: whoever makes a process ready after it is
        // released sees it and wakes this CPU.
        smp::set_idle(true);
        drop(k);
        let now = crate::arch::cpu::rdtsc();
        let since = *polling_since.get_or_insert(now);
        if busy && now - since < IDLE_POLL_CYCLES.load(Ordering::Relaxed) {
            // Let a pending interrupt (the timer's, a device's) in, then
            // poll again. Not a single instruction: `sti` delays
            // interrupts by one, and an emulator may look for them only
            // where a block of translated code ends (a branch).
            interrupts::enable();
            for _ in 0..IDLE_POLL_SPINS {
                core::hint::spin_loop();
            }
            interrupts::disable();
        } else {
            polling_since = None;
            // Not while a device works: its interrupt ends the halt, and
            // a polling CPU takes from the emulated device's threads the
            // host's cores they need (measured: disk IOPS at 8 and 32 in
            // flight fell by about a tenth).
            let max = if busy { 0 } else { HALT_POLL_CYCLES.load(Ordering::Relaxed) };
            if max == 0 || halt.window() == 0 || !smp::halt_poll(halt.window()) {
                let halted = crate::arch::cpu::rdtsc();
                interrupts::enable_and_hlt();
                interrupts::disable();
                if max > 0 {
                    halt.adapt(crate::arch::cpu::rdtsc().wrapping_sub(halted), max);
                }
            }
        }
        smp::set_idle(false);
    }
}
