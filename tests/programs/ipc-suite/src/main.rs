//! IPC test cases, one per run (`case=<name>`), each printing
//! `ipc-suite: <case> ok` or the first thing that went wrong (exit 1).
//! The other side of each case is `ipc-suite-peer` (`mode=<name>`).
//!
//! - `rights`: send without SEND, receive without RECV, a handle without
//!   GRANT, wrong kinds, bad tags: each refused with its error;
//! - `badges`: the receiver sees the badge of the sender's capability, and
//!   the sender cannot change it;
//! - `reply`: a call answered; the reply used twice (`BadHandle`);
//! - `full`: handles into a full table: `TableFull` on both sides, the
//!   sender keeps its (moved!) handles, the receiver's table unchanged;
//!   with room, the move goes through;
//! - `revoke`: a handle sent, used, revoked by the sender: refused;
//! - `peer-exit`: a receiver, a sender and a caller each blocked when the
//!   other side exits: `PeerGone`;
//! - `flood`: non-blocking sends against a receiver that is not receiving
//!   all get `WouldBlock` and charge nothing; blocked senders hold one
//!   message each, no more;
//! - `revoke-receiver`, `revoke-sender`, `revoke-caller`, `revoke-answer`:
//!   a process blocked receiving, sending, calling (queued), or waiting for
//!   its answer, through a capability that is then revoked, wakes with
//!   `Revoked`, and nothing goes to or from it (issue 11);
//! - `revoke-carried`: a handle carried by a queued message is revoked:
//!   the message is refused (`Revoked`), nothing delivered;
//! - `revoke-drop`: dropping an ancestor of a waiter's capability leaves
//!   the waiter waiting (its capability lives on, re-parented), and a
//!   revoke from higher up still reaches it;
//! - `revoke-table`: the table holding the parent of a waiter's
//!   capability goes away (its process exits): the waiter waits on, and a
//!   revoke from higher up still reaches it;
//! - `move-own`: a call cannot move the handle it calls through, nor
//!   `ipc_reply_recv` the one it then receives through;
//! - `long`: long messages both ways (`send_bytes`, `recv_into`,
//!   `call_bytes`, `reply_bytes`), with handles, truncation, either side
//!   blocking first, the size limit.
//! - `fast`: the cases the fast path of `ipc_call` and `ipc_reply_recv`
//!   singles out (a register-only message to a receiver that waits): four
//!   words with a badge and three back, none either way; a call while the
//!   server is not receiving (it queues: the general path); an answer
//!   through a spent reply (`BadHandle`, and the server still receives);
//!   a reply dropped unanswered (`PeerGone`); a call without SEND and a
//!   bad tag refused while the server waits; and `proc_yield_to` on the
//!   server: runs it when it is ready, `WouldBlock` once it waits,
//!   `PeerGone` once it has ended.
//! - `recycled`: replies as a server answering call after call sees them
//!   (the kernel parks a spent reply's capability and brings it back for
//!   the next call): each call brings a new handle, every answered one is
//!   dead, an answered reply takes no room in the server's table, and a
//!   call into the full table is refused (`TableFull`) until it has room.
//! - `yield-fair`: two peers yield to each other (`proc_yield_to`) for a
//!   second while this process spins without yielding: their directed
//!   yields share one quantum, so the timer still gives it the CPU (no gap
//!   near the second).
//! - `call-fair`: a client calls a server for a second (the direct
//!   switch both ways) while this process spins: the pair shares one
//!   quantum as well, so this one still gets the CPU.
//! - `pinned`: a client pinned to CPU 0 calls a server pinned to CPU 1
//!   (`Spawn::on_cpus`) for a second: every call and answer crosses CPUs,
//!   and the test kernel's authority checks verify after every syscall
//!   that each runs only on its CPU. On one CPU, the server's spawn must
//!   be refused (`InvalidArgument`: no CPU of its mask is online), and
//!   the pair then runs on CPU 0.
//! - `migrate`: the same pair (its client calling until told to stop),
//!   whose CPUs this process changes while they call
//!   (`proc_set_cpus`), eight times, 50 ms apart: each is
//!   moved between CPU 0, CPU 1 and both, running, queued or blocked as
//!   it happens to be; the authority checks verify after every syscall
//!   that each runs and waits only where its current mask allows. On one
//!   CPU, a mask of CPU 1 alone is refused (`InvalidArgument`). Then a
//!   peer moves itself off its CPU and exits at once, its mask pending.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use libos::abi::ipc::{TAG_MOVE, TAG_NONBLOCK, Tag};
use libos::abi::process::{PARENT_CPUS, ProcState};
use libos::ipc::{Msg, create_endpoint};
use libos::kind::{Console, Endpoint, Memory, Reply, Timer};
use libos::process::{Child, Spawn};
use libos::{Error, ExitStatus, Handle, Rights, Start, println, sys};

libos::main!(main);

type Outcome = Result<(), String>;

