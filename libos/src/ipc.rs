//! IPC over endpoint capabilities: messages, typed channels, RPC.
//!
//! - [`Msg`]: up to four words and handles, carried in registers.
//! - `Handle<Endpoint>`: [`send`](Handle::send), [`recv`](Handle::recv),
//!   [`call`](Handle::call) and their non-blocking and long (byte) forms.
//! - `Handle<Reply>`: [`reply`](Handle::reply), [`reply_recv`](Handle::reply_recv).
//! - [`Channel<T>`]: typed send/receive of small values ([`Words`]) plus handles.
//! - [`serve`]: a server loop (receive, handle, answer-and-receive).
//!
//! Messages are synchronous: a send waits until a receiver takes it. The
//! handles a message carries need GRANT; the receiver gets copies that
//! descend from the sender's (revoking the sender's takes them away), or,
//! with [`Msg::moving`], the handles themselves. A send, call or receive
//! blocked through a handle that is then revoked returns `Revoked`, and
//! nothing reaches it or leaves it. Registers, flags and limits:
//! `caps::abi::ipc`.
//!
//! Handing a service to clients: the parent creates the endpoint
//! ([`create_endpoint`]), gives the server a receive-only copy and each
//! client a badged send-only copy ([`Handle::client`]) by role with
//! `Spawn::grant`, and drops its own; clients find it with
//! `start.handle::<Endpoint>("role")`. A server that keeps only RECV hears
//! `PeerGone` once every client is gone.

use caps::abi::args::{DERIVE_BADGE, DERIVE_SAME};
use caps::abi::ipc::{
    MAX_HANDLES, MSG_SLOTS, REPLY_RECV_SLOTS, TAG_CALL, TAG_MOVE, TAG_NONBLOCK, TAG_TRUNCATED, Tag,
};
use caps::abi::kind::{Endpoint, Kind, Memory, Notification, Reply};
use caps::abi::{Error, RawHandle, Rights, Syscall};
use core::marker::PhantomData;

use crate::handle::Handle;
use crate::sys::{self, IpcRegs};

pub use caps::abi::ipc::MAX_MSG_BYTES;

/// A small message: words, then handles, at most four in all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Msg {
    slots: [u64; MSG_SLOTS],
    words: usize,
    handles: usize,
    flags: u64,
}

impl Msg {
    /// A message of `words` (at most four; more is `InvalidArgument`).
    pub fn new(words: &[u64]) -> Result<Msg, Error> {
        if words.len() > MSG_SLOTS {
            return Err(Error::InvalidArgument);
        }
        let mut m = Msg { words: words.len(), ..Msg::default() };
        m.slots[..words.len()].copy_from_slice(words);
        Ok(m)
    }

    /// One word.
    pub fn word(w: u64) -> Msg {
        Msg { slots: [w, 0, 0, 0], words: 1, ..Msg::default() }
    }

    /// Adds a handle (after the words); `InvalidArgument` if the slots are full.
    pub fn with<K: Kind>(self, h: Handle<K>) -> Result<Msg, Error> {
        self.with_raw(h.raw())
    }

    /// Adds a raw handle (after the words).
    pub fn with_raw(mut self, h: RawHandle) -> Result<Msg, Error> {
        let i = self.words + self.handles;
        if i >= MSG_SLOTS || self.handles >= MAX_HANDLES {
            return Err(Error::InvalidArgument);
        }
        self.slots[i] = h.as_raw();
        self.handles += 1;
        Ok(self)
    }

    /// Moves the handles instead of copying them (ours die).
    pub fn moving(mut self) -> Msg {
        self.flags |= TAG_MOVE;
        self
    }

    /// The tag for this message (with extra `flags`).
    pub fn tag(&self, flags: u64) -> u64 {
        Tag::new(self.words, self.handles).with(self.flags | flags).0
    }

    /// The words.
    pub fn words(&self) -> &[u64] {
        &self.slots[..self.words]
    }

    fn slots(&self) -> [u64; MSG_SLOTS] {
        self.slots
    }
}

/// A received message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Received {
    regs: IpcRegs,
}

impl Received {
    /// The message the kernel left in `regs`.
    pub(crate) fn from_regs(regs: IpcRegs) -> Self {
        Received { regs }
    }

    /// The badge of the capability it came through (0: none, or an answer).
    pub fn badge(&self) -> u64 {
        self.regs.badge
    }

    /// The raw tag.
    pub fn tag(&self) -> Tag {
        self.regs.tag
    }

    /// The words (none for a long message).
    pub fn words(&self) -> &[u64] {
        &self.regs.slots[..self.regs.tag.words().min(MSG_SLOTS)]
    }

