//! Starting programs and waiting for them.
//!
//! A child gets the spawner's console by default (under the role
//! `console`, with the spawner's write, derive and grant rights), so a
//! helper's `println!` is seen: output without a console is dropped, and
//! a helper that prints nothing for that reason is a puzzle. Granting a
//! `console` explicitly replaces the default; [`Spawn::without_console`]
//! starts a child with no console on purpose. When the spawner has a
//! console it cannot grant (no `GRANT` right), `spawn` says so on that
//! console, once per spawn.

use alloc::vec::Vec;
use caps::abi::args::WAIT_NONBLOCK;
use caps::abi::kind::{Console, Image, Kind, Memory, Process, Timer};
use caps::abi::process::{ExitStatus, Grant, PARENT_CPUS, ProcState, Role, SpawnArgs};
use caps::abi::{Error, RawHandle, Rights};

use crate::handle::Handle;
use crate::{Start, sys};

/// Pages a child gets when the spawner does not say.
pub const DEFAULT_QUOTA_PAGES: u64 = 1024;

/// A program to start: which image, how much memory, which handles.
pub struct Spawn<'a> {
    image: Handle<Image>,
    memory: Option<Handle<Memory>>,
    quota_pages: u64,
    grants: Vec<Grant>,
    args: &'a str,
    console: bool,
    cpus: u64,
}

/// The role of the console, in every start page.
const CONSOLE_ROLE: &str = "console";

/// The rights a child's default console can have (at most ours).
const CONSOLE_RIGHTS: Rights = Rights::WRITE.union(Rights::DERIVE).union(Rights::GRANT);

/// What [`Spawn::spawn`] does about the child's console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConsolePlan {
    /// Nothing: the spawner granted one, opted out, or has none.
    Nothing,
    /// Grant ours with these rights.
    Grant(Rights),
    /// Ours cannot be granted: say so, and start the child without one.
    Warn,
}

/// The plan for a child's console: `explicit` if the spawner granted a
/// `console` itself, `wanted` unless it called `without_console`, `ours`
/// the rights of our console if we have one.
fn console_plan(explicit: bool, wanted: bool, ours: Option<Rights>) -> ConsolePlan {
    match ours {
        _ if explicit || !wanted => ConsolePlan::Nothing,
        None => ConsolePlan::Nothing,
        Some(r) if r.contains(Rights::GRANT) => ConsolePlan::Grant(r.intersection(CONSOLE_RIGHTS)),
        Some(_) => ConsolePlan::Warn,
    }
}

impl<'a> Spawn<'a> {
    /// Starts from `image` with [`DEFAULT_QUOTA_PAGES`], no handles (the
    /// child always gets its own `memory`), no arguments.
    pub fn new(image: Handle<Image>) -> Self {
        Spawn {
            image,
            memory: None,
            quota_pages: DEFAULT_QUOTA_PAGES,
            grants: Vec::new(),
            args: "",
            console: true,
            cpus: PARENT_CPUS,
        }
    }

    /// Start the child without our console (by default it gets it): its
    /// `println!` output is then dropped.
    pub fn without_console(mut self) -> Self {
        self.console = false;
        self
    }

    /// Carve the child's quota from `memory` (default: our own `memory`).
    pub fn memory(mut self, memory: Handle<Memory>) -> Self {
        self.memory = Some(memory);
        self
    }

    /// How many pages the child may use in all (page tables, stacks,
    /// heap...), taken from our quota while it lives.
    pub fn quota_pages(mut self, pages: u64) -> Self {
        self.quota_pages = pages;
        self
    }

    /// Gives the child a copy of `handle` with `rights`, found by `role`.
    /// The copy descends from ours: revoking ours takes it away.
    pub fn grant<K: Kind>(
        self,
        handle: Handle<K>,
        rights: Rights,
        role: &str,
    ) -> Result<Self, Error> {
        self.grant_raw(handle.raw(), rights, role)
    }

    /// [`grant`](Self::grant) for a handle whose kind is known only at run
    /// time (a shell granting what its user names): the kernel checks the
    /// kind where it matters, when the child uses it. `InvalidArgument` for
    /// a role longer than `ROLE_LEN` bytes.
    pub fn grant_raw(
        mut self,
        handle: RawHandle,
        rights: Rights,
        role: &str,
    ) -> Result<Self, Error> {
        let role = Role::new(role).ok_or(Error::InvalidArgument)?;
        self.grants.push(Grant {
            handle: handle.as_raw(),
            rights: rights.bits(),
            reserved: 0,
            role,
        });
        Ok(self)
    }

    /// The CPUs the child may run on, for its whole life: bit `i` is CPU
    /// `i` (default: ours). Bits of CPUs that are not online are ignored;
    /// the spawn fails with `InvalidArgument` if none is online.
    pub fn on_cpus(mut self, cpus: u64) -> Self {
        self.cpus = cpus;
        self
    }

    /// The child's arguments (`Start::args`).
    pub fn args(mut self, args: &'a str) -> Self {
        self.args = args;
        self
    }

