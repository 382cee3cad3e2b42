//! What happens when capabilities and processes come and go: the hooks
//! that keep objects' counts right (`cap_created`, `cap_removed`), the
//! death of a capability a process is blocked through (`cap_gone`,
//! `wake_revoked`), and the end of a process (`terminate`, then `reap`
//! after the switch away from it).
//!
//! These act on several tables at once (capabilities, processes, the
//! scheduler, IPC objects, quotas, disk requests), so they take the whole
//! [`Kernel`]; they sit above `state`, which holds the tables and imports
//! none of this.

use alloc::vec::Vec;
use caps::abi::Error;
use caps::abi::process::ExitStatus;
use caps::{Capability, Object, ObjectId, Removed};

use crate::proc::{Block, State, kstack};
use crate::qemu::ExitCode;
use crate::state::Kernel;

impl Kernel {
    /// Notes a new capability (objects count their holders; endpoints
    /// count those with SEND and with RECV apart).
    pub fn cap_created(&mut self, cap: &Capability) {
        match &cap.object {
            Object::Memory(id) => self.quotas.hold(*id),
            Object::Process(id) => {
                if let Some(p) = self.procs.get_mut(*id) {
                    p.handle_refs += 1;
                }
            }
            Object::Endpoint(id) => crate::ipc::endpoint::cap_created(self, *id, cap.rights),
            Object::Reply(id) => crate::ipc::reply::cap_created(self, *id),
            Object::Notification(id) => crate::notify::cap_created(self, *id, cap.rights),
            Object::IoRing(id) => self.rings.hold(*id),
            Object::MemoryObject(range) => crate::memobj::cap_created(self, range),
            _ => {}
        }
    }

    /// Notes that a capability is gone; frees what nothing refers to any
    /// more, and wakes IPC peers that can no longer be answered.
    pub fn cap_removed(&mut self, cap: &Capability) {
        match &cap.object {
            Object::Memory(id) => self.quotas.release(*id),
            Object::Process(id) => {
                let Some(p) = self.procs.get_mut(*id) else { return };
                p.handle_refs -= 1;
                if p.handle_refs == 0 && p.is_reaped() {
                    self.procs.remove(*id);
                }
            }
            Object::Endpoint(id) => crate::ipc::endpoint::cap_removed(self, *id, cap.rights),
            Object::Reply(id) => crate::ipc::reply::cap_removed(self, *id),
            Object::Notification(id) => crate::notify::cap_removed(self, *id, cap.rights),
            Object::IoRing(id) => self.ring_cap_removed(*id),
            Object::MemoryObject(range) => crate::memobj::cap_removed(self, range),
            _ => {}
        }
    }

    /// Notes that the capability of removal `r` is gone: first wakes the
    /// process blocked through it, if any, with `Revoked`
    /// ([`Kernel::wake_revoked`]), then `cap_removed`. In that order, so
    /// the waiter hears `Revoked`, not the `PeerGone` the same removal
    /// may give the others. A memory object's pages mapped through it are
    /// unmapped first of all.
    pub fn cap_gone(&mut self, r: &Removed) {
        if let Object::MemoryObject(_) = r.capability.object {
            crate::memobj::unmap_cap(self, crate::memobj::cap_key(r.table, r.handle));
        }
        if let Some(pid) = self.sched.untie(r.table, r.handle) {
            self.wake_revoked(pid);
        }
        self.cap_removed(&r.capability);
    }

