//! Notification test cases, one per run (`case=<name>`), each printing
//! `notify-suite: <case> ok` or the first thing that went wrong (exit 1).
//! The other side of the cases that need one is `notify-suite-peer`
//! (`mode=<name>`).
//!
//! - `signal`: a signal then a wait returns the bits (bit 0 for an
//!   unbadged capability); two badged signallers OR their badges; a wait
//!   clears the word; a non-blocking wait on an empty word is
//!   `WouldBlock`; a badged capability cannot be re-badged;
//! - `rights`: signal without SEND, wait without WAIT, bind without RECV
//!   or SEND: `MissingRight`; wrong kinds: `WrongKind`; bad flags:
//!   `InvalidArgument`; a dead handle: `BadHandle`;
//! - `cross`: a waiter blocked in another process is woken by a signal
//!   from this one, with this capability's badge;
//! - `queue`: two waiters in other processes are woken one per signal,
//!   first come first served;
//! - `revoke`: a waiter blocked in another process through a capability
//!   that is then revoked wakes with `Revoked`, and takes no bits;
//! - `bind`: an endpoint bound to a notification: a sender that queues
//!   makes the wait return the binding's badge bit, then a non-blocking
//!   receive gets its message; endpoints bound to different bits tell
//!   apart; a sender that finds a receiver waiting does not signal;
//!   unbinding, and dropping the bound capability, stop the signals;
//! - `gone`: once no capability with SEND is left, a wait with nothing
//!   pending says `PeerGone` (at once, and to a waiter already blocked in
//!   another process), while pending bits are still delivered first;
//! - `quota`: creating and dropping many notifications leaks nothing (a
//!   peer with a small quota fills it with notifications, drops them, and
//!   fills it again to the same count).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use libos::abi::RawHandle;
use libos::abi::process::ProcState;
use libos::ipc::{Msg, create_endpoint};
use libos::kind::{Console, Endpoint, Memory, Notification, Timer};
use libos::process::{Child, Spawn};
use libos::{Error, ExitStatus, Handle, Rights, Start, println, sys};

libos::main!(main);

type Outcome = Result<(), String>;

fn main(start: &Start) -> i32 {
    let case = start.arg("case").unwrap_or("");
    let r = match case {
        "signal" => signal(start),
        "rights" => rights(start),
        "cross" => cross(start),
        "queue" => queue(start),
        "revoke" => revoke(start),
        "bind" => bind(start),
        "quota" => quota(start),
        "gone" => gone(start),
        _ => Err(format!("unknown case {case:?}")),
    };
    match r {
        Ok(()) => {
            println!("notify-suite: {case} ok");
            0
        }
        Err(e) => {
            println!("notify-suite: {case}: {e}");
            1
        }
    }
}

/// `Ok` if `got == want`, else a message naming `what`.
fn want<T: core::fmt::Debug + PartialEq>(what: &str, got: T, want: T) -> Outcome {
    if got == want { Ok(()) } else { Err(format!("{what}: got {got:?}, want {want:?}")) }
}

fn ok<T>(what: &str, r: Result<T, Error>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e:?}"))
}

fn memory(start: &Start) -> Handle<Memory> {
    start.handle::<Memory>("memory").expect("memory")
}

fn new_notification(start: &Start) -> Result<Handle<Notification>, String> {
    ok("notify_create", Handle::<Notification>::create(memory(start)))
}

/// Starts `notify-suite-peer` in `mode` with `grants` (handle, rights,
/// role) and a quota of `pages`.
fn peer(
    start: &Start,
    mode: &str,
    pages: u64,
    notification: Option<(Handle<Notification>, Rights)>,
    endpoint: Option<(Handle<Endpoint>, Rights)>,
) -> Result<Child, String> {
    let image = start
        .images()
        .find(|&(n, _)| n == "notify-suite-peer")
        .map(|(_, h)| h)
        .ok_or("no notify-suite-peer image")?;
    let args = format!("mode={mode}");
    let mut s = Spawn::new(image).quota_pages(pages).args(&args);
    let console = start.handle::<Console>("console").ok_or("no console")?;
    s = ok("grant", s.grant(console, Rights::WRITE, "console"))?;
    if let Some(t) = start.handle::<Timer>("timer") {
        s = ok("grant", s.grant(t, Rights::READ | Rights::WAIT, "timer"))?;
    }
    if let Some((n, rights)) = notification {
        s = ok("grant", s.grant(n, rights, "n"))?;
    }
    if let Some((ep, rights)) = endpoint {
        s = ok("grant", s.grant(ep, rights, "ep"))?;
    }
    ok("spawn the peer", s.spawn())
}

