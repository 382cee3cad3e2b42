//! Powering QEMU off with a status, through its `isa-debug-exit` device.
//!
//! QEMU turns a write of `v` to the device's port into the host exit code
//! `(v << 1) | 1`, so the codes seen on the host are odd and never 0 (QEMU
//! exits 0 on its own after a triple fault with `-no-reboot`). The host
//! harness knows these values; keep them in step with `tools/harness`.

use x86_64::instructions::port::Port;

/// The I/O port of the `isa-debug-exit` device (`-device isa-debug-exit,iobase=0xf4`).
const DEBUG_EXIT_PORT: u16 = 0xf4;

/// What the run ended with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    /// Everything ran as it should: host exit code 33.
    Success = 0x10,
    /// A kernel bug (panic or kernel exception) or a failed run: host exit code 35.
    Failure = 0x11,
}

/// Powers the machine off with `code`; on real hardware, where the device
/// does not exist, halts for ever instead.
pub fn exit(code: ExitCode) -> ! {
    let mut port = Port::<u32>::new(DEBUG_EXIT_PORT);
    // SAFETY: port 0xf4 is QEMU's isa-debug-exit device, which only stops the
    // machine; on hardware without it the write is ignored.
    unsafe { port.write(code as u32) };
    crate::arch::halt_forever()
}
