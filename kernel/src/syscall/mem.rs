//! `mem_map` and `mem_unmap`: user memory from a `Memory` quota.

use caps::Object;
use caps::abi::args::{MAP_EXEC, MAP_WRITE};
use caps::abi::layout::{MAP_END, PAGE_SIZE, USER_END, USER_MIN};
use caps::abi::syscall::calls;
use caps::abi::{Error, ObjectKind, Rights};

use super::Caller;
use crate::mem::aspace::Access;
use crate::state::Kernel;

/// The pages of `[vaddr, vaddr + len)`: `InvalidArgument` if it is empty
/// or not page-aligned, `BadAddress` if it leaves `[USER_MIN, end_limit)`
/// (below it, the kernel half, non-canonical, wrapping), as `mo_map` says.
fn page_range(vaddr: u64, len: u64, end_limit: u64) -> Result<u64, Error> {
    if len == 0 || !vaddr.is_multiple_of(PAGE_SIZE) || !len.is_multiple_of(PAGE_SIZE) {
        return Err(Error::InvalidArgument);
    }
    let end = vaddr.checked_add(len).ok_or(Error::BadAddress)?;
    if vaddr < USER_MIN || end > end_limit {
        return Err(Error::BadAddress);
    }
    Ok(len / PAGE_SIZE)
}

/// `mem_map(memory, vaddr, len, flags)`: maps fresh zeroed pages at
/// `vaddr`, charged to the quota `memory` names. Needs MAP and READ, plus
/// WRITE for `MAP_WRITE` and EXEC for `MAP_EXEC` (never both: W^X,
/// `WriteExecute`). The range must be page-aligned and inside `[USER_MIN,
/// MAP_END)` (else `InvalidArgument`), and unmapped (else `AddressInUse`).
pub fn map(k: &mut Kernel, c: Caller, a: calls::MemMap) -> Result<u64, Error> {
    let (vaddr, len, flags) = (a.vaddr, a.len, a.flags);
    if flags & !(MAP_WRITE | MAP_EXEC) != 0 {
        return Err(Error::InvalidArgument);
    }
    let (access, need) = match (flags & MAP_WRITE != 0, flags & MAP_EXEC != 0) {
        (false, false) => (Access::Read, Rights::MAP | Rights::READ),
        (true, false) => (Access::ReadWrite, Rights::MAP | Rights::READ | Rights::WRITE),
        (false, true) => (Access::ReadExec, Rights::MAP | Rights::READ | Rights::EXEC),
        (true, true) => return Err(Error::WriteExecute),
    };
    let pages = page_range(vaddr, len, MAP_END)?;
    let cap = k.caps.lookup(c.table, a.memory, ObjectKind::Memory, need)?;
    let Object::Memory(quota) = cap.object else { return Err(Error::WrongKind) };
    let aspace = k.procs.get_mut(c.pid).and_then(|p| p.aspace.as_mut()).expect("running process");
    aspace.map_zeroed(vaddr, pages, access, quota, &mut k.quotas)?;
    Ok(0)
}

/// `mem_unmap(vaddr, len)`: unmaps the caller's pages in the range (those
/// not mapped are skipped) and credits their quotas. Returns the count.
pub fn unmap(k: &mut Kernel, c: Caller, a: calls::MemUnmap) -> Result<u64, Error> {
    let (vaddr, len) = (a.vaddr, a.len);
    let pages = page_range(vaddr, len, USER_END)?;
    // Memory objects' pages there leave their mapping records (which may
    // split one in two: the one way this call can fail, changing nothing).
    if !k.memobjs.mappings.is_empty() {
        let per = caps::abi::args::MAX_MAPPINGS_PER_PROCESS;
        k.memobjs.mappings.cut(c.pid, vaddr, len, per).ok_or(Error::OutOfMemory)?;
    }
    // A ring with a page in the range ends first (see `rings_unmapping`).
    k.rings_unmapping(c.pid, vaddr, len);
    let aspace = k.procs.get_mut(c.pid).and_then(|p| p.aspace.as_mut()).expect("running process");
    aspace.unmap(vaddr, pages, &mut k.quotas)
}
