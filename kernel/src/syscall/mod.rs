//! The syscall wrapper and its handlers: decode, check, act.
//!
//! `arch::syscall` saves the user registers into a [`SyscallFrame`] and
//! calls [`dispatch`], the one wrapper every call goes through:
//!
//! 1. it takes the kernel lock and finds the caller ([`Caller`]);
//! 2. `caps::abi::syscall::dispatch_raw` decodes the registers into the call's
//!    typed argument struct (`caps::abi::syscall::calls`, generated from
//!    the same table as the ABI's documentation) and runs its handler
//!    through [`Ctx`]'s `Handlers` impl;
//! 3. the handler looks up every handle it is given in the caller's own
//!    table, with the kind and rights the call needs, and checks every user
//!    range, before it changes anything (a failed call changes nothing),
//!    then acts and returns a [`Next`]: what happens to the caller now;
//! 4. the wrapper applies it: writes the result registers, or blocks the
//!    caller (the one place a syscall gives up the CPU), and when it is
//!    woken finishes the call from what the waker left (`resume`).
//!
//! Handlers never switch stacks, never take the lock, and hold no
//! `unsafe`: blocking and waking are data ([`Next::Block`], the process's
//! `State`), in the style of Hubris's `NextTask` and seL4's
//! decode-then-invoke. One file per group of calls.

#![forbid(unsafe_code)]

mod cap;
mod console;
mod disk;
mod graph;
mod ipc;
mod ipc_fast;
mod mem;
mod memobj;
mod notify;
mod process;
mod ring;
mod time;

use caps::abi::syscall::{Handlers, calls};
use caps::abi::{Error, encode_error};
use caps::{ObjectId, TableId};

use crate::arch::syscall::SyscallFrame;
use crate::ipc::Incoming;
use crate::mem::aspace::AddressSpace;
use crate::objtable::ObjectTable;
use crate::proc::{Block, Process, switch};
use crate::state::{self, Kernel, KernelGuard};

/// Who is calling: the current process and its table.
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    /// The calling process.
    pub pid: ObjectId,
    /// Its capability table.
    pub table: TableId,
}

impl Caller {
    /// The current process, as seen under the kernel lock.
    pub fn current(k: &Kernel) -> Caller {
        let pid = k.sched.here().current.expect("syscalls come from a process");
        let table = k.sched.here().current_table.expect("a running process has a table");
        Caller { pid, table }
    }

    /// The caller's address space (the active one), from the process
    /// table alone (so other tables stay free to borrow).
    pub fn aspace(self, procs: &ObjectTable<Process>) -> &AddressSpace {
        procs
            .get(self.pid)
            .and_then(|p| p.aspace.as_ref())
            .expect("a running process has an address space")
    }
}

/// What happens to the caller once its handler has acted.
#[derive(Clone, Copy, Debug)]
pub enum Next {
    /// Return to it with this value (a success) in `rax`.
    Return(u64),
    /// Return to it with a received message: the tag in `rax`, the badge,
    /// reply handle and slots in the argument registers.
    Message(Incoming),
    /// Block it for this reason; whoever wakes it leaves the outcome in its
    /// process record, and `resume` finishes the call.
    Block(Block),
    /// Put it at the back of the run queue; it returns 0 when it runs
    /// again.
    Yield,
    /// Run this ready process now, for the rest of the caller's quantum,
    /// and put the caller at the back of the run queue (`proc_yield_to`);
    /// it returns 0 when it runs again.
    YieldTo(ObjectId),
    /// It has ended: switch away for good.
    Exit,
}

/// A handler's result.
pub type Outcome = Result<Next, Error>;

/// A handler's view of one call: the kernel state and the caller.
pub struct Ctx<'k> {
    k: &'k mut Kernel,
    c: Caller,
}

/// Wraps a handler that always returns to its caller.
fn ret(r: Result<u64, Error>) -> Outcome {
    r.map(Next::Return)
}

