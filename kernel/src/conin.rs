//! Console input: bytes typed on the serial line (COM1), kept for the one
//! process reading them through a `Console` capability with `READ`
//! (`console_read`).
//!
//! **How bytes travel.** The kernel does not take the UART's receive
//! interrupt (IRQ 4 would need an I/O APIC driver, which the kernel does not
//! have: its devices use MSI-X). Instead [`poll`] drains the UART's
//! receive FIFO from the 1 kHz timer tick, which also runs while the CPU
//! idles (the idle loop halts until the next tick), into a small ring
//! ([`INPUT_BYTES`], `kerncore::bytering`). A person typing is far slower than a millisecond per
//! byte; a paste or a test's script is held back by the emulated UART
//! itself (QEMU stops taking bytes from the host while its 16-byte FIFO is
//! full), so nothing is lost as long as the ring is read. If the ring is
//! full anyway, new bytes are dropped and counted (`ByteRing::dropped`;
//! the first drop of a boot is logged as a warning).
//! Bytes typed before the kernel sets COM1 up, early in boot, are lost
//! (setting it up empties the UART's FIFO); the shell's prompt says when
//! it reads.
//!
//! **Who may read.** `console_read` needs `READ` on a `Console`
//! capability. One reader waits at a time ([`ConsoleInput::reader`]); a
//! second is refused with `Busy`, so two processes never split a line
//! between them without knowing. The waiter is tied to the handle it reads
//! through (`Scheduler::tie`): revoking or dropping that capability wakes
//! it with `Revoked`.

use caps::ObjectId;
use kerncore::bytering::ByteRing;

use crate::state::Kernel;

/// Bytes kept between two reads; more are dropped.
pub const INPUT_BYTES: usize = 256;

/// The typed bytes not yet read, and who waits for them.
pub struct ConsoleInput {
    /// What was typed and not read yet, oldest first; bytes typed while it
    /// is full are dropped and counted (`kerncore::bytering`).
    pub bytes: ByteRing<INPUT_BYTES>,
    /// The process blocked in `console_read`, if one is.
    pub reader: Option<ObjectId>,
}

impl ConsoleInput {
    /// Nothing typed, nobody waiting.
    pub const fn new() -> Self {
        ConsoleInput { bytes: ByteRing::new(), reader: None }
    }
}

impl Default for ConsoleInput {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether bytes wait and a reader too ([`poll`] would wake it). No change.
pub fn reader_to_wake(k: &Kernel) -> bool {
    !k.console_in.bytes.is_empty() && k.console_in.reader.is_some()
}

/// Most bytes taken from the UART in one poll: its FIFO holds 16, and a
/// bound keeps a stuck "data ready" bit from holding the tick forever.
const POLL_BYTES: usize = 64;

/// A byte the UART received, if this is the boot CPU: one CPU polls it,
/// as each poll is a port read, which under emulation stops every virtual
/// CPU's thread. Needs no lock but the console's.
pub fn take_typed() -> Option<u8> {
    if crate::arch::percpu::index() == 0 { crate::console::try_receive() } else { None }
}

/// Moves `first` (a byte [`take_typed`] took) and, when there was one,
/// the rest the UART holds into the ring and, if bytes wait and a reader
/// does too, wakes it (it runs its `console_read` again and takes them).
/// Returns how many processes it woke (0 or 1). Called from the timer
/// tick.
pub fn poll(k: &mut Kernel, first: Option<u8>) -> usize {
    let dropped = k.console_in.bytes.dropped();
    if let Some(b) = first {
        k.console_in.bytes.push(b);
        // Read further only after a byte: without one the UART was just
        // found empty.
        for b in (1..POLL_BYTES).map_while(|_| crate::console::try_receive()) {
            k.console_in.bytes.push(b);
        }
    }
    if dropped == 0 && k.console_in.bytes.dropped() > 0 {
        log::warn!(
            "console input: {INPUT_BYTES} bytes wait unread; what is typed now is dropped \
             (this is said once)"
        );
    }
    if k.console_in.bytes.is_empty() {
        return 0;
    }
    match k.console_in.reader.take() {
        Some(pid) => {
            k.sched.wake(&mut k.procs, pid);
            1
        }
        None => 0,
    }
}

/// Process `pid` no longer waits for input (its capability died, or it is
/// dying): the next reader may wait.
pub fn forget_reader(k: &mut Kernel, pid: ObjectId) {
    if k.console_in.reader == Some(pid) {
        k.console_in.reader = None;
    }
}

// One `console_read` copies at most the ring's contents (its buffer on the
// kernel stack is one ring long).
const _: () = assert!(caps::abi::args::MAX_CONSOLE_READ as usize <= INPUT_BYTES);
