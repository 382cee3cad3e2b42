//! IPC between processes that are already running.
//!
//! 1. Ping-pong: `ipc-pong` serves an endpoint; this program calls it
//!    `ROUNDS` times with a number and checks each answer (number + 1),
//!    then closes its send capability: the server's next receive says
//!    `PeerGone` and it exits.
//! 2. Disk delegation: `ipc-storage` holds this program's disk range and
//!    serves an endpoint; `ipc-client` holds a badged send capability to
//!    it. The client asks for data; the server derives a read-only
//!    sub-range and sends it in the answer; the client reads it; the
//!    server revokes it; the client's next read fails with `BadHandle`.
#![no_std]
#![no_main]

use libos::ipc::{Msg, create_endpoint};
use libos::kind::{Console, DiskRange, Memory};
use libos::process::Spawn;
use libos::{ExitStatus, Rights, Start, println};

libos::main!(main);

/// Calls in the ping-pong.
const ROUNDS: u64 = 1000;
/// The badge the storage client's capability carries.
pub const CLIENT_BADGE: u64 = 0xc11e;

fn main(start: &Start) -> i32 {
    match run(start) {
        Ok(()) => 0,
        Err(e) => {
            println!("ipc: {e}");
            1
        }
    }
}

fn run(start: &Start) -> Result<(), &'static str> {
    let memory = start.handle::<Memory>("memory").ok_or("no memory")?;
    let console = start.handle::<Console>("console").ok_or("no console")?;
    let disk = start.handle::<DiskRange>("disk").ok_or("no disk range")?;
    let image = |name| {
        start.images().find(|&(n, _)| n == name).map(|(_, h)| h).ok_or("missing helper image")
    };

    // 1. Ping-pong.
    let ep = create_endpoint(memory).map_err(|_| "create an endpoint")?;
    let server_end = ep.server().map_err(|_| "derive the receive end")?;
    let pong = Spawn::new(image("ipc-pong")?)
        .quota_pages(256)
        .grant(server_end, Rights::RECV, "service")
        .and_then(|s| s.grant(console, Rights::WRITE, "console"))
        .and_then(Spawn::spawn)
        .map_err(|_| "spawn ipc-pong")?;
    let client = ep.client(1).map_err(|_| "derive the send end")?;
    server_end.close().map_err(|_| "close")?;
    ep.close().map_err(|_| "close")?;
    for i in 0..ROUNDS {
        let answer = client.call(&Msg::word(i)).map_err(|_| "call ipc-pong")?;
        if answer.words() != [i + 1] {
            return Err("a wrong answer from ipc-pong");
        }
    }
    client.close().map_err(|_| "close")?;
    if pong.wait() != Ok(ExitStatus::Exited(0)) {
        return Err("ipc-pong did not end cleanly");
    }
    println!("ipc: {ROUNDS} calls answered; the server saw its last client go");

    // 2. Disk delegation over IPC.
    let ep = create_endpoint(memory).map_err(|_| "create an endpoint")?;
    let all = Rights::READ | Rights::WRITE | Rights::DERIVE | Rights::GRANT | Rights::REVOKE;
    let storage = Spawn::new(image("ipc-storage")?)
        .quota_pages(256)
        .grant(ep, Rights::RECV, "service")
        .and_then(|s| s.grant(disk, all, "disk"))
        .and_then(|s| s.grant(console, Rights::WRITE, "console"))
        .and_then(Spawn::spawn)
        .map_err(|_| "spawn ipc-storage")?;
    let badged = ep.client(CLIENT_BADGE).map_err(|_| "derive the client's capability")?;
    let client = Spawn::new(image("ipc-client")?)
        .quota_pages(256)
        .grant(badged, Rights::SEND, "storage")
        .and_then(|s| s.grant(console, Rights::WRITE, "console"))
        .and_then(Spawn::spawn)
        .map_err(|_| "spawn ipc-client")?;
    badged.close().map_err(|_| "close")?;
    ep.close().map_err(|_| "close")?;
    if client.wait() != Ok(ExitStatus::Exited(0)) {
        return Err("ipc-client failed");
    }
    if storage.wait() != Ok(ExitStatus::Exited(0)) {
        return Err("ipc-storage failed");
    }
    println!("ipc: a disk range went over IPC, was read, revoked, and refused");
    Ok(())
}
