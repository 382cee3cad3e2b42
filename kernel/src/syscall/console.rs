//! `debug_write` and `console_read`: text to and from the kernel console.
//! How typed bytes reach the kernel, and who may read them: `crate::conin`.

use caps::abi::args::{CONSOLE_NONBLOCK, MAX_CONSOLE_READ, MAX_DEBUG_WRITE};
use caps::abi::syscall::calls;
use caps::abi::{Error, ObjectKind, Rights};

use super::{Caller, Next, Outcome};
use crate::conin::INPUT_BYTES;
use crate::mem::user::UserSlice;
use crate::proc::Block;
use crate::state::Kernel;

/// Bytes copied from user memory per step.
const CHUNK: usize = 512;

/// `debug_write(console, buf, len)`: needs `WRITE` on a `Console`.
pub fn debug_write(k: &mut Kernel, c: Caller, a: calls::DebugWrite) -> Result<u64, Error> {
    let (ptr, len) = (a.buf, a.len);
    k.caps.lookup(c.table, a.console, ObjectKind::Console, Rights::WRITE)?;
    if len > MAX_DEBUG_WRITE {
        return Err(Error::InvalidArgument);
    }
    let slice = UserSlice::new(ptr, len)?;
    let aspace = c.aspace(&k.procs);
    slice.check_readable(aspace)?;
    let mut buf = [0u8; CHUNK];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(CHUNK as u64) as usize;
        slice.sub(done, n as u64)?.read(aspace, &mut buf[..n])?;
        crate::console::write_bytes(&buf[..n]);
        done += n as u64;
    }
    Ok(len)
}

/// `console_read(console, buf, len, flags)`: needs `READ` on a `Console`.
/// Copies the typed bytes waiting (up to `len`, at most
/// `MAX_CONSOLE_READ`) into `buf`; with none, waits for one (tied to the
/// handle: its death wakes the reader with `Revoked`), or is `WouldBlock`
/// with `CONSOLE_NONBLOCK`. One reader waits at a time: `Busy` for another
/// process while one does (blocking or not, if nothing is there to take). Woken, the call runs again from its registers
/// (`syscall::resume`), so every check is made again.
pub fn console_read(k: &mut Kernel, c: Caller, a: calls::ConsoleRead) -> Outcome {
    if a.flags & !CONSOLE_NONBLOCK != 0 || a.len == 0 {
        return Err(Error::InvalidArgument);
    }
    k.caps.lookup(c.table, a.console, ObjectKind::Console, Rights::READ)?;
    let len = a.len.min(MAX_CONSOLE_READ);
    let slice = UserSlice::new(a.buf, len)?;
    slice.check_writable(c.aspace(&k.procs))?;
    if !k.console_in.bytes.is_empty() {
        let mut bytes = [0u8; INPUT_BYTES];
        let n = k.console_in.bytes.peek(&mut bytes[..len as usize]);
        slice.sub(0, n as u64)?.write(c.aspace(&k.procs), &bytes[..n])?;
        k.console_in.bytes.consume(n);
        return Ok(Next::Return(n as u64));
    }
    // Another process waits: `Busy` whether we would wait or not (what
    // is typed next is its).
    if k.console_in.reader.is_some_and(|pid| pid != c.pid) {
        return Err(Error::Busy);
    }
    if a.flags & CONSOLE_NONBLOCK != 0 {
        return Err(Error::WouldBlock);
    }
    k.console_in.reader = Some(c.pid);
    k.sched.tie(c.pid, c.table, a.console);
    Ok(Next::Block(Block::ConsoleRead))
}
