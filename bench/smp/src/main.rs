//! Benchmark: null capability-checked syscalls from several processes at
//! once, the scaling figure of SMP (issue 16). Prints `BENCH <name> <value>
//! <unit>`.
//!
//! - `smp_syscalls_per_sec_<n>`: `workers=<n>` processes (`bench-smp-worker`)
//!   each make `CALLS` null capability-checked calls (`cap_kind` on a handle
//!   of their own table, as `bench-syscall`'s `syscall_null_ns`), started
//!   together; the figure is the calls of all of them over the time from
//!   the start to the last one's end. `make bench` runs it with one worker
//!   on one CPU and two workers on two.
//! - `smp_user_steps_per_sec_<n>`: the same with `SPIN_STEPS` steps of
//!   arithmetic in user mode (`bench-smp-worker mode=spin`) instead of
//!   the calls: how well the machine itself scales (under TCG, one host
//!   thread per virtual CPU, beside QEMU's own), the ceiling of the
//!   syscall figure's scaling.
//! - `smp_derive_drop_per_sec_<n>`: the same with `DERIVE_PAIRS` pairs of
//!   `cap_derive` and `cap_drop` on each worker's own table
//!   (`bench-smp-worker mode=derive`), calls that change the table: they
//!   take the kernel lock for writing, so two CPUs contend for it (the
//!   figure that per-table locks are to raise).
//! - with `ipc=pinned`, IPC round trips between processes placed on chosen
//!   CPUs (`Spawn::on_cpus`): a `bench-smp-worker` caller on CPU 0 calls
//!   `bench-ipc-echo` (the echo server of `bench-ipc`), one word each
//!   way, `IPC_CALLS` calls a run:
//!   - `ipc_call_roundtrip_same_cpu_ns`: the server on CPU 0 too (direct
//!     switches, as on one CPU);
//!   - `ipc_call_roundtrip_cross_cpu_ns`: the server on CPU 1. Each call
//!     and each answer wakes the other CPU with an IPI, and each side's
//!     CPU halts in its idle loop while the other works.
//!
//!   Skipped (said so) on one CPU.
//!
//! The median of `RUNS` runs.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use libos::ipc::create_endpoint;
use libos::kind::{Console, Image, Memory, Notification, Timer};
use libos::process::Spawn;
use libos::{ExitStatus, Handle, Rights, Start, println};

libos::main!(main);

/// Calls per worker and run.
const CALLS: u64 = 400_000;
/// Steps of arithmetic per worker and run (about as long as the calls).
const SPIN_STEPS: u64 = 40_000_000;
const RUNS: usize = 3;
/// Derive-and-drop pairs per worker and run.
const DERIVE_PAIRS: u64 = 100_000;
/// IPC round trips per run of the pinned pairs.
const IPC_CALLS: u64 = 20_000;
/// Runs of each pinned pair (the caller prints the median).
const IPC_RUNS: usize = 5;

fn main(start: &Start) -> i32 {
    let workers: u64 = start.arg("workers").and_then(|w| w.parse().ok()).unwrap_or(1);
    let timer = start.handle::<Timer>("timer").expect("timer");
    let memory = start.handle::<Memory>("memory").expect("memory");
    let console = start.handle::<Console>("console").expect("console");
    let Some((_, image)) = start.images().find(|&(n, _)| n == "bench-smp-worker") else {
        println!("bench-smp: no bench-smp-worker image");
        return 1;
    };
    for (work, steps, name, unit) in [
        (Work::Syscalls, CALLS, "syscalls", "calls/s"),
        (Work::Spin, SPIN_STEPS, "user_steps", "steps/s"),
        (Work::DeriveDrop, DERIVE_PAIRS, "derive_drop", "pairs/s"),
    ] {
        let mut rates = [0u64; RUNS];
        for rate in rates.iter_mut() {
            match run(image, (memory, console, timer), workers, work, steps) {
                Some(r) => *rate = r,
                None => return 1,
            }
        }
        println!("bench-smp: {name} runs {rates:?}");
        rates.sort_unstable();
        println!("BENCH smp_{name}_per_sec_{workers} {} {unit}", rates[RUNS / 2]);
    }
    if start.arg("ipc") == Some("pinned") {
        let Some((_, echo)) = start.images().find(|&(n, _)| n == "bench-ipc-echo") else {
            println!("bench-smp: no bench-ipc-echo image");
            return 1;
        };
        let images = (image, echo);
        let same = pinned_pair(images, memory, console, timer, 1 << 0, "same_cpu");
        let cross = pinned_pair(images, memory, console, timer, 1 << 1, "cross_cpu");
        match (same, cross) {
            (Ok(()), Ok(())) => {}
            (Ok(()), Err(libos::Error::InvalidArgument)) => {
                println!("bench-smp: one CPU online: no cross-CPU IPC figure")
            }
            (a, b) => {
                println!("bench-smp: pinned IPC pairs: {a:?} {b:?}");
                return 1;
            }
        }
    }
    0
}

