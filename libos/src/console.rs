//! `print!` and `println!` over the console capability.
//!
//! Output goes to the handle with role `console` in the start page. A
//! process without one prints nothing: `println!` then drops its text (it
//! cannot fail loudly, having nowhere to say so). [`available`] tells
//! which case a program is in. An app gets the console from the manifest
//! (`console = true`, the default); a helper gets its spawner's by
//! default (see [`crate::process`]).

use caps::abi::RawHandle;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, Ordering};

use crate::Start;

static CONSOLE: AtomicU64 = AtomicU64::new(0);

/// Uses the `console` handle of `start` for printing (done by the runtime).
pub fn init(start: &Start) {
    if let Some(h) = start.raw("console") {
        CONSOLE.store(h.as_raw(), Ordering::Relaxed);
    }
}

/// Whether this process has a console: without one, `println!` output is
/// dropped.
pub fn available() -> bool {
    CONSOLE.load(Ordering::Relaxed) != 0
}

/// Bytes gathered before one `debug_write`.
const BUFFER: usize = 256;

/// Formats into a small buffer and writes it in as few syscalls as it can.
struct Writer {
    buf: [u8; BUFFER],
    len: usize,
}

impl Writer {
    fn flush(&mut self) {
        let console = CONSOLE.load(Ordering::Relaxed);
        if console != 0 && self.len > 0 {
            let _ = crate::sys::debug_write(RawHandle::from_raw(console), &self.buf[..self.len]);
        }
        self.len = 0;
    }
}

impl Write for Writer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for chunk in s.as_bytes().chunks(BUFFER) {
            if self.len + chunk.len() > BUFFER {
                self.flush();
            }
            self.buf[self.len..self.len + chunk.len()].copy_from_slice(chunk);
            self.len += chunk.len();
        }
        Ok(())
    }
}

/// Prints formatted text to the console; dropped without a console (see
/// [`available`]).
pub fn print(args: fmt::Arguments) {
    let mut w = Writer { buf: [0; BUFFER], len: 0 };
    let _ = w.write_fmt(args);
    w.flush();
}

/// Prints to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::print(format_args!($($arg)*)) };
}

/// Prints a line to the console.
#[macro_export]
macro_rules! println {
    () => { $crate::console::print(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Prints a line to the console (there is one output stream).
#[macro_export]
macro_rules! eprintln {
    ($($arg:tt)*) => { $crate::println!($($arg)*) };
}
