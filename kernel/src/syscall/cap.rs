//! `cap_info`, `cap_derive`, `cap_drop`, `cap_revoke`: the generic calls
//! on any handle.

use alloc::vec::Vec;
use caps::Narrow;
use caps::abi::args::{DERIVE_BADGE, DERIVE_RANGE, DERIVE_SAME, pack_info};
use caps::abi::syscall::calls;
use caps::abi::{CapInfo, Error};

use super::{Caller, Next, Outcome};
use crate::diskio::Settle;
use crate::mem::user::write_value;
use crate::proc::Block;
use crate::state::Kernel;

/// `cap_info(handle, out)`: the kind and rights packed in the result, and
/// the whole record at `out` unless it is 0. Needs no right.
///
/// The packed form is the cheapest capability-checked call there is (the
/// `syscall_null_ns` benchmark): the record's copy-out is kept out of its
/// path.
pub fn info(k: &Kernel, c: Caller, a: calls::CapInfo) -> Result<u64, Error> {
    let cap = k.caps.get(c.table, a.handle)?;
    if a.out != 0 {
        write_info(k, c, a.out, cap.info())?;
    }
    Ok(pack_info(cap.kind(), cap.rights))
}

#[inline(never)]
fn write_info(k: &Kernel, c: Caller, out: u64, info: CapInfo) -> Result<(), Error> {
    write_value(c.aspace(&k.procs), out, &info)
}

/// `cap_derive(handle, rights, mode, a, b)`: a new handle in the caller's
/// table for the same or a narrower object with `rights`. Needs DERIVE.
pub fn derive(k: &mut Kernel, c: Caller, args: calls::CapDerive) -> Result<u64, Error> {
    let (a, b) = (args.a, args.b);
    let narrow = match args.mode {
        DERIVE_SAME if a == 0 && b == 0 => Narrow::Same,
        DERIVE_RANGE => Narrow::Range { offset: a, count: b },
        DERIVE_BADGE if b == 0 => Narrow::Badge(a),
        _ => return Err(Error::InvalidArgument),
    };
    let new = k.caps.derive(c.table, args.handle, args.rights, narrow)?;
    let cap = *k.caps.get(c.table, new).expect("just derived");
    k.cap_created(&cap);
    Ok(new.as_raw())
}

/// `cap_drop(handle)`: closes one of the caller's handles.
pub fn drop(k: &mut Kernel, c: Caller, a: calls::CapDrop) -> Result<u64, Error> {
    let removed = k.caps.drop_cap(c.table, a.handle)?;
    k.cap_gone(&removed);
    Ok(0)
}

/// `cap_revoke(handle)`: destroys everything derived from the handle, in
/// every table. Needs REVOKE. Returns how many capabilities died.
///
/// Disk requests already on a device through a destroyed range end before
/// it returns (`caps`, "In-flight operations"): the caller blocks until
/// the devices are done with them (`Block::Settle`), rather than waiting
/// for a device with interrupts off.
pub fn revoke(k: &mut Kernel, c: Caller, a: calls::CapRevoke) -> Outcome {
    let mut removed = Vec::new();
    let n = k.caps.revoke(c.table, a.handle, |r| removed.push(r))? as u64;
    k.caps_removed(&removed);
    if !removed.iter().any(|r| r.capability.kind() == caps::abi::ObjectKind::DiskRange) {
        return Ok(Next::Return(n));
    }
    let mut pending = Vec::new();
    k.async_io.unauthorized_in_flight(&k.caps, &k.devices, &mut pending);
    k.rings.unauthorized_in_flight(&k.caps, &k.devices, &mut pending);
    for t in k.disk_waits.sync.iter().filter(|t| t.is_revoked()) {
        pending.extend(t.in_flight());
    }
    // What is done already wakes its waiters (`disk_complete`: `Revoked`).
    crate::iowait::on_completion(k);
    pending.retain(|&r| !k.devices.is_settled(r));
    if pending.is_empty() {
        return Ok(Next::Return(n));
    }
    k.disk_waits.settles.push(Settle { pid: c.pid, requests: pending, revoked: n });
    Ok(Next::Block(Block::Settle))
}

/// Finishes a `cap_revoke` that waited for the devices.
pub fn finish_revoke(k: &mut Kernel, c: Caller) -> Outcome {
    k.disk_waits.take_settle(c.pid).map(|s| Next::Return(s.revoked)).ok_or(Error::Revoked)
}
