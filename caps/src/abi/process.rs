//! Processes: what `proc_spawn` takes, what a new process finds in its
//! start page, and what `proc_wait` returns.
//!
//! `proc_spawn(&SpawnArgs)`: `image` is an `Image` handle (EXEC), `memory`
//! a `Memory` handle (MAP) from whose quota `quota_pages` pages are set
//! aside for the child (its own quota: page tables, kernel stack, stack,
//! and whatever it maps later), `grants` points to `grants_len` [`Grant`]
//! records: the handles the child starts with (each needs GRANT; the
//! child's copy has the rights asked for, which must be a subset, and is a
//! child of the parent's capability in the derivation tree, so revoking the
//! parent's takes it away); `args` are up to [`ARGS_LEN`] bytes of
//! arguments the child finds in its start page; `cpus` the CPUs it may
//! run on (hard affinity, inherited by default; within them the scheduler
//! prefers the CPU it last ran on). Returns a `Process` handle
//! with the rights [`PROCESS_HANDLE_RIGHTS`].

use super::Rights;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Longest role name, in bytes (shorter names are zero-padded).
pub const ROLE_LEN: usize = 24;
/// Most handles a process can be started with.
pub const MAX_START_HANDLES: usize = 48;
/// Longest process name kept in the start page.
pub const NAME_LEN: usize = 32;
/// Most bytes of arguments a process starts with.
pub const ARGS_LEN: usize = 1024;
/// `StartInfo::magic`.
pub const START_MAGIC: u64 = 0x7472_6174_7370_6f78; // "xopstart"
/// `StartInfo::version`.
pub const START_VERSION: u32 = 1;

/// The rights of the `Process` handle `proc_spawn` returns: every one a
/// `Process` capability may hold (`WAIT` for `proc_wait` and `proc_state`,
/// `WRITE` for `proc_set_cpus`, the generic ones).
pub const PROCESS_HANDLE_RIGHTS: Rights = Rights::WAIT
    .union(Rights::WRITE)
    .union(Rights::GRANT)
    .union(Rights::DERIVE)
    .union(Rights::REVOKE);

/// A role name: a short label such as `console` or `disk`, by which a
/// program finds a handle it was given.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Role(pub [u8; ROLE_LEN]);

impl Role {
    /// The role for `name`; `None` if it is empty or longer than
    /// [`ROLE_LEN`] bytes.
    pub fn new(name: &str) -> Option<Role> {
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes.len() > ROLE_LEN {
            return None;
        }
        let mut role = [0u8; ROLE_LEN];
        role[..bytes.len()].copy_from_slice(bytes);
        Some(Role(role))
    }

    /// The name (up to the first zero byte); `None` if not UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        let len = self.0.iter().position(|&b| b == 0).unwrap_or(ROLE_LEN);
        core::str::from_utf8(&self.0[..len]).ok()
    }
}

/// One handle to give a new process (`proc_spawn`'s `grants` array).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Grant {
    /// The parent's handle.
    pub handle: u64,
    /// The rights the child's copy gets (a subset of the parent's).
    pub rights: u32,
    /// Zero.
    pub reserved: u32,
    /// The role the child finds it by.
    pub role: Role,
}

/// What `proc_spawn` takes (by pointer).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct SpawnArgs {
    /// The `Image` handle.
    pub image: u64,
    /// The `Memory` handle the child's quota is carved from.
    pub memory: u64,
    /// Pages the child may use in all.
    pub quota_pages: u64,
    /// Address of the [`Grant`] array.
    pub grants: u64,
    /// Entries in it (at most [`MAX_START_HANDLES`]).
    pub grants_len: u64,
    /// Address of the argument bytes.
    pub args: u64,
    /// How many (at most [`ARGS_LEN`]).
    pub args_len: u64,
    /// The CPUs the child may run on, for its whole life: bit `i` is CPU
    /// `i` (the order the kernel brought them up in; 0 is the boot CPU).
    /// 0 means the spawner's own ([`PARENT_CPUS`]: a child inherits its
    /// parent's, as on Linux; init may run on every CPU). Any other mask
    /// is taken as given, whatever the spawner's. Bits of CPUs that are
    /// not online are ignored; a mask with no online CPU is
    /// `InvalidArgument`.
    pub cpus: u64,
}

