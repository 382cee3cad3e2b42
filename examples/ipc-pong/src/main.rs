//! The ping-pong server of the `ipc` example: answers each call with its
//! number plus one, until no client can send any more (`PeerGone`).
#![no_std]
#![no_main]

use libos::ipc::{Msg, Step, serve};
use libos::kind::Endpoint;
use libos::{Error, Start, println};

libos::main!(main);

fn main(start: &Start) -> i32 {
    let Some(ep) = start.handle::<Endpoint>("service") else {
        println!("ipc-pong: no service endpoint");
        return 1;
    };
    match serve(ep, |req| Step::Reply(Msg::word(req.word(0).wrapping_add(1)))) {
        Err(Error::PeerGone) => 0,
        other => {
            println!("ipc-pong: the server loop ended with {other:?}");
            1
        }
    }
}
