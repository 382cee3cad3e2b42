//! Memory objects: every bad input of `mo_create` and `mo_map` with its
//! own error, and what a refused call must leave behind (nothing mapped);
//! a revoked, dropped or dead holder's mapping gone; W^X across mappings,
//! in this process and against a peer (`sweep-peer mo-wx=1`); the quota
//! charged exactly an object's pages, and all of them back at its end.

use libos::Handle;
use libos::abi::args::{MAP_EXEC, MAP_WRITE};
use libos::abi::layout::{MAP_END, PAGE_SIZE, USER_END, USER_MIN};
use libos::abi::{Error, Syscall};
use libos::kind::{Console, Image, Memory, MemoryObject, Timer};
use libos::process::Spawn;
use libos::sys::shm::mo_create;
use libos::{Rights, println};

use crate::{AREA, KERNEL_ADDR, NONCANONICAL, Sweep};

/// Where these cases map (nothing else is mapped there): slot `i` is
/// `MO_AT + i * SLOT`.
const MO_AT: u64 = 0x0000_3600_0000_0000;
const SLOT: u64 = 16 * PAGE_SIZE;
use libos::abi::args::MAX_OBJECT_PAGES;
/// Pages of the object most cases map.
const PAGES: u64 = 4;

fn at(slot: u64) -> u64 {
    MO_AT + slot * SLOT
}

/// `mo_map`'s registers.
fn map_args(object: u64, offset: u64, pages: u64, vaddr: u64, flags: u64) -> [u64; 6] {
    [object, offset, pages, vaddr, flags, 0]
}

/// Whether the page at `vaddr` is free: `mem_map` maps a read-only page
/// there (left mapped: no case uses the address again).
fn free_page(memory: Handle<Memory>, vaddr: u64) -> bool {
    memory.map(vaddr, PAGE_SIZE, 0).is_ok()
}

/// The pages our quota has left: the largest object `mo_create` makes
/// (each one made is closed at once). Our quota holds less than
/// `MAX_OBJECT_PAGES`.
fn free_pages(memory: Handle<Memory>) -> u64 {
    let (mut fits, mut too_big) = (0, MAX_OBJECT_PAGES + 1);
    while too_big - fits > 1 {
        let mid = fits + (too_big - fits) / 2;
        match mo_create(memory, mid) {
            Ok(h) => {
                let _ = libos::sys::cap_drop(h);
                fits = mid;
            }
            Err(_) => too_big = mid,
        }
    }
    fits
}

/// Whether `mo_map` with registers `a` succeeds.
fn maps(a: [u64; 6]) -> bool {
    // SAFETY: no pointer arguments; the kernel maps only where nothing is
    // mapped, so no Rust memory changes.
    let got = unsafe { libos::sys::raw::syscall(Syscall::MoMap, a) };
    got == Ok(0)
}

/// The handles every case needs.
pub struct Held<'a> {
    /// Our quota (every right, `MAX_OBJECT_PAGES` pages in all).
    pub memory: Handle<Memory>,
    /// Handles of the wrong kind.
    pub console: Handle<Console>,
    pub timer: Handle<Timer>,
    /// `sweep-peer`, for the cases across processes.
    pub peer: Handle<Image>,
    /// Values that name nothing.
    pub bad_handles: &'a [u64],
}