impl Handlers for Ctx<'_> {
    type Out = Outcome;

    #[inline]
    fn refuse(&mut self, error: Error) -> Outcome {
        Err(error)
    }
    #[inline]
    fn nop(&mut self, _: calls::Nop) -> Outcome {
        // Answered by the entry itself; here only if the entry changes.
        Ok(Next::Return(0))
    }
    #[inline]
    fn debug_write(&mut self, a: calls::DebugWrite) -> Outcome {
        ret(console::debug_write(self.k, self.c, a))
    }
    // Answered by `run_shared` (only looks); here only if that changes.
    #[inline]
    fn cap_info(&mut self, a: calls::CapInfo) -> Outcome {
        ret(cap::info(self.k, self.c, a))
    }
    #[inline]
    fn cap_derive(&mut self, a: calls::CapDerive) -> Outcome {
        ret(cap::derive(self.k, self.c, a))
    }
    #[inline]
    fn cap_drop(&mut self, a: calls::CapDrop) -> Outcome {
        ret(cap::drop(self.k, self.c, a))
    }
    #[inline]
    fn cap_revoke(&mut self, a: calls::CapRevoke) -> Outcome {
        cap::revoke(self.k, self.c, a)
    }
    #[inline]
    fn mem_map(&mut self, a: calls::MemMap) -> Outcome {
        ret(mem::map(self.k, self.c, a))
    }
    #[inline]
    fn mem_unmap(&mut self, a: calls::MemUnmap) -> Outcome {
        ret(mem::unmap(self.k, self.c, a))
    }
    #[inline]
    fn proc_spawn(&mut self, a: calls::ProcSpawn) -> Outcome {
        ret(process::spawn(self.k, self.c, a))
    }
    #[inline]
    fn proc_wait(&mut self, a: calls::ProcWait) -> Outcome {
        process::wait(self.k, self.c, a)
    }
    #[inline]
    fn exit(&mut self, a: calls::Exit) -> Outcome {
        process::exit(self.k, self.c, a)
    }
    #[inline]
    fn yield_now(&mut self, _: calls::Yield) -> Outcome {
        Ok(Next::Yield)
    }
    #[inline]
    fn sleep(&mut self, a: calls::Sleep) -> Outcome {
        time::sleep(self.k, self.c, a)
    }
    // Answered by `run_shared` (only looks); here only if that changes.
    #[inline]
    fn clock(&mut self, a: calls::Clock) -> Outcome {
        ret(time::clock(self.k, self.c, a))
    }
    // Answered by `run_shared` (only looks); here only if that changes.
    #[inline]
    fn disk_info(&mut self, a: calls::DiskInfo) -> Outcome {
        ret(disk::info(self.k, self.c, a))
    }
    #[inline]
    fn disk_read(&mut self, a: calls::DiskRead) -> Outcome {
        disk::read(self.k, self.c, a)
    }
    #[inline]
    fn disk_write(&mut self, a: calls::DiskWrite) -> Outcome {
        disk::write(self.k, self.c, a)
    }
    #[inline]
    fn disk_flush(&mut self, a: calls::DiskFlush) -> Outcome {
        disk::flush(self.k, self.c, a)
    }
    #[inline]
    fn disk_submit(&mut self, a: calls::DiskSubmit) -> Outcome {
        ret(disk::submit(self.k, self.c, a))
    }
    #[inline]
    fn disk_complete(&mut self, a: calls::DiskComplete) -> Outcome {
        disk::complete(self.k, self.c, a)
    }
    #[inline]
    fn ipc_send(&mut self, a: calls::IpcSend) -> Outcome {
        ipc::send(self.k, self.c, a)
    }
    #[inline]
    fn ipc_recv(&mut self, a: calls::IpcRecv) -> Outcome {
        ipc::recv(self.k, self.c, a)
    }
    #[inline]
    fn ipc_call(&mut self, a: calls::IpcCall) -> Outcome {
        ipc::call(self.k, self.c, a)
    }
    #[inline]
    fn ipc_reply(&mut self, a: calls::IpcReply) -> Outcome {
        ret(ipc::reply(self.k, self.c, a))
    }
    #[inline]
    fn ipc_reply_recv(&mut self, a: calls::IpcReplyRecv) -> Outcome {
        ipc::reply_recv(self.k, self.c, a)
    }
    #[inline]
    fn endpoint_create(&mut self, a: calls::EndpointCreate) -> Outcome {
        ret(ipc::endpoint_create(self.k, self.c, a))
    }
    // Answered by `run_shared` (only looks); here only if that changes.
    #[inline]
    fn cap_graph(&mut self, a: calls::CapGraph) -> Outcome {
        ret(graph::cap_graph(self.k, self.c, a))
    }
    // Answered by `run_shared` (only looks); here only if that changes.
    #[inline]
    fn timer_info(&mut self, a: calls::TimerInfo) -> Outcome {
        ret(time::info(self.k, self.c, a))
    }
    #[inline]
    fn notify_create(&mut self, a: calls::NotifyCreate) -> Outcome {
        ret(notify::create(self.k, self.c, a))
    }
    #[inline]
    fn notify_signal(&mut self, a: calls::NotifySignal) -> Outcome {
        ret(notify::signal(self.k, self.c, a))
    }
    #[inline]
    fn notify_wait(&mut self, a: calls::NotifyWait) -> Outcome {
        notify::wait(self.k, self.c, a)
    }
    #[inline]
    fn endpoint_bind(&mut self, a: calls::EndpointBind) -> Outcome {
        ret(notify::bind(self.k, self.c, a))
    }
    #[inline]
    fn ring_create(&mut self, a: calls::RingCreate) -> Outcome {
        ret(ring::create(self.k, self.c, a))
    }
    #[inline]
    fn ring_enter(&mut self, a: calls::RingEnter) -> Outcome {
        ring::enter(self.k, self.c, a)
    }
    #[inline]
    fn disk_bind(&mut self, a: calls::DiskBind) -> Outcome {
        ret(disk::bind(self.k, self.c, a))
    }
    fn mo_create(&mut self, a: calls::MoCreate) -> Outcome {
        ret(memobj::create(self.k, self.c, a))
    }
    fn mo_map(&mut self, a: calls::MoMap) -> Outcome {
        ret(memobj::map(self.k, self.c, a))
    }
    #[inline]
    fn proc_yield_to(&mut self, a: calls::ProcYieldTo) -> Outcome {
        process::yield_to(self.k, self.c, a)
    }
    fn console_read(&mut self, a: calls::ConsoleRead) -> Outcome {
        console::console_read(self.k, self.c, a)
    }
    fn proc_set_cpus(&mut self, a: calls::ProcSetCpus) -> Outcome {
        ret(process::set_cpus(self.k, self.c, a))
    }
    fn proc_state(&mut self, a: calls::ProcState) -> Outcome {
        ret(process::state(self.k, self.c, a))
    }
}