    /// Word `i`, or 0.
    pub fn word(&self, i: usize) -> u64 {
        self.words().get(i).copied().unwrap_or(0)
    }

    /// How many handles came.
    pub fn handle_count(&self) -> usize {
        self.regs.tag.handles()
    }

    /// The `i`-th handle that came, typed as `K` (the kernel checks the
    /// kind when it is used).
    pub fn handle<K: Kind>(&self, i: usize) -> Option<Handle<K>> {
        let at = self.regs.tag.words() + i;
        (i < self.handle_count() && at < MSG_SLOTS)
            .then(|| Handle::from_raw(RawHandle::from_raw(self.regs.slots[at])))
    }

    /// The reply handle, if the message is a call.
    pub fn reply(&self) -> Option<Handle<Reply>> {
        self.regs.tag.has(TAG_CALL).then(|| Handle::from_raw(RawHandle::from_raw(self.regs.reply)))
    }

    /// The long data's full length (0 for a register message).
    pub fn len(&self) -> usize {
        self.regs.tag.len()
    }

    /// Whether there is no long data.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the long data was cut to the receive buffer.
    pub fn truncated(&self) -> bool {
        self.regs.tag.has(TAG_TRUNCATED)
    }
}

/// A new endpoint (every right), charged one frame to `memory`'s quota.
pub fn create_endpoint(memory: Handle<Memory>) -> Result<Handle<Endpoint>, Error> {
    sys::endpoint_create(memory.raw()).map(Handle::from_raw)
}

impl Handle<Endpoint> {
    /// A send-only copy (with GRANT, so it can be handed on) carrying
    /// `badge`, which every message through it delivers. Needs DERIVE.
    pub fn client(self, badge: u64) -> Result<Self, Error> {
        sys::cap_derive(self.raw(), Rights::SEND | Rights::GRANT, DERIVE_BADGE, badge, 0)
            .map(Self::from_raw)
    }

    /// A receive-only copy (with GRANT). Needs DERIVE.
    pub fn server(self) -> Result<Self, Error> {
        sys::cap_derive(self.raw(), Rights::RECV | Rights::GRANT, DERIVE_SAME, 0, 0)
            .map(Self::from_raw)
    }

    /// Sends `msg`, waiting for a receiver. Needs SEND.
    pub fn send(self, msg: &Msg) -> Result<(), Error> {
        sys::ipc_send(Syscall::IpcSend, self.raw(), msg.tag(0), msg.slots())
    }

    /// Sends `msg` only if a receiver waits now (else `WouldBlock`).
    pub fn try_send(self, msg: &Msg) -> Result<(), Error> {
        sys::ipc_send(Syscall::IpcSend, self.raw(), msg.tag(TAG_NONBLOCK), msg.slots())
    }

    /// Sends up to [`MAX_MSG_BYTES`] bytes and up to four handles.
    pub fn send_bytes(self, data: &[u8], handles: &[RawHandle]) -> Result<(), Error> {
        let raw = raw_handles(handles)?;
        sys::ipc_send_long(Syscall::IpcSend, self.raw(), 0, data, &raw[..handles.len()])
    }

    /// Binds this endpoint to `notification`: from now on, a sender that
    /// finds no receiver waiting signals through it (with its badge), so a
    /// server can wait on one notification for several endpoints and other
    /// events, then [`try_recv`](Self::try_recv) the endpoints whose bits
    /// are set. Replaces an earlier binding. Needs RECV here and SEND on
    /// `notification`; the binding ends when `notification` is dropped or
    /// revoked. Design: seL4's bound notification
    /// (`seL4_TCB_BindNotification`), bound here to the endpoint rather than
    /// to a thread.
    pub fn bind_notification(self, notification: Handle<Notification>) -> Result<(), Error> {
        sys::endpoint_bind(self.raw(), notification.raw())
    }

    /// Ends this endpoint's binding to a notification, if any. Needs RECV.
    pub fn unbind_notification(self) -> Result<(), Error> {
        sys::endpoint_bind(self.raw(), RawHandle::INVALID)
    }

    /// Waits for a message (long data is cut off: see [`recv_into`](Self::recv_into)).
    /// Needs RECV.
    pub fn recv(self) -> Result<Received, Error> {
        self.recv_into(&mut [])
    }

    /// Takes a message only if a sender waits now (else `WouldBlock`).
    pub fn try_recv(self) -> Result<Received, Error> {
        sys::ipc_recv(self.raw(), TAG_NONBLOCK, &mut []).map(|regs| Received { regs })
    }