fn main(start: &Start) -> i32 {
    let case = start.arg("case").unwrap_or("");
    let r = match case {
        "rights" => rights(start),
        "badges" => badges(start),
        "reply" => reply(start),
        "full" => full(start),
        "revoke" => revoke(start),
        "peer-exit" => peer_exit(start),
        "flood" => flood(start),
        "revoke-receiver" => revoke_receiver(start),
        "revoke-sender" => revoke_sender(start),
        "revoke-caller" => revoke_caller(start),
        "revoke-answer" => revoke_answer(start),
        "revoke-carried" => revoke_carried(start),
        "revoke-drop" => revoke_drop(start),
        "revoke-table" => revoke_table(start),
        "move-own" => move_own(start),
        "long" => long(start),
        "fast" => fast(start),
        "recycled" => recycled(start),
        "yield-fair" => yield_fair(start),
        "call-fair" => call_fair(start),
        "pinned" => pinned(start),
        "migrate" => migrate(start),
        _ => Err(format!("unknown case {case:?}")),
    };
    match r {
        Ok(()) => {
            println!("ipc-suite: {case} ok");
            0
        }
        Err(e) => {
            println!("ipc-suite: {case}: {e}");
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

fn console(start: &Start) -> Handle<Console> {
    start.handle::<Console>("console").expect("console")
}

/// Starts `ipc-suite-peer` in `mode` with `ep` (given `rights`) as "ep".
fn peer(start: &Start, mode: &str, ep: Handle<Endpoint>, rights: Rights) -> Result<Child, String> {
    peer_with(start, mode, ep, rights, None)
}

/// The `pinned` case.
fn pinned(start: &Start) -> Outcome {
    let ep = ok("endpoint", create_endpoint(memory(start)))?;
    let server = match spawn_peer(start, "echo-server", (ep, Rights::RECV), None, 1 << 1) {
        Ok(server) => server,
        Err(Error::InvalidArgument) => {
            println!("ipc-suite: pinned: CPU 1 is not online; both on CPU 0");
            let s = spawn_peer(start, "echo-server", (ep, Rights::RECV), None, 1 << 0);
            ok("spawn the server", s)?
        }
        Err(e) => return Err(format!("spawn the server: {e:?}")),
    };
    let client = spawn_peer(start, "caller-1s", (ep, Rights::SEND), None, 1 << 0);
    ok("close", ep.close())?;
    let client = ok("spawn the client", client)?;
    want("the client's exit", client.wait(), Ok(ExitStatus::Exited(0)))?;
    want("the server's exit", server.wait(), Ok(ExitStatus::Exited(0)))
}

/// The `migrate` case.
fn migrate(start: &Start) -> Outcome {
    let ep = ok("endpoint", create_endpoint(memory(start)))?;
    let (server, two) = match spawn_peer(start, "echo-server", (ep, Rights::RECV), None, 1 << 1) {
        Ok(server) => (server, true),
        Err(Error::InvalidArgument) => {
            let s = spawn_peer(start, "echo-server", (ep, Rights::RECV), None, 1 << 0);
            (ok("spawn the server", s)?, false)
        }
        Err(e) => return Err(format!("spawn the server: {e:?}")),
    };
    // The client calls until told to stop, however long the moves take.
    // We keep only SEND on `stop`: if the client dies, the send says
    // PeerGone rather than waiting for ever.
    let stop_rx = ok("endpoint", create_endpoint(memory(start)))?;
    let stop = ok("derive", stop_rx.derive(Rights::SEND))?;
    let client = spawn_peer(
        start,
        "caller-until-stopped",
        (ep, Rights::SEND),
        Some((stop_rx, Rights::RECV)),
        1,
    );
    ok("close", ep.close())?;
    ok("close", stop_rx.close())?;
    let client = ok("spawn the client", client)?;
    let masks: &[u64] = if two { &[1 << 0, 1 << 1, 0b11, 1 << 1, 1 << 0] } else { &[1 << 0] };
    let moves = || -> Outcome {
        for (i, &mask) in masks.iter().cycle().take(8).enumerate() {
            let (who, name) = if i % 2 == 0 { (server, "server") } else { (client, "client") };
            want(&format!("move the {name} to {mask:#b}"), who.set_cpus(mask), Ok(mask))?;
            pause(start)?;
        }
        // Every online CPU, as ours are; CPUs that do not exist are dropped.
        let all = ok("the client on every CPU", client.set_cpus(PARENT_CPUS))?;
        want("every CPU, named", server.set_cpus(u64::MAX), Ok(all))?;
        if !two {
            want("CPU 1 on one CPU", server.set_cpus(1 << 1), Err(Error::InvalidArgument))?;
        }
        Ok(())
    };
    // Stopped whatever the moves gave, so that a failure ends the pair
    // (and the case) rather than leaving it calling for ever.
    let moved = moves();
    ok("tell the client to stop", stop.send(&Msg::word(0)))?;
    moved?;
    want("the client's exit", client.wait(), Ok(ExitStatus::Exited(0)))?;
    want("the server's exit", server.wait(), Ok(ExitStatus::Exited(0)))?;
    want("an ended process", client.set_cpus(1), Err(Error::PeerGone))?;
    if two {
        // A process that ends with a mask still pending (it moved itself
        // off its CPU, then exited before it stopped running there): the
        // mask goes with it (the authority checks once found a dead
        // process with a pending mask).
        let ep = ok("endpoint", create_endpoint(memory(start)))?;
        let peer = ok("spawn", spawn_peer(start, "leave-cpu", (ep, Rights::RECV), None, 1 << 0))?;
        let own = ok("derive", peer.0.derive(Rights::WRITE | Rights::GRANT))?;
        ok("send the peer its handle", ep.send(&ok("msg", Msg::word(0).with(own))?.moving()))?;
        want("the peer's exit", peer.wait(), Ok(ExitStatus::Exited(0)))?;
        ok("close", ep.close())?;
    }
    Ok(())
}

/// [`peer`], also granting `extra` (handle, rights) as "lent".
fn peer_with(
    start: &Start,
    mode: &str,
    ep: Handle<Endpoint>,
    rights: Rights,
    extra: Option<(Handle<Endpoint>, Rights)>,
) -> Result<Child, String> {
    spawn_peer(start, mode, (ep, rights), extra, PARENT_CPUS)
        .map_err(|e| format!("spawn the peer: {e:?}"))
}

/// Starts `ipc-suite-peer` in `mode` on the CPUs `cpus`, with `ep` as "ep"
/// and `extra` as "lent" (each with its rights), our console and timer.
fn spawn_peer(
    start: &Start,
    mode: &str,
    (ep, rights): (Handle<Endpoint>, Rights),
    extra: Option<(Handle<Endpoint>, Rights)>,
    cpus: u64,
) -> Result<Child, Error> {
    let image = start
        .images()
        .find(|&(n, _)| n == "ipc-suite-peer")
        .map(|(_, h)| h)
        .ok_or(Error::BadHandle)?;
    let args = format!("mode={mode}");
    let mut s = Spawn::new(image).quota_pages(256).args(&args).on_cpus(cpus);
    s = s.grant(ep, rights, "ep")?;
    s = s.grant(console(start), Rights::WRITE | Rights::GRANT | Rights::DERIVE, "console")?;
    if let Some(t) = start.handle::<Timer>("timer") {
        s = s.grant(t, Rights::READ | Rights::WAIT, "timer")?;
    }
    if let Some((h, rights)) = extra {
        s = s.grant(h, rights, "lent")?;
    }
    s.spawn()
}

/// Lets a peer reach the point where it blocks.
fn pause(start: &Start) -> Outcome {
    let timer = start.handle::<Timer>("timer").ok_or("no timer")?;
    ok("sleep", timer.sleep_ns(50_000_000))
}

/// Waits until `child` is blocked in a call of the kind `state` says
/// (`proc_state`), for up to 10 s: the cases below need a peer queued or
/// waiting before they revoke or send, and a sleep of a fixed length
/// (which they used to take) is outrun by a host that stalls QEMU.
fn blocked_in(start: &Start, child: Child, state: ProcState) -> Outcome {
    let timer = start.handle::<Timer>("timer").ok_or("no timer")?;
    child
        .wait_until(state, timer, 1_000_000, 10_000_000_000)
        .map_err(|e| format!("the peer never reached {state:?}: {e:?}"))
}

/// A console handle with GRANT, as a message would carry.
fn grantable_console(start: &Start) -> Result<Handle<Console>, String> {
    ok("derive", console(start).derive(Rights::WRITE | Rights::GRANT))
}

fn exited_ok(what: &str, child: Child) -> Outcome {
    want(what, child.wait(), Ok(ExitStatus::Exited(0)))
}

fn rights(start: &Start) -> Outcome {
    let ep = ok("create", create_endpoint(memory(start)))?;
    let send_only = ok("derive", ep.derive(Rights::SEND | Rights::GRANT))?;
    let recv_only = ok("derive", ep.derive(Rights::RECV | Rights::GRANT))?;
    want("send without SEND", recv_only.try_send(&Msg::word(1)), Err(Error::MissingRight))?;
    want("call without SEND", recv_only.call(&Msg::word(1)).map(drop), Err(Error::MissingRight))?;
    want("receive without RECV", send_only.try_recv().map(drop), Err(Error::MissingRight))?;
    let no_grant = ok("derive", console(start).derive(Rights::WRITE))?;
    let m = ok("msg", Msg::word(1).with(no_grant))?;
    want("a handle without GRANT", send_only.try_send(&m), Err(Error::MissingRight))?;
    let dropped = ok("derive", console(start).derive(Rights::WRITE | Rights::GRANT))?;
    ok("close", dropped.close())?;
    let m = ok("msg", Msg::word(1).with(dropped))?;
    want("a dead handle", send_only.try_send(&m), Err(Error::BadHandle))?;
    let twice = ok("derive", console(start).derive(Rights::WRITE | Rights::GRANT))?;
    let m = ok("msg", Msg::new(&[]).and_then(|m| m.with(twice)).and_then(|m| m.with(twice)))?;
    want("one handle moved twice", send_only.try_send(&m.moving()), Err(Error::InvalidArgument))?;
    // Nobody receives: a non-blocking send and receive would wait.
    want("send, nobody receiving", send_only.try_send(&Msg::word(1)), Err(Error::WouldBlock))?;
    want("receive, nobody sending", recv_only.try_recv().map(drop), Err(Error::WouldBlock))?;
    // Wrong kinds.
    let as_ep = Handle::<Endpoint>::from_raw(console(start).raw());
    want("send on a console", as_ep.try_send(&Msg::word(1)), Err(Error::WrongKind))?;
    let as_reply = Handle::<Reply>::from_raw(ep.raw());
    want("reply through an endpoint", as_reply.reply(&Msg::word(1)), Err(Error::WrongKind))?;
    let as_memory = Handle::<Memory>::from_raw(console(start).raw());
    want("endpoint from a console", create_endpoint(as_memory).map(drop), Err(Error::WrongKind))?;
    let no_map = ok("derive", memory(start).derive(Rights::READ))?;
    want("endpoint without MAP", create_endpoint(no_map).map(drop), Err(Error::MissingRight))?;
    // Our handles still work after all of it.
    ok("the twice-moved handle", sys::cap_kind(twice.raw()))?;
    ok("the no-grant handle", sys::cap_kind(no_grant.raw()))?;
    Ok(())
}

fn badges(start: &Start) -> Outcome {
    let ep = ok("create", create_endpoint(memory(start)))?;
    let receive = ok("derive", ep.server())?;
    let client = ok("derive", ep.derive_badged(Rights::SEND | Rights::GRANT | Rights::DERIVE, 42))?;
    let p = peer(start, "badge", client, Rights::SEND | Rights::GRANT | Rights::DERIVE)?;
    ok("close", client.close())?;
    ok("close", ep.close())?;
    // The peer sends twice: through its capability and through a copy it
    // derived (after failing to re-badge it).
    for i in 0..2 {
        let m = ok("receive", receive.recv())?;
        want("badge", m.badge(), 42)?;
        want("word", m.word(0), i)?;
    }
    want("after the last sender", receive.recv().map(drop), Err(Error::PeerGone))?;
    exited_ok("peer", p)
}

fn reply(start: &Start) -> Outcome {
    let ep = ok("create", create_endpoint(memory(start)))?;
    let receive = ok("derive", ep.server())?;
    let p = peer(start, "caller", ep, Rights::SEND)?;
    let m = ok("receive", receive.recv())?;
    let r = m.reply().ok_or("a call without a reply handle")?;
    want("call's word", m.word(0), 5)?;
    ok("reply", r.reply(&Msg::word(6)))?;
    want("the reply used twice", r.reply(&Msg::word(7)), Err(Error::BadHandle))?;
    want("the spent reply's handle", sys::cap_kind(r.raw()).map(drop), Err(Error::BadHandle))?;
    // A second call, answered through reply_recv with a handle.
    let m = ok("receive", receive.recv())?;
    let r = m.reply().ok_or("no reply handle")?;
    let give = ok("derive", console(start).derive(Rights::WRITE | Rights::GRANT))?;
    let answer = ok("msg", Msg::word(8).with(give))?;
    // The peer then sends a plain message, which reply_recv receives.
    let next = ok("reply_recv", r.reply_recv(&answer, receive))?;
    want("plain message after reply_recv", (next.word(0), next.reply().is_none()), (9, true))?;
    exited_ok("peer", p)
}

fn full(start: &Start) -> Outcome {
    let ep = ok("create", create_endpoint(memory(start)))?;
    let p = peer(start, "full", ep, Rights::RECV)?;
    let a = ok("derive", console(start).derive(Rights::WRITE | Rights::GRANT))?;
    let b = ok("derive", console(start).derive(Rights::WRITE | Rights::GRANT))?;
    let m = ok("msg", Msg::word(1).with(a).and_then(|m| m.with(b)))?.moving();
    want("a move into a full table", ep.send(&m), Err(Error::TableFull))?;
    ok("the first handle after the failed move", sys::cap_kind(a.raw()))?;
    ok("the second handle after the failed move", sys::cap_kind(b.raw()))?;
    ok("the move with room", ep.send(&m))?;
    want("a moved handle", sys::cap_kind(a.raw()).map(drop), Err(Error::BadHandle))?;
    want("a moved handle", sys::cap_kind(b.raw()).map(drop), Err(Error::BadHandle))?;
    exited_ok("peer", p)
}

fn revoke(start: &Start) -> Outcome {
    let ep = ok("create", create_endpoint(memory(start)))?;
    let p = peer(start, "revoke", ep, Rights::RECV | Rights::SEND)?;
    // What we lend: another endpoint (we hold it with every right).
    let lent = ok("create", create_endpoint(memory(start)))?;
    let m = ok("msg", Msg::word(0).with(lent))?;
    ok("send the handle", ep.send(&m))?;
    // The peer wrote through its copy and calls to say so.
    let m = ok("receive", ep.recv())?;
    want("the peer's word", m.word(0), 1)?;
    let n = ok("revoke", lent.revoke())?;
    want("capabilities revoked", n, 1)?;
    ok("answer", m.reply().ok_or("no reply")?.reply(&Msg::word(0)))?;
    exited_ok("peer (its write after the revoke must fail)", p)
}

fn peer_exit(start: &Start) -> Outcome {
    // A receiver waits; the only sender exits.
    let ep = ok("create", create_endpoint(memory(start)))?;
    let receive = ok("derive", ep.server())?;
    let p = peer(start, "exit", ep, Rights::SEND)?;
    ok("close", ep.close())?;
    want("receiver, sender gone", receive.recv().map(drop), Err(Error::PeerGone))?;
    exited_ok("peer", p)?;
    // A sender waits; the only receiver exits.
    let ep = ok("create", create_endpoint(memory(start)))?;
    let send = ok("derive", ep.client(1))?;
    let p = peer(start, "exit", ep, Rights::RECV)?;
    ok("close", ep.close())?;
    want("sender, receiver gone", send.send(&Msg::word(1)), Err(Error::PeerGone))?;
    want("caller, receiver gone", send.call(&Msg::word(1)).map(drop), Err(Error::PeerGone))?;
    exited_ok("peer", p)?;
    // A caller waits for the answer; the server exits holding the reply.
    let ep = ok("create", create_endpoint(memory(start)))?;
    let send = ok("derive", ep.client(1))?;
    let p = peer(start, "take-call-and-exit", ep, Rights::RECV)?;
    ok("close", ep.close())?;
    want("caller, server gone", send.call(&Msg::word(1)).map(drop), Err(Error::PeerGone))?;
    exited_ok("peer", p)
}

fn flood(start: &Start) -> Outcome {
    // The peer floods us with non-blocking sends while we wait for it.
    let ep = ok("create", create_endpoint(memory(start)))?;
    let p = peer(start, "flood", ep, Rights::SEND | Rights::GRANT)?;
    exited_ok("flooder (its quota use must not grow)", p)?;
    // Blocked senders hold one message each, and no more.
    const SENDERS: u64 = 4;
    let mut children = alloc::vec::Vec::new();
    for _ in 0..SENDERS {
        children.push(peer(start, "send-then-try", ep, Rights::SEND)?);
    }
    for &c in &children {
        blocked_in(start, c, ProcState::Sending)?;
    }
    let mut got = 0;
    while ep.try_recv().is_ok() {
        got += 1;
    }
    want("messages queued by blocked senders", got, SENDERS)?;
    for c in children {
        exited_ok("sender", c)?;
    }
    Ok(())
}

/// Issue 11's input: a receiver blocked through a RECV-only copy that is
/// then revoked must not get the next message (nor its handle).
fn revoke_receiver(start: &Start) -> Outcome {
    let ep = ok("create", create_endpoint(memory(start)))?;
    let p = peer(start, "recv-revoked", ep, Rights::RECV)?;
    blocked_in(start, p, ProcState::Receiving)?;
    want("revoke (the child's copy)", ep.revoke(), Ok(1))?;
    let m = ok("msg", Msg::word(7).with(grantable_console(start)?))?;
    want("send after the revoke", ep.try_send(&m), Err(Error::WouldBlock))?;
    exited_ok("receiver (its recv must say Revoked)", p)
}

/// A sender blocked through a SEND-only copy that is then revoked: its
/// message (and the handle it moves) goes nowhere.
fn revoke_sender(start: &Start) -> Outcome {
    let ep = ok("create", create_endpoint(memory(start)))?;
    let client = ok("derive", ep.client(99))?;
    let p = peer(start, "send-revoked", client, Rights::SEND)?;
    ok("close", client.close())?;
    blocked_in(start, p, ProcState::Sending)?;
    want("revoke (the child's copy)", ep.revoke(), Ok(1))?;
    want("receive after the revoke", ep.try_recv().map(drop), Err(Error::WouldBlock))?;
    exited_ok("sender (its send must say Revoked, its handle kept)", p)
}

/// A caller queued through a copy that is then revoked.
fn revoke_caller(start: &Start) -> Outcome {
    let ep = ok("create", create_endpoint(memory(start)))?;
    let p = peer(start, "call-revoked", ep, Rights::SEND)?;
    blocked_in(start, p, ProcState::Sending)?;
    // `proc_state` through a copy with WAIT alone says the same; without
    // WAIT it says nothing.
    let watch = Child(ok("derive WAIT", p.0.derive(Rights::WAIT))?);
    want("its state through a WAIT copy", watch.state(), Ok(ProcState::Sending))?;
    let blind = Child(ok("derive WRITE", p.0.derive(Rights::WRITE))?);
    want("its state without WAIT", blind.state(), Err(Error::MissingRight))?;
    want("revoke (the child's copy)", ep.revoke(), Ok(1))?;
    want("receive after the revoke", ep.try_recv().map(drop), Err(Error::WouldBlock))?;
    exited_ok("caller (its call must say Revoked)", p)?;
    want("its state once it has ended", watch.state(), Err(Error::PeerGone))?;
    ok("close", watch.0.close())?;
    ok("close", blind.0.close())
}

/// A caller waiting for its answer through a copy that is then revoked:
/// the answer (with a handle) does not reach it.
fn revoke_answer(start: &Start) -> Outcome {
    let ep = ok("create", create_endpoint(memory(start)))?;
    let p = peer(start, "call-revoked", ep, Rights::SEND)?;
    let m = ok("receive the call", ep.recv())?;
    want("the call's word", m.word(0), 7)?;
    want("the caller, its call taken", p.state(), Ok(ProcState::AwaitingReply))?;
    let r = m.reply().ok_or("a call without a reply handle")?;
    want("revoke (the child's copy)", ep.revoke(), Ok(1))?;
    let give = grantable_console(start)?;
    let answer = ok("msg", Msg::word(8).with(give))?.moving();
    want("answer after the revoke", r.reply(&answer), Err(Error::PeerGone))?;
    want("the reply, spent", sys::cap_kind(r.raw()).map(drop), Err(Error::BadHandle))?;
    ok("the handle the answer was to move, still ours", sys::cap_kind(give.raw()))?;
    exited_ok("caller (its call must say Revoked)", p)
}

/// A queued message carries a handle that is then revoked: refused.
fn revoke_carried(start: &Start) -> Outcome {
    let ep = ok("create", create_endpoint(memory(start)))?;
    let lent = ok("create", create_endpoint(memory(start)))?;
    let p = peer_with(
        start,
        "send-carried",
        ep,
        Rights::SEND,
        Some((lent, Rights::SEND | Rights::GRANT)),
    )?;
    blocked_in(start, p, ProcState::Sending)?;
    want("revoke the lent handle (the child's copy)", lent.revoke(), Ok(1))?;
    want("receive after the revoke", ep.try_recv().map(drop), Err(Error::WouldBlock))?;
    exited_ok("sender (its send must say Revoked)", p)
}

/// Dropping an ancestor of a waiter's capability does not cut it; a
/// revoke from higher up does.
fn revoke_drop(start: &Start) -> Outcome {
    let ep = ok("create", create_endpoint(memory(start)))?;
    let middle = ok("derive", ep.derive(Rights::SEND | Rights::RECV | Rights::GRANT))?;
    let p = peer(start, "recv-then-revoked", middle, Rights::RECV)?;
    ok("drop the middle capability", middle.close())?;
    blocked_in(start, p, ProcState::Receiving)?;
    ok("send to the receiver after the drop", ep.try_send(&Msg::word(1)))?;
    // It took the message (so it is not in that receive any more) and
    // waits in its second.
    blocked_in(start, p, ProcState::Receiving)?;
    want("revoke (the child's copy, re-parented)", ep.revoke(), Ok(1))?;
    want("send after the revoke", ep.try_send(&Msg::word(2)), Err(Error::WouldBlock))?;
    exited_ok("receiver (its second recv must say Revoked)", p)
}

/// A waiter's capability came from a process that then exits: its table
/// goes, the capability lives on (re-parented), and a revoke from higher
/// up still reaches the waiter.
fn revoke_table(start: &Start) -> Outcome {
    let ep = ok("create", create_endpoint(memory(start)))?;
    let setup = ok("create", create_endpoint(memory(start)))?;
    let waiter = peer(start, "relay-wait", setup, Rights::RECV)?;
    let giver = peer_with(
        start,
        "relay-give",
        ep,
        Rights::RECV | Rights::GRANT,
        Some((setup, Rights::SEND)),
    )?;
    exited_ok("the process that gave the waiter its capability", giver)?;
    // The giver's message reached the waiter before the giver ended: this
    // is its receive through the capability it got.
    blocked_in(start, waiter, ProcState::Receiving)?;
    ok("send to the waiter after the giver's table went", ep.try_send(&Msg::word(1)))?;
    blocked_in(start, waiter, ProcState::Receiving)?;
    want("revoke (the waiter's copy, re-parented)", ep.revoke(), Ok(1))?;
    want("send after the revoke", ep.try_send(&Msg::word(2)), Err(Error::WouldBlock))?;
    exited_ok("waiter (its second recv must say Revoked)", waiter)
}

fn move_own(start: &Start) -> Outcome {
    let ep = ok("create", create_endpoint(memory(start)))?;
    let client = ok("derive", ep.derive(Rights::SEND | Rights::GRANT))?;
    // Non-blocking, so that a kernel which took it could not hang here.
    let tag = Tag::new(1, 1).with(TAG_MOVE | TAG_NONBLOCK).0;
    let r = sys::ipc_call(client.raw(), tag, [1, client.raw().as_raw(), 0, 0]).map(drop);
    want("a call moving its own handle", r, Err(Error::InvalidArgument))?;
    ok("the handle, not moved", sys::cap_kind(client.raw()))?;
    // A server answers moving the handle it then receives through.
    let server = ok("derive", ep.derive(Rights::RECV | Rights::GRANT))?;
    let p = peer(start, "caller-once", ep, Rights::SEND)?;
    let m = ok("receive", server.recv())?;
    let r = m.reply().ok_or("no reply handle")?;
    let answer = ok("msg", Msg::word(2).with(server))?.moving();
    want(
        "reply_recv moving its endpoint",
        r.reply_recv(&answer, server).map(drop),
        Err(Error::InvalidArgument),
    )?;
    ok("the endpoint handle, not moved", sys::cap_kind(server.raw()))?;
    ok("the reply, not spent", r.reply(&Msg::word(3)))?;
    exited_ok("caller", p)
}

/// `seed`'s pattern, `len` bytes.
fn pattern(len: usize, seed: u8) -> alloc::vec::Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed)).collect()
}

