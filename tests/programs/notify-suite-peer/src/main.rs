//! The other process in `notify-suite`'s cases (`mode=<name>`; see there).
//! Exits 0 if its side went as expected, else prints why and exits 1.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use libos::ipc::Msg;
use libos::kind::{Endpoint, Memory, Notification, Timer};
use libos::{Error, Handle, Start, println};

libos::main!(main);

/// How many create/drop rounds the quota mode runs between its two fills.
const ROUNDS: usize = 1000;

fn main(start: &Start) -> i32 {
    let mode = start.arg("mode").unwrap_or("");
    match run(start, mode) {
        Ok(()) => 0,
        Err(e) => {
            println!("notify-suite-peer: {mode}: {e}");
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
    let n = start.handle::<Notification>("n");
    let ep = start.handle::<Endpoint>("ep");
    match mode {
        "wait-8" => want("wait", n.ok_or("no notification")?.wait(), Ok(8)),
        "wait-revoked" => want("wait", n.ok_or("no notification")?.wait(), Err(Error::Revoked)),
        "wait-gone" => want("wait", n.ok_or("no notification")?.wait(), Err(Error::PeerGone)),
        "send-later" => {
            let timer = start.handle::<Timer>("timer").ok_or("no timer")?;
            ok("sleep", timer.sleep_ns(50_000_000))?;
            ok("send", ep.ok_or("no endpoint")?.send(&Msg::word(42)))
        }
        "send" => ok("send", ep.ok_or("no endpoint")?.send(&Msg::word(42))),
        "recv" => {
            let m = ok("receive", ep.ok_or("no endpoint")?.recv())?;
            want("the word", m.word(0), 42)
        }
        "quota" => quota(start),
        _ => Err(format!("unknown mode {mode:?}")),
    }
}

/// Most notifications one fill may hold (more is a failure: the quota
/// given is far smaller).
const MAX_FILL: usize = 1024;

/// Creates notifications until the quota is spent, then closes them: how
/// many fit. The handles are kept on the stack: the heap is charged to the
/// same quota, and growing it mid-fill would change the count.
fn fill(memory: Handle<Memory>) -> Result<usize, String> {
    let mut made = [None::<Handle<Notification>>; MAX_FILL];
    let mut count = 0;
    let err = loop {
        if count == MAX_FILL {
            return Err(String::from("the quota held more notifications than it has frames"));
        }
        match Handle::<Notification>::create(memory) {
            Ok(h) => {
                made[count] = Some(h);
                count += 1;
            }
            Err(e) => break e,
        }
    };
    want("filling the quota ends with", err, Error::OutOfMemory)?;
    for h in made.iter().flatten() {
        ok("close", h.close())?;
    }
    Ok(count)
}

/// Fills the quota with notifications, drops them, creates and drops
/// [`ROUNDS`] more (signalled and waited on, so each one's word is used),
/// and fills again: the same count, or something leaked.
fn quota(start: &Start) -> Result<(), String> {
    let memory = start.handle::<Memory>("memory").ok_or("no memory")?;
    // Grow the heap before the quota is spent, so a failure's message can
    // still be formatted.
    drop(core::hint::black_box(String::with_capacity(64)));
    let first = fill(memory)?;
    if first == 0 {
        return Err(String::from("not one notification fit in the quota"));
    }
    for i in 0..ROUNDS {
        let h = ok("create", Handle::<Notification>::create(memory))?;
        let badged = ok("derive", h.derive_badged(libos::Rights::SEND, 1 << (i % 64)))?;
        ok("signal", badged.signal())?;
        want("poll", h.poll(), Ok(1 << (i % 64)))?;
        // The badged copy outlives the original's handle: the object lives
        // until both are gone.
        ok("close", h.close())?;
        ok("signal the survivor", badged.signal())?;
        ok("close the copy", badged.close())?;
    }
    let second = fill(memory)?;
    want("notifications that fit after the rounds", second, first)?;
    println!("notify quota: {first} notifications fit, before and after {ROUNDS} rounds");
    Ok(())
}
