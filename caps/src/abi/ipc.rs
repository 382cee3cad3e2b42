//! IPC: how messages travel through `ipc_send`, `ipc_recv`, `ipc_call`,
//! `ipc_reply` and `ipc_reply_recv`.
//!
//! ## Messages
//! A message is up to [`MSG_SLOTS`] machine words and up to
//! [`MAX_HANDLES`] capability handles, or (the *long* form) up to
//! [`MAX_MSG_BYTES`] bytes of data plus up to [`MAX_HANDLES`] handles.
//! A [`Tag`] word describes it: how many words, how many handles, flags.
//!
//! Transfer is synchronous (rendezvous): a send waits until a receiver
//! takes the message (or fails at once with `WouldBlock` under
//! [`TAG_NONBLOCK`]), so the kernel never queues more than one message per
//! blocked process. Each handle sent needs `GRANT`; by default the
//! receiver gets a copy, a child of the sender's capability (revoking the
//! sender's takes the receiver's away); with [`TAG_MOVE`] the handles move
//! (the sender's die). All or nothing: if the receiver's table has no room
//! for every handle (and the reply capability of a call), the send fails
//! with `TableFull`, the receive it met fails with `TableFull` too (so the
//! receiver learns to make room), and neither table changes.
//!
//! ## Registers in
//! | call | rdi | rsi | rdx | r10 | r8 | r9 |
//! |---|---|---|---|---|---|---|
//! | `ipc_send` | endpoint | tag | slot 0 | slot 1 | slot 2 | slot 3 |
//! | `ipc_call` | endpoint | tag | slot 0 | slot 1 | slot 2 | slot 3 |
//! | `ipc_recv` | endpoint | flags ([`TAG_NONBLOCK`]) | buffer | buffer length | 0 | 0 |
//! | `ipc_reply` | reply | tag | slot 0 | slot 1 | slot 2 | slot 3 |
//! | `ipc_reply_recv` | reply | tag | slot 0 | slot 1 | slot 2 | endpoint |
//!
//! In the register form the tag's words fill the first slots and its
//! handles the next ones (`words + handles <= slots`; `ipc_reply_recv` has
//! [`REPLY_RECV_SLOTS`], as `r9` names the endpoint to receive on).
//!
//! In the long form ([`TAG_LONG`], words = 0), `rdx` points to a
//! [`MsgDesc`] (the data and the handles), and for the calls that then
//! receive, `r10`/`r8` give the buffer the answer's data goes to
//! (`ipc_call`, `ipc_reply_recv`; `r9` stays the endpoint of
//! `ipc_reply_recv`). `ipc_recv` always takes a buffer (0, 0: none).
//!
//! ## Registers out (`ipc_recv`, `ipc_reply_recv`, and `ipc_call`'s answer)
//! `rax` = the received [`Tag`] (a successful result: it never looks like
//! an error), `rdi` = the badge of the capability the message came
//! through (0 for an answer to a call), `rsi` = the new reply handle if
//! the message is a call ([`TAG_CALL`]), else 0; `rdx, r10, r8, r9` =
//! slots 0..4: the words, then the receiver's new handles (in the long
//! form, the handles from slot 0). Long data goes to the receive buffer;
//! if it does not fit, the first bytes do and the tag says
//! [`TAG_TRUNCATED`] and the full length. A receive without a buffer (or
//! `ipc_call`/`ipc_reply_recv` in the register form) gets long data
//! truncated to nothing. `ipc_send` and `ipc_reply` return 0.
//!
//! ## Replies
//! The receiver of a call gets a one-shot `Reply` capability (rights
//! SEND | GRANT). Its first use answers the caller and spends it (later use
//! of the handle: `BadHandle`; of a copy of it: `BadHandle`). If the
//! caller died first, the use spends it and returns `PeerGone`
//! (`ipc_reply_recv` then receives anyway: a server loop goes on); since a
//! process only ends by its own `exit` or fault, never while it waits in
//! a call, this arises only if a future kill does. If
//! every capability to a pending reply dies unused (the server dropped it,
//! or exited), the caller's `ipc_call` returns `PeerGone`.
//!
//! ## Peers going away
//! When the last capability with RECV on an endpoint dies, every process
//! blocked sending on it (or calling) wakes with `PeerGone`; when the last
//! with SEND dies, every process blocked receiving wakes with `PeerGone`.
//! Later sends or receives on it return `PeerGone` at once.
//!
//! ## Revocation reaches what waits
//! A process blocked in IPC is tied to the handle it blocked through: the
//! endpoint handle of `ipc_send`, `ipc_call` (both while its message is
//! queued and while it waits for the answer) and `ipc_recv` /
//! `ipc_reply_recv`. When that capability dies, however it dies (in
//! practice by a revoke through an ancestor: a blocked process cannot
//! close or move its own handles, and its table goes only when it ends),
//! the blocked call returns `Revoked` at once and nothing travels to or
//! from that process any more:
//! - a receiver leaves the queue, so a later send finds nobody waiting
//!   (`WouldBlock`, or the sender waits) and no handle reaches it;
//! - a sender's or caller's queued message is discarded, with its badge
//!   and its handles (copied ones stay the sender's; moved ones were never
//!   moved);
//! - a caller waiting for its answer stops waiting: the answer, through
//!   the reply capability, returns `PeerGone` and spends it (as for a
//!   caller that died), so no data or handle reaches the caller.
//!
//! The capability itself is what counts, not its ancestors: dropping an
//! ancestor re-parents it and the waiter keeps waiting (a revoke higher
//! up still reaches it); the death of the last capability on the other
//! side gives `PeerGone` as above. When one revoke kills both the waiter's
//! own capability and the last one on the other side, the waiter gets
//! `Revoked`.
//!
//! The handles a queued message carries were checked live with GRANT when
//! it was sent; if one of them dies while the message waits, no receiver
//! gets the message: when a receiver takes it, the sender's call returns
//! `Revoked` and the receiver takes the next message (or waits, or gets
//! `WouldBlock`).
//!
//! A blocked process cannot close or move its own handles, so to keep the
//! tie sound a call may not move (`TAG_MOVE`) the handle it is made
//! through, nor may `ipc_reply_recv`'s answer move the endpoint handle it
//! then receives through: both are `InvalidArgument`. A plain `ipc_send`
//! may move its own handle: the move happens on delivery, which ends the
//! wait.
//!
//! A `Reply` capability does not descend from the endpoint capability
//! that received the call (it is minted by the kernel, SEND | GRANT, no
//! REVOKE): revoking the server's endpoint capability leaves the calls it
//! already received answerable.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Words a message carries in registers.
pub const MSG_SLOTS: usize = 4;
/// Slots of the reply in `ipc_reply_recv`'s register form (`r9` is the
/// endpoint).
pub const REPLY_RECV_SLOTS: usize = 3;
/// Most handles one message carries.
pub const MAX_HANDLES: usize = 4;
/// Most data bytes in a long message.
pub const MAX_MSG_BYTES: usize = 4096;