fn long(start: &Start) -> Outcome {
    let ep = ok("create", create_endpoint(memory(start)))?;
    let p = peer(start, "long", ep, Rights::SEND | Rights::RECV)?;
    // 1. We send first (the peer sleeps): our data waits in our kernel buffer.
    let give = grantable_console(start)?;
    ok("send 4096 bytes and a handle", ep.send_bytes(&pattern(4096, 1), &[give.raw()]))?;
    // 2. The peer waits first, with a 100-byte buffer.
    blocked_in(start, p, ProcState::Receiving)?;
    ok("send 3000 bytes", ep.send_bytes(&pattern(3000, 2), &[]))?;
    // 3. The peer calls with 2000 bytes; we answer 1500 and a handle.
    let mut buf = alloc::vec![0u8; 4096];
    let m = ok("receive a long call", ep.recv_into(&mut buf))?;
    want("call length", (m.len(), m.truncated()), (2000, false))?;
    want("call data", &buf[..2000], &pattern(2000, 3)[..])?;
    let r = m.reply().ok_or("no reply handle")?;
    ok("answer 1500 bytes and a handle", r.reply_bytes(&pattern(1500, 4), &[give.raw()]))?;
    // 4. A long call received without a buffer: cut to nothing; the
    //    answer is cut to the caller's 10 bytes.
    let m = ok("receive a long call, no buffer", ep.recv())?;
    want("cut call", (m.len(), m.truncated(), m.handle_count()), (10, true, 0))?;
    let r = m.reply().ok_or("no reply handle")?;
    ok("answer 500 bytes", r.reply_bytes(&pattern(500, 6), &[]))?;
    // 5. An empty long message.
    let m = ok("receive an empty long message", ep.recv_into(&mut buf))?;
    want(
        "empty",
        (m.len(), m.truncated(), m.tag().has(libos::abi::ipc::TAG_LONG)),
        (0, false, true),
    )?;
    // 6. Over the limit.
    let big = alloc::vec![0u8; libos::ipc::MAX_MSG_BYTES + 1];
    want("send past the limit", ep.send_bytes(&big, &[]), Err(Error::InvalidArgument))?;
    ok("the handle sent as copies is still ours", sys::cap_kind(give.raw()))?;
    exited_ok("peer", p)
}

