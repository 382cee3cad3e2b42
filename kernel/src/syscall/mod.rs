//! The syscall dispatcher: decode, check, act.
//!
//! `arch::syscall` saves the user registers into a [`SyscallFrame`] and
//! calls [`dispatch`]. Each handler looks up every handle it is given in
//! the caller's own table, with the kind and rights the call needs, and
//! checks every user range, before it changes anything: a failed call
//! changes nothing. Results go back in `rax` (errors encoded as in
//! `caps::abi::error`). One file per group of calls.

mod cap;
mod console;
mod disk;
mod graph;
mod ipc;
mod mem;
mod process;
mod time;

use caps::abi::{Error, Syscall, encode_result};
use caps::{ObjectId, TableId};

use crate::arch::syscall::SyscallFrame;
use crate::state::Kernel;

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
        let pid = k.sched.current.expect("syscalls come from a process");
        let table = k.sched.current_table.expect("a running process has a table");
        Caller { pid, table }
    }
}

/// Called by the syscall entry with the caller's saved registers.
pub extern "C" fn dispatch(f: &mut SyscallFrame) {
    let call = Syscall::from_raw(f.rax);
    let result = match call {
        Some(call) => handle(call, f),
        None => Err(Error::BadSyscall),
    };
    f.rax = encode_result(result);
    #[cfg(feature = "authority-checks")]
    crate::authority::after_syscall(call);
    if f.rip >= caps::abi::layout::USER_END {
        // Unreachable by the layout (see `arch::syscall`): `sysretq` to a
        // non-canonical RIP would fault in ring 0 on the user's stack.
        crate::proc::fault::kill_current("syscall return address outside user space", GP_VECTOR);
    }
}

/// The vector a bad return address is reported as (#GP, as the CPU would).
const GP_VECTOR: u8 = 13;

fn handle(call: Syscall, f: &mut SyscallFrame) -> Result<u64, Error> {
    let (a0, a1, a2, a3, a4) = (f.rdi, f.rsi, f.rdx, f.r10, f.r8);
    match call {
        // Handled by the entry itself; here only if the entry changes.
        Syscall::Nop => Ok(0),
        Syscall::DebugWrite => console::debug_write(a0, a1, a2),
        Syscall::CapInfo => cap::info(a0, a1),
        Syscall::CapDerive => cap::derive(a0, a1, a2, a3, a4),
        Syscall::CapDrop => cap::drop(a0),
        Syscall::CapRevoke => cap::revoke(a0),
        Syscall::MemMap => mem::map(a0, a1, a2, a3),
        Syscall::MemUnmap => mem::unmap(a0, a1),
        Syscall::ProcSpawn => process::spawn(a0),
        Syscall::ProcWait => process::wait(a0, a1),
        Syscall::Exit => process::exit(a0),
        Syscall::Yield => process::yield_now(),
        Syscall::Sleep => time::sleep(a0, a1),
        Syscall::Clock => time::clock(a0),
        Syscall::DiskInfo => disk::info(a0, a1),
        Syscall::DiskRead => disk::read(a0, a1, a2, a3),
        Syscall::DiskWrite => disk::write(a0, a1, a2, a3),
        Syscall::DiskFlush => disk::flush(a0),
        Syscall::DiskSubmit => disk::submit(a0, a1, a2, a3, a4),
        Syscall::DiskComplete => disk::complete(a0, a1),
        Syscall::IpcSend => ipc::send(f),
        Syscall::IpcRecv => ipc::recv(f),
        Syscall::IpcCall => ipc::call(f),
        Syscall::IpcReply => ipc::reply(f),
        Syscall::IpcReplyRecv => ipc::reply_recv(f),
        Syscall::EndpointCreate => ipc::endpoint_create(a0),
        Syscall::CapGraph => graph::cap_graph(a0, a1),
    }
}
