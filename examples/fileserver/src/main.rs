//! A file server and its client, sharing memory.
//!
//! This program owns the file system on its disk range: it formats it and
//! writes a file of a few MiB. It starts `fileserver-client` with a badged
//! send capability to its endpoint, and serves two requests:
//! - `OPEN`: the answer carries the file's length and a read-only copy of a
//!   256 KiB shared buffer (a memory object this server made);
//! - `READ(offset, len)`: the server reads that part of the file into the
//!   shared buffer and answers with the byte count; the client copies it
//!   out of its own mapping. No file data goes through the kernel's IPC
//!   copies: each request and answer is a few words.
//!
//! Once the client has the whole file, the server revokes the buffer: the
//! client's mapping is gone before `revoke` returns, and its next access
//! fails cleanly (`Revoked`). The server answers that last request with
//! `ERR_REVOKED`, waits for the client, and reports the transfer rate.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use libos::disk::RangeDevice;
use libos::fs::{Fs, OpenOptions};
use libos::ipc::{Msg, create_endpoint};
use libos::kind::{Console, DiskRange, Memory, MemoryObject, Timer};
use libos::process::Spawn;
use libos::{ExitStatus, Handle, Rights, Start, println};

libos::main!(main);

/// The requests (the first word of a call).
pub const OPEN: u64 = 1;
/// `READ(offset, len)`.
pub const READ: u64 = 2;
/// The answer to a request the server refuses after the revoke.
pub const ERR_REVOKED: u64 = u64::MAX;
/// The file it serves.
const PATH: &str = "/big.bin";
/// Its size: 4 MiB and a bit, so the last read is short.
const FILE_LEN: usize = (4 << 20) + 12_345;
/// The shared buffer: 64 pages.
const BUFFER_PAGES: u64 = 64;

type Result<T> = core::result::Result<T, String>;

fn main(start: &Start) -> i32 {
    match run(start) {
        Ok(()) => 0,
        Err(e) => {
            println!("fileserver: {e}");
            1
        }
    }
}

/// The byte at `offset` of the file.
pub fn byte_at(offset: usize) -> u8 {
    (offset.wrapping_mul(2_654_435_761) >> 13) as u8
}

fn run(start: &Start) -> Result<()> {
    let disk = start.handle::<DiskRange>("disk").ok_or("no disk range")?;
    let memory = start.handle::<Memory>("memory").ok_or("no memory")?;
    let console = start.handle::<Console>("console").ok_or("no console")?;
    let timer = start.handle::<Timer>("timer").ok_or("no timer")?;
    let e = |what: &'static str| move |err: libos::fs::FsError| format!("{what}: {err}");
    let k = |what: &'static str| move |err: libos::Error| format!("{what}: {err}");

    // The file system and its file.
    let mut dev = RangeDevice::with_batches(disk, memory).map_err(k("size the disk range"))?;
    let mut fs = Fs::format(&mut dev).map_err(e("format"))?;
    let f = fs
        .open(PATH, OpenOptions::new().read(true).write(true).create_new(true))
        .map_err(e("create the file"))?;
    let mut piece = vec![0u8; 256 * 1024];
    let mut at = 0;
    while at < FILE_LEN {
        let n = piece.len().min(FILE_LEN - at);
        for (i, b) in piece[..n].iter_mut().enumerate() {
            *b = byte_at(at + i);
        }
        fs.write_all(&f, &piece[..n]).map_err(e("write the file"))?;
        at += n;
    }
    fs.fsync(&f).map_err(e("fsync"))?;

    // The shared buffer, and the copy the client gets (which we revoke).
    let object = Handle::<MemoryObject>::create(memory, BUFFER_PAGES).map_err(k("mo_create"))?;
    let shared = object.map(true).map_err(k("map the buffer"))?;
    let lent = object
        .derive(Rights::MAP | Rights::READ | Rights::GRANT | Rights::REVOKE)
        .map_err(k("derive the client's copy"))?;

    let ep = create_endpoint(memory).map_err(k("create an endpoint"))?;
    let client_image = start
        .images()
        .find(|&(n, _)| n == "fileserver-client")
        .map(|(_, h)| h)
        .ok_or("no fileserver-client image")?;
    let client = Spawn::new(client_image)
        .quota_pages(512)
        .grant(ep.client(0xf11e).map_err(k("derive"))?, Rights::SEND, "server")
        .and_then(|s| s.grant(console, Rights::WRITE, "console"))
        .and_then(Spawn::spawn)
        .map_err(k("spawn the client"))?;

    let t0 = timer.now_ns().map_err(k("clock"))?;
    let mut served = 0usize;
    let revoked_at = loop {
        let req = ep.recv().map_err(k("receive"))?;
        let Some(reply) = req.reply() else { continue };
        let answer = match req.words() {
            [OPEN] => Msg::word(FILE_LEN as u64).with(lent).map_err(k("attach the buffer"))?,
            [READ, offset, len] if served >= FILE_LEN => {
                // The client has it all: take the buffer back first.
                let _ = (offset, len);
                lent.revoke().map_err(k("revoke the buffer"))?;
                let now = timer.now_ns().map_err(k("clock"))?;
                reply.reply(&Msg::word(ERR_REVOKED)).map_err(k("reply"))?;
                break now;
            }
            [READ, offset, len] => {
                let len = (*len as usize).min(shared.len());
                fs.seek(&f, libos::fs::SeekFrom::Start(*offset)).map_err(e("seek"))?;
                let n = fs.read(&f, &mut piece[..len]).map_err(e("read"))?;
                shared.write(0, &piece[..n]).map_err(k("fill the buffer"))?;
                served += n;
                Msg::word(n as u64)
            }
            _ => Msg::word(ERR_REVOKED),
        };
        reply.reply(&answer).map_err(k("reply"))?;
    };
    let status = client.wait().map_err(k("wait for the client"))?;
    if status != ExitStatus::Exited(0) {
        return Err(format!("the client ended with {status:?}"));
    }
    let ms = (revoked_at - t0) / 1_000_000;
    println!(
        "fileserver: served {} KiB of {PATH} through a {} KiB shared buffer in {ms} ms, then revoked it",
        served / 1024,
        shared.len() / 1024
    );
    fs.close(f).map_err(e("close"))?;
    fs.unmount().map_err(e("unmount"))?;
    Ok(())
}