    /// Wakes process `pid`, blocked through a capability that just died,
    /// with `Revoked`, out of whatever it waits in, with nothing delivered
    /// to or from it: a queued message is discarded with the handles it
    /// carries (they stay the sender's); a caller waiting for its answer
    /// leaves its reply with no caller (the answer gets `PeerGone`); a
    /// `proc_wait` leaves its child's waiters; a sleep its timer; a
    /// `notify_wait` its notification's waiters.
    ///
    /// A `proc_wait` already woken (its child ended) but not yet run again
    /// keeps its tie (`Scheduler::forget_blocked`): it is marked, and its
    /// call says `Revoked` when it runs.
    pub fn wake_revoked(&mut self, pid: ObjectId) {
        let Some(p) = self.procs.get_mut(pid) else { return };
        let block = match p.state {
            State::Blocked(block) => block,
            State::Ready | State::Running => {
                p.revoked = true;
                return;
            }
            State::Dead => return,
        };
        let ipc = match block {
            Block::Send(ep) => {
                crate::ipc::endpoint::unlink_sender(self, ep, pid);
                true
            }
            Block::Recv(ep) => {
                crate::ipc::endpoint::unlink_receiver(self, ep, pid);
                true
            }
            Block::Reply(r) => {
                crate::ipc::reply::caller_gone(self, r);
                true
            }
            Block::Wait(child) => {
                if let Some(c) = self.procs.get_mut(child) {
                    c.waiters.retain(|&w| w != pid);
                }
                false
            }
            Block::Notify(n) => {
                crate::notify::unlink_waiter(self, n, pid);
                false
            }
            Block::Sleep(_) => false,
            Block::ConsoleRead => {
                crate::conin::forget_reader(self, pid);
                false
            }
            // Nothing more starts; the pieces in flight run to their end
            // (the revoke waits for them), then it wakes with `Revoked`
            // (`iowait`).
            Block::Disk => {
                if let Some(t) = self.disk_waits.sync_of(pid) {
                    t.revoke();
                }
                crate::iowait::on_completion(self);
                return;
            }
            // Not tied to a handle (its request is checked when it runs;
            // the revoker's own wait is not tied either).
            Block::DiskComplete(_) | Block::Settle => false,
            // Its ring handle died: it stops waiting (what its ring holds
            // in flight is the ring's, and ends with it).
            Block::Ring(_) => {
                self.rings.take_waiter(pid);
                false
            }
        };
        if ipc {
            crate::ipc::wake(self, pid, Err(Error::Revoked), false);
        } else {
            if let Some(p) = self.procs.get_mut(pid) {
                p.revoked = true;
            }
            self.sched.wake(&mut self.procs, pid);
        }
    }

    /// A capability to ring `id` is gone; the last one ends the ring: its
    /// requests in flight are orphaned (freed when the device is done),
    /// its pages unmapped and credited to their quota if its owner still
    /// has them.
    fn ring_cap_removed(&mut self, id: ObjectId) {
        let Some(ring) = self.rings.rings.get_mut(id) else { return };
        ring.refs -= 1;
        if ring.refs > 0 {
            return;
        }
        let (owner, vaddr, pages, attached) = (ring.owner, ring.vaddr, ring.pages, ring.attached);
        self.rings.detach(id, &mut self.devices);
        self.rings.rings.remove(id);
        if attached && let Some(aspace) = self.procs.get_mut(owner).and_then(|p| p.aspace.as_mut())
        {
            let _ = aspace.unmap(vaddr, pages, &mut self.quotas);
        }
    }

    /// Process `pid` is unmapping `[vaddr, vaddr + len)`: every ring of its
    /// with a page there is torn down first (its requests orphaned; its
    /// capabilities stay, and `ring_enter` says `PeerGone`), so the kernel
    /// never writes a completion into memory the program reuses.
    pub fn rings_unmapping(&mut self, pid: ObjectId, vaddr: u64, len: u64) {
        let end = vaddr.saturating_add(len);
        let mut hit = [ObjectId(0); crate::ring::MAX_RINGS_PER_PROCESS];
        let mut n = 0;
        for (id, r) in self.rings.rings.iter() {
            let r_end = r.vaddr + r.pages * caps::abi::layout::PAGE_SIZE;
            if r.owner == pid && r.attached && r.vaddr < end && vaddr < r_end && n < hit.len() {
                hit[n] = id;
                n += 1;
            }
        }
        for &id in &hit[..n] {
            self.rings.detach(id, &mut self.devices);
        }
    }

    /// Mints `cap`, the first capability to an object just made, into
    /// `table` and counts it (`cap_created`); returns the handle. If the
    /// table refuses (`TableFull`, the global capability limit), `undo`
    /// takes the object back, so creating calls stay all or nothing.
    pub fn mint_new(
        &mut self,
        table: caps::TableId,
        cap: Capability,
        undo: impl FnOnce(&mut Kernel),
    ) -> Result<u64, Error> {
        match self.caps.mint(table, cap) {
            Ok(h) => {
                self.cap_created(&cap);
                Ok(h.as_raw())
            }
            Err(e) => {
                undo(self);
                Err(e)
            }
        }
    }

    /// `cap_gone` for each of a batch of removals.
    pub fn caps_removed(&mut self, removed: &[Removed]) {
        for r in removed {
            self.cap_gone(r);
        }
    }
}

