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
//!   message each, no more.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
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
    let image = start
        .images()
        .find(|&(n, _)| n == "ipc-suite-peer")
        .map(|(_, h)| h)
        .ok_or("no ipc-suite-peer image")?;
    let args = format!("mode={mode}");
    let mut s = Spawn::new(image).quota_pages(256).args(&args);
    s = ok("grant", s.grant(ep, rights, "ep"))?;
    s = ok(
        "grant",
        s.grant(console(start), Rights::WRITE | Rights::GRANT | Rights::DERIVE, "console"),
    )?;
    if let Some(t) = start.handle::<Timer>("timer") {
        s = ok("grant", s.grant(t, Rights::READ | Rights::WAIT, "timer"))?;
    }
    ok("spawn the peer", s.spawn())
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
    let timer = start.handle::<Timer>("timer").ok_or("no timer")?;
    let mut children = alloc::vec::Vec::new();
    for _ in 0..SENDERS {
        children.push(peer(start, "send-then-try", ep, Rights::SEND)?);
    }
    ok("sleep", timer.sleep_ns(50_000_000))?;
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
