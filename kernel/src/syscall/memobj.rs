//! `mo_create` and `mo_map`: memory objects. Objects and rules:
//! `crate::memobj`. (Unmapping is `mem_unmap`, for every kind of page.)

use caps::Object;
use caps::abi::args::{MAP_EXEC, MAP_WRITE, MAX_MAPPINGS_PER_PROCESS};
use caps::abi::layout::{MAP_END, PAGE_SIZE, USER_MIN};
use caps::abi::syscall::calls;
use caps::abi::{Error, ObjectKind, Rights};
use kerncore::mapping::Mapping;

use super::Caller;
use crate::mem::aspace::Access;
use crate::memobj;
use crate::state::Kernel;

/// The memory rights a new object's capability may carry from the quota
/// handle it was made through.
const DATA_RIGHTS: Rights = Rights::READ.union(Rights::WRITE).union(Rights::EXEC);

/// `mo_create(memory, pages)`: a new object of `pages` zeroed pages,
/// charged to the quota of a `Memory` handle with `MAP | READ`.
pub fn create(k: &mut Kernel, c: Caller, a: calls::MoCreate) -> Result<u64, Error> {
    let cap = k.caps.lookup(c.table, a.memory, ObjectKind::Memory, Rights::MAP | Rights::READ)?;
    let Object::Memory(quota) = cap.object else { return Err(Error::WrongKind) };
    let rights = (cap.rights & DATA_RIGHTS) | Rights::MAP | Rights::GENERIC;
    memobj::create(k, c.table, quota, a.pages, rights)
}

/// `mo_map(object, offset, pages, vaddr, flags)`: maps pages `[offset,
/// offset + pages)` of the capability's range at `vaddr`. Checks, in
/// order: flags, the handle (kind, rights), the range, the address, W^X
/// across mappings, room for the record; then maps (page tables charged
/// to the caller's own quota). A failed call maps nothing.
pub fn map(k: &mut Kernel, c: Caller, a: calls::MoMap) -> Result<u64, Error> {
    if a.flags & !(MAP_WRITE | MAP_EXEC) != 0 {
        return Err(Error::InvalidArgument);
    }
    let (writable, exec) = (a.flags & MAP_WRITE != 0, a.flags & MAP_EXEC != 0);
    let (access, need) = match (writable, exec) {
        (false, false) => (Access::Read, Rights::MAP | Rights::READ),
        (true, false) => (Access::ReadWrite, Rights::MAP | Rights::READ | Rights::WRITE),
        (false, true) => (Access::ReadExec, Rights::MAP | Rights::READ | Rights::EXEC),
        (true, true) => return Err(Error::WriteExecute),
    };
    let cap = *k.caps.lookup(c.table, a.object, ObjectKind::MemoryObject, need)?;
    let Object::MemoryObject(range) = cap.object else { return Err(Error::WrongKind) };
    let first = range.translate(a.offset, a.pages)?;
    if !a.vaddr.is_multiple_of(PAGE_SIZE) {
        return Err(Error::InvalidArgument);
    }
    let len = a.pages.checked_mul(PAGE_SIZE).ok_or(Error::OutOfRange)?;
    if a.vaddr < USER_MIN || a.vaddr.checked_add(len).is_none_or(|end| end > MAP_END) {
        return Err(Error::BadAddress);
    }
    let object = range.object;
    if k.memobjs.mappings.conflicts_wx(object, first, a.pages, writable, exec) {
        return Err(Error::WriteExecute);
    }
    if !k.memobjs.mappings.has_room_for(c.pid, MAX_MAPPINGS_PER_PROCESS) {
        return Err(Error::OutOfMemory);
    }
    let o = k.memobjs.objects.get(object).ok_or(Error::BadHandle)?;
    let frames = &o.frames[first as usize..(first + a.pages) as usize];
    let aspace = k.procs.get_mut(c.pid).and_then(|p| p.aspace.as_mut()).expect("running process");
    aspace.map_frames(a.vaddr, frames, access, &mut k.quotas)?;
    k.memobjs.mappings.insert(Mapping {
        holder: c.pid,
        cap: memobj::cap_key(c.table, a.object),
        object,
        vaddr: a.vaddr,
        first,
        pages: a.pages,
        writable,
        exec,
    });
    Ok(0)
}