/// The `fast` case; the server's side is `ipc-suite-peer`'s `fast-server`.
fn fast(start: &Start) -> Outcome {
    let ep = ok("endpoint", create_endpoint(memory(start)))?;
    let server = peer(start, "fast-server", ep, Rights::RECV)?;
    let client = ok("derive", ep.client(42))?;
    let recv_only = ok("derive", ep.derive(Rights::RECV))?;
    ok("close", ep.close())?;
    // A directed yield runs the new server (ready) until it waits in
    // `ipc_recv`; then it is not ready (`WouldBlock`). A handle with no
    // rights will do. With several CPUs another one may be running it
    // already (`WouldBlock` at once): the calls below then may find it
    // not yet receiving and take the general path, with the same answers.
    let bare = ok("derive", server.0.derive(Rights::empty()))?;
    let mut yields = 0;
    loop {
        match libos::process::yield_to(bare) {
            Ok(()) if yields < 1000 => yields += 1,
            Err(Error::WouldBlock) => break,
            r => return Err(format!("yield to the server: {r:?}")),
        }
    }

    // The server waits: these meet a waiting receiver.
    want("call without SEND", recv_only.call(&Msg::word(0)).map(drop), Err(Error::MissingRight))?;
    let five = Tag::new(5, 0).0;
    let r = sys::ipc_call(client.raw(), five, [1, 2, 3, 4]).map(drop);
    want("a call with five words", r, Err(Error::InvalidArgument))?;
    let a = ok("call 1", client.call(&ok("msg", Msg::new(&[1, 2, 3, 4]))?))?;
    want("answer 1", (a.words(), a.badge(), a.reply().is_some()), (&[10, 20, 30][..], 0, false))?;
    let a = ok("call 2", client.call(&ok("msg", Msg::new(&[]))?))?;
    want("answer 2", (a.words().len(), a.handle_count()), (0, 0))?;
    // The server answers with `ipc_reply` and sleeps: nobody receives.
    blocked_in(start, server, ProcState::Sleeping)?;
    let a = ok("call 3, the server not receiving", client.call(&Msg::word(3)))?;
    want("answer 3", a.words(), &[4][..])?;
    want("call 4, its reply dropped", client.call(&Msg::word(5)).map(drop), Err(Error::PeerGone))?;
    let a = ok("call 5", client.call(&Msg::word(6)))?;
    want("answer 5", a.words(), &[7][..])?;
    ok("close", client.close())?;
    ok("close", recv_only.close())?;
    want("the server", server.wait(), Ok(ExitStatus::Exited(0)))?;
    want("yield to an ended server", libos::process::yield_to(bare), Err(Error::PeerGone))
}

