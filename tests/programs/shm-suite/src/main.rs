//! Memory-object test cases, one per run (`case=<name>`), each printing
//! `shm-suite: <case> ok` or the first thing that went wrong (exit 1).
//! The other side of the cases that need one is `shm-suite-peer`
//! (`mode=<name>`).
//!
//! - `share`: a page written here is read by a peer that mapped a
//!   read-only copy (which cannot map it writable), and a peer's write
//!   through a writable copy is seen here; a derived sub-range maps only
//!   its pages;
//! - `revoke`: a peer maps a copy and waits; the revoke here unmaps it
//!   before it returns: the peer's next checked read says `Revoked`, and
//!   its next raw touch of the old address kills it alone with a page
//!   fault naming the revoked object; this side's own mapping lives on;
//! - `bad`: every bad input of `mo_create` and `mo_map` gets its own
//!   error, and changes nothing;
//! - `quota`: creating, mapping, deriving, unmapping part of a mapping,
//!   granting, revoking, dropping, and a peer dying with mappings, in
//!   several orders, leak no page of the quota;
//! - `disk`: sectors read from the disk straight into a shared buffer are
//!   seen by a peer through its mapping;
//! - `bulk`: 4 MiB through the bulk channel from a peer, checked; a peer
//!   that dies mid-stream gives `PeerGone` after its bytes; a peer that
//!   writes a garbage index gives `Corrupt`;
//! - `lease`: a call lends a buffer to a server, which reads the request
//!   and writes its answer there; after the call its mapping is gone; a
//!   memory-object capability moved in a message takes its mappings with
//!   it;
//! - `channel-undo`: a `bulk::channel` that fails half-way (the quota
//!   spent after the ring's object, or after its first notification)
//!   gives back everything it made;
//! - `channel-drop`: dropping both ends of a channel gives its pages and
//!   notifications back to the quota;
//! - `disk-revoke`: a peer reads the disk into its mapping of our object
//!   in a loop; the revoke (and the object freed, our handles closed)
//!   makes its read `BadAddress`, and leaks nothing;
//! - `hog`: a peer maps one page of its own object as often as the kernel
//!   lets it (`MAX_MAPPINGS_PER_PROCESS`, then `OutOfMemory`); a map here
//!   still works;
//! - `recv-revoke`: blocked receiving into a mapping whose capability a
//!   peer then revokes, a long message with a handle still comes, with its
//!   handle, saying its data was not written (`TAG_LONG` clear,
//!   `TAG_TRUNCATED`);
//! - `map-huge`: a `SharedMapping::map` of more pages than any object has
//!   is refused and leaves later mappings working.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use libos::abi::args::{MAP_EXEC, MAP_WRITE, MAX_OBJECT_PAGES};
use libos::abi::ipc::TAG_LONG;
use libos::abi::layout::{MAP_END, PAGE_SIZE, USER_MIN};
use libos::bulk::{self, BulkError};
use libos::ipc::{Msg, create_endpoint};
use libos::kind::{Console, DiskRange, Endpoint, Memory, MemoryObject, Notification, Timer};
use libos::process::{Child, Spawn};
use libos::sys::shm::{SharedMapping, mo_create, mo_map};
use libos::{Error, ExitStatus, Handle, Rights, Start, println};

libos::main!(main);

type Outcome = Result<(), String>;

/// A peer's quota, in pages (its stack alone is 64).
const PEER_PAGES: u64 = 512;

fn main(start: &Start) -> i32 {
    let case = start.arg("case").unwrap_or("");
    let r = match case {
        "share" => share(start),
        "revoke" => revoke(start),
        "bad" => bad(start),
        "quota" => quota(start),
        "disk" => disk(start),
        "bulk" => bulk_case(start),
        "lease" => lease(start),
        "channel-undo" => channel_undo(start),
        "channel-drop" => channel_drop(start),
        "disk-revoke" => disk_revoke(start),
        "map-huge" => map_huge(start),
        "hog" => hog(start),
        "recv-revoke" => recv_revoke(start),
        "revoke-race" => revoke_race(start),
        _ => Err(format!("unknown case {case:?}")),
    };
    match r {
        Ok(()) => {
            println!("shm-suite: {case} ok");
            0
        }
        Err(e) => {
            println!("shm-suite: {case}: {e}");
            1
        }
    }
}

fn want<T: core::fmt::Debug + PartialEq>(what: &str, got: T, want: T) -> Outcome {
    if got == want { Ok(()) } else { Err(format!("{what}: got {got:?}, want {want:?}")) }
}

fn ok<T, E: core::fmt::Debug>(what: &str, r: Result<T, E>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e:?}"))
}

fn memory(start: &Start) -> Handle<Memory> {
    start.handle::<Memory>("memory").expect("memory")
}