/// Ends process `pid` with `status`: destroys its capability table, wakes
/// its waiters, and queues its address space and kernel stack to be freed
/// once we are off them. Does not switch away: the caller does.
pub fn terminate(k: &mut Kernel, pid: ObjectId, status: ExitStatus) {
    let Some(p) = k.procs.get_mut(pid) else { return };
    if p.state == State::Dead {
        return;
    }
    crate::ipc::on_terminate(k, pid);
    crate::notify::on_terminate(k, pid);
    crate::conin::forget_reader(k, pid);
    let p = k.procs.get_mut(pid).expect("checked above");
    if let State::Blocked(block) = p.state {
        k.sched.forget_blocked(pid, block);
    }
    k.sched.untie_process(pid);
    let p = k.procs.get_mut(pid).expect("checked above");
    p.state = State::Dead;
    p.exit = Some(status);
    // A mask `proc_set_cpus` left pending while it ran goes with it.
    p.next_cpus = None;
    let waiters = core::mem::take(&mut p.waiters);
    let table = p.table.take();
    if k.sched.here().current == Some(pid) {
        k.sched.here_mut().current_table = None;
    }
    if let Some(table) = table {
        let mut removed = Vec::new();
        let _ = k.caps.destroy_table(table, |r| removed.push(r));
        k.caps_removed(&removed);
    }
    for w in waiters {
        k.sched.wake(&mut k.procs, w);
    }
    k.async_io.orphan(pid, &mut k.devices);
    // Its frames are freed after the switch: the device must be done with
    // them first. (A process blocked in a transfer cannot die today —
    // nothing kills a blocked process — so this never waits in practice.)
    if let Some(mut t) = k.disk_waits.take_sync(pid) {
        t.settle(&mut k.devices);
    }
    k.disk_waits.complete.retain(|&(p, _)| p != pid);
    k.disk_waits.take_settle(pid);
    k.rings.take_waiter(pid);
    k.disk_waits.bound.retain(|&(p, _)| p != pid);
    // Rings whose capabilities live on elsewhere: their pages go with the
    // address space.
    k.rings_unmapping(pid, 0, u64::MAX);
    k.sched.runq.remove(pid);
    k.sched.dead.push(pid);
    if k.init == Some(pid) {
        k.devices.log_queues();
        init_ended(status);
    }
}

/// The first process ended: the run is over; power off with its verdict.
fn init_ended(status: ExitStatus) -> ! {
    let code = if status.success() { ExitCode::Success } else { ExitCode::Failure };
    log::info!("init ended: {status:?}; powering off");
    let (mut switches, mut interrupts) =
        (alloc::string::String::new(), alloc::string::String::new());
    for cpu in (0..crate::arch::percpu::count()).filter_map(crate::arch::percpu::by_index) {
        use core::fmt::Write;
        let _ = write!(switches, " {}", cpu.switches());
        let _ = write!(interrupts, " {}", cpu.disk_interrupts());
    }
    log::info!("sched: processes taken from the idle loop, per CPU:{switches}");
    log::info!("sched: {} processes moved by balancing", crate::proc::sched::pulls());
    log::info!("irq: disk interrupts, per CPU:{interrupts}");
    let (shootdowns, mean_ns) = crate::arch::smp::tlb::stats();
    log::info!("tlb: {shootdowns} shootdowns sent");
    if shootdowns > 0 {
        // In the benchmarks' format (`make bench` boots with log=info for
        // the SMP figures): first IPI sent to last answer in.
        log::info!("BENCH tlb_shootdown_ns {mean_ns} ns");
    }
    crate::qemu::exit(code)
}

/// Frees the address spaces and kernel stacks of processes that ended,
/// now that the CPU is off them. Called right after every switch.
pub fn reap(k: &mut Kernel) {
    while let Some(pid) = k.sched.dead.pop() {
        let Some(p) = k.procs.get_mut(pid) else { continue };
        let aspace = p.aspace.take();
        let kstack = p.kstack.take();
        let own = p.own_quota;
        let orphan = p.handle_refs == 0;
        if let Some(a) = aspace {
            crate::proc::switch::leave_address_space(a.root());
            a.destroy(&mut k.quotas);
        }
        if let Some(s) = kstack {
            s.free();
            for _ in 0..kstack::STACK_PAGES {
                crate::mem::aspace::Charge::credit(&mut k.quotas, own);
            }
        }
        k.quotas.release(own);
        if orphan {
            k.procs.remove(pid);
        }
    }
}