/// The `recycled` case; the server is `ipc-suite-peer`'s
/// `recycled-server`, which checks the replies it gets.
fn recycled(start: &Start) -> Outcome {
    let ep = ok("endpoint", create_endpoint(memory(start)))?;
    let server = peer(start, "recycled-server", ep, Rights::RECV)?;
    let client = ok("derive", ep.client(1))?;
    ok("close", ep.close())?;
    for i in 0..4 {
        let a = ok("call", client.call(&Msg::word(i)))?;
        want("answer", a.word(0), i + 1)?;
    }
    let r = client.call(&Msg::word(9)).map(drop);
    want("a call into the server's full table", r, Err(Error::TableFull))?;
    let a = ok("a call once it has room", client.call(&Msg::word(10)))?;
    want("answer", a.word(0), 11)?;
    ok("close", client.close())?;
    exited_ok("server", server)
}

/// The `yield-fair` case; both peers run `ipc-suite-peer`'s `yield-pair`.
fn yield_fair(start: &Start) -> Outcome {
    let timer = start.handle::<Timer>("timer").ok_or("no timer")?;
    let to_a = ok("endpoint", create_endpoint(memory(start)))?;
    let to_b = ok("endpoint", create_endpoint(memory(start)))?;
    let a = peer(start, "yield-pair", to_a, Rights::RECV)?;
    let b = peer(start, "yield-pair", to_b, Rights::RECV)?;
    for (ep, other) in [(to_a, b), (to_b, a)] {
        let h = ok("derive", other.0.derive(Rights::GRANT))?;
        ok("send a peer its peer", ep.send(&ok("msg", Msg::word(0).with(h))?))?;
    }
    spin_until_done(timer, [a, b])
}

