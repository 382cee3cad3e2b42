//! The other process in `ipc-suite`'s cases (`mode=<name>`; see there).
//! Exits 0 if its side went as expected, else prints why and exits 1.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use libos::abi::ObjectKind;
use libos::abi::args::MAP_WRITE;
use libos::abi::ipc::TAG_CALL;
use libos::abi::layout::PAGE_SIZE;
use libos::ipc::Msg;
use libos::kind::{Console, Endpoint, Memory, Process, Timer};
use libos::{Error, Start, println, sys};

libos::main!(main);

/// Where the flood case probes its quota.
const PROBE: u64 = 0x0000_2000_0000_0000;

fn main(start: &Start) -> i32 {
    let mode = start.arg("mode").unwrap_or("");
    match run(start, mode) {
        Ok(()) => 0,
        Err(e) => {
            println!("ipc-suite-peer: {mode}: {e}");
            1
        }
    }
}

fn ok<T>(what: &str, r: Result<T, Error>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e:?}"))
}

fn want<T: core::fmt::Debug + PartialEq>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want { Ok(()) } else { Err(format!("{what}: got {got:?}, want {want:?}")) }
}

fn run(start: &Start, mode: &str) -> Result<(), String> {
    let ep = start.handle::<Endpoint>("ep").ok_or("no endpoint")?;
    let console = start.handle::<Console>("console").ok_or("no console")?;
    match mode {
        "badge" => {
            want(
                "re-badge",
                ep.derive_badged(libos::Rights::SEND, 7).map(drop),
                Err(Error::InvalidArgument),
            )?;
            ok("send", ep.send(&Msg::word(0)))?;
            let copy = ok("derive", ep.derive(libos::Rights::SEND))?;
            ok("send through a copy", copy.send(&Msg::word(1)))
        }
        "caller" => {
            let a = ok("call", ep.call(&Msg::word(5)))?;
            want("answer", a.words(), &[6][..])?;
            let a = ok("call", ep.call(&Msg::word(7)))?;
            want("answer", a.word(0), 8)?;
            let h = a.handle::<Console>(0).ok_or("no handle in the answer")?;
            want(
                "the answer's handle",
                sys::cap_kind(h.raw()).map(|k| k.0),
                Ok(Some(ObjectKind::Console)),
            )?;
            ok("send", ep.send(&Msg::word(9)))
        }
        "full" => {
            // Fill our table, then leave one slot: a message with two
            // handles does not fit.
            let mut made = Vec::new();
            loop {
                match console.derive(libos::Rights::WRITE) {
                    Ok(h) => made.push(h),
                    Err(Error::TableFull) => break,
                    Err(e) => return Err(format!("fill: {e:?}")),
                }
            }
            ok("close", made.pop().ok_or("nothing derived")?.close())?;
            want("receive into a full table", ep.recv().map(drop), Err(Error::TableFull))?;
            // The one free slot is still free, and only one.
            let one = ok("derive into the last slot", console.derive(libos::Rights::WRITE))?;
            let past = console.derive(libos::Rights::WRITE).map(drop);
            want("derive past the quota", past, Err(Error::TableFull))?;
            ok("close", one.close())?;
            ok("close", made.pop().ok_or("nothing derived")?.close())?;
            let m = ok("receive with room", ep.recv())?;
            want("handles received", m.handle_count(), 2)?;
            for i in 0..2 {
                let h = m.handle::<Console>(i).ok_or("missing handle")?;
                want(
                    "a received handle",
                    sys::cap_kind(h.raw()).map(|k| k.0),
                    Ok(Some(ObjectKind::Console)),
                )?;
            }
            Ok(())
        }
        "revoke" => {
            let m = ok("receive", ep.recv())?;
            let h = m.handle::<Endpoint>(0).ok_or("no handle")?;
            // Nobody receives on the lent endpoint: a valid send would wait.
            want("use the received handle", h.try_send(&Msg::word(0)), Err(Error::WouldBlock))?;
            ok("call", ep.call(&Msg::word(1)))?;
            want("use it after the revoke", h.try_send(&Msg::word(0)), Err(Error::BadHandle))
        }
        "exit" => Ok(()),
        "take-call-and-exit" => {
            let m = ok("receive", ep.recv())?;
            m.reply().ok_or("not a call")?;
            Ok(())
        }
        "flood" => {
            let memory = start.handle::<Memory>("memory").ok_or("no memory")?;
            free_pages(memory)?; // page tables for the probe area, once
            let before = free_pages(memory)?;
            for _ in 0..10_000 {
                want("a non-blocking send", ep.try_send(&Msg::word(1)), Err(Error::WouldBlock))?;
            }
            let data = [7u8; 4096];
            for _ in 0..1000 {
                let r = sys::ipc_send_long(
                    libos::abi::Syscall::IpcSend,
                    ep.raw(),
                    libos::abi::ipc::TAG_NONBLOCK,
                    &data,
                    &[],
                );
                want("a non-blocking long send", r, Err(Error::WouldBlock))?;
            }
            want("free pages after the flood", free_pages(memory)?, before)
        }
        "send-then-try" => {
            ok("send", ep.send(&Msg::word(1)))?;
            // The receiver is not receiving now: nothing queues a second.
            want("a second, non-blocking send", ep.try_send(&Msg::word(2)), Err(Error::WouldBlock))
        }
        "recv-revoked" => {
            want("receive through a revoked copy", ep.recv().map(drop), Err(Error::Revoked))?;
            want("our handle after the revoke", kind(ep.raw()), Err(Error::BadHandle))
        }
        "send-revoked" => {
            let c = ok("derive", console.derive(libos::Rights::WRITE | libos::Rights::GRANT))?;
            let m = ok("msg", Msg::word(7).with(c))?.moving();
            want("send through a revoked copy", ep.send(&m), Err(Error::Revoked))?;
            want("the handle it was to move", kind(c.raw()), Ok(Some(ObjectKind::Console)))?;
            want("our handle after the revoke", kind(ep.raw()), Err(Error::BadHandle))
        }
        "call-revoked" => {
            let c = ok("derive", console.derive(libos::Rights::WRITE | libos::Rights::GRANT))?;
            let m = ok("msg", Msg::word(7).with(c))?;
            want("call through a revoked copy", ep.call(&m).map(drop), Err(Error::Revoked))?;
            want("our handle after the revoke", kind(ep.raw()), Err(Error::BadHandle))
        }
        "send-carried" => {
            let lent = start.handle::<Endpoint>("lent").ok_or("no lent handle")?;
            let m = ok("msg", Msg::word(7).with(lent))?;
            want("send carrying a revoked handle", ep.send(&m), Err(Error::Revoked))?;
            want("the endpoint handle", kind(ep.raw()), Ok(Some(ObjectKind::Endpoint)))?;
            want("the carried handle", kind(lent.raw()), Err(Error::BadHandle))
        }
        "recv-then-revoked" => {
            let m = ok("receive", ep.recv())?;
            want("the word", m.word(0), 1)?;
            want("receive after the revoke", ep.recv().map(drop), Err(Error::Revoked))
        }
        "relay-give" => {
            let lent = start.handle::<Endpoint>("lent").ok_or("no lent handle")?;
            ok("give our endpoint copy", lent.send(&ok("msg", Msg::word(0).with(ep))?))
        }
        "relay-wait" => {
            let m = ok("receive a capability", ep.recv())?;
            let h = m.handle::<Endpoint>(0).ok_or("no handle")?;
            let m = ok("receive through it", h.recv())?;
            want("the word", m.word(0), 1)?;
            want("receive after the revoke", h.recv().map(drop), Err(Error::Revoked))
        }
        "caller-once" => {
            let a = ok("call", ep.call(&Msg::word(1)))?;
            want("answer", (a.word(0), a.handle_count()), (3, 0))
        }
        "long" => long(start, ep),
        "fast-server" => fast_server(start, ep),
        "recycled-server" => recycled_server(console, ep),
        "yield-pair" => yield_pair(start, ep),
        "echo-server" => {
            let r = libos::ipc::serve(ep, |m| libos::ipc::Step::Reply(Msg::word(m.word(0) + 1)));
            want("serve until the client is gone", r, Err(Error::PeerGone))
        }
        "leave-cpu" => {
            // Receives its own `Process` handle, moves itself off CPU 0
            // (where it runs: it was spawned there) and exits at once,
            // its new mask still pending.
            let m = ok("receive our handle", ep.recv())?;
            let me = m.handle::<Process>(0).ok_or("no handle")?;
            want("leave CPU 0", sys::proc_set_cpus(me.raw(), 1 << 1), Ok(1 << 1))
        }
        "caller-until-stopped" => {
            // Calls until a message waits on "lent" (the suite's blocking
            // send, which our try_recv takes).
            let stop = start.handle::<Endpoint>("lent").ok_or("no lent handle")?;
            while stop.try_recv().map(drop) == Err(Error::WouldBlock) {
                want("answer", ok("call", ep.call(&Msg::word(1)))?.word(0), 2)?;
            }
            Ok(())
        }
        "caller-1s" => {
            let timer = start.handle::<Timer>("timer").ok_or("no timer")?;
            let end = ok("clock", timer.now_ns())? + YIELD_PAIR_NS;
            while ok("clock", timer.now_ns())? < end {
                want("answer", ok("call", ep.call(&Msg::word(1)))?.word(0), 2)?;
            }
            Ok(())
        }
        _ => Err(format!("unknown mode {mode:?}")),
    }
}

