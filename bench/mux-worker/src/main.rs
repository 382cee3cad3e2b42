//! `bench-mux`'s worker: `mode=cpu` counts in a loop, `mode=io` reads
//! random 4 KiB blocks of its disk range back to back, each for `ms=`
//! milliseconds by the timer. Its exit code is its progress: thousands of
//! loop rounds, or reads done.
#![no_std]
#![no_main]

use libos::iobuf::IoBuf;
use libos::kind::{DiskRange, Timer};
use libos::{Start, println};

libos::main!(main);

fn main(start: &Start) -> i32 {
    let Some(timer) = start.handle::<Timer>("timer") else {
        println!("bench-mux-worker: no timer");
        return -1;
    };
    let ms: u64 = start.arg("ms").and_then(|v| v.parse().ok()).unwrap_or(1000);
    let Ok(t0) = timer.now_ns() else { return -1 };
    let deadline = t0 + ms * 1_000_000;
    let now = || timer.now_ns().unwrap_or(u64::MAX);
    match start.arg("mode") {
        Some("cpu") => {
            let mut thousands = 0i32;
            let mut x = 1u64;
            while now() < deadline {
                for _ in 0..1000 {
                    x = core::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
                thousands += 1;
            }
            thousands
        }
        Some("io") => {
            let Some(disk) = start.handle::<DiskRange>("disk") else {
                println!("bench-mux-worker: no disk");
                return -1;
            };
            let blocks = disk.sectors().unwrap_or(0) / 8;
            let mut page = IoBuf::zeroed(4096);
            let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
            let mut reads = 0i32;
            while blocks > 0 && now() < deadline {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                if disk.read(seed % blocks * 8, &mut page).is_err() {
                    return -1;
                }
                reads += 1;
            }
            reads
        }
        _ => {
            println!("bench-mux-worker: mode=cpu or mode=io");
            -1
        }
    }
}