/// Waits until `child` is blocked in a call of the kind `state` says
/// (`proc_state`), for up to 10 s: each case below needs its peer waiting
/// or queued first, and a sleep of a fixed length (which they used to
/// take) is outrun by a host that stalls QEMU.
fn blocked_in(start: &Start, child: Child, state: ProcState) -> Outcome {
    let timer = start.handle::<Timer>("timer").ok_or("no timer")?;
    child
        .wait_until(state, timer, 1_000_000, 10_000_000_000)
        .map_err(|e| format!("the peer never reached {state:?}: {e:?}"))
}

fn exited_ok(what: &str, child: Child) -> Outcome {
    want(what, child.wait(), Ok(ExitStatus::Exited(0)))
}

fn signal(start: &Start) -> Outcome {
    let n = new_notification(start)?;
    want("poll a new notification", n.poll(), Err(Error::WouldBlock))?;
    ok("signal", n.signal())?;
    want("wait after an unbadged signal", n.wait(), Ok(libos::notify::UNBADGED_SIGNAL))?;
    want("poll after the wait", n.poll(), Err(Error::WouldBlock))?;

    let a = ok("derive badge a", n.derive_badged(Rights::SEND | Rights::DERIVE, 0b10))?;
    let b = ok("derive badge b", n.derive_badged(Rights::SEND, 0b1000))?;
    want("re-badge", a.derive_badged(Rights::SEND, 0b100).map(drop), Err(Error::InvalidArgument))?;
    want("a's badge", a.info().map(|i| i.badge), Ok(0b10))?;
    ok("signal a", a.signal())?;
    ok("signal b", b.signal())?;
    ok("signal a again", a.signal())?;
    want("wait after a and b", n.wait(), Ok(0b1010))?;
    want("poll after the wait", n.poll(), Err(Error::WouldBlock))?;

    // A copy of `a` signals with a's badge; with the unbadged one, bit 0 too.
    let a2 = ok("derive a copy of a", a.derive(Rights::SEND))?;
    ok("signal the copy", a2.signal())?;
    ok("signal unbadged", n.signal())?;
    want("poll after the copy and the unbadged", n.poll(), Ok(0b11))?;
    want("poll again", n.poll(), Err(Error::WouldBlock))?;

    // The word survives the signallers: bits are set, not queued.
    ok("signal b", b.signal())?;
    ok("close b", b.close())?;
    want("poll after b closed", n.poll(), Ok(0b1000))?;
    ok("close", n.close())
}

fn rights(start: &Start) -> Outcome {
    let n = new_notification(start)?;
    let wait_only = ok("derive WAIT", n.derive(Rights::WAIT))?;
    let send_only = ok("derive SEND", n.derive(Rights::SEND))?;
    want("signal without SEND", wait_only.signal(), Err(Error::MissingRight))?;
    want("wait without WAIT", send_only.wait(), Err(Error::MissingRight))?;
    want("poll without WAIT", send_only.poll(), Err(Error::MissingRight))?;
    let all = Rights::SEND | Rights::WAIT | Rights::GRANT | Rights::DERIVE | Rights::REVOKE;
    want("a new notification's rights", n.info().map(|i| (i.rights(), i.badge)), Ok((all, 0)))?;

    let console = start.handle::<Console>("console").ok_or("no console")?;
    let ep = ok("create an endpoint", create_endpoint(memory(start)))?;
    want("signal a console", sys::notify_signal(console.raw()), Err(Error::WrongKind))?;
    want("wait on an endpoint", sys::notify_wait(ep.raw(), 0), Err(Error::WrongKind))?;
    want("create from a console", sys::notify_create(console.raw()), Err(Error::WrongKind))?;
    want(
        "bind a notification as endpoint",
        sys::endpoint_bind(n.raw(), n.raw()),
        Err(Error::WrongKind),
    )?;
    want("bind to a console", sys::endpoint_bind(ep.raw(), console.raw()), Err(Error::WrongKind))?;
    want("bad flags", sys::notify_wait(n.raw(), 2), Err(Error::InvalidArgument))?;
    want("bad flags (high)", sys::notify_wait(n.raw(), 1 << 63), Err(Error::InvalidArgument))?;

    // Binding needs RECV on the endpoint and SEND on the notification.
    let ep_send = ok("derive SEND", ep.derive(Rights::SEND))?;
    want("bind without RECV", ep_send.bind_notification(send_only), Err(Error::MissingRight))?;
    want("bind to a WAIT-only", ep.bind_notification(wait_only), Err(Error::MissingRight))?;
    want("unbind without RECV", ep_send.unbind_notification(), Err(Error::MissingRight))?;
    ok("bind", ep.bind_notification(send_only))?;
    ok("unbind", ep.unbind_notification())?;

    // A quota handle without MAP creates nothing.
    let no_map = ok("derive memory without MAP", memory(start).derive(Rights::READ))?;
    want(
        "create without MAP",
        sys::notify_create(no_map.raw()).map(drop),
        Err(Error::MissingRight),
    )?;

    // A closed handle is dead.
    ok("close", wait_only.close())?;
    want("wait on a closed handle", wait_only.poll(), Err(Error::BadHandle))?;
    want(
        "signal a bogus handle",
        sys::notify_signal(RawHandle::from_raw(12345)),
        Err(Error::BadHandle),
    )?;
    // The failed calls changed nothing: the word is still empty.
    want("poll", n.poll(), Err(Error::WouldBlock))?;
    Ok(())
}