/// The wrapper: called by the syscall entry with the caller's saved
/// registers; runs the call and applies its [`Next`].
pub extern "C" fn dispatch(f: &mut SyscallFrame) {
    let number = f.rax;
    run(number, f);
    #[cfg(feature = "authority-checks")]
    crate::authority::after_syscall(caps::abi::Syscall::from_raw(number));
    if f.rip >= caps::abi::layout::USER_END {
        // Unreachable by the layout (see `arch::syscall`): `sysretq` to a
        // non-canonical RIP would fault in ring 0 on the user's stack.
        crate::proc::fault::kill_current("syscall return address outside user space", GP_VECTOR);
    }
}

/// The vector a bad return address is reported as (#GP, as the CPU would).
const GP_VECTOR: u8 = 13;

/// Runs `call` and applies its outcome.
#[inline(always)]
fn run(number: u64, f: &mut SyscallFrame) {
    if number < 64
        && SHARED_CALLS >> number & 1 != 0
        && let Some(value) = run_shared(number, &f.args)
    {
        f.rax = value;
        return;
    }
    let mut k = state::lock();
    let c = Caller::current(&k);
    let outcome = caps::abi::syscall::dispatch_raw(&mut Ctx { k: &mut k, c }, number, &f.args);
    apply(k, c, number, f, outcome);
}

/// The calls that only look, under the kernel state taken for reading: on
/// several CPUs at once they do not contend (`smp_syscalls_per_sec_*`,
/// `docs/architecture.md`, "Locks"). Each looks at the caller's own table
/// and at objects no reader changes, and may write the caller's memory,
/// which no unmap (a writer) can pull away meanwhile. None blocks or
/// switches. `None` for every other call.
#[inline(always)]
fn run_shared(number: u64, args: &[u64; 6]) -> Option<u64> {
    use caps::abi::Syscall as S;
    Some(match S::from_raw(number)? {
        S::CapInfo => shared(args, cap::info),
        S::Clock => shared(args, time::clock),
        S::TimerInfo => shared(args, time::info),
        S::DiskInfo => shared(args, disk::info),
        S::CapGraph => shared(args, graph::cap_graph),
        _ => return None,
    })
}

/// The numbers of the calls [`run_shared`] answers, as bits: one test on
/// the way of every other call (a `match` on the number there became a
/// jump table that the IPC calls went through too).
const SHARED_CALLS: u64 = {
    use caps::abi::Syscall as S;
    let calls = [S::CapInfo, S::Clock, S::TimerInfo, S::DiskInfo, S::CapGraph];
    let mut mask = 0;
    let mut i = 0;
    while i < calls.len() {
        assert!(calls[i].as_raw() < 64);
        mask |= 1 << calls[i].as_raw();
        i += 1;
    }
    mask
};

/// Decodes `args` and runs `handler` under the state taken for reading.
#[inline(never)]
fn shared<A: caps::abi::syscall::Call>(
    args: &[u64; 6],
    handler: fn(&Kernel, Caller, A) -> Result<u64, Error>,
) -> u64 {
    let k = state::read();
    let c = Caller::current(&k);
    match A::decode(args).and_then(|a| handler(&k, c, a)) {
        Ok(value) => value,
        Err(e) => encode_error(e),
    }
}