/// The kind a handle names, or why not.
fn kind(h: libos::abi::RawHandle) -> Result<Option<ObjectKind>, Error> {
    sys::cap_kind(h).map(|k| k.0)
}

/// `seed`'s pattern, `len` bytes (as `ipc-suite` makes it).
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed)).collect()
}

/// The other side of `ipc-suite`'s `long` case (steps numbered alike).
fn long(start: &Start, ep: libos::Handle<Endpoint>) -> Result<(), String> {
    let timer = start.handle::<Timer>("timer").ok_or("no timer")?;
    let mut buf = alloc::vec![0u8; 4096];
    // 1. The sender blocks first.
    ok("sleep", timer.sleep_ns(50_000_000))?;
    let m = ok("receive 4096 bytes", ep.recv_into(&mut buf))?;
    want("length", (m.len(), m.truncated(), m.handle_count()), (4096, false, 1))?;
    want("data", &buf[..], &pattern(4096, 1)[..])?;
    let h = m.handle::<Console>(0).ok_or("no handle")?;
    want("the handle", kind(h.raw()), Ok(Some(ObjectKind::Console)))?;
    // 2. We block first, with a small buffer.
    let m = ok("receive into 100 bytes", ep.recv_into(&mut buf[..100]))?;
    want("cut", (m.len(), m.truncated()), (3000, true))?;
    want("the first bytes", &buf[..100], &pattern(3000, 2)[..100])?;
    // 3. A long call, a long answer with a handle.
    let a = ok("call 2000 bytes", ep.call_bytes(&pattern(2000, 3), &[], &mut buf))?;
    want("answer", (a.len(), a.truncated(), a.handle_count()), (1500, false, 1))?;
    want("answer data", &buf[..1500], &pattern(1500, 4)[..])?;
    let h = a.handle::<Console>(0).ok_or("no handle in the answer")?;
    want("the answer's handle", kind(h.raw()), Ok(Some(ObjectKind::Console)))?;
    // 4. An answer cut to our 10 bytes.
    let a = ok("call 10 bytes", ep.call_bytes(&pattern(10, 5), &[], &mut buf[..10]))?;
    want("cut answer", (a.len(), a.truncated()), (500, true))?;
    want("the answer's first bytes", &buf[..10], &pattern(500, 6)[..10])?;
    // 5. An empty long message.
    ok("send nothing", ep.send_bytes(&[], &[]))
}

