//! Notifications: asynchronous events as a word of bits (seL4's
//! notification object, `src/object/notification.c`).
//!
//! A notification holds one `u64` word. `notify_signal` ORs the signalling
//! capability's badge into it (an unbadged capability ORs
//! [`UNBADGED_SIGNAL`], bit 0) and never blocks; `notify_wait` takes the
//! word and clears it, blocking while it is 0. So a waiter learns, in one
//! wake-up, every source that fired since it last looked (one bit per
//! source, by the badges its signallers were given), and signals never
//! queue: a thousand signals of one source before the wait are one bit.
//!
//! Waiters wait in a FIFO ([`Notification::waiters`]), linked through the
//! same `IpcState::next` field as the endpoint queues (a process waits on
//! one thing at a time, so it is never on two queues). A signal with a
//! waiter present hands the whole word, its own bits included, to the
//! first waiter and leaves the word 0, as seL4 does; other waiters keep
//! waiting for the next signal.
//!
//! A waiter is tied to the capability it waits through
//! (`Scheduler::tie`): its death (revoke, drop, the table destroyed) wakes
//! it with `Revoked`. A notification is charged one frame to the quota it
//! was created from and freed, the frame credited, when its last
//! capability goes; a waiter keeps it alive through its own capability.
//!
//! **No signaller left.** A notification counts the capabilities that can
//! signal it (those with SEND). When the last of them goes (its holder
//! dropped it or died, or a revoke took it) nobody can ever set a bit
//! again: every waiter wakes with `PeerGone`, and a later wait with no bit
//! pending says `PeerGone` at once instead of blocking for ever (the
//! kernel's own signallers, bound endpoints and disk completions, signal
//! through such a capability too). So a process waiting for a peer learns
//! of the peer's death, as a Zircon event pair's `PEER_CLOSED` tells it.
//!
//! The kernel signals too: an endpoint bound to a notification
//! (`endpoint_bind`) signals through that capability whenever a sender has
//! to queue ([`signal_through`]), so one wait covers several endpoints;
//! disk completions and device interrupts are to be delivered the same way.

use caps::abi::args::UNBADGED_SIGNAL;
use caps::abi::{Error, ObjectKind, RawHandle, Rights};
use caps::{Capability, NO_BADGE, Object, ObjectId, TableId};

use crate::ipc::objects::Queue;
use crate::mem::aspace::Charge;
use crate::objtable::ObjectTable;
use crate::proc::{Block, State};
use crate::state::Kernel;

/// Most notifications at once (each is also charged to a quota).
pub const MAX_NOTIFICATIONS: usize = 4096;

/// The rights of a new notification capability: every one.
pub const NOTIFICATION_RIGHTS: Rights = Rights::SEND
    .union(Rights::WAIT)
    .union(Rights::GRANT)
    .union(Rights::DERIVE)
    .union(Rights::REVOKE);

/// The notifications, by id.
pub type Notifications = ObjectTable<Notification>;

/// A new, empty table of notifications.
pub const fn table() -> Notifications {
    ObjectTable::new(MAX_NOTIFICATIONS)
}

/// One notification.
#[derive(Debug)]
pub struct Notification {
    /// The quota it is charged to.
    pub quota: ObjectId,
    /// Capabilities naming it.
    pub caps: u32,
    /// Of those, the ones with SEND: while 0, nothing can signal it.
    pub senders: u32,
    /// The pending bits; 0 when nothing happened since the last wait.
    pub word: u64,
    /// Processes blocked in `notify_wait` on it, first come first served;
    /// non-empty only while `word` is 0.
    pub waiters: Queue,
}

/// The bits a signal through `cap` ORs in: its badge, or
/// [`UNBADGED_SIGNAL`] if it has none.
pub const fn signal_bits(cap: &Capability) -> u64 {
    if cap.badge == NO_BADGE { UNBADGED_SIGNAL } else { cap.badge }
}

/// Creates a notification charged one frame to `quota` and mints a
/// capability to it with every right (no badge) in `table`. All or nothing:
/// `OutOfMemory` (no room in the kernel's table, or the quota spent),
/// `TableFull`.
pub fn create(k: &mut Kernel, table: TableId, quota: ObjectId) -> Result<u64, Error> {
    if k.notifications.is_full() {
        return Err(Error::OutOfMemory);
    }
    if !k.caps.table(table).is_some_and(|t| t.has_room()) {
        return Err(Error::TableFull);
    }
    k.quotas.charge(quota)?;
    let n = Notification { quota, caps: 0, senders: 0, word: 0, waiters: Queue::default() };
    let id = k.notifications.insert(n).expect("room checked above");
    k.quotas.hold(quota);
    let cap = Capability {
        object: Object::Notification(id),
        rights: NOTIFICATION_RIGHTS,
        badge: NO_BADGE,
    };
    k.mint_new(table, cap, |k| free(k, id))
}

