//! The storage server of the `ipc` example. It holds a disk range and
//! answers calls on its endpoint:
//! - `OPEN`: writes a pattern to the first sectors, derives a read-only
//!   sub-range over them and sends it back (moved, so only the client holds
//!   it, as a child of the server's sub-range);
//! - `CLOSE`: revokes everything derived from that sub-range (the client's
//!   copy dies) and answers how many capabilities died;
//! - `DONE`: answers and exits.
//!
//! It checks every request's badge against the one its client was given.
#![no_std]
#![no_main]

use libos::ipc::{Msg, Step, serve};
use libos::kind::{DiskRange, Endpoint};
use libos::{Handle, Rights, Start, println};

libos::main!(main);

/// Request: give me the data range.
pub const OPEN: u64 = 1;
/// Request: I am done with it (the server revokes it).
pub const CLOSE: u64 = 2;
/// Request: stop serving.
pub const DONE: u64 = 3;
/// The badge of the one client (see `examples/ipc`).
const CLIENT_BADGE: u64 = 0xc11e;
/// Sectors delegated.
const SECTORS: u64 = 8;
/// Answer for a refused request.
const REFUSED: u64 = u64::MAX;

/// The pattern byte at `i` of the delegated sectors.
pub fn pattern(i: usize) -> u8 {
    (i as u8).wrapping_mul(7) ^ 0x3c
}

fn main(start: &Start) -> i32 {
    let (Some(ep), Some(disk)) =
        (start.handle::<Endpoint>("service"), start.handle::<DiskRange>("disk"))
    else {
        println!("ipc-storage: missing handles");
        return 1;
    };
    let mut data = [0u8; SECTORS as usize * 512];
    for (i, b) in data.iter_mut().enumerate() {
        *b = pattern(i);
    }
    if disk.write(0, &data).is_err() {
        println!("ipc-storage: cannot write the pattern");
        return 1;
    }
    let mut shared: Option<Handle<DiskRange>> = None;
    let mut failed = false;
    let result = serve(ep, |req| {
        if req.badge() != CLIENT_BADGE {
            failed = true;
            return Step::Reply(Msg::word(REFUSED));
        }
        match req.word(0) {
            OPEN => {
                let all = Rights::READ | Rights::GRANT | Rights::DERIVE | Rights::REVOKE;
                let Ok(sub) = disk.derive_range(0, SECTORS, all) else {
                    failed = true;
                    return Step::Reply(Msg::word(REFUSED));
                };
                shared = Some(sub);
                // The client's copy: read-only, moved to it.
                match sub
                    .derive(Rights::READ | Rights::GRANT)
                    .and_then(|give| Msg::word(SECTORS).with(give).map(Msg::moving))
                {
                    Ok(m) => Step::Reply(m),
                    Err(_) => {
                        failed = true;
                        Step::Reply(Msg::word(REFUSED))
                    }
                }
            }
            CLOSE => match shared.map(Handle::revoke) {
                Some(Ok(n)) => {
                    println!("ipc-storage: revoked {n} capability derived from the shared range");
                    Step::Reply(Msg::word(n))
                }
                _ => {
                    failed = true;
                    Step::Reply(Msg::word(REFUSED))
                }
            },
            DONE => Step::Last(Msg::word(0)),
            _ => Step::Reply(Msg::word(REFUSED)),
        }
    });
    if result.is_err() || failed {
        println!("ipc-storage: failed ({result:?})");
        return 1;
    }
    0
}
