//! Syscall numbers and argument conventions.
//!
//! `syscall` takes the number in `rax` and up to six arguments in `rdi`,
//! `rsi`, `rdx`, `r10`, `r8`, `r9`; the result comes back in `rax`, encoded
//! as described in [`error`](super::error). Handles are passed as their raw
//! `u64` value, rights as [`Rights`](super::Rights) bits, buffers as
//! `(pointer, length)` pairs.
//!
//! The numbering is part of the ABI: never renumber, only append.

/// A syscall number.
///
/// The comment on each variant lists its arguments in register order and
/// its result; "handle" means a raw handle value, `[x]` an optional
/// argument (0 when absent).
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Syscall {
    /// Does nothing and returns 0: measures the syscall floor.
    Nop = 0,
    /// `(console, buf_ptr, buf_len)` → bytes written. Needs `WRITE`.
    DebugWrite = 1,
    /// `(handle, info_ptr)` → 0, writing a [`CapInfo`](super::CapInfo).
    CapInfo = 2,
    /// `(handle, rights, offset, count, badge)` → new handle. Needs
    /// `DERIVE`; `count == 0` keeps the whole range, `badge == 0` sets none
    /// (see `caps::Narrow::from_syscall_args`).
    CapDerive = 3,
    /// `(handle)` → 0. Closes one handle of the caller's.
    CapDrop = 4,
    /// `(handle)` → number of capabilities revoked. Needs `REVOKE`.
    CapRevoke = 5,
    /// `(memory, offset, vaddr, len, rights)` → 0. Needs `MAP`.
    MemMap = 6,
    /// `(vaddr, len)` → 0.
    MemUnmap = 7,
    /// `(image, handles_ptr, handles_len)` → process handle. Needs `EXEC`
    /// on the image and `GRANT` on every handle passed.
    ProcSpawn = 8,
    /// `(process)` → exit code. Needs `WAIT`.
    ProcWait = 9,
    /// `(code)` → does not return.
    Exit = 10,
    /// `()` → 0.
    Yield = 11,
    /// `(timer, nanoseconds)` → 0. Needs `WAIT`.
    Sleep = 12,
    /// `(timer)` → nanoseconds since boot. Needs `READ`.
    Clock = 13,
    /// `(range)` → sector count of the range. Needs `READ`.
    DiskInfo = 14,
    /// `(range, sector, count, buf_ptr)` → 0. Needs `READ`.
    DiskRead = 15,
    /// `(range, sector, count, buf_ptr)` → 0. Needs `WRITE`.
    DiskWrite = 16,
    /// `(range)` → 0. Needs `WRITE`.
    DiskFlush = 17,
    /// `(range, op, sector, count, buf_ptr)` → request id.
    DiskSubmit = 18,
    /// `(range, flags)` → id of a finished request (or `WouldBlock`).
    DiskComplete = 19,
    /// `(endpoint, tag, slots...)` → 0. Needs `SEND` (and `GRANT` on each
    /// handle sent). Registers and tag: [`ipc`](super::ipc).
    IpcSend = 20,
    /// `(endpoint, flags, buf_ptr, buf_len)` → tag, with the badge, reply
    /// handle and slots in the argument registers. Needs `RECV`.
    IpcRecv = 21,
    /// `(endpoint, tag, slots...)` → the answer's tag and slots. Needs
    /// `SEND`; the receiver gets a one-shot reply capability.
    IpcCall = 22,
    /// `(reply, tag, slots...)` → 0. Needs `SEND` on the reply; spends it.
    IpcReply = 23,
    /// `(reply, tag, slot0, slot1, slot2, endpoint)` → as `ipc_recv`:
    /// answer, then receive on the endpoint (`RECV`), in one call.
    IpcReplyRecv = 24,
    /// `(memory)` → a new endpoint handle with every endpoint right. Needs
    /// `MAP` on the `Memory` handle, whose quota is charged one frame for
    /// the endpoint while it lives.
    EndpointCreate = 25,
}