/// Tag bits 0..4: words in the slots (register form).
pub const TAG_WORDS_MASK: u64 = 0xf;
/// Tag bits 4..8: handles carried.
pub const TAG_HANDLES_SHIFT: u32 = 4;
/// Flag: the long form (data in memory, see [`MsgDesc`]); out: the data
/// went to the receive buffer (clear, with [`TAG_TRUNCATED`], on a long
/// message none of whose data could be written: the buffer was unmapped
/// while the receiver waited, by a revoke of the memory object it was in).
pub const TAG_LONG: u64 = 1 << 8;
/// Flag: fail with `WouldBlock` instead of waiting (send, call, receive).
pub const TAG_NONBLOCK: u64 = 1 << 9;
/// Flag: move the handles instead of copying them.
pub const TAG_MOVE: u64 = 1 << 10;
/// Out: the long data did not fit in the receive buffer.
pub const TAG_TRUNCATED: u64 = 1 << 11;
/// Out: the message is a call; `rsi` holds the reply handle.
pub const TAG_CALL: u64 = 1 << 12;
/// Tag bits 16..32: the long data's length (out only; in, the length is in
/// the [`MsgDesc`]).
pub const TAG_LEN_SHIFT: u32 = 16;
/// The flags a sender may set.
pub const TAG_SEND_FLAGS: u64 = TAG_LONG | TAG_NONBLOCK | TAG_MOVE;

/// The long form's message description (`rdx` points to it).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct MsgDesc {
    /// Address of the data.
    pub data: u64,
    /// Its length in bytes, at most [`MAX_MSG_BYTES`].
    pub len: u64,
    /// The handles to send (the tag says how many).
    pub handles: [u64; MAX_HANDLES],
}

/// A message tag: word count, handle count, flags and (out) data length.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tag(pub u64);

