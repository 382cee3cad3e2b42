//! Syscall numbers, argument structs and the decoder: the ABI of every
//! call, from one description.
//!
//! `syscall` takes the number in `rax` and up to six arguments in `rdi`,
//! `rsi`, `rdx`, `r10`, `r8`, `r9`; the result comes back in `rax`, encoded
//! as described in [`error`](super::error). Handles are passed as their raw
//! `u64` value, rights as [`Rights`](super::Rights) bits, buffers as
//! `(pointer, length)` pairs.
//!
//! The table in the [`syscalls!`] invocation below is the only place a
//! call's number, argument names, types, register order and result are
//! written. From it come:
//! - [`Syscall`], whose variant docs open with the generated signature
//!   (`name(arg, arg) → result`), so the documentation cannot drift;
//! - one argument struct per call in [`calls`], with [`Call::decode`]
//!   (registers to typed fields, refusing bad encodings with
//!   `InvalidArgument`) and [`Call::encode`] (libos's stubs use it);
//! - [`Handlers`], one method per call, and [`dispatch`], which decodes a
//!   call's registers into its struct and calls its method: the kernel
//!   implements `Handlers`, so it cannot decode other registers than the
//!   ones documented here.
//!
//! The numbering is part of the ABI: never renumber, only append.
//!
//! Design: the one-table ABI follows Hubris (`abi::Sysnum` and the typed
//! argument structs of `sys/abi`) and seL4's generated `syscall.xml` stubs.

use super::{Error, RawHandle, Rights};

/// A value that travels in one syscall register.
pub trait Arg: Sized + Copy {
    /// The register's value as this type; `InvalidArgument` if it is no
    /// valid encoding of one.
    fn from_reg(raw: u64) -> Result<Self, Error>;
    /// This value as a register.
    fn to_reg(self) -> u64;
}

impl Arg for u64 {
    #[inline(always)]
    fn from_reg(raw: u64) -> Result<Self, Error> {
        Ok(raw)
    }
    #[inline(always)]
    fn to_reg(self) -> u64 {
        self
    }
}

impl Arg for RawHandle {
    #[inline(always)]
    fn from_reg(raw: u64) -> Result<Self, Error> {
        Ok(RawHandle::from_raw(raw))
    }
    #[inline(always)]
    fn to_reg(self) -> u64 {
        self.as_raw()
    }
}

impl Arg for Rights {
    /// Undefined bits are `InvalidArgument`.
    #[inline(always)]
    fn from_reg(raw: u64) -> Result<Self, Error> {
        Rights::from_raw(raw).ok_or(Error::InvalidArgument)
    }
    #[inline(always)]
    fn to_reg(self) -> u64 {
        u64::from(self.bits())
    }
}

