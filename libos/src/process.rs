//! Starting programs and waiting for them.

use alloc::vec::Vec;
use caps::abi::args::WAIT_NONBLOCK;
use caps::abi::kind::{Image, Kind, Memory, Process};
use caps::abi::process::{ExitStatus, Grant, Role, SpawnArgs};
use caps::abi::{Error, Rights};

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
        }
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
        mut self,
        handle: Handle<K>,
        rights: Rights,
        role: &str,
    ) -> Result<Self, Error> {
        let role = Role::new(role).ok_or(Error::InvalidArgument)?;
        self.grants.push(Grant {
            handle: handle.raw().as_raw(),
            rights: rights.bits(),
            reserved: 0,
            role,
        });
        Ok(self)
    }

    /// The child's arguments (`Start::args`).
    pub fn args(mut self, args: &'a str) -> Self {
        self.args = args;
        self
    }

    /// Starts the child.
    pub fn spawn(self) -> Result<Child, Error> {
        let memory = match self.memory {
            Some(m) => m,
            None => Start::current().handle::<Memory>("memory").ok_or(Error::BadHandle)?,
        };
        let args = SpawnArgs {
            image: self.image.raw().as_raw(),
            memory: memory.raw().as_raw(),
            quota_pages: self.quota_pages,
            grants: self.grants.as_ptr() as u64,
            grants_len: self.grants.len() as u64,
            args: self.args.as_ptr() as u64,
            args_len: self.args.len() as u64,
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
}

/// Ends this process with `code`.
pub fn exit(code: i32) -> ! {
    sys::exit(code)
}

/// Lets other ready processes run.
pub fn yield_now() {
    sys::yield_now()
}
