//! Fills its memory quota (mem_map must say OutOfMemory, and the memory
//! comes back on unmap) and its handle table (TableFull), then cleans up.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use libos::kind::{Console, Memory};
use libos::{Error, Rights, Start, println};

libos::main!(main);

const AREA: u64 = 0x0000_2000_0000_0000;
const CHUNK: u64 = 64 * 4096;

fn main(start: &Start) -> i32 {
    let memory = start.handle::<Memory>("memory").expect("memory");
    let mut mapped = 0;
    let err = loop {
        match memory.map(AREA + mapped, CHUNK, caps_write()) {
            Ok(()) => mapped += CHUNK,
            Err(e) => break e,
        }
    };
    if err != Error::OutOfMemory || mapped == 0 {
        println!("quota: mapping until full gave {err:?} after {mapped} bytes");
        return 1;
    }
    let freed = unmap(AREA, mapped);
    if freed != mapped / 4096 {
        println!("quota: unmapped {freed} pages of {}", mapped / 4096);
        return 1;
    }
    // The memory came back: the same amount maps again.
    if let Err(e) = memory.map(AREA, mapped, caps_write()) {
        println!("quota: remapping after unmap failed: {e:?}");
        return 1;
    }
    unmap(AREA, mapped);
    println!("quota: mapped {} KiB until OutOfMemory, unmapped, mapped again", mapped / 1024);

    let console = start.handle::<Console>("console").expect("console");
    let mut handles = Vec::new();
    let err = loop {
        match console.derive(Rights::WRITE | Rights::DERIVE) {
            Ok(h) => handles.push(h),
            Err(e) => break e,
        }
    };
    if err != Error::TableFull {
        println!("quota: deriving until full gave {err:?} after {}", handles.len());
        return 1;
    }
    let n = handles.len();
    for h in handles {
        h.close().expect("close");
    }
    // Room again.
    console.derive(Rights::WRITE).expect("derive after closing").close().expect("close");
    println!("quota: {n} handles until TableFull, closed them, derived again");
    0
}

fn caps_write() -> u64 {
    libos::abi::args::MAP_WRITE
}

fn unmap(addr: u64, len: u64) -> u64 {
    // SAFETY: nothing in this program refers to the area.
    unsafe { libos::sys::mem_unmap(addr, len) }.expect("unmap")
}
