//! The client of `fileserver`: opens the file, gets a read-only shared
//! buffer with the answer, reads the whole file through it piece by piece
//! (each piece one small call), checks every byte, then sees the buffer
//! taken back: its next access says `Revoked`.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use libos::ipc::Msg;
use libos::kind::{Endpoint, MemoryObject};
use libos::{Error, Handle, Start, println};

libos::main!(main);

const OPEN: u64 = 1;
const READ: u64 = 2;
const ERR_REVOKED: u64 = u64::MAX;

/// The byte at `offset` of the file (as the server writes it).
fn byte_at(offset: usize) -> u8 {
    (offset.wrapping_mul(2_654_435_761) >> 13) as u8
}

fn main(start: &Start) -> i32 {
    match run(start) {
        Ok(()) => 0,
        Err(e) => {
            println!("fileserver-client: {e}");
            1
        }
    }
}

fn run(start: &Start) -> Result<(), String> {
    let server = start.handle::<Endpoint>("server").ok_or("no server")?;
    let k = |what: &'static str| move |err: Error| format!("{what}: {err}");
    let opened = server.call(&Msg::word(OPEN)).map_err(k("open"))?;
    let len = opened.words().first().copied().ok_or("no length")? as usize;
    let object: Handle<MemoryObject> = opened.handle(0).ok_or("no buffer in the answer")?;
    let buf = object.map(false).map_err(k("map the buffer"))?;
    let mut piece = vec![0u8; buf.len()];
    let mut at = 0;
    while at < len {
        let m = Msg::new(&[READ, at as u64, buf.len() as u64]).map_err(k("message"))?;
        let n = server.call(&m).map_err(k("read"))?.words().first().copied().unwrap_or(0) as usize;
        if n == 0 || n > buf.len() {
            return Err(format!("a read at {at} answered {n} bytes"));
        }
        buf.read(0, &mut piece[..n]).map_err(k("copy out of the buffer"))?;
        if let Some(i) = (0..n).find(|&i| piece[i] != byte_at(at + i)) {
            return Err(format!("byte {} differs", at + i));
        }
        at += n;
    }
    println!(
        "fileserver-client: read {} KiB through the shared buffer, every byte right",
        len / 1024
    );
    let m = Msg::new(&[READ, 0, 4096]).map_err(k("message"))?;
    let answer = server.call(&m).map_err(k("read"))?.words().first().copied();
    if answer != Some(ERR_REVOKED) {
        return Err(format!("the server answered {answer:?} after the file"));
    }
    match buf.read(0, &mut piece[..1]) {
        Err(Error::Revoked) => {
            println!(
                "fileserver-client: the server revoked the buffer; the next access says Revoked"
            );
            Ok(())
        }
        other => Err(format!("the revoked buffer still answers: {other:?}")),
    }
}