/// Runs every memory-object case.
pub fn cases(s: &mut Sweep, h: &Held) {
    let m = h.memory.raw().as_raw();
    let (c, t) = (h.console.raw().as_raw(), h.timer.raw().as_raw());
    let (ia, oor, mr, wk, bh) = (
        Error::InvalidArgument,
        Error::OutOfRange,
        Error::MissingRight,
        Error::WrongKind,
        Error::BadHandle,
    );
    let Ok(object) = mo_create(h.memory, PAGES) else {
        s.expect("mo_create a good object", false);
        return;
    };
    let o = object.as_raw();
    let object = Handle::<MemoryObject>::from_raw(object);

    // mo_create: the quota handle, then the size.
    for &b in h.bad_handles {
        s.call("mo_create bad handle", Syscall::MoCreate, [b, 1, 0, 0, 0, 0], bh);
        s.call("mo_map bad handle", Syscall::MoMap, map_args(b, 0, 1, at(0), 0), bh);
    }
    s.call("mo_create on a console", Syscall::MoCreate, [c, 1, 0, 0, 0, 0], wk);
    s.call("mo_create on a timer", Syscall::MoCreate, [t, 1, 0, 0, 0, 0], wk);
    s.call("mo_create on a memory object", Syscall::MoCreate, [o, 1, 0, 0, 0, 0], wk);
    let no_map = h.memory.derive(Rights::READ | Rights::WRITE).expect("derive memory");
    let no_read = h.memory.derive(Rights::MAP | Rights::WRITE).expect("derive memory");
    for (what, weak) in [("mo_create without MAP", no_map), ("mo_create without READ", no_read)] {
        s.call(what, Syscall::MoCreate, [weak.raw().as_raw(), 1, 0, 0, 0, 0], mr);
        let _ = weak.close();
        let dropped = [weak.raw().as_raw(), 1, 0, 0, 0, 0];
        s.call("mo_create through a dropped quota handle", Syscall::MoCreate, dropped, bh);
    }
    s.call("mo_create 0 pages", Syscall::MoCreate, [m, 0, 0, 0, 0, 0], ia);
    for pages in [MAX_OBJECT_PAGES + 1, 1 << 32, u64::MAX] {
        s.call("mo_create over the most pages", Syscall::MoCreate, [m, pages, 0, 0, 0, 0], oor);
    }
    // Our quota is MAX_OBJECT_PAGES in all, some of it spent already.
    s.call(
        "mo_create over the quota",
        Syscall::MoCreate,
        [m, MAX_OBJECT_PAGES, 0, 0, 0, 0],
        Error::OutOfMemory,
    );
    // The new capability carries the quota handle's READ/WRITE/EXEC only.
    let read_only = h.memory.derive(Rights::MAP | Rights::READ).expect("derive memory");
    match mo_create(read_only, 1) {
        Ok(weak) => {
            let rights = libos::sys::cap_kind(weak).map(|(_, r)| r);
            let want = Rights::MAP | Rights::READ | Rights::GRANT | Rights::DERIVE | Rights::REVOKE;
            s.expect("mo_create's rights follow the quota handle's", rights == Ok(want));
            let a = map_args(weak.as_raw(), 0, 1, at(0), MAP_WRITE);
            s.call("mo_map writable, made from a read-only quota handle", Syscall::MoMap, a, mr);
            let _ = libos::sys::cap_drop(weak);
        }
        Err(e) => {
            println!("sweep: mo_create through a read-only quota handle: {e:?}");
            s.expect("mo_create through a read-only quota handle", false);
        }
    }
    let _ = read_only.close();

    // mo_map: kind, flags, rights.
    s.call("mo_map on a console", Syscall::MoMap, map_args(c, 0, 1, at(0), 0), wk);
    s.call("mo_map on a memory quota", Syscall::MoMap, map_args(m, 0, 1, at(0), 0), wk);
    for flags in [1 << 2, 1 << 63, u64::MAX] {
        s.call("mo_map undefined flag", Syscall::MoMap, map_args(o, 0, 1, at(0), flags), ia);
    }
    let wx = MAP_WRITE | MAP_EXEC;
    s.call("mo_map W and X", Syscall::MoMap, map_args(o, 0, 1, at(0), wx), Error::WriteExecute);
    let all = Rights::MAP | Rights::READ | Rights::WRITE | Rights::EXEC;
    for (what, lacks, flags) in [
        ("mo_map without MAP", Rights::MAP, 0),
        ("mo_map without READ", Rights::READ, 0),
        ("mo_map writable without READ", Rights::READ, MAP_WRITE),
        ("mo_map writable without WRITE", Rights::WRITE, MAP_WRITE),
        ("mo_map executable without EXEC", Rights::EXEC, MAP_EXEC),
    ] {
        let weak = object.derive(all - lacks).expect("derive object");
        s.call(what, Syscall::MoMap, map_args(weak.raw().as_raw(), 0, 1, at(0), flags), mr);
        let _ = weak.close();
    }

    // The range: relative to the capability's, overflow-checked.
    s.call("mo_map 0 pages", Syscall::MoMap, map_args(o, 0, 0, at(0), 0), ia);
    for (what, offset, pages) in [
        ("mo_map offset one past the range", PAGES, 1),
        ("mo_map running past the range", PAGES - 1, 2),
        ("mo_map more pages than the range", 0, PAGES + 1),
        ("mo_map offset + pages overflowing", u64::MAX, 2),
        ("mo_map offset far past the range", u64::MAX, 1),
        ("mo_map huge pages", 1, u64::MAX),
    ] {
        s.call(what, Syscall::MoMap, map_args(o, offset, pages, at(0), 0), oor);
    }
    // Pages 2 and 3 of the object, able to derive and revoke.
    let middle = object.derive_pages(2, 2, all | Rights::GENERIC).expect("derive pages");
    let mid = middle.raw().as_raw();
    s.call("mo_map past a sub-range", Syscall::MoMap, map_args(mid, 2, 1, at(0), 0), oor);
    s.call("mo_map running past a sub-range", Syscall::MoMap, map_args(mid, 1, 2, at(0), 0), oor);
    s.call(
        "derive pages past the range",
        Syscall::CapDerive,
        [o, all.bits() as u64, libos::abi::args::DERIVE_RANGE, PAGES - 1, 2, 0],
        oor,
    );

    // The address: aligned, inside [USER_MIN, MAP_END), free.
    for vaddr in [at(0) + 8, at(0) + PAGE_SIZE / 2, u64::MAX] {
        s.call("mo_map unaligned", Syscall::MoMap, map_args(o, 0, 1, vaddr, 0), ia);
    }
    for (what, vaddr, pages) in [
        ("mo_map at 0", 0, 1),
        ("mo_map below USER_MIN", USER_MIN - PAGE_SIZE, 1),
        ("mo_map at MAP_END", MAP_END, 1),
        ("mo_map running past MAP_END", MAP_END - PAGE_SIZE, 2),
        ("mo_map at the top of user space", USER_END - PAGE_SIZE, 1),
        ("mo_map in the kernel half", KERNEL_ADDR, 1),
        ("mo_map non-canonical", NONCANONICAL, 1),
        ("mo_map wrapping", u64::MAX - PAGE_SIZE + 1, 2),
    ] {
        s.call(what, Syscall::MoMap, map_args(o, 0, pages, vaddr, 0), Error::BadAddress);
    }
    let in_use = Error::AddressInUse;
    s.call("mo_map over the program", Syscall::MoMap, map_args(o, 0, 1, USER_MIN, 0), in_use);
    s.call("mo_map over a mapped page", Syscall::MoMap, map_args(o, 0, 1, AREA, 0), in_use);
    // Only its second page is taken: refused whole.
    h.memory.map(at(8) + PAGE_SIZE, PAGE_SIZE, 0).expect("map a page");
    s.call(
        "mo_map running onto a mapped page",
        Syscall::MoMap,
        map_args(o, 0, 2, at(8), 0),
        in_use,
    );
    s.expect("the refusals above mapped nothing", free_page(h.memory, at(0)));
    s.expect("a refused mo_map maps none of its pages", free_page(h.memory, at(8)));

    // A good mapping; then everything else refused over it.
    let ok = |s: &mut Sweep, what: &str, a: [u64; 6]| s.expect(what, maps(a));
    ok(s, "mo_map the whole object", map_args(o, 0, PAGES, at(1), MAP_WRITE));
    let over = map_args(o, 0, 1, at(1) + PAGE_SIZE, 0);
    s.call("mo_map over a memory object", Syscall::MoMap, over, in_use);
    s.call(
        "mem_map over a memory object",
        Syscall::MemMap,
        [m, at(1) + PAGE_SIZE, PAGE_SIZE, 0, 0, 0],
        in_use,
    );
    s.call("ring_create over a memory object", Syscall::RingCreate, [m, 8, at(1), 0, 0, 0], in_use);
    // mem_unmap takes a page out of the middle (the record splits): only
    // that page is free again.
    // SAFETY: nothing of this program lives in the mapping.
    let cut = unsafe { libos::sys::mem_unmap(at(1) + PAGE_SIZE, PAGE_SIZE) };
    s.expect("mem_unmap one page of a memory object", cut == Ok(1));
    s.call("mo_map beside the hole", Syscall::MoMap, map_args(o, 0, 1, at(1), 0), in_use);
    ok(s, "mo_map into the hole", map_args(o, 1, 1, at(1) + PAGE_SIZE, 0));

    // W^X across mappings: page 0 writable (at(1)), so never executable;
    // page 3 executable, so never writable, through any capability.
    let we = Error::WriteExecute;
    if libos::sys::cap_kind(object.raw()).is_ok_and(|(_, r)| r.contains(Rights::EXEC)) {
        // SAFETY: as above.
        let _ = unsafe { libos::sys::mem_unmap(at(1) + 3 * PAGE_SIZE, PAGE_SIZE) };
        ok(s, "mo_map a page executable", map_args(o, 3, 1, at(2), MAP_EXEC));
        s.call(
            "mo_map exec, writable elsewhere",
            Syscall::MoMap,
            map_args(o, 0, 1, at(3), MAP_EXEC),
            we,
        );
        s.call(
            "mo_map writable, exec elsewhere",
            Syscall::MoMap,
            map_args(o, 3, 1, at(3), MAP_WRITE),
            we,
        );
        s.call(
            "mo_map writable, exec elsewhere, through a sub-range",
            Syscall::MoMap,
            map_args(mid, 1, 1, at(3), MAP_WRITE),
            we,
        );
        // Where they were refused, nothing was mapped: these succeed.
        ok(s, "mo_map a page executable twice", map_args(o, 3, 1, at(3), MAP_EXEC));
        ok(s, "mo_map an executable page read-only", map_args(o, 3, 1, at(3) + PAGE_SIZE, 0));
        peer_wx(s, h, object);
    } else {
        s.expect("the memory quota handle holds EXEC", false);
    }

    // Revoke: the sub-range's mapping goes with it, its handle is dead.
    ok(s, "mo_map through a sub-range", map_args(mid, 0, 1, at(4), 0));
    let child = middle.derive(Rights::MAP | Rights::READ).expect("derive");
    ok(s, "mo_map through a derived handle", map_args(child.raw().as_raw(), 0, 1, at(5), 0));
    let revoked = middle.revoke();
    s.expect("revoke a sub-range's descendants", revoked == Ok(1));
    let dead = map_args(child.raw().as_raw(), 0, 1, at(6), 0);
    s.call("mo_map through a revoked handle", Syscall::MoMap, dead, bh);
    s.expect("a revoked handle's mapping is gone", free_page(h.memory, at(5)));
    s.call("the revoker's mapping stays", Syscall::MoMap, map_args(o, 0, 1, at(4), 0), in_use);
    // Drop: the same.
    let _ = middle.close();
    s.call("mo_map through a dropped handle", Syscall::MoMap, map_args(mid, 0, 1, at(6), 0), bh);
    s.expect("a dropped handle's mapping is gone", free_page(h.memory, at(4)));
    s.call("the object's own mapping stays", Syscall::MoMap, map_args(o, 0, 1, at(1), 0), in_use);

    // The last capability: the object and its every mapping go.
    let _ = object.close();
    s.call("mo_map a closed object", Syscall::MoMap, map_args(o, 0, 1, at(6), 0), bh);
    s.expect("a closed object's mapping is gone", free_page(h.memory, at(1)));

    quota_cases(s, h.memory);

    // The first capability dropped while a sub-range of it lives: the
    // sub-range (now a root) still maps, and the object goes with it.
    // (The authority checks once called such a root forged.)
    let sub = mo_create(h.memory, 2).and_then(|first| {
        let first = Handle::<MemoryObject>::from_raw(first);
        let sub = first.derive_pages(1, 1, Rights::MAP | Rights::READ | Rights::DERIVE);
        let _ = first.close();
        sub
    });
    match sub {
        Ok(sub) => {
            let a = map_args(sub.raw().as_raw(), 0, 1, at(9), 0);
            ok(s, "mo_map a sub-range whose first capability was dropped", a);
            let _ = sub.close();
            s.expect("its mapping goes with the last capability", free_page(h.memory, at(9)));
        }
        Err(e) => {
            println!("sweep: a sub-range of a new object: {e:?}");
            s.expect("derive a sub-range of a new object", false);
        }
    }
}