/// `SpawnArgs::cpus`: the spawner's own CPUs.
pub const PARENT_CPUS: u64 = 0;

/// One handle in the start page.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct StartHandle {
    /// The handle value in the new process's table.
    pub handle: u64,
    /// Its object kind ([`super::ObjectKind`] as a number).
    pub kind: u32,
    /// Its rights.
    pub rights: u32,
    /// Its role.
    pub role: Role,
}

/// The start page, mapped read-only at [`super::layout::START_INFO_ADDR`]
/// in every new process; `_start` receives its address in `rdi`.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct StartInfo {
    /// [`START_MAGIC`].
    pub magic: u64,
    /// [`START_VERSION`].
    pub version: u32,
    /// How many entries of `handles` are valid.
    pub handle_count: u32,
    /// The process's own id (for messages; it names nothing).
    pub pid: u64,
    /// The program's name, zero-padded.
    pub name: [u8; NAME_LEN],
    /// The handles the process starts with.
    pub handles: [StartHandle; MAX_START_HANDLES],
    /// How many bytes of `args` are valid.
    pub args_len: u64,
    /// The arguments (for init: the boot settings the kernel does not use).
    pub args: [u8; ARGS_LEN],
}

const _: () = assert!(core::mem::size_of::<StartInfo>() <= 4096);

impl StartInfo {
    /// The valid handle entries.
    pub fn handles(&self) -> &[StartHandle] {
        let n = (self.handle_count as usize).min(MAX_START_HANDLES);
        &self.handles[..n]
    }

    /// The first handle with role `role`.
    pub fn find(&self, role: &str) -> Option<&StartHandle> {
        self.handles().iter().find(|h| h.role.as_str() == Some(role))
    }

    /// The arguments, if UTF-8.
    pub fn args(&self) -> Option<&str> {
        let n = (self.args_len as usize).min(ARGS_LEN);
        core::str::from_utf8(&self.args[..n]).ok()
    }

    /// The program name.
    pub fn name(&self) -> &str {
        let len = self.name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        core::str::from_utf8(&self.name[..len]).unwrap_or("?")
    }
}

/// How a process ended, as `proc_wait` returns it (a value below the
/// error band, so it never reads as an error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// It called `exit(code)` (or returned `code` from `main`).
    Exited(i32),
    /// It was killed by a CPU exception (the vector).
    Faulted(u8),
    /// It was killed by the kernel for another reason (e.g. a bad return
    /// address, or its quota could not hold its start-up).
    Killed,
}

const STATUS_EXITED: u64 = 0;
const STATUS_FAULTED: u64 = 1;
const STATUS_KILLED: u64 = 2;

impl ExitStatus {
    /// The encoding: kind in bits 32..40, payload in bits 0..32.
    pub const fn encode(self) -> u64 {
        match self {
            ExitStatus::Exited(code) => STATUS_EXITED << 32 | code as u32 as u64,
            ExitStatus::Faulted(vector) => STATUS_FAULTED << 32 | vector as u64,
            ExitStatus::Killed => STATUS_KILLED << 32,
        }
    }

    /// Decodes [`ExitStatus::encode`]; `None` for anything else.
    pub const fn decode(raw: u64) -> Option<ExitStatus> {
        let payload = raw as u32;
        match raw >> 32 {
            STATUS_EXITED => Some(ExitStatus::Exited(payload as i32)),
            STATUS_FAULTED if payload < 256 => Some(ExitStatus::Faulted(payload as u8)),
            STATUS_KILLED if payload == 0 => Some(ExitStatus::Killed),
            _ => None,
        }
    }