fn cross(start: &Start) -> Outcome {
    let n = new_notification(start)?;
    let p = peer(start, "wait-8", 128, Some((n, Rights::WAIT)), None)?;
    blocked_in(start, p, ProcState::Notified)?;
    // The peer must be blocked in its wait, not finished.
    let badged = ok("derive badge", n.derive_badged(Rights::SEND, 8))?;
    ok("signal", badged.signal())?;
    exited_ok("the waiter (it must see bits 8)", p)?;
    // The bits went to the waiter: none are left.
    want("poll after the waiter took them", n.poll(), Err(Error::WouldBlock))
}

fn queue(start: &Start) -> Outcome {
    let n = new_notification(start)?;
    let badged = ok("derive badge", n.derive_badged(Rights::SEND, 8))?;
    let first = peer(start, "wait-8", 128, Some((n, Rights::WAIT)), None)?;
    blocked_in(start, first, ProcState::Notified)?;
    let second = peer(start, "wait-8", 128, Some((n, Rights::WAIT)), None)?;
    blocked_in(start, second, ProcState::Notified)?;
    ok("signal", badged.signal())?;
    want("the first waiter, after one signal", first.wait(), Ok(ExitStatus::Exited(0)))?;
    want("the second waiter, after one signal", second.state(), Ok(ProcState::Notified))?;
    ok("signal again", badged.signal())?;
    exited_ok("the second waiter", second)?;
    want("poll after both took their bits", n.poll(), Err(Error::WouldBlock))
}

fn revoke(start: &Start) -> Outcome {
    let n = new_notification(start)?;
    let lent = ok("derive", n.derive(Rights::WAIT | Rights::GRANT | Rights::REVOKE))?;
    let p = peer(start, "wait-revoked", 128, Some((lent, Rights::WAIT)), None)?;
    blocked_in(start, p, ProcState::Notified)?;
    want("revoke (the peer's copy)", lent.revoke(), Ok(1))?;
    exited_ok("the waiter (it must hear Revoked)", p)?;
    // The revoked waiter is out of the queue: a signal now sets the word.
    ok("signal", n.signal())?;
    want("poll after the revoke", n.poll(), Ok(1))
}

fn gone(start: &Start) -> Outcome {
    // In this process: bits pending are delivered, then PeerGone.
    let n = new_notification(start)?;
    let w = ok("derive WAIT", n.derive(Rights::WAIT))?;
    let s = ok("derive SEND", n.derive(Rights::SEND))?;
    ok("close the original", n.close())?;
    ok("signal", s.signal())?;
    ok("close the last signaller", s.close())?;
    want("the pending bit first", w.poll(), Ok(1))?;
    want("then a poll", w.poll(), Err(Error::PeerGone))?;
    want("and a wait does not block", w.wait(), Err(Error::PeerGone))?;

    // A waiter in another process wakes when the last signaller goes.
    let n = new_notification(start)?;
    let lent = ok("derive", n.derive(Rights::WAIT | Rights::GRANT))?;
    let p = peer(start, "wait-gone", 128, Some((lent, Rights::WAIT)), None)?;
    blocked_in(start, p, ProcState::Notified)?;
    ok("close the only signaller", n.close())?;
    exited_ok("the waiter (it must hear PeerGone)", p)
}