    /// Waits for a message; long data goes to `buf` (its first
    /// `buf.len()` bytes, see [`Received::truncated`]).
    pub fn recv_into(self, buf: &mut [u8]) -> Result<Received, Error> {
        sys::ipc_recv(self.raw(), 0, buf).map(|regs| Received { regs })
    }

    /// Sends `msg` as a call and waits for the answer. Needs SEND.
    pub fn call(self, msg: &Msg) -> Result<Received, Error> {
        sys::ipc_call(self.raw(), msg.tag(0), msg.slots()).map(|regs| Received { regs })
    }

    /// A call with bytes and handles; the answer's bytes go to `buf`.
    pub fn call_bytes(
        self,
        data: &[u8],
        handles: &[RawHandle],
        buf: &mut [u8],
    ) -> Result<Received, Error> {
        let raw = raw_handles(handles)?;
        sys::ipc_call_long(self.raw(), 0, data, &raw[..handles.len()], buf)
            .map(|regs| Received { regs })
    }
}

impl Handle<Reply> {
    /// Answers the call (spends the reply). Needs SEND.
    pub fn reply(self, msg: &Msg) -> Result<(), Error> {
        sys::ipc_send(Syscall::IpcReply, self.raw(), msg.tag(0), msg.slots())
    }

    /// Answers with bytes and handles.
    pub fn reply_bytes(self, data: &[u8], handles: &[RawHandle]) -> Result<(), Error> {
        let raw = raw_handles(handles)?;
        sys::ipc_send_long(Syscall::IpcReply, self.raw(), 0, data, &raw[..handles.len()])
    }

    /// Answers (at most three slots), then waits for the next message on
    /// `ep` in the same call. A caller that died meanwhile is skipped.
    pub fn reply_recv(self, msg: &Msg, ep: Handle<Endpoint>) -> Result<Received, Error> {
        let s = msg.slots();
        if msg.words + msg.handles > REPLY_RECV_SLOTS {
            self.reply(msg).or_else(|e| if e == Error::PeerGone { Ok(()) } else { Err(e) })?;
            return ep.recv();
        }
        sys::ipc_reply_recv(self.raw(), msg.tag(0), [s[0], s[1], s[2]], ep.raw())
            .map(|regs| Received { regs })
    }

    /// Answers with bytes and handles, then waits for the next message on
    /// `ep` in the same call; its bytes go to `buf` (see
    /// [`Received::truncated`]).
    pub fn reply_recv_bytes(
        self,
        data: &[u8],
        handles: &[RawHandle],
        ep: Handle<Endpoint>,
        buf: &mut [u8],
    ) -> Result<Received, Error> {
        let raw = raw_handles(handles)?;
        sys::ipc_reply_recv_long(self.raw(), 0, data, &raw[..handles.len()], buf, ep.raw())
            .map(|regs| Received { regs })
    }
}

fn raw_handles(handles: &[RawHandle]) -> Result<[u64; MAX_HANDLES], Error> {
    if handles.len() > MAX_HANDLES {
        return Err(Error::InvalidArgument);
    }
    let mut raw = [0; MAX_HANDLES];
    for (r, h) in raw.iter_mut().zip(handles) {
        *r = h.as_raw();
    }
    Ok(raw)
}

/// A value that travels as a few words.
pub trait Words: Sized {
    /// How many words it takes (at most four).
    const WORDS: usize;
    /// Writes it into `out` (of length `WORDS`).
    fn to_words(&self, out: &mut [u64]);
    /// Reads it back; `None` if the words do not make one.
    fn from_words(words: &[u64]) -> Option<Self>;
}

impl Words for u64 {
    const WORDS: usize = 1;
    fn to_words(&self, out: &mut [u64]) {
        out[0] = *self;
    }
    fn from_words(words: &[u64]) -> Option<Self> {
        words.first().copied()
    }
}

impl<const N: usize> Words for [u64; N] {
    const WORDS: usize = N;
    fn to_words(&self, out: &mut [u64]) {
        out[..N].copy_from_slice(self);
    }
    fn from_words(words: &[u64]) -> Option<Self> {
        words.get(..N)?.try_into().ok()
    }
}

/// A typed channel over an endpoint: values of `T`, plus handles.
pub struct Channel<T: Words> {
    ep: Handle<Endpoint>,
    kind: PhantomData<fn() -> T>,
}

impl<T: Words> Clone for Channel<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: Words> Copy for Channel<T> {}

/// One value received on a [`Channel`].
#[derive(Debug)]
pub struct Delivery<T> {
    /// The value.
    pub value: T,
    /// The sender's badge.
    pub badge: u64,
    /// The whole message (handles, reply).
    pub msg: Received,
}

impl<T: Words> Channel<T> {
    /// A channel over `ep`.
    pub fn new(ep: Handle<Endpoint>) -> Self {
        Channel { ep, kind: PhantomData }
    }

