//! A bulk channel: bytes from one process to another through a ring in
//! shared memory, one copy in and one copy out, the kernel involved only
//! to wake a side that waits.
//!
//! Single producer, single consumer, as seL4 sDDF's queues and virtio's
//! rings: a memory object holds a header page and `pages` data pages used
//! as a ring of `pages * 4096` bytes. The header holds two byte counts
//! that only grow: `tail` (written by the sender: bytes ever sent) and
//! `head` (written by the receiver: bytes ever consumed); each side keeps
//! its own count privately and only *reads* the other's, with acquire /
//! release ordering, so the bytes between them are the ones in flight.
//! Two notifications wake the sides: `data` (the receiver waits, the
//! sender signals after publishing) and `space` (the reverse). Signals are
//! bits that stay set until taken, so no wake-up is lost between a check
//! and a wait.
//!
//! **A peer is not trusted.** Each side checks the other's count before
//! using it: a `head` or `tail` that would put more than the ring's size
//! in flight, or move backwards, is [`BulkError::Corrupt`], and the
//! channel is not used again; no index a peer writes ever reaches memory
//! outside the ring (offsets are taken modulo the size, from the side's
//! own count). **A peer that dies** loses its capabilities: each side holds
//! the only capability that can signal the other's notification, so a
//! wait with nothing pending says `PeerGone` (the kernel's rule for a
//! notification nothing can signal any more), which is
//! [`BulkError::PeerGone`] here once the ring is drained.
//!
//! Dropping an end closes its handles (a [`Sender`] dropped without
//! [`Sender::close`] looks dead to the receiver); once both ends are
//! dropped, the ring's pages and the notifications go back to the quota.
//!
//! Setting up: the receiver calls [`channel`] and moves the
//! [`SenderParts`] to the sender (in a message, [`SenderParts::attach`],
//! which moves the handles; or as spawn grants, then
//! [`SenderParts::close`]), which calls [`Sender::new`].

use caps::abi::kind::{Memory, MemoryObject, Notification};
use caps::abi::layout::PAGE_SIZE;
use caps::abi::{Error, RawHandle, Rights};
use core::sync::atomic::Ordering;

use crate::handle::Handle;
use crate::ipc::Msg;
use crate::sys::shm::{SharedBytes, SharedMapping};

/// Where the sender's count lives in the header page.
const TAIL: usize = 0;
/// Where the receiver's count lives (its own cache line).
const HEAD: usize = 64;
/// Where the sender says it will send no more.
const CLOSED: usize = 128;

/// What can go wrong on a bulk channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkError {
    /// The peer wrote a count that cannot be right (more than the ring in
    /// flight, or backwards): the channel is broken.
    Corrupt,
    /// The peer is gone (and, on receive, everything it sent was read).
    PeerGone,
    /// A system call failed.
    Kernel(Error),
}

impl From<Error> for BulkError {
    fn from(e: Error) -> Self {
        match e {
            Error::PeerGone => BulkError::PeerGone,
            e => BulkError::Kernel(e),
        }
    }
}

impl core::fmt::Display for BulkError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BulkError::Corrupt => f.write_str("bulk channel: the peer wrote bad indices"),
            BulkError::PeerGone => f.write_str("bulk channel: the peer is gone"),
            BulkError::Kernel(e) => write!(f, "bulk channel: {e}"),
        }
    }
}

/// How many bytes the other side may have in flight given the counts, if
/// they are consistent: `ahead` is the count that runs ahead (`tail`),
/// `behind` the other (`head`), `size` the ring's bytes.
fn in_flight(ahead: u64, behind: u64, size: u64) -> Option<u64> {
    let n = ahead.wrapping_sub(behind);
    (n <= size).then_some(n)
}

/// The ring's memory, as one side sees it.
struct Ring {
    map: SharedMapping,
    size: u64,
}

impl Ring {
    fn new(object: Handle<MemoryObject>) -> Result<Ring, Error> {
        let pages = object.pages()?;
        if pages < 2 {
            return Err(Error::InvalidArgument);
        }
        let map = SharedMapping::map(object, 0, pages, caps::abi::args::MAP_WRITE)?;
        Ok(Ring { map, size: (pages - 1) * PAGE_SIZE })
    }

    fn load(&self, at: usize) -> u64 {
        self.map.atomic_u64(at).map_or(0, |a| a.load(Ordering::Acquire))
    }

    fn store(&self, at: usize, v: u64) {
        if let Ok(a) = self.map.atomic_u64(at) {
            a.store(v, Ordering::Release);
        }
    }

    /// Copies between `buf` and the ring at stream position `pos`, in at
    /// most two pieces (the wrap).
    fn copy(&self, pos: u64, len: usize, mut f: impl FnMut(usize, core::ops::Range<usize>)) {
        let start = (pos % self.size) as usize;
        let first = len.min(self.size as usize - start);
        f(PAGE_SIZE as usize + start, 0..first);
        if first < len {
            f(PAGE_SIZE as usize, first..len);
        }
    }
}

