//! Benchmark: IPC round trips between two processes (two address spaces).
//! Prints `BENCH <name> <value> <unit>`.
//!
//! - `ipc_call_roundtrip_ns`: `ipc_call` with one word, answered by the
//!   `bench-ipc-echo` server with one word through `ipc_reply_recv`;
//! - `ipc_call_roundtrip_cap_ns`: the same with one handle each way (the
//!   server's answer carries a handle back, which this side closes);
//! - `ipc_syscall_null_ns`: the null capability-checked syscall in the
//!   same boot (as `bench-syscall`'s `syscall_null_ns`), to compare;
//! - `ipc_call_over_null`: the ratio of the two;
//! - `ipc_yield_pair_ns`, for comparison: this process yields to a helper
//!   that yields back (two process switches through the run queue, three
//!   syscalls, no message);
//! - `ipc_long_4k_roundtrip_ns`: `ipc_call` with 4 KiB of long data,
//!   answered with 4 KiB (`bench-ipc-echo mode=long`, `ipc_reply_recv` in
//!   the long form): each way, the data is copied into the kernel buffer of
//!   the blocked side and out of it;
//! - `ipc_switch_floor_ns`: the floor a round trip cannot go below, two
//!   helpers yielding to each other with `proc_yield_to` (two syscalls,
//!   two address-space switches, nothing else), timed by one of them;
//!   its runs alternate with those of `ipc_call_roundtrip_ns`, `PAIRS`
//!   of each, `FLOOR_CALLS` round trips long;
//! - `ipc_call_over_floor`: `ipc_call_roundtrip_ns` over the floor, the
//!   median of the pairs' ratios.
//!
//! Each other figure is the median of `RUNS` runs of `CALLS` round trips.
//!
//! One CPU only (`make bench` boots it so): the floor and the yield pair
//! are processes handing one CPU to each other, and on several CPUs the
//! peer is found running (`WouldBlock`) and the floor's pair livelocks.
#![no_std]
#![no_main]

use libos::ipc::{MAX_MSG_BYTES, Msg, create_endpoint};
use libos::kind::{Console, Endpoint, Image, Memory, Timer};
use libos::process::{Child, Spawn};
use libos::{ExitStatus, Handle, Rights, Start, println, sys};

libos::main!(main);

const CALLS: u64 = 100_000;
const NULL_CALLS: u64 = 1_000_000;
const YIELDS: u64 = 10_000;
const LONG_CALLS: u64 = 20_000;
const RUNS: usize = 3;
/// Alternate runs of the call round trip and the floor, each of
/// `FLOOR_CALLS` round trips (short, so that each pair meets one load).
const PAIRS: usize = 15;
const FLOOR_CALLS: u64 = 20_000;

fn median<const N: usize>(mut v: [u64; N]) -> u64 {
    v.sort_unstable();
    v[N / 2]
}

/// Picoseconds per call of `f`, the median of `RUNS` runs of `n` calls.
fn measure(timer: Handle<Timer>, n: u64, mut f: impl FnMut() -> bool) -> Option<u64> {
    let mut ps = [0; RUNS];
    for r in ps.iter_mut() {
        *r = once(timer, n, &mut f)?;
    }
    Some(median(ps))
}

/// Picoseconds per call of `f` over one run of `n` calls.
fn once(timer: Handle<Timer>, n: u64, mut f: impl FnMut() -> bool) -> Option<u64> {
    let t0 = timer.now_ns().ok()?;
    for _ in 0..n {
        if !f() {
            return None;
        }
    }
    let t1 = timer.now_ns().ok()?;
    Some((t1 - t0) * 1000 / n)
}

fn print_ns(name: &str, ps: u64) {
    println!("BENCH {name} {}.{:03} ns", ps / 1000, ps % 1000);
}

fn main(start: &Start) -> i32 {
    match run(start) {
        Ok(()) => 0,
        Err(e) => {
            println!("bench-ipc: {e}");
            1
        }
    }
}