/// The `call-fair` case: `ipc-suite-peer`'s `echo-server` and `caller`.
fn call_fair(start: &Start) -> Outcome {
    let timer = start.handle::<Timer>("timer").ok_or("no timer")?;
    let ep = ok("endpoint", create_endpoint(memory(start)))?;
    let server = peer(start, "echo-server", ep, Rights::RECV)?;
    let client = peer(start, "caller-1s", ep, Rights::SEND)?;
    ok("close", ep.close())?;
    spin_until_done(timer, [client, server])
}

/// Spins without yielding until both `peers` have ended (each with 0),
/// and fails if the CPU was ever away from us for longer than
/// [`FAIR_GAP_TICKS`]: the peers work for a second, a quantum is 10 ticks.
///
/// Counted in timer ticks, not in time: a host that leaves QEMU's CPU
/// thread off its cores for a while stops the guest's clock-reading too,
/// but its timer merges the ticks it missed, so a stall shows as a few
/// ticks where a pair that starved us would show a second's worth.
fn spin_until_done(timer: Handle<Timer>, peers: [Child; 2]) -> Outcome {
    let ticks = || ok("timer_info", timer.timer_info()).map(|i| i.ticks);
    let mut last = ticks()?;
    let mut longest = 0;
    let mut done = [false; 2];
    while done != [true; 2] {
        let now = ticks()?;
        longest = longest.max(now - last);
        last = now;
        for (d, child) in done.iter_mut().zip(peers) {
            if !*d {
                match child.try_wait() {
                    Ok(status) => {
                        want("a peer's exit", status, ExitStatus::Exited(0))?;
                        *d = true;
                    }
                    Err(Error::WouldBlock) => {}
                    Err(e) => return Err(format!("wait for a peer: {e:?}")),
                }
            }
        }
    }
    if longest > FAIR_GAP_TICKS {
        return Err(format!("the pair kept us off the CPU for {longest} ticks"));
    }
    Ok(())
}

/// Longest the spinner of `yield-fair` and `call-fair` may wait for the
/// CPU, in timer ticks: five quanta (round robin among three gives two).
const FAIR_GAP_TICKS: u64 = 50;
