//! The records a message lives in: what a sender gives, what a receiver
//! gets, and what a blocked process keeps of its IPC in its own record.
//!
//! Plain data (no operations that need the kernel state), so process
//! records can hold it and the kernel state can hold process records
//! without any module importing back up (`ipc`'s operations are above
//! `state`; these are below it).

use alloc::boxed::Box;
use caps::ObjectId;
use caps::abi::ipc::{MAX_HANDLES, MAX_MSG_BYTES, MSG_SLOTS, Tag};
use caps::abi::{Error, RawHandle};

use crate::mem::user::UserSlice;

/// A message as its sender gave it, checked.
#[derive(Clone, Copy, Debug, Default)]
pub struct Outgoing {
    /// The sender's tag (checked: words, handles, flags).
    pub tag: Tag,
    /// The words.
    pub words: [u64; MSG_SLOTS],
    /// The raw handles, in the sender's table.
    pub handles: [u64; MAX_HANDLES],
    /// Long data length (in the sender's user memory or kernel buffer).
    pub len: usize,
    /// The badge of the capability it is sent through.
    pub badge: u64,
}

/// A message as its receiver gets it (the syscall's results).
#[derive(Clone, Copy, Debug, Default)]
pub struct Incoming {
    /// The received tag.
    pub tag: Tag,
    /// The badge it came through (0 for an answer).
    pub badge: u64,
    /// The new reply handle of a call, or 0.
    pub reply: u64,
    /// Words, then the receiver's new handles.
    pub slots: [u64; MSG_SLOTS],
}

/// The capability a blocked process waits through: a handle in its own
/// table naming `endpoint`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Via {
    /// The endpoint it is queued on (or called through).
    pub endpoint: ObjectId,
    /// The handle, in the waiter's own table, it used.
    pub handle: RawHandle,
}

/// What a process's record holds for IPC.
#[derive(Default)]
pub struct IpcState {
    /// The next process in the endpoint queue it waits in.
    pub next: Option<ObjectId>,
    /// Its message, while it is blocked sending.
    pub outgoing: Outgoing,
    /// Whether that message is a call.
    pub calling: bool,
    /// The outcome of its blocked send, receive or call, set by whoever
    /// woke it.
    pub result: Option<Result<Incoming, Error>>,
    /// Kernel buffer for long data (charged one frame to its own quota).
    pub buf: Option<Box<[u8; MAX_MSG_BYTES]>>,
    /// The reply object it waits on, in a call.
    pub awaiting: Option<ObjectId>,
    /// The capability it is blocked through (sending, calling, receiving),
    /// `None` when it is not blocked in IPC.
    pub via: Option<Via>,
    /// Where the long data of the message it waits for goes (its receive
    /// buffer), while it is blocked.
    pub dest: Data,
    /// Whether its blocked call ends with a message (a receive, a call's
    /// answer) rather than a bare 0 (a send).
    pub wants_message: bool,
}

impl IpcState {
    /// Bytes of long data it accepts now: its receive buffer's length.
    pub fn accepts(&self) -> usize {
        if let Data::User(_, len) = self.dest { len } else { 0 }
    }
}

/// Where long data is, or goes.
#[derive(Clone, Copy, Debug, Default)]
pub enum Data {
    /// No long data (or no buffer for it).
    #[default]
    None,
    /// In the running process's user memory: a checked range and its length.
    User(UserSlice, usize),
    /// In this (blocked) process's kernel buffer.
    Kernel(ObjectId),
}