impl Tag {
    /// A register-form tag: `words` words then `handles` handles.
    pub const fn new(words: usize, handles: usize) -> Tag {
        Tag((words as u64 & TAG_WORDS_MASK) | (handles as u64 & 0xf) << TAG_HANDLES_SHIFT)
    }

    /// A long-form tag carrying `handles` handles.
    pub const fn long(handles: usize) -> Tag {
        Tag(TAG_LONG | (handles as u64 & 0xf) << TAG_HANDLES_SHIFT)
    }

    /// The same tag with `flags` added.
    pub const fn with(self, flags: u64) -> Tag {
        Tag(self.0 | flags)
    }

    /// Words in the slots.
    pub const fn words(self) -> usize {
        (self.0 & TAG_WORDS_MASK) as usize
    }

    /// Handles carried.
    pub const fn handles(self) -> usize {
        (self.0 >> TAG_HANDLES_SHIFT & 0xf) as usize
    }

    /// Whether `flag` is set.
    pub const fn has(self, flag: u64) -> bool {
        self.0 & flag != 0
    }

    /// The long data's full length (received tags).
    pub const fn len(self) -> usize {
        (self.0 >> TAG_LEN_SHIFT & 0xffff) as usize
    }

    /// Whether the long data is empty (or there is none).
    pub const fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// Checks a sender's tag for a call with `slots` register slots:
    /// only [`TAG_SEND_FLAGS`], at most [`MAX_HANDLES`] handles, words and
    /// handles within the slots (register form) or no words (long form).
    /// `InvalidArgument` otherwise.
    pub const fn check_send(self, slots: usize) -> Result<Tag, super::Error> {
        let known = TAG_WORDS_MASK | 0xf << TAG_HANDLES_SHIFT | TAG_SEND_FLAGS;
        let ok = self.0 & !known == 0
            && self.handles() <= MAX_HANDLES
            && if self.has(TAG_LONG) {
                self.words() == 0
            } else {
                self.words() + self.handles() <= slots
            };
        if ok { Ok(self) } else { Err(super::Error::InvalidArgument) }
    }

    /// The tag a receiver sees: `words` words, `handles` handles, `flags`
    /// (from `TAG_LONG`, `TAG_TRUNCATED`, `TAG_CALL`), and for long data its
    /// full length.
    pub const fn received(words: usize, handles: usize, flags: u64, len: usize) -> Tag {
        Tag(Tag::new(words, handles).0 | flags | (len as u64 & 0xffff) << TAG_LEN_SHIFT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::Error;
    use crate::abi::error::MAX_VALUE;

    #[test]
    fn tags_round_trip() {
        let t = Tag::new(3, 1).with(TAG_NONBLOCK);
        assert_eq!((t.words(), t.handles()), (3, 1));
        assert!(t.has(TAG_NONBLOCK) && !t.has(TAG_LONG));
        let r = Tag::received(0, 2, TAG_LONG | TAG_CALL, MAX_MSG_BYTES);
        assert_eq!((r.handles(), r.len()), (2, MAX_MSG_BYTES));
        assert!(r.has(TAG_CALL) && r.has(TAG_LONG));
        assert!(r.0 <= MAX_VALUE, "a received tag is a successful result");
    }

    #[test]
    fn send_tags_are_checked() {
        assert_eq!(Tag::new(4, 0).check_send(MSG_SLOTS), Ok(Tag::new(4, 0)));
        assert_eq!(Tag::new(3, 1).check_send(MSG_SLOTS), Ok(Tag::new(3, 1)));
        assert_eq!(Tag::new(3, 2).check_send(MSG_SLOTS), Err(Error::InvalidArgument));
        assert_eq!(Tag::new(3, 1).check_send(REPLY_RECV_SLOTS), Err(Error::InvalidArgument));
        assert_eq!(Tag::new(5, 0).check_send(MSG_SLOTS), Err(Error::InvalidArgument));
        assert_eq!(Tag::long(4).check_send(MSG_SLOTS), Ok(Tag::long(4)));
        assert_eq!(Tag::long(5).check_send(MSG_SLOTS), Err(Error::InvalidArgument));
        assert_eq!(Tag(TAG_LONG | 1).check_send(MSG_SLOTS), Err(Error::InvalidArgument));
        assert_eq!(Tag(TAG_CALL).check_send(MSG_SLOTS), Err(Error::InvalidArgument));
        assert_eq!(Tag(1 << 40).check_send(MSG_SLOTS), Err(Error::InvalidArgument));
    }
}
