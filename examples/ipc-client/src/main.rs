//! The client of the `ipc` example's storage server: asks for a range,
//! reads it, gives it back (the server revokes it), and checks that its
//! next read is refused.
#![no_std]
#![no_main]

use libos::ipc::Msg;
use libos::kind::{DiskRange, Endpoint};
use libos::{Error, Start, println};

libos::main!(main);

/// Requests (see `ipc-storage`).
const OPEN: u64 = 1;
const CLOSE: u64 = 2;
const DONE: u64 = 3;

fn pattern(i: usize) -> u8 {
    (i as u8).wrapping_mul(7) ^ 0x3c
}

fn main(start: &Start) -> i32 {
    match run(start) {
        Ok(()) => 0,
        Err(e) => {
            println!("ipc-client: {e}");
            1
        }
    }
}

fn run(start: &Start) -> Result<(), &'static str> {
    let storage = start.handle::<Endpoint>("storage").ok_or("no storage endpoint")?;
    let answer = storage.call(&Msg::word(OPEN)).map_err(|_| "call OPEN")?;
    let range = answer.handle::<DiskRange>(0).ok_or("no range in the answer")?;
    let sectors = answer.word(0);
    let mut buf = [0u8; 512];
    for s in 0..sectors {
        range.read(s, &mut buf).map_err(|_| "read the delegated range")?;
        if buf.iter().enumerate().any(|(i, &b)| b != pattern(s as usize * 512 + i)) {
            return Err("the delegated range holds the wrong data");
        }
    }
    if range.write(0, &buf) != Err(Error::MissingRight) {
        return Err("a write through the read-only range was not refused");
    }
    println!("ipc-client: read {sectors} sectors through the range the server sent");
    let revoked = storage.call(&Msg::word(CLOSE)).map_err(|_| "call CLOSE")?;
    if revoked.word(0) != 1 {
        return Err("the server did not revoke one capability");
    }
    match range.read(0, &mut buf) {
        Err(Error::BadHandle) => println!("ipc-client: after the revoke, the read is refused"),
        _ => return Err("a read through the revoked range was not refused"),
    }
    storage.call(&Msg::word(DONE)).map_err(|_| "call DONE")?;
    Ok(())
}