/// The handles a sender needs, made by [`channel`] for the receiver to
/// hand over.
#[derive(Debug)]
pub struct SenderParts {
    /// The ring's memory object (`MAP | READ | WRITE | GRANT`).
    pub memory: Handle<MemoryObject>,
    /// Signals the receiver that data is there (`SEND | GRANT`).
    pub data: Handle<Notification>,
    /// The sender waits here for space (`WAIT | GRANT`).
    pub space: Handle<Notification>,
}

impl SenderParts {
    /// Adds the three handles to `msg`, moved (so the receiver keeps no
    /// capability that could signal its own `data` notification, and
    /// learns of the sender's death).
    pub fn attach(self, msg: Msg) -> Result<Msg, Error> {
        Ok(msg.with(self.memory)?.with(self.data)?.with(self.space)?.moving())
    }

    /// The three handles, in the order [`Sender::from_raw`] takes them.
    pub fn raw(&self) -> [RawHandle; 3] {
        [self.memory.raw(), self.data.raw(), self.space.raw()]
    }

    /// Drops the receiver's copies (after granting them at spawn).
    pub fn close(self) -> Result<(), Error> {
        self.memory.close()?;
        self.data.close()?;
        self.space.close()
    }
}

/// The sending end.
pub struct Sender {
    ring: Ring,
    data: Handle<Notification>,
    space: Handle<Notification>,
    tail: u64,
    broken: bool,
}

/// The receiving end.
pub struct Receiver {
    ring: Ring,
    data: Handle<Notification>,
    space: Handle<Notification>,
    head: u64,
    broken: bool,
}

/// A new channel with a ring of `pages` pages (plus a header page), and
/// two notifications, all charged to `memory` (needs `MAP | READ | WRITE`):
/// the receiving end, and what to hand the sender. All or nothing: a
/// failure half-way (the quota spent, say) takes back what was made.
pub fn channel(memory: Handle<Memory>, pages: u64) -> Result<(Receiver, SenderParts), Error> {
    let object =
        Handle::<MemoryObject>::create(memory, pages.checked_add(1).ok_or(Error::OutOfRange)?)?;
    let data = Handle::<Notification>::create(memory).inspect_err(|_| discard(&[object.raw()]))?;
    let space = Handle::<Notification>::create(memory)
        .inspect_err(|_| discard(&[object.raw(), data.raw()]))?;
    let made = (|| {
        let parts = SenderParts {
            memory: object.derive(Rights::MAP | Rights::READ | Rights::WRITE | Rights::GRANT)?,
            data: data.derive(Rights::SEND | Rights::GRANT)?,
            space: space.derive(Rights::WAIT | Rights::GRANT)?,
        };
        let receiver = Receiver {
            ring: Ring::new(object)?,
            data: data.derive(Rights::WAIT)?,
            space: space.derive(Rights::SEND)?,
            head: 0,
            broken: false,
        };
        Ok((receiver, parts))
    })();
    let Ok((receiver, parts)) = made else {
        // What was derived dies with the revokes (a ring mapped already
        // was unmapped when it was dropped).
        discard(&[object.raw(), data.raw(), space.raw()]);
        return made;
    };
    // Only the derived copies stay: the receiver's own may not signal its
    // `data`, nor wait on `space`.
    data.close()?;
    space.close()?;
    Ok((receiver, parts))
}

/// Takes back handles a failed [`channel`] made: what was derived from
/// each, then the handle itself.
fn discard(handles: &[RawHandle]) {
    for &h in handles {
        let _ = crate::sys::cap_revoke(h);
        let _ = crate::sys::cap_drop(h);
    }
}

impl Sender {
    /// The sending end over the handles a receiver made ([`SenderParts`]).
    pub fn new(
        memory: Handle<MemoryObject>,
        data: Handle<Notification>,
        space: Handle<Notification>,
    ) -> Result<Sender, Error> {
        let ring = Ring::new(memory)?;
        let tail = ring.load(TAIL);
        Ok(Sender { ring, data, space, tail, broken: false })
    }

    /// The sending end from a message carrying [`SenderParts::attach`]'s
    /// handles (`InvalidArgument` if they are not there).
    pub fn from_msg(m: &crate::ipc::Received) -> Result<Sender, Error> {
        match (m.handle(0), m.handle(1), m.handle(2)) {
            (Some(memory), Some(data), Some(space)) => Sender::new(memory, data, space),
            _ => Err(Error::InvalidArgument),
        }
    }

    /// The ring's size in bytes.
    pub fn capacity(&self) -> u64 {
        self.ring.size
    }

