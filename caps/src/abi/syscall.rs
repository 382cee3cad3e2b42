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
/// Each variant's doc comment opens with its [`Signature`] (argument
/// registers in order, then the result), exactly as
/// [`Syscall::signature`] renders it: a test fails if they differ, and
/// another if the kernel's dispatcher decodes other arguments. Handles are
/// raw handle values; a pointer argument of 0 means "none" where the text
/// says so.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Syscall {
    /// `nop() → 0`. Does nothing: measures the syscall floor.
    Nop = 0,
    /// `debug_write(console, buf, len) → bytes written`. Needs `WRITE` on
    /// a `Console`.
    DebugWrite = 1,
    /// `cap_info(handle, out) → packed kind and rights`. Writes a
    /// [`CapInfo`](super::CapInfo) at `out` unless it is 0. Needs no right.
    CapInfo = 2,
    /// `cap_derive(handle, rights, mode, a, b) → new handle`. Needs
    /// `DERIVE`; `rights` within the source's. `mode`
    /// ([`args`](super::args)): `DERIVE_SAME` (`a == b == 0`),
    /// `DERIVE_RANGE` (sub-range at relative sector `a`, `b` sectors,
    /// `b >= 1`: a zero count is `InvalidArgument`), `DERIVE_BADGE` (badge
    /// `a != 0` on an unbadged endpoint, `b == 0`).
    CapDerive = 3,
    /// `cap_drop(handle) → 0`. Closes one of the caller's handles; its
    /// children are re-parented to its parent.
    CapDrop = 4,
    /// `cap_revoke(handle) → capabilities revoked`. Needs `REVOKE`;
    /// destroys everything derived from `handle`, in every table.
    CapRevoke = 5,
    /// `mem_map(memory, vaddr, len, flags) → 0`. Maps fresh zeroed pages
    /// at `vaddr` (page-aligned, `len` a multiple of a page) charged to the
    /// quota; needs `MAP | READ`, plus `WRITE` for `MAP_WRITE` or `EXEC`
    /// for `MAP_EXEC` (never both).
    MemMap = 6,
    /// `mem_unmap(vaddr, len) → pages unmapped`. Pages in the range that
    /// are not mapped are skipped.
    MemUnmap = 7,
    /// `proc_spawn(args) → process handle`. `args` points to a
    /// [`SpawnArgs`](super::process::SpawnArgs): `EXEC` on its image,
    /// `MAP` on its memory (the child's own `memory` handle gets exactly
    /// that handle's rights), `GRANT` and the granted rights on each grant.
    ProcSpawn = 8,
    /// `proc_wait(process, flags) → exit status`. Needs `WAIT`; the status
    /// is [`ExitStatus::encode`](super::process::ExitStatus::encode)d;
    /// `WAIT_NONBLOCK` returns `WouldBlock` instead of waiting.
    ProcWait = 9,
    /// `exit(code) → never returns`.
    Exit = 10,
    /// `yield() → 0`. Lets the other ready processes run first.
    Yield = 11,
    /// `sleep(timer, ns) → 0`. Needs `WAIT`; blocks at least `ns`
    /// nanoseconds.
    Sleep = 12,
    /// `clock(timer) → nanoseconds since boot`. Needs `READ`.
    Clock = 13,
    /// `disk_info(range, out) → sectors in the range`. Needs `READ`;
    /// writes a [`DiskInfo`](super::disk::DiskInfo) at `out` unless it is 0.
    DiskInfo = 14,
    /// `disk_read(range, sector, count, buf) → sectors read`. Needs
    /// `READ`; `sector` is relative to the range; `buf` holds `count`
    /// 512-byte sectors.
    DiskRead = 15,
    /// `disk_write(range, sector, count, buf) → sectors written`. Needs
    /// `WRITE`; as `disk_read`.
    DiskWrite = 16,
    /// `disk_flush(range) → 0`. Needs `WRITE`: every write completed
    /// before it is durable when it returns.
    DiskFlush = 17,
    /// `disk_submit(range, op, sector, count, buf) → request id`. Starts a
    /// request (`OP_READ` needs `READ`, `OP_WRITE`/`OP_FLUSH` `WRITE`)
    /// and returns at once; `Busy` when the caller has too many in flight.
    DiskSubmit = 18,
    /// `disk_complete(id, flags) → sectors transferred`. The result of one
    /// of the caller's requests, waiting for it unless `COMPLETE_NONBLOCK`
    /// (then `WouldBlock`); the id is spent.
    DiskComplete = 19,
    /// `ipc_send(endpoint, tag, slot0, slot1, slot2, slot3) → 0`. Needs
    /// `SEND` (and `GRANT` on each handle sent). Registers and tag:
    /// [`ipc`](super::ipc).
    IpcSend = 20,
    /// `ipc_recv(endpoint, flags, buf, len) → tag`, with the badge, reply
    /// handle and slots in the argument registers. Needs `RECV`.
    IpcRecv = 21,
    /// `ipc_call(endpoint, tag, slot0, slot1, slot2, slot3) → tag`: the
    /// answer's, with its slots. Needs `SEND`; the receiver gets a
    /// one-shot reply capability.
    IpcCall = 22,
    /// `ipc_reply(reply, tag, slot0, slot1, slot2, slot3) → 0`. Needs
    /// `SEND` on the reply; spends it.
    IpcReply = 23,
    /// `ipc_reply_recv(reply, tag, slot0, slot1, slot2, endpoint) → tag`:
    /// answers, then receives on `endpoint` (`RECV`) as `ipc_recv`.
    IpcReplyRecv = 24,
    /// `endpoint_create(memory) → endpoint handle`, with every endpoint
    /// right. Needs `MAP` on the `Memory` handle, whose quota is charged
    /// one frame for the endpoint while it lives.
    EndpointCreate = 25,
    /// `cap_graph(buf, len) → capabilities reachable`. Writes a
    /// [`GraphNode`](super::GraphNode) for each capability the caller
    /// reaches (its own, and everything derived or granted from them, in
    /// any table; nothing above or beside them), parents first, until `buf`
    /// is full: `min(result, len / GraphNode::SIZE)` records. Needs no
    /// right. `len` a multiple of `GraphNode::SIZE` (else
    /// `InvalidArgument`); `buf` 8-byte aligned unless `len` is 0 (else
    /// `InvalidArgument`); every page of the buffer mapped writable (else
    /// `BadAddress`, and nothing is written).
    CapGraph = 26,
}