/// Pages our quota can still map: maps one at a time until OutOfMemory,
/// then unmaps them all.
fn free_pages(memory: libos::Handle<Memory>) -> Result<u64, String> {
    let mut n = 0;
    loop {
        match memory.map(PROBE + n * PAGE_SIZE, PAGE_SIZE, MAP_WRITE) {
            Ok(()) => n += 1,
            Err(Error::OutOfMemory) => break,
            Err(e) => return Err(format!("probe map: {e:?}")),
        }
    }
    if n > 0 {
        // SAFETY: nothing uses the probe pages, mapped just above.
        ok("unmap the probe", unsafe { sys::mem_unmap(PROBE, n * PAGE_SIZE) })?;
    }
    Ok(n)
}

/// The server of `ipc-suite`'s `fast` case (calls numbered alike).
/// Derives copies of `console` until the table is full; returns them.
fn fill(console: libos::Handle<Console>) -> Result<Vec<libos::Handle<Console>>, String> {
    let mut held = Vec::new();
    loop {
        match console.derive(libos::Rights::WRITE) {
            Ok(h) => held.push(h),
            Err(Error::TableFull) => return Ok(held),
            Err(e) => return Err(format!("derive: {e:?}")),
        }
    }
}

/// How many more capabilities the table takes (filled, then emptied).
fn room(console: libos::Handle<Console>) -> Result<usize, String> {
    let held = fill(console)?;
    let n = held.len();
    for h in held {
        ok("close", h.close())?;
    }
    Ok(n)
}