/// Quota accounting: an object is charged its pages when made, mapping it
/// charges nothing (the page tables at `at(10..)` exist already), and the
/// end of its last capability gives every page back, whatever was mapped,
/// derived and revoked in between.
fn quota_cases(s: &mut Sweep, memory: Handle<Memory>) {
    let before = free_pages(memory);
    let Ok(first) = mo_create(memory, 8) else {
        s.expect("mo_create 8 pages", false);
        return;
    };
    let first = Handle::<MemoryObject>::from_raw(first);
    s.expect("mo_create charges its pages", free_pages(memory) == before - 8);
    let all = Rights::MAP | Rights::READ | Rights::WRITE | Rights::GENERIC;
    let o = first.raw().as_raw();
    s.expect("mo_map for the quota", maps(map_args(o, 0, 8, at(10), MAP_WRITE)));
    let sub = first.derive_pages(2, 4, all);
    let sub_child = sub.and_then(|sub| sub.derive(Rights::MAP | Rights::READ));
    if let (Ok(sub), Ok(child)) = (sub, sub_child) {
        s.expect("mo_map a sub-range", maps(map_args(sub.raw().as_raw(), 0, 4, at(11), 0)));
        s.expect("mo_map its child", maps(map_args(child.raw().as_raw(), 1, 2, at(12), 0)));
        s.expect("mapping charges nothing", free_pages(memory) == before - 8);
        let _ = first.close();
        s.expect("revoke the sub-range's child", sub.revoke() == Ok(1));
        s.expect("pages stay charged while a capability lives", free_pages(memory) == before - 8);
        let _ = sub.close();
    } else {
        s.expect("derive a sub-range and its child", false);
        let _ = first.close();
    }
    s.expect("the last capability gives every page back", free_pages(memory) == before);
}

