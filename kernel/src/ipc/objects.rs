//! The IPC objects as the kernel state holds them: endpoints (with their
//! queues of blocked processes) and one-shot replies, in their tables.
//!
//! Plain records; the rules that act on them (`endpoint`, `reply`,
//! `transfer`, and `ipc`'s own functions) are above the kernel state.

use caps::ObjectId;
use caps::abi::Rights;
use kerncore::queue::Linked;

use crate::objtable::ObjectTable;
use crate::proc::Process;

/// Most endpoints at once (each is also charged to a quota).
pub const MAX_ENDPOINTS: usize = 4096;
/// Most reply objects at once (at most one pending per calling process;
/// spent ones live until their last capability is dropped).
pub const MAX_REPLIES: usize = 4096;

/// The IPC objects.
pub struct Objects {
    /// Endpoints, by id.
    pub endpoints: ObjectTable<Endpoint>,
    /// Reply objects, by id.
    pub replies: ObjectTable<Reply>,
}

impl Objects {
    /// None yet.
    pub const fn new() -> Self {
        Objects {
            endpoints: ObjectTable::new(MAX_ENDPOINTS),
            replies: ObjectTable::new(MAX_REPLIES),
        }
    }
}

/// The rights a new endpoint capability has.
pub const ENDPOINT_RIGHTS: Rights = Rights::SEND
    .union(Rights::RECV)
    .union(Rights::GRANT)
    .union(Rights::DERIVE)
    .union(Rights::REVOKE);

/// A FIFO of blocked processes, linked through `IpcState::next` (see
/// [`kerncore::queue`], where it is tested on the host). A process is on
/// at most one queue: it blocks on one thing at a time.
pub type Queue = kerncore::queue::Queue<Process>;

impl Linked for Process {
    fn next(&self) -> Option<ObjectId> {
        self.ipc.next
    }

    fn set_next(&mut self, next: Option<ObjectId>) {
        self.ipc.next = next;
    }
}

/// One endpoint.
#[derive(Debug)]
pub struct Endpoint {
    /// The quota it is charged to.
    pub quota: ObjectId,
    /// Capabilities naming it.
    pub caps: u32,
    /// Of those, the ones with SEND.
    pub send_caps: u32,
    /// Of those, the ones with RECV.
    pub recv_caps: u32,
    /// Processes blocked sending (or calling).
    pub senders: Queue,
    /// Processes blocked receiving.
    pub receivers: Queue,
    // A caller waiting for its answer is not queued here: its reply
    // object names it, and its tie to the handle it called through finds
    // it if that capability dies (`Kernel::cap_gone`).
    /// The notification capability it signals through when a sender has
    /// to queue (no receiver waiting): `(table, handle)` as `endpoint_bind`
    /// recorded them, looked up at each signal (`notify::signal_through`).
    pub bound: Option<(caps::TableId, caps::abi::RawHandle)>,
}

/// The rights of a new reply capability.
pub const REPLY_RIGHTS: Rights = Rights::SEND.union(Rights::GRANT);

/// Where a reply is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyState {
    /// The caller waits for the answer.
    Waiting(ObjectId),
    /// Answered (or spent on a dead caller).
    Spent,
    /// The caller died before the answer.
    CallerGone,
}

/// One reply object.
#[derive(Debug)]
pub struct Reply {
    /// Where it is in its life.
    pub state: ReplyState,
    /// Capabilities naming it.
    pub caps: u32,
}
