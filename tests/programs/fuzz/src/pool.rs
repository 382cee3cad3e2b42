//! The handles the fuzzer knows: valid ones of every kind, stale ones,
//! request ids, and which handles are memory objects (with their pages). Fixed-size: the fuzzer never allocates while it runs (its
//! quota may be exhausted on purpose).

use libos::Start;
use libos::abi::ObjectKind;
use libos::abi::RawHandle;

use crate::random::Rng;

const SLOTS: usize = 128;
const STALE: usize = 32;
const REQUESTS: usize = 32;
/// Memory-object handles remembered for `mo_map` and page-range derives.
const OBJECTS: usize = 32;
/// Children remembered for the final wait (later ones are not waited).
const CHILDREN: usize = 512;

/// A handle in the pool.
#[derive(Clone, Copy, Default)]
pub struct Slot {
    /// Its value.
    pub handle: u64,
    /// Never dropped by the fuzzer (the runtime needs it: console, memory).
    pub protected: bool,
}

/// The pool.
pub struct Pool {
    slots: [Option<Slot>; SLOTS],
    stale: [u64; STALE],
    requests: [u64; REQUESTS],
    /// Memory objects: (handle, pages of its range); 0 handles unused.
    objects: [(u64, u64); OBJECTS],
    children: [Option<u64>; CHILDREN],
    next_stale: usize,
    next_request: usize,
    next_object: usize,
    /// The image to spawn children from.
    pub image: u64,
    /// The memory to carve children's quotas from.
    pub memory: u64,
    /// Sectors in the disk range, if any.
    pub disk_sectors: u64,
    /// The console (for the IPC peer).
    pub console: u64,
}

impl Pool {
    /// The handles the process started with.
    pub fn new(start: &Start) -> Pool {
        let mut p = Pool {
            slots: [None; SLOTS],
            stale: [0; STALE],
            requests: [0; REQUESTS],
            objects: [(0, 0); OBJECTS],
            children: [None; CHILDREN],
            next_stale: 0,
            next_request: 0,
            next_object: 0,
            image: 0,
            memory: 0,
            disk_sectors: 0,
            console: 0,
        };
        let info = libos::sys::start_info();
        for h in info.handles() {
            let protected = matches!(h.role.as_str(), Some("console" | "memory" | "fuzz-child"));
            p.add(Slot { handle: h.handle, protected });
            match (ObjectKind::from_raw(h.kind as u64), h.role.as_str()) {
                (Some(ObjectKind::Image), Some("fuzz-child")) => p.image = h.handle,
                (Some(ObjectKind::Memory), Some("memory")) => p.memory = h.handle,
                (Some(ObjectKind::Console), Some("console")) => p.console = h.handle,
                (Some(ObjectKind::DiskRange), _) => {
                    p.disk_sectors = libos::sys::disk_info(RawHandle::from_raw(h.handle))
                        .map_or(0, |i| i.sectors)
                }
                // Granted by the parent fuzzer (which may revoke it).
                (Some(ObjectKind::MemoryObject), _) => {
                    if let Ok(info) = libos::sys::cap_info(RawHandle::from_raw(h.handle)) {
                        p.add_object(h.handle, info.count);
                    }
                }
                _ => {}
            }
        }
        let _ = start;
        p
    }

    /// Adds a handle. When the pool is full, an unprotected one is closed
    /// to make room, so the process's table stays small (the kernel's
    /// authority checks walk every capability after every syscall).
    pub fn add(&mut self, slot: Slot) {
        if let Some(free) = self.slots.iter_mut().find(|s| s.is_none()) {
            *free = Some(slot);
        } else if let Some(victim) =
            self.slots.iter_mut().rev().find(|s| s.is_some_and(|s| !s.protected))
        {
            if let Some(old) = victim.replace(slot) {
                let _ = libos::sys::cap_drop(RawHandle::from_raw(old.handle));
            }
        } else {
            let _ = libos::sys::cap_drop(RawHandle::from_raw(slot.handle));
        }
    }

    /// Any handle.
    pub fn any(&self, rng: &mut Rng) -> Option<Slot> {
        let i = rng.below(SLOTS as u64) as usize;
        self.slots[i..].iter().chain(self.slots[..i].iter()).find_map(|s| *s)
    }

    /// A handle the fuzzer may drop or revoke.
    pub fn droppable(&self, rng: &mut Rng) -> Option<Slot> {
        let i = rng.below(SLOTS as u64) as usize;
        self.slots[i..]
            .iter()
            .chain(self.slots[..i].iter())
            .find_map(|s| s.filter(|s| !s.protected))
    }

    /// Forgets a dropped handle (remembering it as stale).
    pub fn forget(&mut self, handle: u64) {
        for s in self.slots.iter_mut() {
            if s.is_some_and(|s| s.handle == handle && !s.protected) {
                *s = None;
            }
        }
        for o in self.objects.iter_mut().filter(|o| o.0 == handle) {
            *o = (0, 0);
        }
        self.stale[self.next_stale % STALE] = handle;
        self.next_stale += 1;
    }

    /// A handle that was dropped (0 if none yet).
    pub fn stale(&self, rng: &mut Rng) -> u64 {
        self.stale[rng.below(STALE as u64) as usize]
    }

    /// Remembers a request id.
    pub fn add_request(&mut self, id: u64) {
        self.requests[self.next_request % REQUESTS] = id;
        self.next_request += 1;
    }

    /// A request id (maybe completed already, maybe never valid).
    pub fn request(&self, rng: &mut Rng) -> u64 {
        if rng.chance(80) { self.requests[rng.below(REQUESTS as u64) as usize] } else { rng.next() }
    }

    /// Remembers a memory-object handle whose range has `pages` pages (the
    /// oldest is forgotten when full; the handle stays in the pool).
    pub fn add_object(&mut self, handle: u64, pages: u64) {
        self.objects[self.next_object % OBJECTS] = (handle, pages);
        self.next_object += 1;
    }

    /// A remembered memory object, `(handle, pages)` (maybe revoked or
    /// dropped since, through another handle).
    pub fn object(&self, rng: &mut Rng) -> Option<(u64, u64)> {
        let i = rng.below(OBJECTS as u64) as usize;
        self.objects[i..].iter().chain(self.objects[..i].iter()).copied().find(|o| o.0 != 0)
    }

    /// The pages of `handle`'s range, if it is a remembered memory object.
    pub fn object_pages(&self, handle: u64) -> Option<u64> {
        self.objects.iter().find(|o| o.0 == handle && handle != 0).map(|o| o.1)
    }

    /// Remembers a spawned child's handle, to wait for it at the end.
    pub fn add_child(&mut self, handle: u64) {
        if let Some(free) = self.children.iter_mut().find(|c| c.is_none()) {
            *free = Some(handle);
        }
    }

    /// The children's handles (some may have been dropped or revoked since).
    pub fn children(&self) -> impl Iterator<Item = u64> + '_ {
        self.children.iter().flatten().copied()
    }
}