/// W^X against another process: with page 0 of `object` writable and
/// page 3 executable here, the peer may map neither the other way; it
/// maps page 1 writable itself, and once it is dead page 1 may be
/// executable here. Its death leaves our quota as it was.
fn peer_wx(s: &mut Sweep, h: &Held, object: Handle<MemoryObject>) {
    let rights = Rights::MAP | Rights::READ | Rights::WRITE | Rights::EXEC;
    let before = free_pages(h.memory);
    let child = Spawn::new(h.peer)
        .quota_pages(128)
        .args("mo-wx=1")
        .without_console()
        .grant(object, rights, "object")
        .and_then(|sp| sp.spawn());
    let status = child.and_then(|c| {
        let status = c.wait();
        let _ = c.0.close();
        status
    });
    if !status.is_ok_and(|st| st.success()) {
        println!("sweep: the peer's mo_map cases: {status:?} (its exit code names the case)");
    }
    s.expect("the peer's mo_map cases", status.is_ok_and(|st| st.success()));
    // Its quota, page tables included, came back; our object's pages
    // stayed charged to us alone.
    s.expect("a dead peer that mapped our object leaks nothing", free_pages(h.memory) == before);
    let o = object.raw().as_raw();
    let exec = maps(map_args(o, 1, 1, at(7), MAP_EXEC));
    s.expect("a dead peer's writable mapping is gone", exec);
}