/// The byte at offset `i` of the test pattern `seed`.
fn pattern(seed: u64, i: usize) -> u8 {
    ((i as u64).wrapping_mul(31).wrapping_add(seed.wrapping_mul(7)) >> 2) as u8
}

fn fill_pattern(seed: u64, out: &mut [u8], base: usize) {
    for (i, b) in out.iter_mut().enumerate() {
        *b = pattern(seed, base + i);
    }
}

/// What a peer is given.
#[derive(Default)]
struct PeerGrants {
    object: Option<(Handle<MemoryObject>, Rights)>,
    ready: Option<Handle<Notification>>,
    go: Option<Handle<Notification>>,
    endpoint: Option<Handle<Endpoint>>,
    extra: [Option<(libos::abi::RawHandle, Rights, &'static str)>; 3],
}

/// Starts `shm-suite-peer` in `mode` with `args` and a quota of `pages`.
fn peer(start: &Start, mode: &str, pages: u64, g: PeerGrants) -> Result<Child, String> {
    peer_with(start, mode, "", pages, g)
}

/// [`peer`], with more arguments (`key=value ...`) after the mode.
fn peer_with(
    start: &Start,
    mode: &str,
    more: &str,
    pages: u64,
    g: PeerGrants,
) -> Result<Child, String> {
    let image = start
        .images()
        .find(|&(n, _)| n == "shm-suite-peer")
        .map(|(_, h)| h)
        .ok_or("no shm-suite-peer image")?;
    let args = if more.is_empty() { format!("mode={mode}") } else { format!("mode={mode} {more}") };
    let mut s = Spawn::new(image).quota_pages(pages).args(&args);
    let console = start.handle::<Console>("console").ok_or("no console")?;
    s = ok("grant console", s.grant(console, Rights::WRITE, "console"))?;
    if let Some(t) = start.handle::<Timer>("timer") {
        s = ok("grant timer", s.grant(t, Rights::READ | Rights::WAIT, "timer"))?;
    }
    if let Some((o, rights)) = g.object {
        s = ok("grant object", s.grant(o, rights, "object"))?;
    }
    if let Some(n) = g.ready {
        s = ok("grant ready", s.grant(n, Rights::SEND, "ready"))?;
    }
    if let Some(n) = g.go {
        s = ok("grant go", s.grant(n, Rights::WAIT, "go"))?;
    }
    if let Some(ep) = g.endpoint {
        s = ok("grant endpoint", s.grant(ep, Rights::RECV, "ep"))?;
    }
    for (h, rights, role) in g.extra.into_iter().flatten() {
        s = ok("grant extra", s.grant(Handle::<Notification>::from_raw(h), rights, role))?;
    }
    ok("spawn the peer", s.spawn())
}

fn exited_ok(what: &str, child: Child) -> Outcome {
    want(what, child.wait(), Ok(ExitStatus::Exited(0)))
}

fn notification(start: &Start) -> Result<Handle<Notification>, String> {
    ok("notify_create", Handle::<Notification>::create(memory(start)))
}

fn share(start: &Start) -> Outcome {
    let object = ok("mo_create", Handle::<MemoryObject>::create(memory(start), 4))?;
    want("pages", object.pages(), Ok(4))?;
    let rights = Rights::MAP | Rights::READ | Rights::WRITE | Rights::EXEC | Rights::GENERIC;
    want("rights of a new object", object.info().map(|i| i.rights()), Ok(rights))?;
    let buf = ok("map writable", object.map(true))?;
    let mut page = vec![0u8; 4 * PAGE_SIZE as usize];
    want(
        "a new object is zeroed",
        buf.read(0, &mut page).map(|()| page.iter().all(|&b| b == 0)),
        Ok(true),
    )?;
    fill_pattern(1, &mut page, 0);
    ok("write", buf.write(0, &page))?;

    // A read-only copy: the peer reads the pattern, cannot map writable.
    let ro = ok("derive read-only", object.derive(Rights::MAP | Rights::READ | Rights::GRANT))?;
    let g = PeerGrants { object: Some((ro, Rights::MAP | Rights::READ)), ..Default::default() };
    exited_ok("the reading peer", peer(start, "read", PEER_PAGES, g)?)?;

    // A writable copy: the peer writes pattern 2 over page 1 only.
    let g = PeerGrants {
        object: Some((object, Rights::MAP | Rights::READ | Rights::WRITE)),
        ..Default::default()
    };
    exited_ok("the writing peer", peer(start, "write", PEER_PAGES, g)?)?;
    let mut got = vec![0u8; PAGE_SIZE as usize];
    let mut expect = vec![0u8; PAGE_SIZE as usize];
    ok("read page 1", buf.read(PAGE_SIZE as usize, &mut got))?;
    fill_pattern(2, &mut expect, 0);
    want("the peer's write is seen here", got == expect, true)?;
    ok("read page 0", buf.read(0, &mut got))?;
    fill_pattern(1, &mut expect, 0);
    want("page 0 is unchanged", got == expect, true)?;

    // A sub-range: pages 2..4 only; mapping page 2 of it is out of range.
    let sub = ok(
        "derive pages 2..4",
        object.derive_pages(2, 2, Rights::MAP | Rights::READ | Rights::DERIVE),
    )?;
    want("sub-range info", sub.info().map(|i| (i.first, i.count)), Ok((2, 2)))?;
    let sub_buf = ok("map the sub-range", sub.map(false))?;
    ok("read the sub-range", sub_buf.read(0, &mut got))?;
    fill_pattern(1, &mut expect, 2 * PAGE_SIZE as usize);
    want("the sub-range starts at page 2", got == expect, true)?;
    want("map past the sub-range", mo_map(sub, 2, 1, 0x5000_0000_0000, 0), Err(Error::OutOfRange))?;
    want("a sub-range cannot widen", sub.derive_pages(0, 3, Rights::MAP), Err(Error::OutOfRange))?;
    drop(sub_buf);
    drop(buf);
    ok("close", object.close())
}

fn revoke(start: &Start) -> Outcome {
    let object = ok("mo_create", Handle::<MemoryObject>::create(memory(start), 2))?;
    let buf = ok("map", object.map(true))?;
    let mut data = vec![0u8; 2 * PAGE_SIZE as usize];
    fill_pattern(3, &mut data, 0);
    ok("write", buf.write(0, &data))?;
    let lent = ok(
        "derive what is lent",
        object.derive(Rights::MAP | Rights::READ | Rights::WRITE | Rights::GENERIC),
    )?;
    let ready = notification(start)?;
    let g = PeerGrants {
        object: Some((lent, Rights::MAP | Rights::READ | Rights::WRITE)),
        ready: Some(ready),
        ..Default::default()
    };
    let child = peer(start, "hold", PEER_PAGES, g)?;
    want("the peer mapped and read", ready.wait(), Ok(1))?;
    // One capability in the peer's table died, and its mapping with it.
    want("revoke", lent.revoke(), Ok(1))?;
    let status = ok("wait for the peer", child.wait())?;
    want("the peer died of a page fault", status, ExitStatus::Faulted(14))?;
    // Ours lives on, with what the peer wrote before the revoke.
    let mut got = vec![0u8; 2 * PAGE_SIZE as usize];
    ok("read after the revoke", buf.read(0, &mut got))?;
    fill_pattern(4, &mut data[..16], 0);
    want("the peer's last write is here", got == data, true)?;
    ok("close lent", lent.close())?;
    drop(buf);
    ok("close", object.close())
}

fn bad(start: &Start) -> Outcome {
    let mem = memory(start);
    let console = start.handle::<Console>("console").ok_or("no console")?;
    want("create 0 pages", mo_create(mem, 0).map(drop), Err(Error::InvalidArgument))?;
    want(
        "create too many pages",
        mo_create(mem, MAX_OBJECT_PAGES + 1).map(drop),
        Err(Error::OutOfRange),
    )?;
    want(
        "create from a console",
        mo_create(Handle::from_raw(console.raw()), 1).map(drop),
        Err(Error::WrongKind),
    )?;
    let no_map = ok("derive memory without MAP", mem.derive(Rights::READ | Rights::DERIVE))?;
    want("create without MAP", mo_create(no_map, 1).map(drop), Err(Error::MissingRight))?;

    let o = ok("mo_create", Handle::<MemoryObject>::create(mem, 4))?;
    let at = 0x5000_0000_0000u64;
    want("undefined flag", mo_map(o, 0, 1, at, 4), Err(Error::InvalidArgument))?;
    want("W+X", mo_map(o, 0, 1, at, MAP_WRITE | MAP_EXEC), Err(Error::WriteExecute))?;
    want("0 pages", mo_map(o, 0, 0, at, 0), Err(Error::InvalidArgument))?;
    want("past the object", mo_map(o, 3, 2, at, 0), Err(Error::OutOfRange))?;
    want("offset past the object", mo_map(o, 4, 1, at, 0), Err(Error::OutOfRange))?;
    want("overflowing range", mo_map(o, u64::MAX, 2, at, 0), Err(Error::OutOfRange))?;
    want("overflowing pages", mo_map(o, 1, u64::MAX, at, 0), Err(Error::OutOfRange))?;
    want("unaligned address", mo_map(o, 0, 1, at + 8, 0), Err(Error::InvalidArgument))?;
    want("below USER_MIN", mo_map(o, 0, 1, USER_MIN - PAGE_SIZE, 0), Err(Error::BadAddress))?;
    want("null page", mo_map(o, 0, 1, 0, 0), Err(Error::BadAddress))?;
    want("across MAP_END", mo_map(o, 0, 2, MAP_END - PAGE_SIZE, 0), Err(Error::BadAddress))?;
    want("the stack", mo_map(o, 0, 1, MAP_END + 0x10_0000, 0), Err(Error::BadAddress))?;
    want("non-canonical", mo_map(o, 0, 1, 0x0000_8000_0000_0000, 0), Err(Error::BadAddress))?;
    want("kernel half", mo_map(o, 0, 1, 0xffff_8000_0000_0000, 0), Err(Error::BadAddress))?;
    want("address wraps", mo_map(o, 0, 2, !(PAGE_SIZE - 1), 0), Err(Error::BadAddress))?;
    // Over the program's own text, and over a page mapped here already.
    want("over the program", mo_map(o, 0, 1, USER_MIN, 0), Err(Error::AddressInUse))?;
    ok("map page 0", mo_map(o, 0, 1, at, MAP_WRITE))?;
    want("over the same page", mo_map(o, 1, 2, at, 0), Err(Error::AddressInUse))?;
    // W^X across mappings: page 0 is writable at `at`.
    want(
        "page 0 executable elsewhere",
        mo_map(o, 0, 1, at + 0x10_0000, MAP_EXEC),
        Err(Error::WriteExecute),
    )?;
    ok("page 1 executable", mo_map(o, 1, 1, at + 0x20_0000, MAP_EXEC))?;
    want(
        "page 1 writable elsewhere",
        mo_map(o, 1, 1, at + 0x30_0000, MAP_WRITE),
        Err(Error::WriteExecute),
    )?;
    ok("page 1 read-only elsewhere", mo_map(o, 1, 1, at + 0x30_0000, 0))?;

    // Rights.
    let r = ok("derive MAP|READ", o.derive(Rights::MAP | Rights::READ))?;
    want(
        "writable without WRITE",
        mo_map(r, 2, 1, at + 0x40_0000, MAP_WRITE),
        Err(Error::MissingRight),
    )?;
    want(
        "executable without EXEC",
        mo_map(r, 2, 1, at + 0x40_0000, MAP_EXEC),
        Err(Error::MissingRight),
    )?;
    let no_map = ok("derive READ", o.derive(Rights::READ | Rights::WRITE))?;
    want("map without MAP", mo_map(no_map, 2, 1, at + 0x40_0000, 0), Err(Error::MissingRight))?;
    want("derive more rights", r.derive(Rights::MAP | Rights::WRITE), Err(Error::MissingRight))?;
    want(
        "a console as object",
        mo_map(Handle::from_raw(console.raw()), 0, 1, at + 0x40_0000, 0),
        Err(Error::WrongKind),
    )?;
    // A revoked copy, and a dropped one.
    let child = ok("derive", o.derive(Rights::MAP | Rights::READ | Rights::GENERIC))?;
    let grandchild = ok("derive again", child.derive(Rights::MAP | Rights::READ))?;
    ok("revoke", child.revoke())?;
    want("a revoked handle", mo_map(grandchild, 2, 1, at + 0x40_0000, 0), Err(Error::BadHandle))?;
    ok("close", child.close())?;
    want("a dropped handle", mo_map(child, 2, 1, at + 0x40_0000, 0), Err(Error::BadHandle))?;
    // None of the refused calls mapped anything: the address is free.
    ok("map where the refused calls aimed", mo_map(o, 2, 1, at + 0x40_0000, 0))?;
    ok("close r", r.close())?;
    ok("close no_map", no_map.close())?;
    ok("close", o.close())
}

/// How many pages the quota behind `mem` has left: fills it with memory
/// objects, largest first, and drops them.
fn free_pages(mem: Handle<Memory>) -> Result<u64, String> {
    let mut held = Vec::new();
    let mut total = 0;
    let mut size = MAX_OBJECT_PAGES;
    while size >= 1 {
        match mo_create(mem, size) {
            Ok(h) => {
                held.push(h);
                total += size;
            }
            Err(Error::OutOfMemory) => size /= 4,
            Err(e) => return Err(format!("fill with objects of {size} pages: {e:?}")),
        }
    }
    for h in held {
        ok("drop a filler", libos::sys::cap_drop(h))?;
    }
    Ok(total)
}

fn quota(start: &Start) -> Outcome {
    let mem = memory(start);
    let at = 0x5000_0000_0000u64;
    // Warm up what stays charged once made, so that it is in `before`: the
    // heap's growth, and the page tables of the places mapped below.
    drop(vec![0u8; 1 << 20]);
    let ready = notification(start)?;
    let go = notification(start)?;
    let warm = ok("create", Handle::<MemoryObject>::create(mem, 1))?;
    ok("map once", mo_map(warm, 0, 1, at, 0))?;
    drop(ok("map once more", warm.map(false))?);
    ok("close", warm.close())?;
    free_pages(mem)?;
    let before = free_pages(mem)?;

    // Map, derive, map the child, cut a hole in a mapping, drop in an odd
    // order (the object's own handle first).
    let o = ok("create", Handle::<MemoryObject>::create(mem, 8))?;
    ok("map all", mo_map(o, 0, 8, at, MAP_WRITE))?;
    let c = ok("derive", o.derive_pages(2, 4, Rights::MAP | Rights::READ | Rights::DERIVE))?;
    ok("map the child", mo_map(c, 0, 4, at + 0x10_0000, 0))?;
    ok("unmap a hole", unmap(at + 2 * PAGE_SIZE, 3 * PAGE_SIZE))?;
    want("the hole leaves 5 pages there", unmap(at, 8 * PAGE_SIZE), Ok(5))?;
    ok("map again", mo_map(o, 0, 8, at, MAP_WRITE))?;
    ok("close the object's handle", o.close())?;
    ok("close the child", c.close())?;
    want("nothing stays mapped", unmap(at, 8 * PAGE_SIZE), Ok(0))?;
    want("after map/derive/unmap/drop", free_pages(mem)?, before)?;

    // A peer maps our object and one of its own, writes, and exits
    // holding both.
    let o = ok("create", Handle::<MemoryObject>::create(mem, 4))?;
    let g = PeerGrants {
        object: Some((o, Rights::MAP | Rights::READ | Rights::WRITE)),
        ..Default::default()
    };
    exited_ok("the peer", peer(start, "quota", PEER_PAGES, g)?)?;
    let buf = ok("map", o.map(false))?;
    let mut b = [0u8; 4];
    ok("read", buf.read(0, &mut b))?;
    want("the peer's write", b, *b"peer")?;
    drop(buf);
    ok("close", o.close())?;
    want("after a peer died with mappings", free_pages(mem)?, before)?;

    // Revoke while the peer lives: the frames go back at once, the
    // peer's quota when it ends.
    let o = ok("create", Handle::<MemoryObject>::create(mem, 16))?;
    let g = PeerGrants {
        object: Some((o, Rights::MAP | Rights::READ)),
        ready: Some(ready),
        go: Some(go),
        ..Default::default()
    };
    let child = peer(start, "wait", PEER_PAGES, g)?;
    want("the peer mapped", ready.wait(), Ok(1))?;
    ok("revoke", o.revoke())?;
    ok("close", o.close())?;
    want("while the peer lives (its quota is out)", free_pages(mem)?, before - PEER_PAGES)?;
    ok("let the peer go", go.signal())?;
    exited_ok("the waiting peer", child)?;
    want("after the peer ended", free_pages(mem)?, before)
}

fn unmap(vaddr: u64, len: u64) -> Result<u64, Error> {
    // SAFETY: the suite never makes Rust references into these addresses.
    #[allow(unsafe_code)]
    unsafe {
        libos::sys::mem_unmap(vaddr, len)
    }
}

fn disk(start: &Start) -> Outcome {
    let range = start.handle::<DiskRange>("disk").ok_or("no disk")?;
    let mut data = vec![0u8; 64 * 1024];
    fill_pattern(5, &mut data, 0);
    ok("write the disk", range.write(0, &data))?;
    let object = ok("create", Handle::<MemoryObject>::create(memory(start), 16))?;
    let buf = ok("map", object.map(true))?;
    want("read into the shared buffer", buf.read_from_disk(range, 0, 0, data.len()), Ok(128))?;
    let g = PeerGrants { object: Some((object, Rights::MAP | Rights::READ)), ..Default::default() };
    exited_ok("the peer checking the disk's bytes", peer(start, "disk", PEER_PAGES, g)?)?;
    // And back: the shared bytes written to the disk at sector 1000.
    want("write from the shared buffer", buf.write_to_disk(range, 1000, 0, 4096), Ok(8))?;
    let mut back = vec![0u8; 4096];
    ok("read back", range.read(1000, &mut back))?;
    want("the disk has the shared bytes", back[..] == data[..4096], true)?;
    drop(buf);
    ok("close", object.close())
}

/// Starts a peer in `mode` as the sender of a bulk channel, handing it
/// `parts` (our copies are closed, so only the peer can signal our side).
fn bulk_peer(start: &Start, mode: &str, parts: bulk::SenderParts) -> Result<Child, String> {
    let raw = parts.raw();
    let extra = [
        Some((raw[0], Rights::MAP | Rights::READ | Rights::WRITE, "bulk-memory")),
        Some((raw[1], Rights::SEND, "bulk-data")),
        Some((raw[2], Rights::WAIT, "bulk-space")),
    ];
    let child = peer(start, mode, PEER_PAGES, PeerGrants { extra, ..Default::default() })?;
    ok("close our copies", parts.close())?;
    Ok(child)
}

fn bulk_case(start: &Start) -> Outcome {
    let mem = memory(start);
    // 4 MiB through a 64 KiB ring.
    let (mut rx, parts) = ok("channel", bulk::channel(mem, 16))?;
    want("capacity", rx.capacity(), 16 * PAGE_SIZE)?;
    let child = bulk_peer(start, "bulk-send", parts)?;
    let mut got = 0usize;
    let mut chunk = vec![0u8; 10_000];
    loop {
        let n = ok("recv", rx.recv(&mut chunk))?;
        if n == 0 {
            break;
        }
        for (i, &b) in chunk[..n].iter().enumerate() {
            if b != pattern(6, got + i) {
                return Err(format!("byte {} is {b}, want {}", got + i, pattern(6, got + i)));
            }
        }
        got += n;
    }
    want("bytes received", got, 4 << 20)?;
    exited_ok("the sending peer", child)?;

    // A sender that dies: its bytes, then PeerGone.
    let (mut rx, parts) = ok("channel", bulk::channel(mem, 4))?;
    let child = bulk_peer(start, "bulk-die", parts)?;
    let mut buf = vec![0u8; 1000];
    ok("the dead peer's bytes", rx.recv_exact(&mut buf))?;
    want("then", rx.recv(&mut buf), Err(BulkError::PeerGone))?;
    want("the dying peer", child.wait(), Ok(ExitStatus::Exited(3)))?;

    // A sender that writes a garbage index.
    let (mut rx, parts) = ok("channel", bulk::channel(mem, 4))?;
    let child = bulk_peer(start, "bulk-garbage", parts)?;
    want("a garbage tail", rx.recv(&mut buf), Err(BulkError::Corrupt))?;
    want("and again", rx.recv(&mut buf), Err(BulkError::Corrupt))?;
    exited_ok("the garbage peer", child)
}

fn lease(start: &Start) -> Outcome {
    let mem = memory(start);
    let ep = ok("endpoint", create_endpoint(mem))?;
    let g = PeerGrants { endpoint: Some(ep), ..Default::default() };
    let child = peer(start, "lease-server", PEER_PAGES, g)?;
    let object = ok("create", Handle::<MemoryObject>::create(mem, 64))?;
    let buf = ok("map", object.map(true))?;
    let mut req = vec![0u8; 256 * 1024];
    fill_pattern(7, &mut req, 0);
    ok("write the request", buf.write(0, &req))?;
    let sum: u64 = req.iter().map(|&b| u64::from(b)).sum();
    let answer =
        ok("call with a lease", libos::shm::call_with_lease(ep, &[req.len() as u64], &buf, true))?;
    want("the server's sum", answer.words().first().copied(), Some(sum))?;
    let mut back = [0u8; 6];
    ok("read the answer", buf.read(0, &mut back))?;
    want("the answer written in the lent buffer", &back, b"served")?;
    // The server's mapping ended with the call.
    let check = ok("ask the server", ep.call(&Msg::word(0)))?;
    want("the server's lease is revoked", check.words().first().copied(), Some(1))?;

    // A capability moved in a message takes its mappings with it.
    let mine = ok("derive", object.derive(Rights::MAP | Rights::READ | Rights::GRANT))?;
    let mapping = ok("map the copy", SharedMapping::map(mine, 0, 1, 0))?;
    want("the copy maps", mapping.alive(), true)?;
    let m = ok("message", Msg::word(1).with(mine).map(Msg::moving))?;
    let moved = ok("move it to the server", ep.call(&m))?;
    want("the server mapped it", moved.words().first().copied(), Some(1))?;
    want("our handle moved", mapping.alive(), false)?;
    want("our mapping went with it", unmap(mapping.addr(), PAGE_SIZE), Ok(0))?;
    ok("stop the server", ep.call(&Msg::word(2)))?;
    exited_ok("the server", child)?;
    drop(buf);
    ok("close", object.close())
}

/// Warms up what stays charged once made (the heap's growth, the page
/// table of the first place in `SHM_AREA`), then measures the quota.
fn quota_after_warm_up(mem: Handle<Memory>) -> Result<u64, String> {
    drop(vec![0u8; 1 << 20]);
    let warm = ok("create", Handle::<MemoryObject>::create(mem, 1))?;
    drop(ok("map once", warm.map(false))?);
    ok("close", warm.close())?;
    free_pages(mem)?;
    free_pages(mem)
}

/// Holds objects that take all but `left` pages of `mem`'s quota (whose
/// free pages are `free`).
fn fill_but(
    mem: Handle<Memory>,
    free: u64,
    left: u64,
) -> Result<Vec<Handle<MemoryObject>>, String> {
    let mut held = Vec::with_capacity(64);
    let mut rest = free - left;
    while rest > 0 {
        let n = rest.min(MAX_OBJECT_PAGES);
        held.push(ok("a filler", Handle::<MemoryObject>::create(mem, n))?);
        rest -= n;
    }
    Ok(held)
}

fn channel_undo(start: &Start) -> Outcome {
    let mem = memory(start);
    let before = quota_after_warm_up(mem)?;
    // Room for the ring's object (4 + 1 pages) alone, then for it and
    // one notification.
    for left in [5, 6] {
        let held = fill_but(mem, before, left)?;
        want(
            "a channel with no room for its notifications",
            bulk::channel(mem, 4).map(drop),
            Err(Error::OutOfMemory),
        )?;
        for h in held {
            ok("drop a filler", h.close())?;
        }
        want("pages back after the failed channel", free_pages(mem)?, before)?;
    }
    Ok(())
}

fn channel_drop(start: &Start) -> Outcome {
    let mem = memory(start);
    let before = quota_after_warm_up(mem)?;
    let (mut rx, parts) = ok("channel", bulk::channel(mem, 4))?;
    let mut tx = ok("the sending end", bulk::Sender::new(parts.memory, parts.data, parts.space))?;
    ok("send", tx.send(b"bytes"))?;
    let mut got = [0u8; 5];
    ok("recv", rx.recv_exact(&mut got))?;
    want("what came through", &got, b"bytes")?;
    drop(tx);
    drop(rx);
    want("pages back after both ends dropped", free_pages(mem)?, before)
}

fn map_huge(start: &Start) -> Outcome {
    let o = ok("create", Handle::<MemoryObject>::create(memory(start), 1))?;
    want(
        "more pages than any object",
        SharedMapping::map(o, 0, 1 << 40, 0).map(drop),
        Err(Error::OutOfRange),
    )?;
    let m = ok("a mapping after the refused one", SharedMapping::map(o, 0, 1, 0))?;
    want("it maps", m.alive(), true)?;
    drop(m);
    ok("close", o.close())
}

fn disk_revoke(start: &Start) -> Outcome {
    let mem = memory(start);
    let range = start.handle::<DiskRange>("disk").ok_or("no disk")?;
    let before = quota_after_warm_up(mem)?;
    let object = ok("create", Handle::<MemoryObject>::create(mem, 64))?;
    let lent = ok(
        "derive what is lent",
        object.derive(Rights::MAP | Rights::READ | Rights::WRITE | Rights::GRANT),
    )?;
    let ready = notification(start)?;
    let g = PeerGrants {
        object: Some((lent, Rights::MAP | Rights::READ | Rights::WRITE)),
        ready: Some(ready),
        extra: [Some((range.raw(), Rights::READ, "disk")), None, None],
        ..Default::default()
    };
    let child = peer(start, "disk-revoke", PEER_PAGES, g)?;
    want("the peer mapped", ready.wait(), Ok(1))?;
    // Most likely now the peer is blocked in a read into its mapping.
    want("revoke", object.revoke(), Ok(2))?;
    ok("close", object.close())?;
    exited_ok("the reading peer", child)?;
    ok("close ready", ready.close())?;
    want("after the peer ended", free_pages(mem)?, before)
}

fn hog(start: &Start) -> Outcome {
    let mem = memory(start);
    let ready = notification(start)?;
    let go = notification(start)?;
    let g = PeerGrants { ready: Some(ready), go: Some(go), ..Default::default() };
    let child = peer(start, "hog", PEER_PAGES, g)?;
    want("the hog mapped", ready.wait(), Ok(1))?;
    let o = ok("create", Handle::<MemoryObject>::create(mem, 1))?;
    let mapped = SharedMapping::map(o, 0, 1, 0).map(drop);
    ok("let the hog go", go.signal())?;
    exited_ok("the hog", child)?;
    want("a map while another process holds its mappings", mapped, Ok(()))?;
    ok("close", o.close())
}

fn recv_revoke(start: &Start) -> Outcome {
    let mem = memory(start);
    let ep = ok("endpoint", create_endpoint(mem))?;
    let go = notification(start)?;
    let g = PeerGrants {
        go: Some(go),
        extra: [Some((ep.raw(), Rights::SEND, "ep")), None, None],
        ..Default::default()
    };
    let child = peer(start, "recv-revoke", PEER_PAGES, g)?;
    let first = ok("receive the copy", ep.recv())?;
    let copy: Handle<MemoryObject> = first.handle(0).ok_or("no copy")?;
    let m = ok("map the copy", SharedMapping::map(copy, 0, 1, MAP_WRITE))?;
    ok("let the peer go", go.signal())?;
    // The peer revokes the copy while this waits, then sends.
    let got = m.recv_into(ep, 0, 64);
    let got = got.map(|r| (r.handle_count(), r.len(), r.truncated(), r.tag().has(TAG_LONG)));
    // Not waited for if the receive failed: the peer would wait in its
    // send for ever (it ends when this does).
    if got.is_err() {
        return Err(format!("the receive: {got:?}"));
    }
    exited_ok("the peer", child)?;
    // Its handle, its length, and word that none of its data was written.
    want("the message after the revoke", got, Ok((1, 16, true, false)))
}

/// Rounds of `revoke-race`.
const RACE_ROUNDS: u64 = 24;

/// Revocation under concurrency (issue 16): a peer stores to a page of a
/// memory object in a tight loop, with no syscall, while this process
/// revokes the peer's capability after a varying delay and then raises a
/// flag in a second shared page. Before each store the peer reads the
/// flag: a store that succeeds after it saw the flag was made after
/// `revoke` returned, through a translation some CPU kept (a missing TLB
/// shootdown). The peer must instead die of a page fault, every round.
/// With several CPUs the two run at once; with one, by turns. Then the
/// same with a disk range read in a loop (`RACE_DISK_ROUNDS`): no read
/// begun after the revoke returned succeeds.
fn revoke_race(start: &Start) -> Outcome {
    let flag_object = ok("mo_create the flag", Handle::<MemoryObject>::create(memory(start), 1))?;
    let flag =
        ok("map the flag", SharedMapping::map(flag_object, 0, 1, libos::abi::args::MAP_WRITE))?;
    let object = ok("mo_create", Handle::<MemoryObject>::create(memory(start), 1))?;
    let ready = notification(start)?;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for round in 1..=RACE_ROUNDS {
        let lent = ok(
            "derive",
            object.derive(Rights::MAP | Rights::READ | Rights::WRITE | Rights::GENERIC),
        )?;
        let reader =
            ok("derive the flag", flag_object.derive(Rights::MAP | Rights::READ | Rights::GRANT))?;
        let mut g = PeerGrants {
            object: Some((lent, Rights::MAP | Rights::READ | Rights::WRITE)),
            ready: Some(ready),
            ..Default::default()
        };
        g.extra[0] = Some((reader.raw(), Rights::MAP | Rights::READ, "flag"));
        let child = peer_with(start, "race", &format!("round={round}"), PEER_PAGES, g)?;
        want("the peer is storing", ready.wait(), Ok(1))?;
        jitter(&mut seed);
        want("revoke", lent.revoke(), Ok(1))?;
        ok("raise the flag", flag.write(0, &round.to_le_bytes()))?;
        let status = ok("wait for the peer", child.wait())?;
        want(&format!("round {round}: the peer's end"), status, ExitStatus::Faulted(14))?;
        ok("close lent", lent.close())?;
        ok("close the flag's copy", reader.close())?;
    }
    // The same through syscalls: the peer reads a disk range in a loop,
    // looking at the flag before each read; a read begun after it saw
    // this round's flag must be refused.
    let disk = start.handle::<DiskRange>("disk").ok_or("no disk")?;
    for round in RACE_ROUNDS + 1..=RACE_ROUNDS + RACE_DISK_ROUNDS {
        let lent = ok(
            "derive the range",
            disk.derive_range(0, 64, Rights::READ | Rights::GRANT | Rights::REVOKE),
        )?;
        let reader =
            ok("derive the flag", flag_object.derive(Rights::MAP | Rights::READ | Rights::GRANT))?;
        let g = PeerGrants {
            ready: Some(ready),
            extra: [
                Some((reader.raw(), Rights::MAP | Rights::READ, "flag")),
                Some((lent.raw(), Rights::READ, "disk")),
                None,
            ],
            ..Default::default()
        };
        let child = peer_with(start, "race-disk", &format!("round={round}"), PEER_PAGES, g)?;
        want("the peer is reading", ready.wait(), Ok(1))?;
        jitter(&mut seed);
        want("revoke the range", lent.revoke(), Ok(1))?;
        ok("raise the flag", flag.write(0, &round.to_le_bytes()))?;
        want(&format!("round {round}: the peer's end"), child.wait(), Ok(ExitStatus::Exited(0)))?;
        ok("close the range", lent.close())?;
        ok("close the flag's copy", reader.close())?;
    }
    drop(flag);
    ok("close", object.close())
}

/// A varying delay (xorshift on `seed`), so that a revoke lands at a
/// different point of the peer's loop each round.
fn jitter(seed: &mut u64) {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    for _ in 0..*seed % 20_000 {
        core::hint::spin_loop();
    }
}

/// Rounds of `revoke-race` through a disk range.
const RACE_DISK_ROUNDS: u64 = 8;