    /// Starts the child (with our console unless told otherwise: see the
    /// module doc). Errors are the kernel's `proc_spawn` errors;
    /// `BadHandle` if we have no `memory` and none was given.
    pub fn spawn(mut self) -> Result<Child, Error> {
        let start = Start::current();
        let memory = match self.memory {
            Some(m) => m,
            None => start.handle::<Memory>("memory").ok_or(Error::BadHandle)?,
        };
        let explicit = self.grants.iter().any(|g| g.role.as_str() == Some(CONSOLE_ROLE));
        let ours = start.handle::<Console>(CONSOLE_ROLE);
        let our_rights = ours.and_then(|c| c.kind_and_rights().ok()).map(|(_, r)| r);
        match (console_plan(explicit, self.console, our_rights), ours) {
            (ConsolePlan::Grant(rights), Some(console)) => {
                self = self.grant(console, rights, CONSOLE_ROLE)?;
            }
            (ConsolePlan::Warn, _) => crate::println!(
                "{}: spawn: our console has no GRANT right; the child starts without one \
                 and its output is dropped (Spawn::without_console says it is meant)",
                start.name()
            ),
            _ => {}
        }
        let args = SpawnArgs {
            image: self.image.raw().as_raw(),
            memory: memory.raw().as_raw(),
            quota_pages: self.quota_pages,
            grants: self.grants.as_ptr() as u64,
            grants_len: self.grants.len() as u64,
            args: self.args.as_ptr() as u64,
            args_len: self.args.len() as u64,
            cpus: self.cpus,
        };
        sys::proc_spawn(&args).map(|h| Child(Handle::from_raw(h)))
    }
}

/// A started child process.
#[derive(Clone, Copy, Debug)]
pub struct Child(pub Handle<Process>);

impl Child {
    /// Waits for it to end.
    pub fn wait(self) -> Result<ExitStatus, Error> {
        sys::proc_wait(self.0.raw(), 0)
    }

    /// Its status if it has ended (`WouldBlock` if not).
    pub fn try_wait(self) -> Result<ExitStatus, Error> {
        sys::proc_wait(self.0.raw(), WAIT_NONBLOCK)
    }

    /// Lets it run only on the online CPUs of the mask `cpus` (bit `i`:
    /// CPU `i`; [`PARENT_CPUS`](crate::abi::process::PARENT_CPUS): ours),
    /// as [`Spawn::on_cpus`] did at its start; returns the mask taken. A
    /// child running on a CPU the mask leaves out moves within a timer
    /// tick (`proc_set_cpus`). Errors: `InvalidArgument` (no online CPU),
    /// `PeerGone` (it has ended), `MissingRight` (a handle without WRITE).
    pub fn set_cpus(self, cpus: u64) -> Result<u64, Error> {
        sys::proc_set_cpus(self.0.raw(), cpus)
    }

    /// What it is doing now: running, ready, or the kind of call it is
    /// blocked in (`proc_state`). Errors: `PeerGone` (it has ended),
    /// `MissingRight` (a handle without WAIT).
    pub fn state(self) -> Result<ProcState, Error> {
        let raw = sys::proc_state(self.0.raw())?;
        ProcState::decode(raw).ok_or(Error::InvalidArgument)
    }

    /// Waits until it is blocked in a call of the kind `state` says (for
    /// example `Receiving`), looking every `poll_ns` on `timer` for at
    /// most `limit_ns`: how a test orders itself after a peer's blocking
    /// call without betting on a sleep's length. `TimedOut` if it was
    /// never seen there; `PeerGone` if it ended first.
    pub fn wait_until(
        self,
        state: ProcState,
        timer: Handle<Timer>,
        poll_ns: u64,
        limit_ns: u64,
    ) -> Result<(), Error> {
        let start = timer.now_ns()?;
        loop {
            if self.state()? == state {
                return Ok(());
            }
            if timer.now_ns()?.saturating_sub(start) >= limit_ns {
                return Err(Error::TimedOut);
            }
            timer.sleep_ns(poll_ns)?;
        }
    }
}

/// Ends this process with `code`.
pub fn exit(code: i32) -> ! {
    sys::exit(code)
}

/// Lets other ready processes run.
pub fn yield_now() {
    sys::yield_now()
}

/// Runs `process` now if it is ready, for the rest of this process's
/// quantum (`proc_yield_to`); `WouldBlock` if it is not ready, `PeerGone`
/// if it has ended.
pub fn yield_to(process: Handle<Process>) -> Result<(), Error> {
    sys::proc_yield_to(process.raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_gets_our_console_by_default_with_at_most_our_rights() {
        let all = Rights::WRITE | Rights::DERIVE | Rights::GRANT | Rights::REVOKE;
        assert_eq!(console_plan(false, true, Some(all)), ConsolePlan::Grant(CONSOLE_RIGHTS));
        let w = Rights::WRITE | Rights::GRANT;
        assert_eq!(console_plan(false, true, Some(w)), ConsolePlan::Grant(w));
    }

    #[test]
    fn an_explicit_grant_or_an_opt_out_wins() {
        let all = CONSOLE_RIGHTS;
        assert_eq!(console_plan(true, true, Some(all)), ConsolePlan::Nothing);
        assert_eq!(console_plan(false, false, Some(all)), ConsolePlan::Nothing);
        assert_eq!(console_plan(false, true, None), ConsolePlan::Nothing);
    }

    #[test]
    fn a_console_we_cannot_grant_is_reported() {
        assert_eq!(console_plan(false, true, Some(Rights::WRITE)), ConsolePlan::Warn);
        assert_eq!(console_plan(false, false, Some(Rights::WRITE)), ConsolePlan::Nothing);
    }
}