    /// Sends all of `bytes`, waiting for room as needed.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), BulkError> {
        let mut done = 0;
        while done < bytes.len() {
            if self.broken {
                return Err(BulkError::Corrupt);
            }
            let head = self.ring.load(HEAD);
            let Some(used) = in_flight(self.tail, head, self.ring.size) else {
                self.broken = true;
                return Err(BulkError::Corrupt);
            };
            let room = self.ring.size - used;
            if room == 0 {
                self.space.wait()?;
                continue;
            }
            let n = (room as usize).min(bytes.len() - done);
            let src = &bytes[done..done + n];
            self.ring.copy(self.tail, n, |at, r| {
                let _ = self.ring.map.write(at, &src[r]);
            });
            self.tail += n as u64;
            self.ring.store(TAIL, self.tail);
            self.data.signal()?;
            done += n;
        }
        Ok(())
    }

    /// Says no more bytes will come: the receiver reads what is in flight,
    /// then gets 0.
    pub fn close(self) -> Result<(), BulkError> {
        self.ring.store(CLOSED, 1);
        self.data.signal()?;
        Ok(())
    }
}

/// Closes a side's three handles: its mapping goes with its capability
/// (the ring's pages, and the notifications, are freed once the other side
/// closed its own too), and the other side's waits say `PeerGone`.
fn close_side(memory: Handle<MemoryObject>, a: Handle<Notification>, b: Handle<Notification>) {
    let _ = memory.close();
    let _ = a.close();
    let _ = b.close();
}

impl Drop for Sender {
    fn drop(&mut self) {
        close_side(self.ring.map.handle(), self.data, self.space);
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        close_side(self.ring.map.handle(), self.data, self.space);
    }
}

impl Receiver {
    /// The ring's size in bytes.
    pub fn capacity(&self) -> u64 {
        self.ring.size
    }

    /// Waits until bytes are in flight and returns how many; 0 once the
    /// sender closed the channel and everything was read.
    fn available(&mut self) -> Result<u64, BulkError> {
        loop {
            if self.broken {
                return Err(BulkError::Corrupt);
            }
            let tail = self.ring.load(TAIL);
            let Some(avail) = in_flight(tail, self.head, self.ring.size) else {
                self.broken = true;
                return Err(BulkError::Corrupt);
            };
            if avail != 0 || self.ring.load(CLOSED) != 0 {
                return Ok(avail);
            }
            self.data.wait()?;
        }
    }

    /// Hands `n` bytes back to the sender.
    fn release(&mut self, n: usize) -> Result<(), BulkError> {
        self.head += n as u64;
        self.ring.store(HEAD, self.head);
        self.space.signal()?;
        Ok(())
    }

    /// Receives at least one byte into `out` (as many as are there, up to
    /// its length), waiting for some; 0 once the sender closed the channel
    /// and everything was read. `PeerGone` if the sender died with nothing
    /// left to read.
    pub fn recv(&mut self, out: &mut [u8]) -> Result<usize, BulkError> {
        if out.is_empty() {
            return Ok(0);
        }
        let n = (self.available()? as usize).min(out.len());
        if n != 0 {
            let dst = &mut out[..n];
            self.ring.copy(self.head, n, |at, r| {
                let _ = self.ring.map.read(at, &mut dst[r]);
            });
            self.release(n)?;
        }
        Ok(n)
    }

    /// Receives up to `max` bytes in place, with no copy: calls `f` with a
    /// view of them ([`SharedBytes`]: bytes loaded one at a time or copied
    /// out in one go, never a `&[u8]` a peer could change under it), in one
    /// or two pieces where the ring wraps, then releases them to the
    /// sender. Returns how many; 0 once the sender closed the
    /// channel and everything was read. One copy per byte in all (the
    /// sender's, into the ring): what a copying channel cannot go below.
    pub fn recv_in_place(
        &mut self,
        max: usize,
        mut f: impl FnMut(SharedBytes<'_>),
    ) -> Result<usize, BulkError> {
        if max == 0 {
            return Ok(0);
        }
        let n = (self.available()? as usize).min(max);
        if n != 0 {
            self.ring.copy(self.head, n, |at, r| {
                let _ = self.ring.map.with_bytes(at, r.len(), &mut f);
            });
            self.release(n)?;
        }
        Ok(n)
    }

    /// Receives exactly `out.len()` bytes. `PeerGone` if the sender closed
    /// or died first.
    pub fn recv_exact(&mut self, out: &mut [u8]) -> Result<(), BulkError> {
        let mut done = 0;
        while done < out.len() {
            match self.recv(&mut out[done..])? {
                0 => return Err(BulkError::PeerGone),
                n => done += n,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_in_flight_are_checked_against_the_ring() {
        assert_eq!(in_flight(10, 4, 8), Some(6));
        assert_eq!(in_flight(12, 4, 8), Some(8));
        assert_eq!(in_flight(13, 4, 8), None);
        // Backwards: the peer's count passed ours.
        assert_eq!(in_flight(4, 5, 8), None);
        // Counts that wrapped the u64 still work.
        assert_eq!(in_flight(3, u64::MAX - 2, 8), Some(6));
        assert_eq!(in_flight(u64::MAX, 0, u64::MAX), Some(u64::MAX));
    }
}