fn run(start: &Start) -> Result<(), &'static str> {
    let timer = start.handle::<Timer>("timer").ok_or("no timer")?;
    let console = start.handle::<Console>("console").ok_or("no console")?;
    let memory = start.handle::<Memory>("memory").ok_or("no memory")?;
    let image = start
        .images()
        .find(|&(n, _)| n == "bench-ipc-echo")
        .map(|(_, h)| h)
        .ok_or("no bench-ipc-echo image")?;
    let ep = create_endpoint(memory).map_err(|_| "create an endpoint")?;
    let echo = Spawn::new(image)
        .quota_pages(256)
        .grant(ep.server().map_err(|_| "derive")?, Rights::RECV, "service")
        .and_then(|s| s.grant(console, Rights::WRITE | Rights::GRANT, "console"))
        .and_then(Spawn::spawn)
        .map_err(|_| "spawn bench-ipc-echo")?;
    let client = ep.client(1).map_err(|_| "derive")?;
    ep.close().map_err(|_| "close")?;
    // A handle to send: the client's console, which the server sends back.
    let give = console.derive(Rights::WRITE | Rights::GRANT).map_err(|_| "derive")?;

    let null = measure(timer, NULL_CALLS, || sys::cap_kind(console.raw()).is_ok())
        .ok_or("null syscall")?;
    // The call round trip and the floor in turns, run by run, so that a
    // change in the host's load while this runs moves both alike.
    let floor_pair = Floor::start(image, timer, memory, console)?;
    let (mut calls, mut floors, mut ratios) = ([0; PAIRS], [0; PAIRS], [0; PAIRS]);
    let mut i = 0u64;
    for p in 0..PAIRS {
        calls[p] = once(timer, FLOOR_CALLS, || {
            i += 1;
            client.call(&Msg::word(i)).is_ok_and(|a| a.word(0) == i + 1)
        })
        .ok_or("call round trip")?;
        floors[p] = floor_pair.run(FLOOR_CALLS)?;
        ratios[p] = calls[p] * 100 / floors[p].max(1);
    }
    floor_pair.stop()?;
    let (call, floor, over_floor) = (median(calls), median(floors), median(ratios));
    let cap = measure(timer, CALLS, || {
        let Ok(m) = Msg::word(0).with(give) else { return false };
        match client.call(&m) {
            Ok(a) => a.handle::<Console>(0).is_some_and(|h| h.close().is_ok()),
            Err(_) => false,
        }
    })
    .ok_or("call round trip with handles")?;
    client.close().map_err(|_| "close")?;
    if echo.wait() != Ok(ExitStatus::Exited(0)) {
        return Err("bench-ipc-echo failed");
    }
    let long = long_calls(image, timer, memory, console)?;
    let switch = switch_pair(start, timer, memory, console)?;
    print_ns("ipc_switch_floor_ns", floor);
    print_ns("ipc_call_roundtrip_ns", call);
    print_ns("ipc_call_roundtrip_cap_ns", cap);
    print_ns("ipc_syscall_null_ns", null);
    print_ns("ipc_yield_pair_ns", switch);
    print_ns("ipc_long_4k_roundtrip_ns", long);
    print_ratio("ipc_call_over_null", call, null);
    // The median of the pairs' ratios: the figure a change in load moves least.
    println!("BENCH ipc_call_over_floor {}.{:02} ratio", over_floor / 100, over_floor % 100);
    Ok(())
}

fn print_ratio(name: &str, a: u64, b: u64) {
    let b = b.max(1);
    println!("BENCH {name} {}.{:02} ratio", a / b, a * 100 / b % 100);
}

/// Picoseconds per `ipc_call` of 4 KiB answered with 4 KiB.
fn long_calls(
    image: Handle<Image>,
    timer: Handle<Timer>,
    memory: Handle<Memory>,
    console: Handle<Console>,
) -> Result<u64, &'static str> {
    let ep = create_endpoint(memory).map_err(|_| "create an endpoint")?;
    let echo = Spawn::new(image)
        .quota_pages(256)
        .args("mode=long")
        .grant(ep.server().map_err(|_| "derive")?, Rights::RECV, "service")
        .and_then(|s| s.grant(console, Rights::WRITE, "console"))
        .and_then(Spawn::spawn)
        .map_err(|_| "spawn bench-ipc-echo")?;
    let client = ep.client(1).map_err(|_| "derive")?;
    ep.close().map_err(|_| "close")?;
    let mut data = [0u8; MAX_MSG_BYTES];
    let mut answer = [0u8; MAX_MSG_BYTES];
    let mut i = 0u64;
    let ps = measure(timer, LONG_CALLS, || {
        i += 1;
        data[..8].copy_from_slice(&i.to_le_bytes());
        client
            .call_bytes(&data, &[], &mut answer)
            .is_ok_and(|a| a.len() == MAX_MSG_BYTES && answer[..8] == (i + 1).to_le_bytes())
    })
    .ok_or("long call round trip")?;
    client.close().map_err(|_| "close")?;
    if echo.wait() != Ok(ExitStatus::Exited(0)) {
        return Err("bench-ipc-echo (long) failed");
    }
    Ok(ps)
}