    /// Whether the process exited with code 0.
    pub const fn success(self) -> bool {
        matches!(self, ExitStatus::Exited(0))
    }
}

/// What a living process is doing, as `proc_state` reports it: whether it
/// runs, waits to run, or what it is blocked in. Like Zircon's thread
/// states (`ZX_INFO_THREAD`: `ZX_THREAD_STATE_BLOCKED_CHANNEL`, ...) or
/// the state letter of Linux's `/proc/<pid>/stat`. A snapshot: the process
/// may have moved on by the time its parent reads it; what it is good for
/// is waiting until a peer has reached a blocking call, rather than
/// sleeping and hoping it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum ProcState {
    /// Waiting for a CPU.
    Ready = 0,
    /// On a CPU.
    Running = 1,
    /// In `sleep`.
    Sleeping = 2,
    /// In `proc_wait`, for another process to end.
    Waiting = 3,
    /// In `ipc_send` or `ipc_call`, its message queued on an endpoint.
    Sending = 4,
    /// In `ipc_recv` or `ipc_reply_recv`, for a message.
    Receiving = 5,
    /// In `ipc_call`, its message delivered, for the answer.
    AwaitingReply = 6,
    /// In `notify_wait`.
    Notified = 7,
    /// In a disk call (`disk_read`, `disk_write`, `disk_flush`,
    /// `disk_complete`), `ring_enter`, or a `cap_revoke` waiting for the
    /// devices to finish with what it destroyed.
    Io = 8,
    /// In `console_read`, for a typed byte.
    ConsoleRead = 9,
}

impl ProcState {
    /// Every state, in encoding order.
    pub const ALL: [ProcState; 10] = [
        ProcState::Ready,
        ProcState::Running,
        ProcState::Sleeping,
        ProcState::Waiting,
        ProcState::Sending,
        ProcState::Receiving,
        ProcState::AwaitingReply,
        ProcState::Notified,
        ProcState::Io,
        ProcState::ConsoleRead,
    ];

    /// Decodes `proc_state`'s value; `None` for anything else.
    pub fn decode(raw: u64) -> Option<ProcState> {
        Self::ALL.get(usize::try_from(raw).ok()?).copied()
    }

    /// Whether it is blocked in a call (neither running nor ready).
    pub const fn is_blocked(self) -> bool {
        !matches!(self, ProcState::Ready | ProcState::Running)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_states_decode_as_encoded() {
        for s in ProcState::ALL {
            assert_eq!(ProcState::decode(s as u64), Some(s));
        }
        assert_eq!(ProcState::decode(ProcState::ALL.len() as u64), None);
        assert_eq!(ProcState::decode(u64::MAX), None);
        assert!(!ProcState::Running.is_blocked() && ProcState::Receiving.is_blocked());
    }

    #[test]
    fn exit_status_round_trips() {
        for s in [
            ExitStatus::Exited(0),
            ExitStatus::Exited(-1),
            ExitStatus::Exited(i32::MAX),
            ExitStatus::Faulted(14),
            ExitStatus::Killed,
        ] {
            assert_eq!(ExitStatus::decode(s.encode()), Some(s));
            assert!(s.encode() < u64::MAX - 4095);
        }
        assert_eq!(ExitStatus::decode(3 << 32), None);
        assert_eq!(ExitStatus::decode(1 << 32 | 300), None);
    }

    #[test]
    fn roles_are_bounded_and_round_trip() {
        assert_eq!(Role::new("console").unwrap().as_str(), Some("console"));
        assert!(Role::new("").is_none());
        assert!(Role::new(&"x".repeat(ROLE_LEN + 1)).is_none());
        assert_eq!(Role::new(&"y".repeat(ROLE_LEN)).unwrap().as_str().unwrap().len(), ROLE_LEN);
    }
}
