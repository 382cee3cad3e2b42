//! Spawns itself, each child with half its parent's quota, as deep as the
//! kernel lets it; every level then unwinds and reports its depth. Exits
//! with the depth reached below it (0 for the deepest).
#![no_std]
#![no_main]

use libos::kind::Image;
use libos::process::Spawn;
use libos::{ExitStatus, Start};

libos::main!(main);

fn main(start: &Start) -> i32 {
    let Some(me) = start.handle::<Image>("hostile-deep") else { return -1 };
    let quota: u64 = start.arg("quota").and_then(|q| q.parse().ok()).unwrap_or(8192);
    let child_quota = quota * 7 / 8;
    let args = alloc_free_args(child_quota);
    let spawned = Spawn::new(me)
        .quota_pages(child_quota)
        .without_console()
        .grant(me, libos::Rights::EXEC | libos::Rights::GRANT, "hostile-deep")
        .map(|s| s.args(args.as_str()))
        .and_then(Spawn::spawn);
    match spawned {
        // The kernel said no (out of memory, or no room for another
        // process): this is the bottom.
        Err(_) => 0,
        Ok(child) => match child.wait() {
            Ok(ExitStatus::Exited(d)) if d >= 0 => d + 1,
            _ => -1,
        },
    }
}

/// `quota=<n>` without the heap.
fn alloc_free_args(quota: u64) -> Text {
    let mut t = Text { buf: [0; 32], len: 0 };
    let _ = core::fmt::write(&mut t, format_args!("quota={quota}"));
    t
}

struct Text {
    buf: [u8; 32],
    len: usize,
}

impl Text {
    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl core::fmt::Write for Text {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = (self.len + s.len()).min(self.buf.len());
        self.buf[self.len..end].copy_from_slice(&s.as_bytes()[..end - self.len]);
        self.len = end;
        Ok(())
    }
}
