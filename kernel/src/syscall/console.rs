//! `debug_write`: text to the kernel console.

use caps::abi::RawHandle;
use caps::abi::args::MAX_DEBUG_WRITE;
use caps::abi::{Error, ObjectKind, Rights};

use super::Caller;
use crate::mem::user::UserSlice;
use crate::state;

/// Bytes copied from user memory per step.
const CHUNK: usize = 512;

/// `debug_write(console, buf, len)`: needs `WRITE` on a `Console`.
pub fn debug_write(console: u64, ptr: u64, len: u64) -> Result<u64, Error> {
    let k = state::lock();
    let c = Caller::current(&k);
    k.caps.lookup(c.table, RawHandle::from_raw(console), ObjectKind::Console, Rights::WRITE)?;
    if len > MAX_DEBUG_WRITE {
        return Err(Error::InvalidArgument);
    }
    let slice = UserSlice::new(ptr, len)?;
    let aspace = k.procs.get(c.pid).and_then(|p| p.aspace.as_ref()).expect("running process");
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