/// Signals notification `id` with `bits` (non-zero): the first waiter, if
/// any, wakes with the word and `bits` ORed together and the word stays 0;
/// else `bits` are ORed into the word. Never blocks, never fails; a
/// notification that no longer exists is ignored (its signallers were
/// told nothing either way: signals are fire-and-forget, as in seL4).
///
/// The kernel's own entry for events: endpoints bound to a notification
/// call it through [`signal_through`], and so will disk completions and
/// device interrupts. An interrupt line is to be handed to a user-level
/// driver as seL4 does with its `IRQHandler` capability: an interrupt
/// capability bound to a notification capability, the interrupt handler
/// signalling through it (so with its badge) and masking the line until the
/// driver acknowledges it.
pub fn signal(k: &mut Kernel, id: ObjectId, bits: u64) {
    let Some(n) = k.notifications.get_mut(id) else { return };
    let word = n.word | bits;
    match n.waiters.pop(&mut k.procs) {
        Some(pid) => {
            n.word = 0;
            if let Some(p) = k.procs.get_mut(pid) {
                p.notified = word;
            }
            k.sched.wake(&mut k.procs, pid);
        }
        None => n.word = word,
    }
}

/// Signals through capability `handle` of `table`, as `notify_signal` by
/// that table's process would: with the capability's badge, if it still
/// names a notification with SEND. The handle is looked up now, so a
/// capability revoked or dropped since it was recorded signals nothing
/// (`BadHandle` or `Revoked`, as a lookup says; a handle never revives,
/// its generation sees to that), and one without SEND is `MissingRight`.
pub fn signal_through(k: &mut Kernel, table: TableId, handle: RawHandle) -> Result<(), Error> {
    let cap = *k.caps.lookup(table, handle, ObjectKind::Notification, Rights::SEND)?;
    let Object::Notification(id) = cap.object else { return Err(Error::WrongKind) };
    signal(k, id, signal_bits(&cap));
    Ok(())
}

/// Takes notification `id`'s word for a waiter: the bits (and the word
/// cleared), or `None` if it is 0. `PeerGone` if the notification is gone,
/// or if no bit is pending and no capability can signal it any more.
pub fn take(k: &mut Kernel, id: ObjectId) -> Result<Option<u64>, Error> {
    let n = k.notifications.get_mut(id).ok_or(Error::PeerGone)?;
    match core::mem::take(&mut n.word) {
        0 if n.senders == 0 => Err(Error::PeerGone),
        0 => Ok(None),
        bits => Ok(Some(bits)),
    }
}

/// Queues process `pid` as a waiter on notification `id` (its word is 0).
pub fn enqueue(k: &mut Kernel, id: ObjectId, pid: ObjectId) {
    if let Some(n) = k.notifications.get_mut(id) {
        n.waiters.push_back(&mut k.procs, pid);
    }
}

/// Takes a waiter that no longer waits (its capability died, or it is
/// dying) out of notification `id`'s queue.
pub fn unlink_waiter(k: &mut Kernel, id: ObjectId, pid: ObjectId) {
    if let Some(n) = k.notifications.get_mut(id) {
        n.waiters.remove(&mut k.procs, pid);
    }
}

/// Cleans a dying process out of the notification it waits on, if any.
/// Called by `lifecycle::terminate` before its table goes.
pub fn on_terminate(k: &mut Kernel, pid: ObjectId) {
    if let Some(p) = k.procs.get(pid)
        && let State::Blocked(Block::Notify(id)) = p.state
    {
        unlink_waiter(k, id, pid);
    }
}

/// Counts a new capability to notification `id` with `rights`.
pub fn cap_created(k: &mut Kernel, id: ObjectId, rights: Rights) {
    if let Some(n) = k.notifications.get_mut(id) {
        n.caps += 1;
        n.senders += u32::from(rights.contains(Rights::SEND));
    }
}

/// Counts a capability to notification `id` with `rights` gone; the last
/// one frees it, the last signaller wakes every waiter with `PeerGone` (a
/// 0 in `Process::notified`: a signal never delivers 0).
pub fn cap_removed(k: &mut Kernel, id: ObjectId, rights: Rights) {
    let Some(n) = k.notifications.get_mut(id) else { return };
    n.caps -= 1;
    if rights.contains(Rights::SEND) {
        n.senders -= 1;
        if n.senders == 0 {
            while let Some(pid) = n.waiters.pop(&mut k.procs) {
                if let Some(p) = k.procs.get_mut(pid) {
                    p.notified = 0;
                }
                k.sched.wake(&mut k.procs, pid);
            }
        }
    }
    if n.caps == 0 {
        free(k, id);
    }
}

/// Frees notification `id` and credits its frame. Its waiters (there are
/// none: each holds a capability to it, and the death of that capability
/// woke it first, `Kernel::cap_gone`) would wake with `Revoked`.
fn free(k: &mut Kernel, id: ObjectId) {
    let Some(mut n) = k.notifications.remove(id) else { return };
    debug_assert!(n.waiters.is_empty(), "a waiter outlived its capability");
    while let Some(pid) = n.waiters.pop(&mut k.procs) {
        if let Some(p) = k.procs.get_mut(pid) {
            p.revoked = true;
        }
        k.sched.wake(&mut k.procs, pid);
    }
    k.quotas.credit(n.quota);
    k.quotas.release(n.quota);
}