/// Applies an outcome: the one place a call's result reaches the frame
/// and the caller gives up the CPU. Inline, so the common outcomes stay on
/// the wrapper's short path (measured: a yield through an out-of-line path
/// cost a yielding pair ~15% more under TCG); blocking is out of line
/// ([`block_then_apply`]). The frame's argument registers still hold the
/// call's arguments until a message is written into them, at the very end.
#[inline(always)]
fn apply(k: KernelGuard, c: Caller, number: u64, f: &mut SyscallFrame, outcome: Outcome) {
    match outcome {
        Ok(Next::Return(value)) => f.rax = value,
        Err(e) => f.rax = encode_error(e),
        Ok(Next::Message(m)) => set_message(f, &m),
        Ok(Next::Yield) => {
            switch::yield_now(k);
            f.rax = 0;
        }
        Ok(Next::YieldTo(pid)) => {
            switch::yield_to(k, pid);
            f.rax = 0;
        }
        Ok(Next::Exit) => switch::exit_current(k),
        Ok(Next::Block(block)) => block_then_apply(k, c, number, f, block),
    }
}

/// Writes a received message into the caller's result registers: the tag
/// in `rax`, the badge, reply handle and slots in the argument registers
/// (`caps::abi::ipc`'s register layout).
#[inline(always)]
fn set_message(f: &mut SyscallFrame, m: &Incoming) {
    f.rax = m.tag.0;
    f.args = [m.badge, m.reply, m.slots[0], m.slots[1], m.slots[2], m.slots[3]];
}

/// Blocks the caller for `block`; when it is woken, finishes the call
/// from what the waker left (`resume`), or runs it again from its
/// registers (`proc_wait`), which may block once more.
#[inline(never)]
fn block_then_apply(
    mut k: KernelGuard,
    c: Caller,
    number: u64,
    f: &mut SyscallFrame,
    mut block: Block,
) {
    loop {
        switch::block_current(k, block);
        k = state::lock();
        if let Block::Send(_) | Block::Recv(_) | Block::Reply(_) = block
            && ipc::finish_in_registers(&mut k, c, f)
        {
            return;
        }
        let outcome = match resume(&mut k, c, block) {
            Some(outcome) => outcome,
            None => restart(&mut k, c, number, f),
        };
        match outcome {
            Ok(Next::Block(again)) => block = again,
            done => return apply(k, c, number, f, done),
        }
    }
}

/// Runs call `number` again from the registers it was made with (a
/// woken `proc_wait`). Out of line: the decoder's jump table belongs to
/// the wrapper's common path once, not twice.
#[inline(never)]
fn restart(k: &mut Kernel, c: Caller, number: u64, f: &SyscallFrame) -> Outcome {
    caps::abi::syscall::dispatch_raw(&mut Ctx { k, c }, number, &f.args)
}

/// Finishes a call that blocked for `block`, now that the caller runs
/// again: `Revoked` if the capability it blocked through died meanwhile
/// (`Kernel::wake_revoked`: a flag for `sleep`, `proc_wait`,
/// `notify_wait` and `console_read`, the IPC outcome for the others), else the
/// outcome its waker left (a `notify_wait`'s bits in `Process::notified`);
/// `None` when the call is to be run again.
fn resume(k: &mut Kernel, c: Caller, block: Block) -> Option<Outcome> {
    // A `proc_wait`'s tie outlives its wake-up (see
    // `Scheduler::forget_blocked`); it ends here. Every other wait's tie
    // ended when it woke.
    if let Block::Wait(_) = block {
        k.sched.untie_process(c.pid);
    }
    let p = k.procs.get_mut(c.pid).expect("the running process exists");
    let revoked = core::mem::take(&mut p.revoked);
    match block {
        // These keep state in `disk_waits` that must be taken out whatever
        // happened; a revoked transfer's own result is `Revoked`.
        Block::Disk => Some(disk::finish_blocked(k, c)),
        Block::Settle => Some(cap::finish_revoke(k, c)),
        _ if revoked => Some(Err(Error::Revoked)),
        Block::Sleep(_) => Some(Ok(Next::Return(0))),
        // 0: woken because nothing can signal any more (`notify::cap_removed`).
        Block::Notify(_) => {
            let p = k.procs.get_mut(c.pid).expect("the running process exists");
            match core::mem::take(&mut p.notified) {
                0 => Some(Err(Error::PeerGone)),
                bits => Some(Ok(Next::Return(bits))),
            }
        }
        // A reader woken by typed bytes takes them by running again.
        Block::Wait(_) | Block::DiskComplete(_) | Block::ConsoleRead => None,
        Block::Ring(_) => Some(ring::resume_wait(k, c)),
        Block::Send(_) | Block::Recv(_) | Block::Reply(_) => Some(ipc::finish(k, c)),
    }
}