/// How a syscall is called: the names of its argument registers in order
/// (`rdi, rsi, rdx, r10, r8, r9`) and what `rax` holds on success.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signature {
    /// Argument names, in register order; unnamed registers are ignored.
    pub args: &'static [&'static str],
    /// What a successful result is.
    pub result: &'static str,
}

impl Signature {
    /// Writes `name(arg, arg) → result`, as the docs show it.
    pub fn render(&self, name: &str, out: &mut impl core::fmt::Write) -> core::fmt::Result {
        write!(out, "{name}(")?;
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                out.write_str(", ")?;
            }
            out.write_str(a)?;
        }
        write!(out, ") → {}", self.result)
    }
}

const fn sig(args: &'static [&'static str], result: &'static str) -> Signature {
    Signature { args, result }
}

impl Syscall {
    /// How many syscall numbers are defined (numbers `0..COUNT`).
    pub const COUNT: usize = 27;

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
        Syscall::CapGraph,
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

    /// The syscall's arguments and result: the one source of its
    /// documentation (see [`Syscall`]).
    pub const fn signature(self) -> Signature {
        match self {
            Syscall::Nop => sig(&[], "0"),
            Syscall::DebugWrite => sig(&["console", "buf", "len"], "bytes written"),
            Syscall::CapInfo => sig(&["handle", "out"], "packed kind and rights"),
            Syscall::CapDerive => sig(&["handle", "rights", "mode", "a", "b"], "new handle"),
            Syscall::CapDrop => sig(&["handle"], "0"),
            Syscall::CapRevoke => sig(&["handle"], "capabilities revoked"),
            Syscall::MemMap => sig(&["memory", "vaddr", "len", "flags"], "0"),
            Syscall::MemUnmap => sig(&["vaddr", "len"], "pages unmapped"),
            Syscall::ProcSpawn => sig(&["args"], "process handle"),
            Syscall::ProcWait => sig(&["process", "flags"], "exit status"),
            Syscall::Exit => sig(&["code"], "never returns"),
            Syscall::Yield => sig(&[], "0"),
            Syscall::Sleep => sig(&["timer", "ns"], "0"),
            Syscall::Clock => sig(&["timer"], "nanoseconds since boot"),
            Syscall::DiskInfo => sig(&["range", "out"], "sectors in the range"),
            Syscall::DiskRead => sig(&["range", "sector", "count", "buf"], "sectors read"),
            Syscall::DiskWrite => sig(&["range", "sector", "count", "buf"], "sectors written"),
            Syscall::DiskFlush => sig(&["range"], "0"),
            Syscall::DiskSubmit => sig(&["range", "op", "sector", "count", "buf"], "request id"),
            Syscall::DiskComplete => sig(&["id", "flags"], "sectors transferred"),
            Syscall::IpcSend => sig(&["endpoint", "tag", "slot0", "slot1", "slot2", "slot3"], "0"),
            Syscall::IpcRecv => sig(&["endpoint", "flags", "buf", "len"], "tag"),
            Syscall::IpcCall => {
                sig(&["endpoint", "tag", "slot0", "slot1", "slot2", "slot3"], "tag")
            }
            Syscall::IpcReply => sig(&["reply", "tag", "slot0", "slot1", "slot2", "slot3"], "0"),
            Syscall::IpcReplyRecv => {
                sig(&["reply", "tag", "slot0", "slot1", "slot2", "endpoint"], "tag")
            }
            Syscall::EndpointCreate => sig(&["memory"], "endpoint handle"),
            Syscall::CapGraph => sig(&["buf", "len"], "capabilities reachable"),
        }
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
            Syscall::CapGraph => "cap_graph",
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

    extern crate std;
    use std::string::String;
    use std::vec::Vec;

    fn rendered(call: Syscall) -> String {
        let mut s = String::new();
        call.signature().render(call.name(), &mut s).unwrap();
        s
    }

    /// The doc comment of each variant, from this file's own text.
    fn variant_docs() -> Vec<(String, String)> {
        let source = include_str!("syscall.rs");
        let body = &source[source.find("pub enum Syscall {").unwrap()..];
        let body = &body[..body.find("\n}").unwrap()];
        let mut docs = Vec::new();
        let mut doc = String::new();
        for line in body.lines().skip(1) {
            let line = line.trim();
            if let Some(text) = line.strip_prefix("///") {
                doc.push_str(text.trim());
                doc.push(' ');
            } else if let Some((name, _)) = line.split_once(" = ") {
                docs.push((String::from(name), core::mem::take(&mut doc)));
            }
        }
        docs
    }

    #[test]
    fn each_variant_doc_opens_with_its_signature() {
        let docs = variant_docs();
        assert_eq!(docs.len(), Syscall::COUNT);
        for (call, (variant, doc)) in Syscall::ALL.iter().zip(&docs) {
            assert_eq!(std::format!("{call:?}"), *variant);
            let want = std::format!("`{}`", rendered(*call));
            assert!(doc.starts_with(&want), "{variant}: the doc says {doc:?}, the ABI {want}");
        }
    }

    #[test]
    fn signatures_fit_the_registers() {
        for call in Syscall::ALL {
            let sig = call.signature();
            assert!(sig.args.len() <= 6, "{call}");
            for (i, a) in sig.args.iter().enumerate() {
                assert!(!sig.args[..i].contains(a), "{call}: {a} twice");
            }
        }
        assert_eq!(rendered(Syscall::MemMap), "mem_map(memory, vaddr, len, flags) → 0");
    }
}
