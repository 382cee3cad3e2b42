//! `clock` and `sleep` on a `Timer`.

use caps::abi::syscall::calls;
use caps::abi::{Error, ObjectKind, Rights};

use super::{Caller, Next, Outcome};
use crate::proc::Block;
use crate::state::Kernel;

/// `clock(timer)`: nanoseconds since boot. Needs READ.
pub fn clock(k: &mut Kernel, c: Caller, a: calls::Clock) -> Result<u64, Error> {
    k.caps.lookup(c.table, a.timer, ObjectKind::Timer, Rights::READ)?;
    Ok(crate::time::now_ns())
}

/// `sleep(timer, ns)`: blocks for at least `ns` nanoseconds (rounded up to
/// the timer tick). Needs WAIT. If the capability it sleeps through dies
/// meanwhile (a revoke of an ancestor), it wakes at once with `Revoked`.
pub fn sleep(k: &mut Kernel, c: Caller, a: calls::Sleep) -> Outcome {
    k.caps.lookup(c.table, a.timer, ObjectKind::Timer, Rights::WAIT)?;
    if a.ns == 0 {
        return Ok(Next::Yield);
    }
    let deadline = crate::time::now_ns().saturating_add(a.ns);
    k.sched.tie(c.pid, c.table, a.timer);
    Ok(Next::Block(Block::Sleep(deadline)))
}