/// The switch floor's two helpers: `floor-a` and `floor-b` yield to each
/// other (`proc_yield_to`) for one run each time `floor-b` is called, and
/// wait (blocked, off the run queue) in between. `floor-a` gets a handle
/// to `floor-b` over its endpoint, `floor-b` one to `floor-a` at spawn.
struct Floor {
    a: Child,
    b: Child,
    /// Where `floor-b` takes its calls (the only SEND capability).
    b_ep: Handle<Endpoint>,
    /// Where `floor-a` waits (ours; `floor-b` has a SEND copy).
    a_ep: Handle<Endpoint>,
}

impl Floor {
    fn start(
        image: Handle<Image>,
        timer: Handle<Timer>,
        memory: Handle<Memory>,
        console: Handle<Console>,
    ) -> Result<Floor, &'static str> {
        let a_ep = create_endpoint(memory).map_err(|_| "create an endpoint")?;
        let b_ep = create_endpoint(memory).map_err(|_| "create an endpoint")?;
        let a = Spawn::new(image)
            .quota_pages(256)
            .args("mode=floor-a")
            .grant(a_ep, Rights::RECV, "service")
            .and_then(|s| s.grant(console, Rights::WRITE, "console"))
            .and_then(Spawn::spawn)
            .map_err(|_| "spawn bench-ipc-echo floor-a")?;
        // No right on the peer handles: a directed yield needs none.
        let b = Spawn::new(image)
            .quota_pages(256)
            .args("mode=floor-b")
            .grant(b_ep, Rights::RECV, "service")
            .and_then(|s| s.grant(a_ep, Rights::SEND, "peer-ep"))
            .and_then(|s| s.grant(a.0, Rights::empty(), "peer"))
            .and_then(|s| s.grant(timer, Rights::READ, "timer"))
            .and_then(|s| s.grant(console, Rights::WRITE, "console"))
            .and_then(Spawn::spawn)
            .map_err(|_| "spawn bench-ipc-echo floor-b")?;
        let to_b = b.0.derive(Rights::GRANT).map_err(|_| "derive")?;
        let m = Msg::word(0).with(to_b).map_err(|_| "message")?;
        a_ep.send(&m).map_err(|_| "send floor-a its peer")?;
        Ok(Floor { a, b, b_ep, a_ep })
    }

    /// Picoseconds per round trip, over one run of `n` round trips.
    fn run(&self, n: u64) -> Result<u64, &'static str> {
        self.b_ep.call(&Msg::word(n)).map(|m| m.word(0)).map_err(|_| "run the floor")
    }

    fn stop(self) -> Result<(), &'static str> {
        self.b_ep.close().map_err(|_| "close")?;
        self.a_ep.close().map_err(|_| "close")?;
        for (name, child) in [("floor-a", self.a), ("floor-b", self.b)] {
            if child.wait() != Ok(ExitStatus::Exited(0)) {
                println!("bench-ipc: {name} failed");
                return Err("a floor helper failed");
            }
        }
        Ok(())
    }
}

/// Picoseconds per yield to a helper that yields back.
fn switch_pair(
    start: &Start,
    timer: Handle<Timer>,
    memory: Handle<Memory>,
    console: Handle<Console>,
) -> Result<u64, &'static str> {
    let image = start
        .images()
        .find(|&(n, _)| n == "bench-ipc-echo")
        .map(|(_, h)| h)
        .ok_or("no bench-ipc-echo image")?;
    let ep = create_endpoint(memory).map_err(|_| "create an endpoint")?;
    let helper = Spawn::new(image)
        .quota_pages(256)
        .args("mode=yield")
        .grant(ep, Rights::RECV, "service")
        .and_then(|s| s.grant(console, Rights::WRITE, "console"))
        .and_then(Spawn::spawn)
        .map_err(|_| "spawn bench-ipc-echo")?;
    let ps = measure(timer, YIELDS, || {
        libos::process::yield_now();
        true
    })
    .ok_or("yield")?;
    ep.send(&Msg::word(0)).map_err(|_| "stop the helper")?;
    ep.close().map_err(|_| "close")?;
    if helper.wait() != Ok(ExitStatus::Exited(0)) {
        return Err("the yielding helper failed");
    }
    Ok(ps)
}
