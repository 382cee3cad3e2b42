//! `proc_spawn`, `proc_wait`, `exit`, `yield`, `proc_yield_to`,
//! `proc_set_cpus`, `proc_state`.

use alloc::vec::Vec;
use caps::abi::args::WAIT_NONBLOCK;
use caps::abi::process::{
    ARGS_LEN, ExitStatus, Grant, MAX_START_HANDLES, PARENT_CPUS, PROCESS_HANDLE_RIGHTS, SpawnArgs,
};
use caps::abi::syscall::calls;
use caps::abi::{Error, ObjectKind, Rights};
use caps::{Capability, NO_BADGE, Object};

use super::{Caller, Next, Outcome};
use crate::mem::user::{UserSlice, read_value};
use crate::proc::spawn::{SpawnRequest, StartGrant};
use crate::proc::{self, Block, State};
use crate::state::Kernel;

/// `proc_spawn(args)`: starts the program an `Image` handle (EXEC) names,
/// with a quota carved from a `Memory` handle (MAP) and the handles the
/// grants list. Returns a `Process` handle.
pub fn spawn(k: &mut Kernel, c: Caller, a: calls::ProcSpawn) -> Result<u64, Error> {
    let aspace = c.aspace(&k.procs);
    let args: SpawnArgs = read_value(aspace, a.args)?;
    if args.grants_len > MAX_START_HANDLES as u64 || args.args_len > ARGS_LEN as u64 {
        return Err(Error::InvalidArgument);
    }
    let mut grants = Vec::with_capacity(args.grants_len as usize);
    for i in 0..args.grants_len {
        let g: Grant = read_value(aspace, args.grants + i * size_of::<Grant>() as u64)?;
        grants.push(StartGrant::from_user(c.table, &g)?);
    }
    let mut arg_bytes = [0u8; ARGS_LEN];
    let arg_bytes = &mut arg_bytes[..args.args_len as usize];
    UserSlice::new(args.args, args.args_len)?.read(aspace, arg_bytes)?;

    let image = k.caps.lookup(
        c.table,
        caps::abi::RawHandle::from_raw(args.image),
        ObjectKind::Image,
        Rights::EXEC,
    )?;
    let Object::Image(image_id) = image.object else { return Err(Error::WrongKind) };
    let memory = k.caps.lookup(
        c.table,
        caps::abi::RawHandle::from_raw(args.memory),
        ObjectKind::Memory,
        Rights::MAP,
    )?;
    let Object::Memory(quota) = memory.object else { return Err(Error::WrongKind) };
    if !k.caps.table(c.table).is_some_and(|t| t.has_room()) {
        return Err(Error::TableFull);
    }
    let program = k.images.get(image_id.0 as usize).ok_or(Error::BadHandle)?;
    let (name, bytes) = (program.name.clone(), program.bytes);
    let req = SpawnRequest {
        name: &name,
        image: bytes,
        parent_quota: quota,
        parent_quota_rights: memory.rights,
        quota_pages: args.quota_pages,
        grants: &grants,
        args: arg_bytes,
        cpus: match args.cpus {
            PARENT_CPUS => caller_cpus(k, c),
            mask => mask,
        },
    };
    let child = proc::spawn::spawn(k, &req)?;
    let cap = Capability {
        object: Object::Process(child),
        rights: PROCESS_HANDLE_RIGHTS,
        badge: NO_BADGE,
    };
    // The global capability limit: undo the child before it runs.
    k.mint_new(c.table, cap, |k| crate::lifecycle::terminate(k, child, ExitStatus::Killed))
}

/// `proc_wait(process, flags)`: the child's exit status, waiting for it to
/// end unless `WAIT_NONBLOCK`. Needs WAIT. If the capability it waits
/// through dies meanwhile (a revoke of an ancestor), `Revoked`.
///
/// Blocks with nothing to finish: when woken (the child ended), the call
/// runs again from its registers and finds the status.
pub fn wait(k: &mut Kernel, c: Caller, a: calls::ProcWait) -> Outcome {
    if a.flags & !WAIT_NONBLOCK != 0 {
        return Err(Error::InvalidArgument);
    }
    let cap = k.caps.lookup(c.table, a.process, ObjectKind::Process, Rights::WAIT)?;
    let Object::Process(child) = cap.object else { return Err(Error::WrongKind) };
    let p = k.procs.get_mut(child).ok_or(Error::PeerGone)?;
    if let Some(status) = p.exit {
        return Ok(Next::Return(status.encode()));
    }
    if a.flags & WAIT_NONBLOCK != 0 {
        return Err(Error::WouldBlock);
    }
    if !p.waiters.contains(&c.pid) {
        p.waiters.push(c.pid);
    }
    k.sched.tie(c.pid, c.table, a.process);
    Ok(Next::Block(Block::Wait(child)))
}

