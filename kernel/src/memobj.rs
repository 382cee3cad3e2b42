//! Memory objects: pages of physical memory that every holder of a
//! capability to them may map (seL4's frames, Zircon's VMOs, Xok's
//! physical-page capabilities).
//!
//! An object is made whole (`mo_create`): its frames are taken and zeroed
//! at once and charged to the quota it was made from, so a later map never
//! fails for want of memory and the quota's count is exact. A capability
//! names a page range of it (`caps::PageRange`); `derive` narrows the range
//! and the rights, `grant` hands it to another process at spawn or over
//! IPC, `revoke` reaches every descendant.
//!
//! **A mapping lives as long as the capability it was made through**
//! (`kerncore::mapping`): when that capability dies (dropped, revoked from
//! above, moved to another process, its table destroyed with its process),
//! [`cap_gone`] unmaps every page mapped through it before the call that
//! killed it returns. So after `cap_revoke` returns, no process reaches the
//! object through a descendant: its next touch of the old address is a
//! page fault that ends it alone, reported as any fault is. (A CPU that
//! has the holder's address space loaded gets a TLB shootdown before the
//! unmap returns: `arch::smp::tlb`.)
//!
//! **The frames go back to the quota when nothing refers to them**: the
//! last capability gone (mappings cannot outlive theirs). A device never
//! writes an object's frames directly: a disk request whose buffer touches
//! a shared page goes through a bounce buffer (`syscall::disk`), so no
//! request in flight refers to them either.

use alloc::vec::Vec;
use caps::abi::{Error, Rights};
use caps::{Capability, NO_BADGE, Object, ObjectId, PageRange, TableId};
use kerncore::mapping::{CapKey, Mapping, Mappings};
use x86_64::structures::paging::PhysFrame;

use crate::mem::frame;
use crate::objtable::ObjectTable;
use crate::state::Kernel;

/// Most memory objects at once.
pub const MAX_OBJECTS: usize = 1024;
/// The most pages one object may have (the ABI's limit; its frame list
/// lives on the kernel heap).
pub use caps::abi::args::MAX_OBJECT_PAGES;

/// One memory object.
#[derive(Debug)]
pub struct MemoryObject {
    /// Its frames, page 0 first.
    pub frames: Vec<PhysFrame>,
    /// The quota they are charged to (held: a reference).
    pub quota: ObjectId,
    /// Capabilities naming it.
    pub caps: u32,
}

/// Every memory object and every mapping of one.
pub struct MemoryObjects {
    /// The objects, by id.
    pub objects: ObjectTable<MemoryObject>,
    /// Where their pages are mapped, and through which capability.
    pub mappings: Mappings,
}

impl MemoryObjects {
    /// None yet.
    pub const fn new() -> Self {
        MemoryObjects { objects: ObjectTable::new(MAX_OBJECTS), mappings: Mappings::new() }
    }
}

/// The key of capability `handle` in `table`, as the mapping records keep
/// it.
pub fn cap_key(table: TableId, handle: caps::abi::RawHandle) -> CapKey {
    (table.as_u64(), handle.as_raw())
}

/// Makes an object of `pages` zeroed pages charged to `quota` and mints a
/// capability to all of it into `table` with `rights` (`MAP`, the generic
/// rights, and whichever of `READ | WRITE | EXEC` the caller's quota handle
/// holds). All or nothing. Errors: `InvalidArgument` (`pages == 0`),
/// `OutOfRange` (more than [`MAX_OBJECT_PAGES`]), `OutOfMemory` (the quota,
/// the kernel's table or the frame allocator), `TableFull`.
pub fn create(
    k: &mut Kernel,
    table: TableId,
    quota: ObjectId,
    pages: u64,
    rights: Rights,
) -> Result<u64, Error> {
    if pages == 0 {
        return Err(Error::InvalidArgument);
    }
    if pages > MAX_OBJECT_PAGES {
        return Err(Error::OutOfRange);
    }
    if k.memobjs.objects.is_full() {
        return Err(Error::OutOfMemory);
    }
    if !k.caps.table(table).is_some_and(|t| t.has_room()) {
        return Err(Error::TableFull);
    }
    k.quotas.charge_frames(quota, pages)?;
    let mut frames = Vec::new();
    if frames.try_reserve_exact(pages as usize).is_err() {
        k.quotas.credit_frames(quota, pages);
        return Err(Error::OutOfMemory);
    }
    for _ in 0..pages {
        match frame::alloc_zeroed() {
            Some(f) => frames.push(f),
            None => {
                free_frames(&frames);
                k.quotas.credit_frames(quota, pages);
                return Err(Error::OutOfMemory);
            }
        }
    }
    let id = k
        .memobjs
        .objects
        .insert(MemoryObject { frames, quota, caps: 0 })
        .expect("room checked above");
    k.quotas.hold(quota);
    let range = PageRange::new(id, 0, pages).expect("pages >= 1");
    let cap = Capability { object: Object::MemoryObject(range), rights, badge: NO_BADGE };
    k.mint_new(table, cap, |k| free(k, id))
}

fn free_frames(frames: &[PhysFrame]) {
    for &f in frames {
        // SAFETY: the object took each frame from the allocator and was
        // its only owner; no mapping and no capability names it any more.
        unsafe { frame::free(f) };
    }
}

/// Frees object `id`: its frames to the allocator, their charge to the
/// quota, the quota's reference.
fn free(k: &mut Kernel, id: ObjectId) {
    let Some(o) = k.memobjs.objects.remove(id) else { return };
    free_frames(&o.frames);
    k.quotas.credit_frames(o.quota, o.frames.len() as u64);
    k.quotas.release(o.quota);
}

/// Counts a new capability to the object of `range`.
pub fn cap_created(k: &mut Kernel, range: &PageRange) {
    if let Some(o) = k.memobjs.objects.get_mut(range.object) {
        o.caps += 1;
    }
}

/// Capability `key` to a memory object is gone from its table (dropped,
/// revoked, moved away, or its table destroyed): unmaps every page mapped
/// through it, now.
pub fn unmap_cap(k: &mut Kernel, key: CapKey) {
    for m in k.memobjs.mappings.take_cap(key) {
        unmap(k, &m);
        if let Some(p) = k.procs.get_mut(m.holder) {
            p.revoked_maps.rotate_left(1);
            p.revoked_maps[3] = (m.vaddr, m.pages);
        }
    }
}

/// Unmaps the pages of mapping `m` from its holder's space, if the holder
/// still has one.
pub fn unmap(k: &mut Kernel, m: &Mapping) {
    if let Some(aspace) = k.procs.get_mut(m.holder).and_then(|p| p.aspace.as_mut()) {
        let _ = aspace.unmap(m.vaddr, m.pages, &mut k.quotas);
    }
}

/// Counts a capability to the object of `range` gone; the last one frees
/// the object (its mappings went with their capabilities first).
pub fn cap_removed(k: &mut Kernel, range: &PageRange) {
    let Some(o) = k.memobjs.objects.get_mut(range.object) else { return };
    o.caps -= 1;
    if o.caps == 0 {
        if k.memobjs.mappings.count_object(range.object) != 0 {
            log::error!(
                "kernel bug: memory object {:#x} mapped with no capability",
                range.object.0
            );
            return;
        }
        free(k, range.object);
    }
}
