//! `cap_info`, `cap_derive`, `cap_drop`, `cap_revoke`: the generic calls
//! on any handle.

use alloc::vec::Vec;
use caps::Narrow;
use caps::abi::RawHandle;
use caps::abi::args::{DERIVE_BADGE, DERIVE_RANGE, DERIVE_SAME, pack_info};
use caps::abi::{Error, Rights};

use super::Caller;
use crate::mem::user::write_value;
use crate::state;

/// `cap_info(handle, out)`: the kind and rights packed in the result, and
/// the whole record at `out` unless it is 0. Needs no right.
pub fn info(handle: u64, out: u64) -> Result<u64, Error> {
    let k = state::lock();
    let c = Caller::current(&k);
    let cap = k.caps.get(c.table, RawHandle::from_raw(handle))?;
    if out != 0 {
        let aspace = k.procs.get(c.pid).and_then(|p| p.aspace.as_ref()).expect("running process");
        write_value(aspace, out, &cap.info())?;
    }
    Ok(pack_info(cap.kind(), cap.rights))
}

/// `cap_derive(handle, rights, mode, a, b)`: a new handle in the caller's
/// table for the same or a narrower object with `rights`. Needs DERIVE.
pub fn derive(handle: u64, rights: u64, mode: u64, a: u64, b: u64) -> Result<u64, Error> {
    let rights = Rights::from_raw(rights).ok_or(Error::InvalidArgument)?;
    let narrow = match mode {
        DERIVE_SAME if a == 0 && b == 0 => Narrow::Same,
        DERIVE_RANGE => Narrow::Range { offset: a, count: b },
        DERIVE_BADGE if b == 0 => Narrow::Badge(a),
        _ => return Err(Error::InvalidArgument),
    };
    let mut k = state::lock();
    let c = Caller::current(&k);
    let new = k.caps.derive(c.table, RawHandle::from_raw(handle), rights, narrow)?;
    let cap = *k.caps.get(c.table, new).expect("just derived");
    k.cap_created(&cap);
    Ok(new.as_raw())
}

/// `cap_drop(handle)`: closes one of the caller's handles.
pub fn drop(handle: u64) -> Result<u64, Error> {
    let mut k = state::lock();
    let c = Caller::current(&k);
    let removed = k.caps.drop_cap(c.table, RawHandle::from_raw(handle))?;
    k.cap_gone(&removed);
    Ok(0)
}

/// `cap_revoke(handle)`: destroys everything derived from the handle, in
/// every table. Needs REVOKE. Returns how many capabilities died.
pub fn revoke(handle: u64) -> Result<u64, Error> {
    let mut k = state::lock();
    let c = Caller::current(&k);
    let mut removed = Vec::new();
    let n = k.caps.revoke(c.table, RawHandle::from_raw(handle), |r| removed.push(r))?;
    k.caps_removed(&removed);
    // Disk writes already on a device through a destroyed range end before
    // we return (`caps`, "In-flight operations").
    if removed.iter().any(|r| r.capability.kind() == caps::abi::ObjectKind::DiskRange) {
        let kernel = &mut *k;
        kernel.async_io.settle_unauthorized(&kernel.caps, &mut kernel.devices);
    }
    Ok(n as u64)
}