/// One call's typed arguments (the structs of [`calls`]).
pub trait Call: Sized + Copy {
    /// The call these are the arguments of.
    const SYSCALL: Syscall;
    /// The type of a successful result in `rax`.
    type Ret: Arg;
    /// Reads the arguments from the six argument registers
    /// (`rdi, rsi, rdx, r10, r8, r9`); registers the call does not use are
    /// ignored.
    fn decode(regs: &[u64; 6]) -> Result<Self, Error>;
    /// The six argument registers for these arguments (unused ones 0).
    fn encode(&self) -> [u64; 6];
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

/// Generates [`Syscall`], [`calls`], [`Handlers`] and [`dispatch`] from
/// the table of calls: `number Variant method "name" (arg: Type, ...) ->
/// ResultType, "result";`, each after its doc comment.
macro_rules! syscalls {
    ($(
        $(#[doc = $doc:literal])*
        $num:literal $variant:ident $method:ident $name:literal
            ($($arg:ident : $ty:ty),*) -> $ret:ty, $ret_doc:literal;
    )*) => {
        /// A syscall number.
        ///
        /// Each variant's doc opens with its [`Signature`] (argument
        /// registers in order, then the result), generated from the same
        /// table as its argument struct in [`calls`]. Handles are raw
        /// handle values; a pointer argument of 0 means "none" where the
        /// text says so.
        #[repr(u64)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Syscall {
            $(
                #[doc = concat!("`", $name, "(", stringify!($($arg),*), ") → ", $ret_doc, "`.")]
                #[doc = ""]
                $(#[doc = $doc])*
                $variant = $num,
            )*
        }

        impl Syscall {
            /// How many syscall numbers are defined.
            pub const COUNT: usize = [$($num),*].len();

            /// One past the highest syscall number: every number from here
            /// on names no call. Numbers below it may be unassigned too
            /// (ranges are reserved for calls that other branches of the
            /// kernel add), and decode as unknown.
            pub const END: u64 = {
                let nums = [$($num as u64),*];
                let mut end = 0;
                let mut i = 0;
                while i < nums.len() {
                    if nums[i] + 1 > end {
                        end = nums[i] + 1;
                    }
                    i += 1;
                }
                end
            };

            /// Every syscall, in numeric order.
            pub const ALL: [Syscall; Syscall::COUNT] = [$(Syscall::$variant),*];

            /// Decodes a syscall number; `None` for numbers that name no
            /// call (answer those with
            /// [`Error::BadSyscall`](super::Error::BadSyscall)).
            #[inline(always)]
            pub const fn from_raw(raw: u64) -> Option<Syscall> {
                match raw {
                    $($num => Some(Syscall::$variant),)*
                    _ => None,
                }
            }

            /// The syscall's arguments and result: the one source of its
            /// documentation (see [`Syscall`]).
            pub const fn signature(self) -> Signature {
                match self {
                    $(Syscall::$variant => Signature {
                        args: &[$(stringify!($arg)),*],
                        result: $ret_doc,
                    },)*
                }
            }

            /// The syscall's name, as in the docs.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Syscall::$variant => $name,)*
                }
            }
        }

        /// Each call's arguments as a typed struct, named after its
        /// [`Syscall`] variant, with the fields in register order.
        pub mod calls {
            #[allow(unused_imports)]
            use super::{Arg, Call, Error, RawHandle, Rights, Syscall};
            $(
                #[doc = concat!("The arguments of `", $name, "` (", stringify!($num), "): see [`Syscall::", stringify!($variant), "`].")]
                #[derive(Clone, Copy, Debug, PartialEq, Eq)]
                pub struct $variant {
                    $(
                        #[allow(missing_docs)]
                        pub $arg: $ty,
                    )*
                }

                impl Call for $variant {
                    const SYSCALL: Syscall = Syscall::$variant;
                    type Ret = $ret;

                    #[inline(always)]
                    #[allow(unused_variables, unused_mut, unused_assignments, clippy::unused_unit)]
                    fn decode(regs: &[u64; 6]) -> Result<Self, Error> {
                        let mut i = 0;
                        let _ = &mut i;
                        Ok($variant {
                            $($arg: {
                                let v = <$ty as Arg>::from_reg(regs[i])?;
                                i += 1;
                                v
                            },)*
                        })
                    }

                    #[inline(always)]
                    #[allow(unused_mut, unused_assignments)]
                    fn encode(&self) -> [u64; 6] {
                        let mut regs = [0; 6];
                        let mut i = 0;
                        let _ = &mut i;
                        $(
                            regs[i] = Arg::to_reg(self.$arg);
                            i += 1;
                        )*
                        regs
                    }
                }
            )*
        }

        /// One method per syscall, taking that call's decoded arguments:
        /// what the kernel implements. [`dispatch`] calls them.
        pub trait Handlers {
            /// What every handler returns.
            type Out;
            /// What [`dispatch`] returns when a call's arguments do not
            /// decode (made from the error).
            fn refuse(&mut self, error: Error) -> Self::Out;
            $(
                #[doc = concat!("`", $name, "`: see [`Syscall::", stringify!($variant), "`].")]
                fn $method(&mut self, args: calls::$variant) -> Self::Out;
            )*
        }

        /// Decodes call `call`'s arguments from `regs` and runs its handler;
        /// arguments that do not decode are refused (`h.refuse`) before any
        /// handler runs.
        #[inline(always)]
        pub fn dispatch<H: Handlers>(h: &mut H, call: Syscall, regs: &[u64; 6]) -> H::Out {
            dispatch_raw(h, call.as_raw(), regs)
        }

        /// [`dispatch`] from the raw number in `rax`, as the kernel's entry
        /// has it (one jump on the number, no separate decoding step): an
        /// unknown number is refused with `BadSyscall`.
        #[inline(always)]
        pub fn dispatch_raw<H: Handlers>(h: &mut H, number: u64, regs: &[u64; 6]) -> H::Out {
            match number {
                $($num => match <calls::$variant as Call>::decode(regs) {
                    Ok(args) => h.$method(args),
                    Err(e) => h.refuse(e),
                },)*
                _ => h.refuse(Error::BadSyscall),
            }
        }
    };
}