    /// The endpoint.
    pub fn endpoint(&self) -> Handle<Endpoint> {
        self.ep
    }

    fn msg(value: &T, handles: &[RawHandle]) -> Result<Msg, Error> {
        if T::WORDS + handles.len() > MSG_SLOTS {
            return Err(Error::InvalidArgument);
        }
        let mut words = [0; MSG_SLOTS];
        value.to_words(&mut words[..T::WORDS]);
        let mut m = Msg::new(&words[..T::WORDS])?;
        for &h in handles {
            m = m.with_raw(h)?;
        }
        Ok(m)
    }

    /// Sends `value` with `handles` (copies), waiting for the receiver.
    pub fn send(&self, value: &T, handles: &[RawHandle]) -> Result<(), Error> {
        self.ep.send(&Self::msg(value, handles)?)
    }

    /// Waits for a value; `InvalidArgument` if the words do not make a `T`.
    pub fn recv(&self) -> Result<Delivery<T>, Error> {
        let msg = self.ep.recv()?;
        let value = T::from_words(msg.words()).ok_or(Error::InvalidArgument)?;
        Ok(Delivery { value, badge: msg.badge(), msg })
    }

    /// Calls with `value` and waits for the answer's value.
    pub fn call(&self, value: &T, handles: &[RawHandle]) -> Result<Delivery<T>, Error> {
        let msg = self.ep.call(&Self::msg(value, handles)?)?;
        let value = T::from_words(msg.words()).ok_or(Error::InvalidArgument)?;
        Ok(Delivery { value, badge: msg.badge(), msg })
    }
}

/// What a [`serve`] handler does with a request.
#[derive(Clone, Copy, Debug)]
pub enum Step {
    /// Answer (if it was a call) and wait for the next request.
    Reply(Msg),
    /// Answer (if it was a call) and return from `serve`.
    Last(Msg),
}

/// A server loop on `ep`: waits for a request, gives it to `handler`,
/// answers calls with what it returns (in the same syscall as the next
/// receive), until the handler says [`Step::Last`]. Answers to callers
/// that died are skipped. Returns the first receive error (e.g.
/// `PeerGone` once no client can send any more).
pub fn serve(
    ep: Handle<Endpoint>,
    mut handler: impl FnMut(&Received) -> Step,
) -> Result<(), Error> {
    let mut req = ep.recv()?;
    loop {
        match (req.reply(), handler(&req)) {
            (Some(r), Step::Reply(m)) => req = r.reply_recv(&m, ep)?,
            (None, Step::Reply(_)) => req = ep.recv()?,
            (Some(r), Step::Last(m)) => {
                return match r.reply(&m) {
                    Ok(()) | Err(Error::PeerGone) => Ok(()),
                    Err(e) => Err(e),
                };
            }
            (None, Step::Last(_)) => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_put_words_before_handles() {
        let h = Handle::<Endpoint>::from_raw(RawHandle::from_raw(77));
        let m = Msg::new(&[1, 2]).unwrap().with(h).unwrap();
        assert_eq!(m.slots(), [1, 2, 77, 0]);
        assert_eq!(Tag(m.tag(0)).words(), 2);
        assert_eq!(Tag(m.tag(0)).handles(), 1);
        assert!(Msg::new(&[0; 5]).is_err());
        let full = Msg::new(&[1, 2, 3, 4]).unwrap();
        assert_eq!(full.with(h), Err(Error::InvalidArgument));
        assert!(Tag(m.moving().tag(TAG_NONBLOCK)).has(TAG_MOVE | TAG_NONBLOCK));
    }

    #[test]
    fn received_messages_split_words_and_handles() {
        let regs = IpcRegs {
            tag: Tag::received(1, 2, TAG_CALL, 0),
            badge: 9,
            reply: 55,
            slots: [10, 20, 30, 0],
        };
        let r = Received { regs };
        assert_eq!(r.words(), &[10]);
        assert_eq!(r.handle::<Endpoint>(1).map(|h| h.raw().as_raw()), Some(30));
        assert!(r.handle::<Endpoint>(2).is_none());
        assert_eq!(r.reply().map(|h| h.raw().as_raw()), Some(55));
        assert_eq!(r.badge(), 9);
    }

    #[test]
    fn words_round_trip() {
        let mut w = [0; 3];
        [4u64, 5, 6].to_words(&mut w);
        assert_eq!(<[u64; 3]>::from_words(&w), Some([4, 5, 6]));
        assert_eq!(<[u64; 3]>::from_words(&w[..2]), None);
        assert_eq!(u64::from_words(&[8]), Some(8));
    }
}
