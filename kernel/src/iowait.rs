//! Blocking disk I/O: how a device's completion reaches the process
//! waiting for it.
//!
//! A process in `disk_read`, `disk_write` or `disk_flush` starts its
//! transfer (`diskio::SyncTransfer`) and blocks (`Block::Disk`); one in
//! `disk_complete` blocks on its request (`Block::DiskComplete`). Both are
//! listed in `Kernel::disk_waits`. When a device finishes requests it
//! raises its MSI-X vector (`drivers::DISK_VECTOR`); [`interrupt`] reaps
//! every device's used ring, starts the next pieces of transfers that
//! have more, and wakes each process whose wait is over, first in the
//! ready queue. If it interrupted a user process, that one yields, so the
//! woken process runs at once: it is I/O-bound, and the sooner it issues
//! its next request the busier the device.
//!
//! The same reaping runs from the idle loop (which, with `iopoll=`, polls
//! devices with requests in flight for a while before it halts; off by
//! default, measured slower under emulation) and from the timer tick (a
//! safety net: a device without an interrupt, or a lost one, costs at most
//! a tick; a process it wakes runs at once, as the interrupt's would).

use crate::proc::{Block, State};
use crate::state::{self, Kernel};

/// Reaps every device, moves each waiting transfer on, and wakes the
/// processes whose wait is over (first in line). Returns how many it
/// queued on this CPU, plus the notifications it signalled (the callers
/// preempt this CPU's process when it is not 0).
/// O(blocked processes) when a device has anything in flight, O(1) when
/// none has.
pub fn on_completion(k: &mut Kernel) -> usize {
    if no_waits(k) {
        if k.devices.in_flight_total() > 0 {
            k.devices.poll_all();
        }
        return 0;
    }
    k.devices.poll_all();
    let mut woke = 0;
    let Kernel { disk_waits, devices, procs, sched, rings, .. } = k;
    for t in &mut disk_waits.sync {
        if t.is_done() {
            continue; // woken already; its process has not run yet
        }
        t.collect(devices);
        if !t.is_done()
            && let Some(aspace) = procs.get(t.pid).and_then(|p| p.aspace.as_ref())
        {
            t.advance(devices, aspace, &mut disk_waits.segments);
        }
        if t.is_done() {
            woke += usize::from(sched.wake_first(procs, t.pid));
        }
    }
    for s in &disk_waits.settles {
        if s.requests.iter().all(|&r| devices.is_settled(r))
            && procs.get(s.pid).is_some_and(|p| p.state == State::Blocked(Block::Settle))
        {
            woke += usize::from(sched.wake_first(procs, s.pid));
        }
    }
    for w in &rings.waiters {
        if procs.get(w.pid).is_some_and(|p| p.state == State::Blocked(Block::Ring(w.ring)))
            && rings.has_news(w.ring, devices)
        {
            woke += usize::from(sched.wake_first(procs, w.pid));
        }
    }
    disk_waits.complete.retain(|&(pid, request)| {
        if devices.is_settled(request) {
            woke += usize::from(sched.wake_first(procs, pid));
            false
        } else {
            true
        }
    });
    woke + signal_bound(k)
}

/// Signals the `disk_bind` notifications of processes whose asynchronous
/// requests the devices finished since the last time; returns how many it
/// signalled (their waiters may have woken). O(bound processes x
/// requests), and nothing when no process is bound.
fn signal_bound(k: &mut Kernel) -> usize {
    // In rounds of at most `MOST` (no allocation): a process is marked
    // announced only when it has a place in this round, so one left for
    // the next round is found again (a review found the signals past the
    // round's size lost when all were marked at once). Small, so that the
    // tests' reaps (about 13 completions each under emulation) run several
    // rounds: with the old marking, 8 of 40 bound readers lost their
    // signal (`every_bound_process_is_signalled_when_many_complete_at_once`).
    const MOST: usize = 4;
    let mut signalled = 0;
    loop {
        let mut due = [None; MOST];
        let mut n = 0;
        let Kernel { disk_waits, devices, procs, async_io, rings, .. } = &mut *k;
        for &(pid, handle) in &disk_waits.bound {
            if n == MOST {
                break;
            }
            let news = async_io.announce_done(pid, devices) | rings.announce_done(pid, devices);
            if let (true, Some(table)) = (news, procs.get(pid).and_then(|p| p.table)) {
                due[n] = Some((table, handle));
                n += 1;
            }
        }
        for &(table, handle) in due[..n].iter().flatten() {
            // A revoked or dropped binding signals nothing (`disk::bind`).
            let _ = crate::notify::signal_through(k, table, handle);
        }
        signalled += n;
        if n < MOST {
            return signalled;
        }
    }
}

/// Whether nobody waits for a device (no transfer, completion, settle,
/// ring or bound notification).
fn no_waits(k: &Kernel) -> bool {
    k.disk_waits.sync.is_empty()
        && k.disk_waits.complete.is_empty()
        && k.disk_waits.settles.is_empty()
        && k.rings.waiters.is_empty()
        && k.disk_waits.bound.is_empty()
}

/// Whether [`on_completion`] would find nothing to do: nobody waits and no
/// request is in flight. No change: the timer tick asks it under the
/// kernel lock taken for reading.
pub fn nothing_to_reap(k: &Kernel) -> bool {
    no_waits(k) && k.devices.in_flight_total() == 0
}

/// The block devices' completion interrupt; `from_user` when it
/// interrupted a process in user mode (the kernel runs with interrupts
/// off, so otherwise it interrupted the idle loop).
pub fn interrupt(from_user: bool) {
    let mut k = state::lock();
    let woke = on_completion(&mut k);
    if woke > 0 && from_user && k.sched.here().current.is_some() {
        crate::proc::switch::yield_now(k);
    }
}
