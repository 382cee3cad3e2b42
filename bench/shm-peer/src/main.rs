//! The other side of `bench-shm` (`mode=bulk` or `mode=echo`).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use libos::bulk::Sender;
use libos::ipc::Msg;
use libos::kind::{Endpoint, MemoryObject, Notification};
use libos::{Error, Start, println};

libos::main!(main);

const MIB: usize = 1 << 20;
/// MiB sent in all: `bench-shm`'s runs times its MiB per run.
const TOTAL_MIBS: usize = 3 * 64;

fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(151) >> 3) as u8
}

fn main(start: &Start) -> i32 {
    let r = match start.arg("mode") {
        Some("bulk") => bulk(start),
        Some("echo") => echo(start),
        _ => Err("unknown mode"),
    };
    match r {
        Ok(()) => 0,
        Err(e) => {
            println!("bench-shm-peer: {e}");
            1
        }
    }
}

fn bulk(start: &Start) -> Result<(), &'static str> {
    let m = start.handle::<MemoryObject>("bulk-memory").ok_or("no bulk-memory")?;
    let d = start.handle::<Notification>("bulk-data").ok_or("no bulk-data")?;
    let s = start.handle::<Notification>("bulk-space").ok_or("no bulk-space")?;
    let mut tx = Sender::new(m, d, s).map_err(|_| "the sending end")?;
    let mut src = vec![0u8; MIB];
    for (i, b) in src.iter_mut().enumerate() {
        *b = pattern(i);
    }
    for k in 0..TOTAL_MIBS {
        // Each page's first byte: the MiB's number (see `bench-shm`).
        for page in src.chunks_mut(4096) {
            page[0] = k as u8;
        }
        tx.send(&src).map_err(|_| "send")?;
    }
    tx.close().map_err(|_| "close")
}

/// Answers each call: copies the 4 KiB request out of the shared buffer,
/// and its answer (the request, as it came) in at 4 KiB.
fn echo(start: &Start) -> Result<(), &'static str> {
    let ep = start.handle::<Endpoint>("service").ok_or("no service")?;
    let object = start.handle::<MemoryObject>("buffer").ok_or("no buffer")?;
    let buf = object.map(true).map_err(|_| "map")?;
    let mut req = vec![0u8; 4096];
    let mut m = match ep.recv() {
        Ok(m) => m,
        Err(Error::PeerGone) => return Ok(()),
        Err(_) => return Err("receive"),
    };
    loop {
        let len = (m.word(0) as usize).min(4096);
        buf.read(0, &mut req[..len]).map_err(|_| "read the request")?;
        buf.write(4096, &req[..len]).map_err(|_| "write the answer")?;
        let reply = m.reply().ok_or("not a call")?;
        m = match reply.reply_recv(&Msg::word(len as u64), ep) {
            Ok(m) => m,
            Err(Error::PeerGone) => return Ok(()),
            Err(_) => return Err("reply_recv"),
        };
    }
}
