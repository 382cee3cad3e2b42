//! The server `bench-ipc` calls: answers each call with its first word
//! plus one and, if a handle came with it, that handle back (moved), until
//! no client can send any more. With `mode=yield` it instead yields the
//! CPU in a loop (checking its endpoint each time) until a message comes:
//! the other side of `bench-ipc`'s process-switch floor.
#![no_std]
#![no_main]

use libos::ipc::{Msg, Step, serve};
use libos::kind::{Console, Endpoint};
use libos::{Error, Start, println};

libos::main!(main);

fn main(start: &Start) -> i32 {
    let Some(ep) = start.handle::<Endpoint>("service") else {
        println!("bench-ipc-echo: no service endpoint");
        return 1;
    };
    if start.arg("mode") == Some("yield") {
        // The switch floor: yield until a message says stop.
        while ep.try_recv() == Err(Error::WouldBlock) {
            libos::process::yield_now();
        }
        return 0;
    }
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