syscalls! {
    /// Does nothing: measures the syscall floor.
    0 Nop nop "nop" () -> u64, "0";
    /// Needs `WRITE` on a `Console`.
    1 DebugWrite debug_write "debug_write" (console: RawHandle, buf: u64, len: u64) -> u64, "bytes written";
    /// Writes a [`CapInfo`](super::CapInfo) at `out` unless it is 0. Needs no
    /// right.
    2 CapInfo cap_info "cap_info" (handle: RawHandle, out: u64) -> u64, "packed kind and rights";
    /// Needs `DERIVE`; `rights` within the source's. `mode`
    /// ([`args`](super::args)): `DERIVE_SAME` (`a == b == 0`), `DERIVE_RANGE`
    /// (sub-range at relative sector `a`, `b` sectors, `b >= 1`: a zero count
    /// is `InvalidArgument`), `DERIVE_BADGE` (badge `a != 0` on an unbadged
    /// endpoint or notification, `b == 0`).
    3 CapDerive cap_derive "cap_derive" (handle: RawHandle, rights: Rights, mode: u64, a: u64, b: u64) -> RawHandle, "new handle";
    /// Closes one of the caller's handles; its children are re-parented to its
    /// parent.
    4 CapDrop cap_drop "cap_drop" (handle: RawHandle) -> u64, "0";
    /// Needs `REVOKE`; destroys everything derived from `handle`, in every
    /// table.
    5 CapRevoke cap_revoke "cap_revoke" (handle: RawHandle) -> u64, "capabilities revoked";
    /// Maps fresh zeroed pages at `vaddr` (page-aligned, `len` a multiple of a
    /// page) charged to the quota; needs `MAP | READ`, plus `WRITE` for
    /// `MAP_WRITE` or `EXEC` for `MAP_EXEC` (never both: `WriteExecute`).
    /// A page of the range already mapped is `AddressInUse`; an unaligned
    /// or empty range `InvalidArgument`; one outside `[USER_MIN, MAP_END)`
    /// (the kernel half, non-canonical, wrapping) `BadAddress`.
    6 MemMap mem_map "mem_map" (memory: RawHandle, vaddr: u64, len: u64, flags: u64) -> u64, "0";
    /// Pages in the range that are not mapped are skipped; a memory
    /// object's pages are unmapped too (the object keeps them). Errors as
    /// `mem_map`'s range (`InvalidArgument`, `BadAddress` outside
    /// `[USER_MIN, USER_END)`).
    7 MemUnmap mem_unmap "mem_unmap" (vaddr: u64, len: u64) -> u64, "pages unmapped";
    /// `args` points to a [`SpawnArgs`](super::process::SpawnArgs): `EXEC` on
    /// its image, `MAP` on its memory (the child's own `memory` handle gets
    /// exactly that handle's rights), `GRANT` and the granted rights on each
    /// grant.
    8 ProcSpawn proc_spawn "proc_spawn" (args: u64) -> RawHandle, "process handle";
    /// Needs `WAIT`; the status is
    /// [`ExitStatus::encode`](super::process::ExitStatus::encode)d;
    /// `WAIT_NONBLOCK` returns `WouldBlock` instead of waiting.
    9 ProcWait proc_wait "proc_wait" (process: RawHandle, flags: u64) -> u64, "exit status";
    /// Ends the caller with `code`.
    10 Exit exit "exit" (code: u64) -> u64, "never returns";
    /// Lets the other ready processes run first.
    11 Yield yield_now "yield" () -> u64, "0";
    /// Needs `WAIT`; blocks at least `ns` nanoseconds.
    12 Sleep sleep "sleep" (timer: RawHandle, ns: u64) -> u64, "0";
    /// Needs `READ`.
    13 Clock clock "clock" (timer: RawHandle) -> u64, "nanoseconds since boot";
    /// Needs `READ`; writes a [`DiskInfo`](super::disk::DiskInfo) at `out`
    /// unless it is 0.
    14 DiskInfo disk_info "disk_info" (range: RawHandle, out: u64) -> u64, "sectors in the range";
    /// Needs `READ`; `sector` is relative to the range; `buf` holds `count`
    /// 512-byte sectors.
    15 DiskRead disk_read "disk_read" (range: RawHandle, sector: u64, count: u64, buf: u64) -> u64, "sectors read";
    /// Needs `WRITE`; as `disk_read`.
    16 DiskWrite disk_write "disk_write" (range: RawHandle, sector: u64, count: u64, buf: u64) -> u64, "sectors written";
    /// Needs `WRITE`: every write completed before it is durable when it
    /// returns.
    17 DiskFlush disk_flush "disk_flush" (range: RawHandle) -> u64, "0";
    /// Starts a request (`OP_READ` needs `READ`, `OP_WRITE`/`OP_FLUSH` `WRITE`)
    /// and returns at once; `Busy` when the caller has too many in flight.
    18 DiskSubmit disk_submit "disk_submit" (range: RawHandle, op: u64, sector: u64, count: u64, buf: u64) -> u64, "request id";
    /// The result of one of the caller's requests, waiting for it unless
    /// `COMPLETE_NONBLOCK` (then `WouldBlock`); the id is spent.
    19 DiskComplete disk_complete "disk_complete" (id: u64, flags: u64) -> u64, "sectors transferred";
    /// Needs `SEND` (and `GRANT` on each handle sent). Registers and tag:
    /// [`ipc`](super::ipc).
    20 IpcSend ipc_send "ipc_send" (endpoint: RawHandle, tag: u64, slot0: u64, slot1: u64, slot2: u64, slot3: u64) -> u64, "0";
    /// With the badge, reply handle and slots in the argument registers. Needs
    /// `RECV`.
    21 IpcRecv ipc_recv "ipc_recv" (endpoint: RawHandle, flags: u64, buf: u64, len: u64) -> u64, "tag";
    /// The answer's, with its slots. Needs `SEND`; the receiver gets a one-shot
    /// reply capability.
    22 IpcCall ipc_call "ipc_call" (endpoint: RawHandle, tag: u64, slot0: u64, slot1: u64, slot2: u64, slot3: u64) -> u64, "tag";
    /// Needs `SEND` on the reply; spends it.
    23 IpcReply ipc_reply "ipc_reply" (reply: RawHandle, tag: u64, slot0: u64, slot1: u64, slot2: u64, slot3: u64) -> u64, "0";
    /// Answers, then receives on `endpoint` (`RECV`) as `ipc_recv`. In the
    /// long form `slot0` points to the message and `slot1`, `slot2` give
    /// the receive buffer.
    24 IpcReplyRecv ipc_reply_recv "ipc_reply_recv" (reply: RawHandle, tag: u64, slot0: u64, slot1: u64, slot2: u64, endpoint: RawHandle) -> u64, "tag";
    /// With every endpoint right. Needs `MAP` on the `Memory` handle, whose
    /// quota is charged one frame for the endpoint while it lives.
    25 EndpointCreate endpoint_create "endpoint_create" (memory: RawHandle) -> RawHandle, "endpoint handle";
    /// Writes a [`GraphNode`](super::GraphNode) for each capability the caller
    /// reaches (its own, and everything derived or granted from them, in any
    /// table; nothing above or beside them), parents first, until `buf` is
    /// full: `min(result, len / GraphNode::SIZE)` records. Needs no right.
    /// `len` a multiple of `GraphNode::SIZE` (else `InvalidArgument`); `buf`
    /// 8-byte aligned unless `len` is 0 (else `InvalidArgument`); every page of
    /// the buffer mapped writable (else `BadAddress`, and nothing is written).
    26 CapGraph cap_graph "cap_graph" (buf: u64, len: u64) -> u64, "capabilities reachable";
    /// Needs `READ`; writes a [`TimerInfo`](super::time::TimerInfo) at `out`
    /// (8-byte aligned, mapped writable, else `BadAddress`).
    27 TimerInfo timer_info "timer_info" (timer: RawHandle, out: u64) -> u64, "0";
    /// With every notification right and no badge. Needs `MAP` on the
    /// `Memory` handle, whose quota is charged one frame for the notification
    /// while it lives (as `endpoint_create`).
    28 NotifyCreate notify_create "notify_create" (memory: RawHandle) -> RawHandle, "notification handle";
    /// Needs `SEND`; ORs the capability's badge (1 if it has none) into the
    /// notification's word and wakes its first waiter, if any, with the word.
    29 NotifySignal notify_signal "notify_signal" (notification: RawHandle) -> u64, "0";
    /// Needs `WAIT`; returns the word and clears it, waiting while it is 0;
    /// `NOTIFY_NONBLOCK` ([`args`](super::args)) returns `WouldBlock` instead
    /// of waiting. Other flag bits are `InvalidArgument`.
    30 NotifyWait notify_wait "notify_wait" (notification: RawHandle, flags: u64) -> u64, "the bits";
    /// Needs `RECV` on the endpoint and `SEND` on the notification: from now
    /// on a sender that queues on the endpoint (no receiver waiting) signals
    /// through that notification capability. Replaces an earlier binding; a
    /// `notification` of 0 unbinds.
    31 EndpointBind endpoint_bind "endpoint_bind" (endpoint: RawHandle, notification: RawHandle) -> u64, "0";
    /// Maps a new I/O ring of `entries` (a power of two, at most
    /// [`MAX_RING_ENTRIES`](super::ring::MAX_RING_ENTRIES)) at `vaddr`
    /// (page-aligned; a page there already mapped is `AddressInUse`),
    /// charged to the quota: needs `MAP | READ | WRITE`. Layout and rules:
    /// [`ring`](super::ring).
    32 RingCreate ring_create "ring_create" (memory: RawHandle, entries: u64, vaddr: u64) -> RawHandle, "ring handle";
    /// Needs `WRITE` on the ring (the caller's own). Consumes up to
    /// `to_submit` submissions (each checked as `disk_submit` checks; a bad
    /// one completes at once with its error), posts the finished requests'
    /// completions, then waits until `min_complete` completions are
    /// unconsumed or none of the ring's requests is in flight. `flags` must
    /// be 0.
    33 RingEnter ring_enter "ring_enter" (ring: RawHandle, to_submit: u64, min_complete: u64, flags: u64) -> u64, "entries consumed";
    /// Needs `SEND` on the notification: from now on, whenever the device
    /// finishes one of the caller's asynchronous requests (`disk_submit`, or
    /// an entry of one of its rings), the kernel signals through that
    /// capability (its badge), so one `notify_wait` can wait for disk
    /// completions beside other sources. Replaces an earlier binding; a
    /// `notification` of 0 unbinds.
    34 DiskBind disk_bind "disk_bind" (notification: RawHandle) -> u64, "0";
    /// Makes a memory object of `pages` zeroed pages, charged to the quota
    /// until the object is gone (no capability and no mapping refers to
    /// it). Needs `MAP | READ` on the `Memory` handle; the new capability
    /// names every page, with `MAP`, the generic rights, and `READ`,
    /// `WRITE`, `EXEC` as the quota handle holds them. `pages == 0` is
    /// `InvalidArgument`; more than
    /// [`MAX_OBJECT_PAGES`](super::args::MAX_OBJECT_PAGES), `OutOfRange`;
    /// more than the quota has left, `OutOfMemory`.
    35 MoCreate mo_create "mo_create" (memory: RawHandle, pages: u64) -> RawHandle, "memory-object handle";
    /// Maps `pages` pages of the object, from page `offset` of the
    /// capability's range, at `vaddr` in the caller's space. Needs `MAP |
    /// READ`, plus `WRITE` for `MAP_WRITE`, `EXEC` for `MAP_EXEC`. The
    /// mapping lives as long as the capability it was made through (a
    /// `cap_drop`, a revoke above it or the holder's death unmaps it) or
    /// until `mem_unmap`. Errors: `InvalidArgument` (unaligned `vaddr`,
    /// `pages == 0`, undefined flag), `BadAddress` (outside `[USER_MIN,
    /// MAP_END)`, kernel half, non-canonical), `OutOfRange` (past the
    /// capability's range), `AddressInUse` (a page there is mapped),
    /// `WriteExecute` (both flags, or writable here and executable in
    /// another mapping of the same page, or the reverse).
    36 MoMap mo_map "mo_map" (object: RawHandle, offset: u64, pages: u64, vaddr: u64, flags: u64) -> u64, "0";
    /// A directed yield (Aegis's): holding the `Process` handle is enough, as
    /// it gives the named process nothing but the caller's own time. If that
    /// process is ready it runs at once, for what is left of the caller's
    /// quantum (not a new one: two processes yielding to each other cannot
    /// keep a third off the CPU), and the caller goes to the back of the
    /// ready queue. `WouldBlock` if it is not ready (blocked, or the caller
    /// itself), `PeerGone` if it has ended.
    37 ProcYieldTo proc_yield_to "proc_yield_to" (process: RawHandle) -> u64, "0";
    /// Needs `READ` on a `Console`: copies up to `len` bytes typed on the
    /// console (at most [`MAX_CONSOLE_READ`](super::args::MAX_CONSOLE_READ))
    /// into `buf`, waiting until at least one is there;
    /// `CONSOLE_NONBLOCK` ([`args`](super::args)) returns `WouldBlock`
    /// instead of waiting. One process waits at a time: while it does,
    /// another's read with nothing to take is `Busy`.
    /// A waiter whose capability is revoked or dropped wakes with
    /// `Revoked`. Errors: `InvalidArgument` (`len == 0`, an undefined flag),
    /// `BadAddress` (`buf` not mapped writable).
    38 ConsoleRead console_read "console_read" (console: RawHandle, buf: u64, len: u64, flags: u64) -> u64, "bytes read";
    /// Needs `WRITE` on the `Process`: from now on it runs only on the
    /// CPUs of the mask `cpus` that are online (bit `i`: CPU `i`, as
    /// `SpawnArgs::cpus`; [`PARENT_CPUS`](super::process::PARENT_CPUS), 0,
    /// means the caller's own). Returns the mask it took (`cpus` and the
    /// online CPUs). A process waiting to run moves at once; one running
    /// on a CPU the mask leaves out moves within a timer tick (its CPU's
    /// quantum is cut), keeping its old mask until then. Errors:
    /// `InvalidArgument` (no online CPU in the mask), `PeerGone` (it has
    /// ended), the capability's.
    39 ProcSetCpus proc_set_cpus "proc_set_cpus" (process: RawHandle, cpus: u64) -> u64, "the CPUs taken";
    /// Needs `WAIT` on the `Process` (the right that learns how it ends
    /// learns what it is doing): what it is doing now, a
    /// [`ProcState`](super::process::ProcState) (running, ready, or the
    /// kind of call it is blocked in). Errors: `PeerGone` (it has ended;
    /// `proc_wait` says how), the capability's.
    40 ProcState proc_state "proc_state" (process: RawHandle) -> u64, "the state";
}