/// `ipc-suite`'s `recycled` case, the server's side.
fn recycled_server(
    console: libos::Handle<Console>,
    ep: libos::Handle<Endpoint>,
) -> Result<(), String> {
    let free = room(console)?;
    let mut answered = Vec::new();
    let mut m = ok("receive call 0", ep.recv())?;
    for i in 0..4 {
        want("call", m.word(0), i)?;
        let r = m.reply().ok_or("a call with no reply")?;
        if answered.contains(&r.raw()) {
            return Err(format!("call {i} brought an answered reply's handle"));
        }
        for &old in &answered {
            want("an answered reply", kind(old), Err(Error::BadHandle))?;
        }
        answered.push(r.raw());
        // Both ways of answering: alone, and with the next receive.
        if i == 1 || i == 2 {
            m = ok("answer and receive", r.reply_recv(&Msg::word(i + 1), ep))?;
            continue;
        }
        ok("answer", r.reply(&Msg::word(i + 1)))?;
        want("the reply once answered", kind(r.raw()), Err(Error::BadHandle))?;
        want("room once the reply is answered", room(console)?, free)?;
        if i == 0 {
            m = ok("receive", ep.recv())?;
        }
    }
    // Call 3 was answered alone. A full table has no room for the next
    // call's reply.
    let held = fill(console)?;
    want("a call into a full table", ep.recv().map(drop), Err(Error::TableFull))?;
    for h in held {
        ok("close", h.close())?;
    }
    let m = ok("receive once there is room", ep.recv())?;
    want("call", m.word(0), 10)?;
    let r = m.reply().ok_or("a call with no reply")?;
    let last = r.reply_recv(&Msg::word(11), ep).map(drop);
    want("receive once the client is gone", last, Err(Error::PeerGone))
}

fn fast_server(start: &Start, ep: libos::Handle<Endpoint>) -> Result<(), String> {
    let timer = start.handle::<Timer>("timer").ok_or("no timer")?;
    let m = ok("receive call 1", ep.recv())?;
    let seen = (m.badge(), m.words(), m.tag().has(TAG_CALL), m.handle_count());
    want("call 1", seen, (42, &[1, 2, 3, 4][..], true, 0))?;
    let r = m.reply().ok_or("call 1 has no reply")?;
    want("the reply", kind(r.raw()), Ok(Some(ObjectKind::Reply)))?;
    let m = ok("answer 1, receive call 2", r.reply_recv(&ok("msg", Msg::new(&[10, 20, 30]))?, ep))?;
    want("the reply once answered", kind(r.raw()), Err(Error::BadHandle))?;
    want("call 2", (m.badge(), m.words().len(), m.handle_count()), (42, 0, 0))?;
    let r = m.reply().ok_or("call 2 has no reply")?;
    ok("answer 2", r.reply(&ok("msg", Msg::new(&[]))?))?;
    // Not receiving while the client makes call 3 (which it makes once it
    // sees this sleep).
    ok("sleep", timer.sleep_ns(200_000_000))?;
    let m = ok("receive call 3", ep.recv())?;
    want("call 3", (m.badge(), m.words()), (42, &[3][..]))?;
    let r = m.reply().ok_or("call 3 has no reply")?;
    ok("answer 3", r.reply(&Msg::word(4)))?;
    let again = r.reply_recv(&Msg::word(0), ep).map(drop);
    want("answer and receive through a spent reply", again, Err(Error::BadHandle))?;
    let m = ok("receive call 4", ep.recv())?;
    want("call 4", m.words(), &[5][..])?;
    ok("drop the reply", m.reply().ok_or("call 4 has no reply")?.close())?;
    let m = ok("receive call 5", ep.recv())?;
    want("call 5", m.words(), &[6][..])?;
    let r = m.reply().ok_or("call 5 has no reply")?;
    let end = r.reply_recv(&Msg::word(7), ep).map(drop);
    want("receive once the client is gone", end, Err(Error::PeerGone))
}

/// How long each side of `ipc-suite`'s `yield-fair` case yields, and the
/// client of its `call-fair` case calls.
const YIELD_PAIR_NS: u64 = 1_000_000_000;

/// One side of `ipc-suite`'s `yield-fair` case: receives its peer's
/// `Process` handle, then yields to it (`proc_yield_to`) for a second.
fn yield_pair(start: &Start, ep: libos::Handle<Endpoint>) -> Result<(), String> {
    let timer = start.handle::<Timer>("timer").ok_or("no timer")?;
    let m = ok("receive the peer", ep.recv())?;
    let peer = m.handle::<Process>(0).ok_or("no peer handle")?;
    let end = ok("clock", timer.now_ns())? + YIELD_PAIR_NS;
    let mut yields = 0u64;
    while ok("clock", timer.now_ns())? < end {
        match libos::process::yield_to(peer) {
            Ok(()) => yields += 1,
            Err(Error::WouldBlock) => libos::process::yield_now(),
            Err(Error::PeerGone) => break,
            Err(e) => return Err(format!("yield to the peer: {e:?}")),
        }
    }
    if yields == 0 {
        return Err("never yielded to the peer".into());
    }
    Ok(())
}
