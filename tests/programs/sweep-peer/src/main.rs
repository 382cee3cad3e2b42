//! The sweep's peer. Given another process's handle value (`handle=`),
//! checks that it means nothing here: every use is BadHandle. Given a
//! memory object (`mo-wx=1`, role "object") whose page 0 the sweep maps
//! writable and page 3 executable, checks that W^X holds across the two
//! processes. Exits 0 if all is as expected, else with the number of the
//! first case that was not.
//!
//! With `read=1` instead: waits for console input through its `input`
//! handle, which the sweep revokes; exits 0 if the wait ends `Revoked`.
#![no_std]
#![no_main]

use libos::Start;
use libos::abi::args::{MAP_EXEC, MAP_WRITE};
use libos::abi::{Error, RawHandle, Syscall};
use libos::kind::{Console, MemoryObject};
use libos::sys::raw::syscall;

libos::main!(main);

/// Where the `mo-wx` cases map.
const AT: u64 = 0x0000_3700_0000_0000;
const PAGE: u64 = 4096;

fn main(start: &Start) -> i32 {
    if start.arg("mo-wx").is_some() {
        return wx_cases(start);
    }
    if start.arg("read") == Some("1") {
        let Some(input) = start.handle::<Console>("input") else { return 3 };
        let mut buf = [0u8; 8];
        return match input.read(&mut buf) {
            Err(Error::Revoked) => 0,
            Ok(_) => 4,
            Err(_) => 5,
        };
    }
    let Some(value) = start.arg("handle").and_then(|v| v.parse::<u64>().ok()) else { return 2 };
    let h = RawHandle::from_raw(value);
    let calls = [
        (Syscall::CapInfo, [h.as_raw(), 0, 0, 0, 0, 0]),
        (Syscall::DebugWrite, [h.as_raw(), 0, 0, 0, 0, 0]),
        (Syscall::CapDerive, [h.as_raw(), 0, 0, 0, 0, 0]),
        (Syscall::MoCreate, [h.as_raw(), 1, 0, 0, 0, 0]),
        (Syscall::MoMap, [h.as_raw(), 0, 1, AT, 0, 0]),
        (Syscall::CapRevoke, [h.as_raw(), 0, 0, 0, 0, 0]),
        (Syscall::CapDrop, [h.as_raw(), 0, 0, 0, 0, 0]),
    ];
    for (i, (call, args)) in calls.into_iter().enumerate() {
        // SAFETY: no pointer arguments, and no mapping can be made (the
        // handle means nothing here).
        if unsafe { syscall(call, args) } != Err(Error::BadHandle) {
            return 10 + i as i32;
        }
    }
    0
}

/// `mo_map` of the sweep's object: (offset, flags, expected result).
fn wx_cases(start: &Start) -> i32 {
    let Some(object) = start.handle::<MemoryObject>("object") else { return 3 };
    let o = object.raw().as_raw();
    let cases: [(u64, u64, Result<u64, Error>); 5] = [
        (0, MAP_EXEC, Err(Error::WriteExecute)),
        (3, MAP_WRITE, Err(Error::WriteExecute)),
        (3, MAP_EXEC, Ok(0)),
        (0, 0, Ok(0)),
        // Writable here: the sweep maps page 1 executable once we are dead.
        (1, MAP_WRITE, Ok(0)),
    ];
    for (i, (offset, flags, want)) in cases.into_iter().enumerate() {
        let vaddr = AT + i as u64 * PAGE;
        // SAFETY: no pointer arguments; the kernel maps only where nothing
        // is mapped, so no Rust memory changes.
        if unsafe { syscall(Syscall::MoMap, [o, offset, 1, vaddr, flags, 0]) } != want {
            return 20 + i as i32;
        }
    }
    0
}
