//! `debug_write`: text to the kernel console.

use caps::abi::args::MAX_DEBUG_WRITE;
use caps::abi::syscall::calls;
use caps::abi::{Error, ObjectKind, Rights};

use super::Caller;
use crate::mem::user::UserSlice;
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
