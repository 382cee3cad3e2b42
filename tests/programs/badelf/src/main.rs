//! Spawning malformed program images must be refused with
//! InvalidArgument (and change nothing); a good image still runs after.
//! The harness puts the bad images in the ramdisk as `badelf-bad-*` and a
//! good one as `badelf-ok`.
#![no_std]
#![no_main]

use libos::process::Spawn;
use libos::{Error, Start, println};

libos::main!(main);

fn main(start: &Start) -> i32 {
    let mut refused = 0;
    for (name, image) in start.images().filter(|(n, _)| n.starts_with("badelf-bad")) {
        match Spawn::new(image).quota_pages(256).without_console().spawn() {
            Err(Error::InvalidArgument) => refused += 1,
            Err(e) => {
                println!("badelf: {name}: refused with {e:?}, want InvalidArgument");
                return 1;
            }
            Ok(child) => {
                println!("badelf: {name} was spawned (status {:?})", child.wait());
                return 1;
            }
        }
    }
    let Some((_, ok)) = start.images().find(|&(n, _)| n == "badelf-ok") else { return 2 };
    match Spawn::new(ok).quota_pages(256).without_console().spawn().and_then(|c| c.wait()) {
        Ok(status) if status.success() => {}
        other => {
            println!("badelf: the good image did not run: {other:?}");
            return 1;
        }
    }
    println!("badelf: {refused} malformed images refused; a good one ran");
    if refused == 0 { 1 } else { 0 }
}