/// Spawns the echo server (`bench-ipc-echo`) on the CPUs `server_cpus`,
/// and a caller (`bench-smp-worker`) on CPU 0 that times calls to it and
/// prints `ipc_call_roundtrip_<label>_ns`; waits for both.
/// `InvalidArgument` if no CPU of `server_cpus` is online.
fn pinned_pair(
    (image, echo): (Handle<Image>, Handle<Image>),
    memory: Handle<Memory>,
    console: Handle<Console>,
    timer: Handle<Timer>,
    server_cpus: u64,
    label: &str,
) -> Result<(), libos::Error> {
    let ep = create_endpoint(memory)?;
    let server = Spawn::new(echo)
        .quota_pages(256)
        .on_cpus(server_cpus)
        .grant(ep, Rights::RECV, "service")
        .and_then(|s| s.grant(console, Rights::WRITE, "console"))
        .and_then(Spawn::spawn);
    let args = alloc::format!(
        "mode=caller calls={IPC_CALLS} runs={IPC_RUNS} name=ipc_call_roundtrip_{label}_ns"
    );
    let caller = server.and_then(|_| {
        Spawn::new(image)
            .quota_pages(256)
            .args(&args)
            .on_cpus(1 << 0)
            .grant(ep, Rights::SEND, "service")?
            .grant(timer, Rights::READ, "timer")?
            .grant(console, Rights::WRITE, "console")?
            .spawn()
    });
    // From here the children hold the only copies: the server ends when
    // the caller does (or at once, if the caller did not start).
    ep.close()?;
    let (server, caller) = (server?, caller);
    let caller_ok = caller.map(|c| c.wait() == Ok(ExitStatus::Exited(0)));
    let server_ok = server.wait() == Ok(ExitStatus::Exited(0));
    match caller_ok {
        Ok(true) if server_ok => Ok(()),
        Ok(_) => Err(libos::Error::IoError),
        Err(e) => Err(e),
    }
}

/// What a worker of [`run`] does.
#[derive(Clone, Copy)]
enum Work {
    /// Null capability-checked syscalls.
    Syscalls,
    /// Arithmetic in user mode.
    Spin,
    /// `cap_derive` and `cap_drop` on the worker's own table.
    DeriveDrop,
}

/// One run: spawns the workers, lets them wait, starts them together and
/// waits for the last; returns the `steps` (each worker's) per second of
/// all together.
fn run(
    image: Handle<Image>,
    (memory, console, timer): (Handle<Memory>, Handle<Console>, Handle<Timer>),
    workers: u64,
    work: Work,
    steps: u64,
) -> Option<u64> {
    let done = Handle::<Notification>::create(memory).ok()?;
    let mut started = Vec::new();
    for _ in 0..workers {
        let go = Handle::<Notification>::create(memory).ok()?;
        let mode = match work {
            Work::Syscalls => "",
            Work::Spin => " mode=spin",
            Work::DeriveDrop => " mode=derive",
        };
        let args = alloc::format!("calls={steps}{mode}");
        let child = Spawn::new(image)
            .quota_pages(256)
            .args(&args)
            .grant(console, Rights::WRITE | Rights::DERIVE, "console")
            .and_then(|s| s.grant(go, Rights::WAIT, "go"))
            .and_then(|s| s.grant(done, Rights::SEND, "done"))
            .and_then(Spawn::spawn);
        match child {
            Ok(c) => started.push((c, go)),
            Err(e) => {
                println!("bench-smp: spawn: {e:?}");
                return None;
            }
        }
    }
    // Let each reach its wait.
    timer.sleep_ns(20_000_000).ok()?;
    let t0 = timer.now_ns().ok()?;
    for (_, go) in &started {
        go.signal().ok()?;
    }
    let mut finished = 0;
    while finished < workers {
        finished += done.wait().ok()?;
    }
    let t1 = timer.now_ns().ok()?;
    for (child, go) in started {
        if child.wait() != Ok(ExitStatus::Exited(0)) {
            println!("bench-smp: a worker failed");
            return None;
        }
        go.close().ok()?;
    }
    done.close().ok()?;
    Some(workers * steps * 1_000_000_000 / (t1 - t0).max(1))
}
