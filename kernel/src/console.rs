//! The kernel console: COM1 (16550 UART), and the `log` backend over it.
//!
//! Output is line-buffered by nobody: each `log` record is written whole
//! under the port lock, so records from different paths never interleave.
//! The panic and exception paths use [`emergency_println`], which does not
//! take the lock (the lock may be held by the code that faulted).

use crate::sync::{LeafLock, bits};
use core::fmt::{self, Write};
use log::{LevelFilter, Log, Metadata, Record};
use uart_16550::SerialPort;

/// I/O base of the first serial port.
const COM1: u16 = 0x3f8;

static SERIAL: LeafLock<Option<SerialPort>> = LeafLock::new("console", bits::CONSOLE, None);

/// Sets COM1 up. Call once, first thing at boot.
pub fn init() {
    // SAFETY: 0x3f8 is COM1 on every PC-compatible machine QEMU emulates, and
    // nothing else in the kernel drives these ports.
    let mut port = unsafe { SerialPort::new(COM1) };
    port.init();
    *SERIAL.lock() = Some(port);
}

/// Writes formatted text to the console under its lock.
pub fn print(args: fmt::Arguments) {
    x86_64::instructions::interrupts::without_interrupts(|| {
        if let Some(port) = SERIAL.lock().as_mut() {
            let _ = port.write_fmt(args);
        }
    });
}

/// Writes bytes as they are (user `debug_write` output): `send_raw`, as
/// `send` would turn a backspace into "backspace, space, backspace" and a
/// line editor's own erase sequence would then erase two characters.
pub fn write_bytes(bytes: &[u8]) {
    x86_64::instructions::interrupts::without_interrupts(|| {
        if let Some(port) = SERIAL.lock().as_mut() {
            for &b in bytes {
                port.send_raw(b);
            }
        }
    });
}

/// Writes one line without taking the console lock: for the panic and
/// fatal-exception paths only, where the lock may be held by the code that
/// failed. May interleave with a line in progress; that is the price of
/// never deadlocking while reporting a bug.
pub fn emergency_println(args: fmt::Arguments) {
    // SAFETY: a second handle on COM1's ports; the UART has no state beyond
    // its registers, so writing through it at worst interleaves characters.
    let mut port = unsafe { SerialPort::new(COM1) };
    let _ = port.write_fmt(args);
    let _ = port.write_str("\n");
}

/// `println!` for kernel code that is not a log record (the banner, tables).
#[macro_export]
macro_rules! kprintln {
    ($($arg:tt)*) => {
        $crate::console::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}

struct Logger;

static LOGGER: Logger = Logger;

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if self.enabled(record.metadata()) {
            print(format_args!("[{:<5}] {}\n", record.level(), record.args()));
        }
    }

    fn flush(&self) {}
}

/// Routes the `log` crate to the console at `level`.
pub fn init_logger(level: LevelFilter) {
    // A second call keeps the first logger; only the level changes.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

/// Takes one byte the UART has received, if it holds one (its line status
/// says "data ready"). Under the port lock, so it never interleaves with a
/// write's status polling. Nothing else reads COM1's receive register.
pub fn try_receive() -> Option<u8> {
    x86_64::instructions::interrupts::without_interrupts(|| {
        SERIAL.lock().as_mut().and_then(|port| port.try_receive().ok())
    })
}