impl Syscall {
    /// How many syscall numbers are defined (numbers `0..COUNT`).
    pub const COUNT: usize = 26;

    /// Every syscall, in numeric order (index = number).
    pub const ALL: [Syscall; Syscall::COUNT] = [
        Syscall::Nop,
        Syscall::DebugWrite,
        Syscall::CapInfo,
        Syscall::CapDerive,
        Syscall::CapDrop,
        Syscall::CapRevoke,
        Syscall::MemMap,
        Syscall::MemUnmap,
        Syscall::ProcSpawn,
        Syscall::ProcWait,
        Syscall::Exit,
        Syscall::Yield,
        Syscall::Sleep,
        Syscall::Clock,
        Syscall::DiskInfo,
        Syscall::DiskRead,
        Syscall::DiskWrite,
        Syscall::DiskFlush,
        Syscall::DiskSubmit,
        Syscall::DiskComplete,
        Syscall::IpcSend,
        Syscall::IpcRecv,
        Syscall::IpcCall,
        Syscall::IpcReply,
        Syscall::IpcReplyRecv,
        Syscall::EndpointCreate,
    ];

    /// Decodes a syscall number; `None` for unknown numbers (answer those
    /// with [`Error::BadSyscall`](super::Error::BadSyscall)).
    pub const fn from_raw(raw: u64) -> Option<Syscall> {
        if raw < Syscall::COUNT as u64 { Some(Syscall::ALL[raw as usize]) } else { None }
    }

    /// The syscall's number.
    pub const fn as_raw(self) -> u64 {
        self as u64
    }

    /// The syscall's name, as in the docs.
    pub const fn name(self) -> &'static str {
        match self {
            Syscall::Nop => "nop",
            Syscall::DebugWrite => "debug_write",
            Syscall::CapInfo => "cap_info",
            Syscall::CapDerive => "cap_derive",
            Syscall::CapDrop => "cap_drop",
            Syscall::CapRevoke => "cap_revoke",
            Syscall::MemMap => "mem_map",
            Syscall::MemUnmap => "mem_unmap",
            Syscall::ProcSpawn => "proc_spawn",
            Syscall::ProcWait => "proc_wait",
            Syscall::Exit => "exit",
            Syscall::Yield => "yield",
            Syscall::Sleep => "sleep",
            Syscall::Clock => "clock",
            Syscall::DiskInfo => "disk_info",
            Syscall::DiskRead => "disk_read",
            Syscall::DiskWrite => "disk_write",
            Syscall::DiskFlush => "disk_flush",
            Syscall::DiskSubmit => "disk_submit",
            Syscall::DiskComplete => "disk_complete",
            Syscall::IpcSend => "ipc_send",
            Syscall::IpcRecv => "ipc_recv",
            Syscall::IpcCall => "ipc_call",
            Syscall::IpcReply => "ipc_reply",
            Syscall::IpcReplyRecv => "ipc_reply_recv",
            Syscall::EndpointCreate => "endpoint_create",
        }
    }
}

impl core::fmt::Display for Syscall {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_dense_and_round_trip() {
        for (i, call) in Syscall::ALL.iter().enumerate() {
            assert_eq!(call.as_raw(), i as u64, "{call}");
            assert_eq!(Syscall::from_raw(i as u64), Some(*call));
        }
        assert_eq!(Syscall::from_raw(Syscall::COUNT as u64), None);
        assert_eq!(Syscall::from_raw(u64::MAX), None);
    }

    #[test]
    fn names_are_unique() {
        for (i, a) in Syscall::ALL.iter().enumerate() {
            for b in &Syscall::ALL[i + 1..] {
                assert_ne!(a.name(), b.name());
            }
        }
        assert_eq!(Syscall::IpcReplyRecv.name(), "ipc_reply_recv");
    }
}
