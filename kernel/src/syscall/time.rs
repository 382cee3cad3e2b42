//! `clock` and `sleep` on a `Timer`.

use caps::abi::RawHandle;
use caps::abi::{Error, ObjectKind, Rights};

use super::Caller;
use crate::proc::{Block, sched};
use crate::state;

/// `clock(timer)`: nanoseconds since boot. Needs READ.
pub fn clock(timer: u64) -> Result<u64, Error> {
    let k = state::lock();
    let c = Caller::current(&k);
    k.caps.lookup(c.table, RawHandle::from_raw(timer), ObjectKind::Timer, Rights::READ)?;
    Ok(crate::time::now_ns())
}

/// `sleep(timer, ns)`: blocks for at least `ns` nanoseconds (rounded up to
/// the timer tick). Needs WAIT. If the capability it sleeps through dies
/// meanwhile (a revoke of an ancestor), it wakes at once with `Revoked`.
pub fn sleep(timer: u64, ns: u64) -> Result<u64, Error> {
    let k = state::lock();
    let c = Caller::current(&k);
    k.caps.lookup(c.table, RawHandle::from_raw(timer), ObjectKind::Timer, Rights::WAIT)?;
    if ns == 0 {
        sched::yield_now(k);
        return Ok(0);
    }
    let deadline = crate::time::now_ns().saturating_add(ns);
    sched::block_current_through(k, Block::Sleep(deadline), RawHandle::from_raw(timer))?;
    Ok(0)
}