impl Syscall {
    /// The syscall's number.
    pub const fn as_raw(self) -> u64 {
        self as u64
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

    extern crate std;
    use std::string::String;
    use std::vec::Vec;

    #[test]
    fn numbers_increase_and_round_trip() {
        for (i, call) in Syscall::ALL.iter().enumerate() {
            assert_eq!(Syscall::from_raw(call.as_raw()), Some(*call));
            if i > 0 {
                assert!(Syscall::ALL[i - 1].as_raw() < call.as_raw(), "{call}");
            }
        }
        let assigned = |n: u64| Syscall::ALL.iter().any(|c| c.as_raw() == n);
        for n in 0..Syscall::END + 8 {
            assert_eq!(Syscall::from_raw(n).is_some(), assigned(n), "{n}");
        }
        assert_eq!(Syscall::END, Syscall::ALL[Syscall::COUNT - 1].as_raw() + 1);
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
        assert_eq!(Syscall::Yield.name(), "yield");
    }

    fn rendered(call: Syscall) -> String {
        let mut s = String::new();
        call.signature().render(call.name(), &mut s).unwrap();
        s
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
        assert_eq!(rendered(Syscall::Yield), "yield() → 0");
    }

    /// Records which handler ran, with its arguments re-encoded.
    struct Recorder;

    impl Handlers for Recorder {
        type Out = Result<(Syscall, [u64; 6]), Error>;
        fn refuse(&mut self, error: Error) -> Self::Out {
            Err(error)
        }
        fn nop(&mut self, a: calls::Nop) -> Self::Out {
            Ok((Syscall::Nop, a.encode()))
        }
        fn debug_write(&mut self, a: calls::DebugWrite) -> Self::Out {
            Ok((Syscall::DebugWrite, a.encode()))
        }
        fn cap_info(&mut self, a: calls::CapInfo) -> Self::Out {
            Ok((Syscall::CapInfo, a.encode()))
        }
        fn cap_derive(&mut self, a: calls::CapDerive) -> Self::Out {
            Ok((Syscall::CapDerive, a.encode()))
        }
        fn cap_drop(&mut self, a: calls::CapDrop) -> Self::Out {
            Ok((Syscall::CapDrop, a.encode()))
        }
        fn cap_revoke(&mut self, a: calls::CapRevoke) -> Self::Out {
            Ok((Syscall::CapRevoke, a.encode()))
        }
        fn mem_map(&mut self, a: calls::MemMap) -> Self::Out {
            Ok((Syscall::MemMap, a.encode()))
        }
        fn mem_unmap(&mut self, a: calls::MemUnmap) -> Self::Out {
            Ok((Syscall::MemUnmap, a.encode()))
        }
        fn proc_spawn(&mut self, a: calls::ProcSpawn) -> Self::Out {
            Ok((Syscall::ProcSpawn, a.encode()))
        }
        fn proc_wait(&mut self, a: calls::ProcWait) -> Self::Out {
            Ok((Syscall::ProcWait, a.encode()))
        }
        fn exit(&mut self, a: calls::Exit) -> Self::Out {
            Ok((Syscall::Exit, a.encode()))
        }
        fn yield_now(&mut self, a: calls::Yield) -> Self::Out {
            Ok((Syscall::Yield, a.encode()))
        }
        fn sleep(&mut self, a: calls::Sleep) -> Self::Out {
            Ok((Syscall::Sleep, a.encode()))
        }
        fn clock(&mut self, a: calls::Clock) -> Self::Out {
            Ok((Syscall::Clock, a.encode()))
        }
        fn disk_info(&mut self, a: calls::DiskInfo) -> Self::Out {
            Ok((Syscall::DiskInfo, a.encode()))
        }
        fn disk_read(&mut self, a: calls::DiskRead) -> Self::Out {
            Ok((Syscall::DiskRead, a.encode()))
        }
        fn disk_write(&mut self, a: calls::DiskWrite) -> Self::Out {
            Ok((Syscall::DiskWrite, a.encode()))
        }
        fn disk_flush(&mut self, a: calls::DiskFlush) -> Self::Out {
            Ok((Syscall::DiskFlush, a.encode()))
        }
        fn disk_submit(&mut self, a: calls::DiskSubmit) -> Self::Out {
            Ok((Syscall::DiskSubmit, a.encode()))
        }
        fn disk_complete(&mut self, a: calls::DiskComplete) -> Self::Out {
            Ok((Syscall::DiskComplete, a.encode()))
        }
        fn ipc_send(&mut self, a: calls::IpcSend) -> Self::Out {
            Ok((Syscall::IpcSend, a.encode()))
        }
        fn ipc_recv(&mut self, a: calls::IpcRecv) -> Self::Out {
            Ok((Syscall::IpcRecv, a.encode()))
        }
        fn ipc_call(&mut self, a: calls::IpcCall) -> Self::Out {
            Ok((Syscall::IpcCall, a.encode()))
        }
        fn ipc_reply(&mut self, a: calls::IpcReply) -> Self::Out {
            Ok((Syscall::IpcReply, a.encode()))
        }
        fn ipc_reply_recv(&mut self, a: calls::IpcReplyRecv) -> Self::Out {
            Ok((Syscall::IpcReplyRecv, a.encode()))
        }
        fn endpoint_create(&mut self, a: calls::EndpointCreate) -> Self::Out {
            Ok((Syscall::EndpointCreate, a.encode()))
        }
        fn cap_graph(&mut self, a: calls::CapGraph) -> Self::Out {
            Ok((Syscall::CapGraph, a.encode()))
        }
        fn timer_info(&mut self, a: calls::TimerInfo) -> Self::Out {
            Ok((Syscall::TimerInfo, a.encode()))
        }
        fn notify_create(&mut self, a: calls::NotifyCreate) -> Self::Out {
            Ok((Syscall::NotifyCreate, a.encode()))
        }
        fn notify_signal(&mut self, a: calls::NotifySignal) -> Self::Out {
            Ok((Syscall::NotifySignal, a.encode()))
        }
        fn notify_wait(&mut self, a: calls::NotifyWait) -> Self::Out {
            Ok((Syscall::NotifyWait, a.encode()))
        }
        fn endpoint_bind(&mut self, a: calls::EndpointBind) -> Self::Out {
            Ok((Syscall::EndpointBind, a.encode()))
        }
        fn ring_create(&mut self, a: calls::RingCreate) -> Self::Out {
            Ok((Syscall::RingCreate, a.encode()))
        }
        fn ring_enter(&mut self, a: calls::RingEnter) -> Self::Out {
            Ok((Syscall::RingEnter, a.encode()))
        }
        fn disk_bind(&mut self, a: calls::DiskBind) -> Self::Out {
            Ok((Syscall::DiskBind, a.encode()))
        }
        fn mo_create(&mut self, a: calls::MoCreate) -> Self::Out {
            Ok((Syscall::MoCreate, a.encode()))
        }
        fn mo_map(&mut self, a: calls::MoMap) -> Self::Out {
            Ok((Syscall::MoMap, a.encode()))
        }
        fn proc_yield_to(&mut self, a: calls::ProcYieldTo) -> Self::Out {
            Ok((Syscall::ProcYieldTo, a.encode()))
        }
        fn console_read(&mut self, a: calls::ConsoleRead) -> Self::Out {
            Ok((Syscall::ConsoleRead, a.encode()))
        }
        fn proc_set_cpus(&mut self, a: calls::ProcSetCpus) -> Self::Out {
            Ok((Syscall::ProcSetCpus, a.encode()))
        }
        fn proc_state(&mut self, a: calls::ProcState) -> Self::Out {
            Ok((Syscall::ProcState, a.encode()))
        }
    }

    /// The decoder reads exactly the documented registers, in order, and
    /// hands them to the documented call's handler: each of a call's
    /// arguments is register `i` of its signature, the registers it does
    /// not document are ignored.
    #[test]
    fn dispatch_decodes_the_documented_registers() {
        for call in Syscall::ALL {
            let n = call.signature().args.len();
            // Distinct valid values (rights bits stay defined).
            let regs: [u64; 6] = core::array::from_fn(|i| (i as u64 + 1) & 0x7);
            let (ran, got) = dispatch(&mut Recorder, call, &regs).unwrap();
            assert_eq!(ran, call);
            for i in 0..6 {
                let want = if i < n { regs[i] } else { 0 };
                assert_eq!(got[i], want, "{call}: register {i}");
            }
        }
    }

    #[test]
    fn unknown_numbers_are_refused() {
        let regs = [0; 6];
        for n in [Syscall::END, 1000, u64::MAX] {
            assert_eq!(dispatch_raw(&mut Recorder, n, &regs), Err(Error::BadSyscall));
        }
        assert_eq!(dispatch_raw(&mut Recorder, 2, &regs).unwrap().0, Syscall::CapInfo);
    }

    #[test]
    fn bad_encodings_are_refused_before_any_handler() {
        let regs = [1, u64::MAX, 0, 0, 0, 0];
        assert_eq!(dispatch(&mut Recorder, Syscall::CapDerive, &regs), Err(Error::InvalidArgument));
    }

    #[test]
    fn generated_docs_open_with_the_signature() {
        // rustdoc shows the generated line; check what it is made of.
        let want: Vec<String> = Syscall::ALL.iter().map(|c| rendered(*c)).collect();
        assert_eq!(want[15], "disk_read(range, sector, count, buf) → sectors read");
        assert_eq!(want[24], "ipc_reply_recv(reply, tag, slot0, slot1, slot2, endpoint) → tag");
        let at = |call: Syscall| &want[call.as_raw() as usize];
        assert_eq!(at(Syscall::NotifyWait), "notify_wait(notification, flags) → the bits");
        assert_eq!(at(Syscall::EndpointBind), "endpoint_bind(endpoint, notification) → 0");
    }
}
