//! The helper `bench-ipc` spawns, in one of these modes (`mode=`):
//!
//! - (none) the echo server: answers each call with its first word plus
//!   one and, if a handle came with it, that handle back (moved), until
//!   no client can send any more;
//! - `long`: the same with long messages: answers each call's bytes with
//!   as many bytes, the first word plus one;
//! - `yield`: yields the CPU in a loop (checking its endpoint each time)
//!   until a message comes: the other side of `bench-ipc`'s yielding pair;
//! - `floor-a`, `floor-b`: the two sides of the switch floor. `floor-a`
//!   receives a `Process` handle to its peer on its endpoint, then yields
//!   to it (`proc_yield_to`) whenever it is ready and waits on its
//!   endpoint when it is not; `floor-b` is given a handle to `floor-a`
//!   ("peer") and a SEND copy of its endpoint ("peer-ep"), and answers
//!   each call on its own endpoint with one run of as many round trips as
//!   its first word says: it wakes `floor-a`, times that many directed
//!   yields to it (each comes back when
//!   `floor-a` yields back: two address-space switches, two syscalls) and
//!   answers with the picoseconds per round trip.
#![no_std]
#![no_main]

use libos::ipc::{MAX_MSG_BYTES, Msg, Step, serve};
use libos::kind::{Console, Endpoint, Process, Timer};
use libos::process::{yield_now, yield_to};
use libos::{Error, Handle, Start, println};

libos::main!(main);

/// Most directed-yield round trips in one run of the floor.
const MAX_ROUND_TRIPS: u64 = 1_000_000;

fn main(start: &Start) -> i32 {
    let Some(ep) = start.handle::<Endpoint>("service") else {
        println!("bench-ipc-echo: no service endpoint");
        return 1;
    };
    match start.arg("mode") {
        Some("yield") => {
            while ep.try_recv() == Err(Error::WouldBlock) {
                yield_now();
            }
            0
        }
        Some("floor-a") => floor_a(ep),
        Some("floor-b") => match floor_b(start, ep) {
            Ok(()) => 0,
            Err(e) => {
                println!("bench-ipc-echo: floor: {e}");
                1
            }
        },
        Some("long") => echo_long(ep),
        _ => echo(ep),
    }
}

fn echo(ep: Handle<Endpoint>) -> i32 {
    let mut bad = false;
    let r = serve(ep, |req| {
        let answer = Msg::word(req.word(0).wrapping_add(1));
        match req.handle::<Console>(0) {
            Some(h) => match answer.with(h) {
                Ok(m) => Step::Reply(m.moving()),
                Err(_) => {
                    bad = true;
                    Step::Reply(answer)
                }
            },
            None => Step::Reply(answer),
        }
    });
    if r == Err(Error::PeerGone) && !bad { 0 } else { 1 }
}

/// Answers long calls with as many bytes, the first word plus one.
fn echo_long(ep: Handle<Endpoint>) -> i32 {
    let mut inbox = [0u8; MAX_MSG_BYTES];
    let mut out = [0u8; MAX_MSG_BYTES];
    let mut req = ep.recv_into(&mut inbox);
    loop {
        let m = match req {
            Ok(m) => m,
            Err(Error::PeerGone) => return 0,
            Err(_) => return 1,
        };
        let Some(reply) = m.reply() else { return 1 };
        let n = m.len().min(MAX_MSG_BYTES);
        let Some(first) = inbox.first_chunk::<8>() else { return 1 };
        let word = u64::from_le_bytes(*first).wrapping_add(1);
        out[..8].copy_from_slice(&word.to_le_bytes());
        req = reply.reply_recv_bytes(&out[..n], &[], ep, &mut inbox);
    }
}

/// The passive side of the floor: yields to its peer while it is ready,
/// waits for a message on its endpoint while it is not, until it has
/// ended or nobody can send to us.
fn floor_a(ep: Handle<Endpoint>) -> i32 {
    let Ok(m) = ep.recv() else { return 1 };
    let Some(peer) = m.handle::<Process>(0) else { return 1 };
    loop {
        match yield_to(peer) {
            Ok(()) => {}
            Err(Error::WouldBlock) => match ep.recv() {
                Ok(_) => {}
                Err(Error::PeerGone) => return 0,
                Err(_) => return 1,
            },
            Err(Error::PeerGone) => return 0,
            Err(_) => return 1,
        }
    }
}

/// The timing side of the floor: each call it takes is one run, answered
/// with the picoseconds per round trip.
fn floor_b(start: &Start, service: Handle<Endpoint>) -> Result<(), &'static str> {
    let timer = start.handle::<Timer>("timer").ok_or("no timer")?;
    let peer = start.handle::<Process>("peer").ok_or("no peer")?;
    let peer_ep = start.handle::<Endpoint>("peer-ep").ok_or("no peer endpoint")?;
    let mut failed = None;
    let r = serve(service, |req| match floor_run(timer, peer, peer_ep, req.word(0)) {
        Ok(ps) => Step::Reply(Msg::word(ps)),
        Err(e) => {
            failed = Some(e);
            Step::Last(Msg::word(0))
        }
    });
    match (failed, r) {
        (Some(e), _) => Err(e),
        (None, Err(Error::PeerGone)) => Ok(()),
        _ => Err("serve"),
    }
}

/// One run: wakes the peer, then times `n` directed yields to it.
fn floor_run(
    timer: Handle<Timer>,
    peer: Handle<Process>,
    peer_ep: Handle<Endpoint>,
    n: u64,
) -> Result<u64, &'static str> {
    if n == 0 || n > MAX_ROUND_TRIPS {
        return Err("round trips out of range");
    }
    peer_ep.send(&Msg::word(0)).map_err(|_| "wake the peer")?;
    loop {
        match yield_to(peer) {
            Ok(()) => break,
            Err(Error::WouldBlock) => yield_now(),
            Err(_) => return Err("yield to the peer"),
        }
    }
    let t0 = timer.now_ns().map_err(|_| "clock")?;
    for _ in 0..n {
        yield_to(peer).map_err(|_| "yield to the peer")?;
    }
    let t1 = timer.now_ns().map_err(|_| "clock")?;
    Ok((t1 - t0) * 1000 / n)
}