fn bind(start: &Start) -> Outcome {
    let n = new_notification(start)?;
    let ep1 = ok("create endpoint 1", create_endpoint(memory(start)))?;
    let ep2 = ok("create endpoint 2", create_endpoint(memory(start)))?;
    let bit1 = ok("derive bit 1", n.derive_badged(Rights::SEND, 0b10))?;
    let bit2 = ok("derive bit 2", n.derive_badged(Rights::SEND, 0b100))?;
    ok("bind endpoint 1", ep1.bind_notification(bit1))?;
    ok("bind endpoint 2", ep2.bind_notification(bit2))?;

    // A sender on endpoint 1 comes while we wait on the notification.
    let p = peer(start, "send-later", 128, None, Some((ep1, Rights::SEND)))?;
    want("wait (endpoint 1's sender)", n.wait(), Ok(0b10))?;
    let m = ok("receive", ep1.try_recv())?;
    want("the message", m.word(0), 42)?;
    want("endpoint 2 has nothing", ep2.try_recv().map(drop), Err(Error::WouldBlock))?;
    exited_ok("the sender", p)?;

    // Endpoint 2's sender sets endpoint 2's bit.
    let p = peer(start, "send", 128, None, Some((ep2, Rights::SEND)))?;
    want("wait (endpoint 2's sender)", n.wait(), Ok(0b100))?;
    want("endpoint 1 has nothing", ep1.try_recv().map(drop), Err(Error::WouldBlock))?;
    want("the message", ok("receive", ep2.try_recv())?.word(0), 42)?;
    exited_ok("the sender", p)?;

    // Unbound, endpoint 1 signals nothing.
    ok("unbind endpoint 1", ep1.unbind_notification())?;
    let p = peer(start, "send", 128, None, Some((ep1, Rights::SEND)))?;
    blocked_in(start, p, ProcState::Sending)?;
    want("poll (unbound)", n.poll(), Err(Error::WouldBlock))?;
    want("the message is there", ok("receive", ep1.try_recv())?.word(0), 42)?;
    exited_ok("the sender", p)?;

    // The bound capability dropped: endpoint 2 signals nothing either.
    ok("close bit 2", bit2.close())?;
    let p = peer(start, "send", 128, None, Some((ep2, Rights::SEND)))?;
    blocked_in(start, p, ProcState::Sending)?;
    want("poll (bound capability gone)", n.poll(), Err(Error::WouldBlock))?;
    want("the message is there", ok("receive", ep2.try_recv())?.word(0), 42)?;
    exited_ok("the sender", p)?;

    // Rebinding replaces: endpoint 1 now signals bit 0 (unbadged).
    ok("bind endpoint 1 to bit 1", ep1.bind_notification(bit1))?;
    ok("rebind endpoint 1 unbadged", ep1.bind_notification(n))?;
    let p = peer(start, "send", 128, None, Some((ep1, Rights::SEND)))?;
    want("wait (rebound)", n.wait(), Ok(1))?;
    want("the message", ok("receive", ep1.try_recv())?.word(0), 42)?;
    exited_ok("the sender", p)?;

    // A sender that finds a receiver waiting does not signal: the message
    // goes straight to it. The receiver is a peer, seen waiting before the
    // (blocking) sender starts.
    let r = peer(start, "recv", 128, None, Some((ep1, Rights::RECV)))?;
    blocked_in(start, r, ProcState::Receiving)?;
    let p = peer(start, "send", 128, None, Some((ep1, Rights::SEND)))?;
    exited_ok("the sender", p)?;
    exited_ok("the receiver (it must get 42)", r)?;
    want("poll after a direct delivery", n.poll(), Err(Error::WouldBlock))?;

    // A non-blocking send with no receiver waiting queues nothing and
    // signals nothing.
    want("try_send with no receiver", ep1.try_send(&Msg::word(1)), Err(Error::WouldBlock))?;
    want("poll after try_send", n.poll(), Err(Error::WouldBlock))
}

fn quota(start: &Start) -> Outcome {
    let p = peer(start, "quota", 256, None, None)?;
    exited_ok("the quota peer", p)
}
