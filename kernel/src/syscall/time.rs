//! `clock`, `sleep` and `timer_info` on a `Timer`.

use caps::abi::syscall::calls;
use caps::abi::time::TimerInfo;
use caps::abi::{Error, ObjectKind, Rights};

use super::{Caller, Next, Outcome};
use crate::mem::user::write_value;
use crate::proc::Block;
use crate::state::Kernel;

/// `clock(timer)`: nanoseconds since boot. Needs READ.
pub fn clock(k: &Kernel, c: Caller, a: calls::Clock) -> Result<u64, Error> {
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

/// `timer_info(timer, out)`: the clock, the tick count and the reference
/// clock (`caps::abi::time::TimerInfo`). Needs READ.
pub fn info(k: &Kernel, c: Caller, a: calls::TimerInfo) -> Result<u64, Error> {
    k.caps.lookup(c.table, a.timer, ObjectKind::Timer, Rights::READ)?;
    let info = TimerInfo {
        now_ns: crate::time::now_ns(),
        ticks: crate::time::ticks(),
        tick_hz: crate::time::TICK_HZ,
        reference_ns: crate::arch::pit::now_ns(),
    };
    write_value(c.aspace(&k.procs), a.out, &info)?;
    Ok(0)
}