/// `exit(code)`: ends the caller.
pub fn exit(k: &mut Kernel, c: Caller, a: calls::Exit) -> Outcome {
    crate::lifecycle::terminate(k, c.pid, ExitStatus::Exited(a.code as i32));
    Ok(Next::Exit)
}

/// The caller's own CPUs ([`PARENT_CPUS`] in a mask).
fn caller_cpus(k: &Kernel, c: Caller) -> u64 {
    k.procs.get(c.pid).map_or(0, |p| p.cpus)
}

/// `proc_set_cpus(process, cpus)`: the CPUs the process a `Process`
/// handle names may run on, from now on: those of `cpus` that are online
/// ([`PARENT_CPUS`]: the caller's own). Needs WRITE. Returns the mask
/// taken. A blocked process takes it at once (its wake-up places it); a
/// ready one moves to a queue the mask allows; a running one on a CPU
/// the mask leaves out keeps its old mask until it stops running there,
/// which the cut of that CPU's quantum brings about at the next tick
/// (`next_cpus`, applied by `switch::park`): it never runs, nor waits,
/// outside its mask. Errors: `InvalidArgument` (no online CPU), `PeerGone`
/// (it has ended), the capability's.
pub fn set_cpus(k: &mut Kernel, c: Caller, a: calls::ProcSetCpus) -> Result<u64, Error> {
    let cap = k.caps.lookup(c.table, a.process, ObjectKind::Process, Rights::WRITE)?;
    let Object::Process(pid) = cap.object else { return Err(Error::WrongKind) };
    let cpus = crate::proc::sched::usable(match a.cpus {
        PARENT_CPUS => caller_cpus(k, c),
        cpus => cpus,
    })?;
    let Kernel { procs, sched, .. } = k;
    let p = procs.get_mut(pid).filter(|p| p.state != State::Dead).ok_or(Error::PeerGone)?;
    if p.state == State::Running && cpus & (1 << p.cpu) == 0 {
        p.next_cpus = Some(cpus);
        sched.cpu_mut(p.cpu).cut_quantum();
        return Ok(cpus);
    }
    p.cpus = cpus;
    p.next_cpus = None;
    if p.state == State::Ready && sched.runq.remove_near(pid, p.cpu) {
        sched.enqueue(p, pid, crate::proc::sched::Place::Back);
    }
    Ok(cpus)
}

/// `proc_state(process)`: what the process a `Process` handle with WAIT
/// names is doing (`ProcState`, encoded). Errors: `PeerGone` (it has
/// ended), the capability's.
pub fn state(k: &mut Kernel, c: Caller, a: calls::ProcState) -> Result<u64, Error> {
    use caps::abi::process::ProcState as S;
    let cap = k.caps.lookup(c.table, a.process, ObjectKind::Process, Rights::WAIT)?;
    let Object::Process(pid) = cap.object else { return Err(Error::WrongKind) };
    let p = k.procs.get(pid).ok_or(Error::PeerGone)?;
    let state = match p.state {
        State::Dead => return Err(Error::PeerGone),
        State::Ready => S::Ready,
        State::Running => S::Running,
        State::Blocked(b) => match b {
            Block::Sleep(_) => S::Sleeping,
            Block::Wait(_) => S::Waiting,
            Block::Send(_) => S::Sending,
            Block::Recv(_) => S::Receiving,
            Block::Reply(_) => S::AwaitingReply,
            Block::Notify(_) => S::Notified,
            Block::Disk | Block::DiskComplete(_) | Block::Ring(_) | Block::Settle => S::Io,
            Block::ConsoleRead => S::ConsoleRead,
        },
    };
    Ok(state as u64)
}

/// `proc_yield_to(process)`: runs the process a `Process` handle names
/// now, if it is ready, for the rest of the caller's quantum. Needs no
/// right: it hands over only the caller's own time. `WouldBlock` when it
/// is not ready (blocked, running on another CPU, or the caller itself)
/// or may not run on the caller's CPU (`SpawnArgs::cpus`), `PeerGone`
/// when it has ended.
pub fn yield_to(k: &mut Kernel, c: Caller, a: calls::ProcYieldTo) -> Outcome {
    let cap = k.caps.lookup(c.table, a.process, ObjectKind::Process, Rights::empty())?;
    let Object::Process(target) = cap.object else { return Err(Error::WrongKind) };
    let here = crate::arch::percpu::index();
    match k.procs.get(target) {
        Some(p) if p.state == State::Ready && p.cpus & (1 << here) != 0 => {
            Ok(Next::YieldTo(target))
        }
        Some(p) if p.state != State::Dead => Err(Error::WouldBlock),
        _ => Err(Error::PeerGone),
    }
}
