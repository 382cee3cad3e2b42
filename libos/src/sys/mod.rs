//! The system interface: the only place in `libos` with `unsafe`.
//!
//! - [`raw`]: the `syscall` instruction;
//! - this module: one safe function per syscall, which passes the kernel
//!   only pointers made from Rust references of the right size, so no call
//!   can make the kernel write where Rust does not expect it;
//! - `entry` (target only): `_start`, the start page, the panic handler;
//! - `heap` (target only): the global allocator, grown with `mem_map`.
//!
//! Everything above this module is safe code.

#[cfg(target_os = "none")]
mod entry;
#[cfg(target_os = "none")]
mod heap;
pub mod raw;
pub mod ring;
pub mod shm;

use caps::abi::args::{MAX_DEBUG_WRITE, unpack_info};
#[cfg(not(target_os = "none"))]
use caps::abi::process::StartInfo;
use caps::abi::process::{ExitStatus, SpawnArgs};
use caps::abi::syscall::{Call, calls};
use caps::abi::time::TimerInfo;
use caps::abi::{CapInfo, Error, GraphNode, ObjectKind, RawHandle, Rights, Syscall};

#[cfg(target_os = "none")]
pub use entry::start_info;

/// Host builds have no start page.
#[cfg(not(target_os = "none"))]
pub fn start_info() -> &'static StartInfo {
    panic!("libos::sys::start_info: only exocap processes have a start page")
}

/// Makes the call `args` describes (its number and registers come from
/// `caps::abi::syscall`, the ABI's one description) and decodes the result.
fn call<C: Call>(args: C) -> Result<C::Ret, Error> {
    // SAFETY: only for calls that take no pointer the kernel writes through
    // (every caller below says which pointers it passes and why they are
    // valid).
    unsafe { raw::invoke(args) }
}

/// The cheapest call: returns at once (the `syscall`/`sysretq` floor).
pub fn nop() -> Result<u64, Error> {
    call(calls::Nop {})
}

/// `debug_write`: writes bytes to the console; returns how many.
pub fn debug_write(console: RawHandle, bytes: &[u8]) -> Result<u64, Error> {
    let mut done = 0;
    for chunk in bytes.chunks(MAX_DEBUG_WRITE as usize) {
        // The kernel only reads the chunk.
        done += call(calls::DebugWrite {
            console,
            buf: chunk.as_ptr() as u64,
            len: chunk.len() as u64,
        })?;
    }
    Ok(done)
}

/// `console_read(console, buf, len, flags)`: bytes typed on the console
/// into `buf` (at most `MAX_CONSOLE_READ` of them); waits for at least one
/// unless `flags` has `CONSOLE_NONBLOCK` (then `WouldBlock`). An empty
/// `buf` is `InvalidArgument`, as the kernel says.
pub fn console_read(console: RawHandle, buf: &mut [u8], flags: u64) -> Result<usize, Error> {
    let args =
        calls::ConsoleRead { console, buf: buf.as_mut_ptr() as u64, len: buf.len() as u64, flags };
    // SAFETY: the kernel writes at most `len` bytes at `buf`, which is
    // `buf`'s own length: an exclusive borrow of memory we own.
    let n = unsafe { raw::invoke(args) }?;
    Ok(n as usize)
}

/// `cap_info` without the record: the kind and rights.
pub fn cap_kind(handle: RawHandle) -> Result<(Option<ObjectKind>, Rights), Error> {
    call(calls::CapInfo { handle, out: 0 }).map(unpack_info)
}

/// `cap_info`: the whole record.
pub fn cap_info(handle: RawHandle) -> Result<CapInfo, Error> {
    let mut info = CapInfo::default();
    // SAFETY: `info` is a live `CapInfo`, the exact record the kernel writes.
    unsafe { raw::invoke(calls::CapInfo { handle, out: &mut info as *mut CapInfo as u64 }) }?;
    Ok(info)
}

/// `cap_graph`: fills `out` with the capabilities the caller reaches
/// (parents first) and returns how many there are: more than `out.len()`
/// when `out` was too short (only `out.len()` were written then).
pub fn cap_graph(out: &mut [GraphNode]) -> Result<usize, Error> {
    let len = core::mem::size_of_val(out) as u64;
    // SAFETY: `out` is a live, aligned slice of exactly `len` bytes of
    // `GraphNode`s, the record the kernel writes (whole records only).
    let n = unsafe { raw::invoke(calls::CapGraph { buf: out.as_mut_ptr() as u64, len }) }?;
    Ok(n as usize)
}

/// `cap_derive(handle, rights, mode, a, b)`.
pub fn cap_derive(
    handle: RawHandle,
    rights: Rights,
    mode: u64,
    a: u64,
    b: u64,
) -> Result<RawHandle, Error> {
    call(calls::CapDerive { handle, rights, mode, a, b })
}

/// `cap_drop(handle)`.
pub fn cap_drop(handle: RawHandle) -> Result<(), Error> {
    call(calls::CapDrop { handle }).map(drop)
}

/// `cap_revoke(handle)`: how many capabilities died.
pub fn cap_revoke(handle: RawHandle) -> Result<u64, Error> {
    call(calls::CapRevoke { handle })
}

/// `mem_map(memory, vaddr, len, flags)`: maps fresh pages where nothing
/// is mapped (the kernel refuses a mapped page with `AddressInUse`), so no
/// Rust memory changes.
pub fn mem_map(memory: RawHandle, vaddr: u64, len: u64, flags: u64) -> Result<(), Error> {
    call(calls::MemMap { memory, vaddr, len, flags }).map(drop)
}

/// `mem_unmap(vaddr, len)`: returns how many pages were unmapped.
///
/// # Safety
/// Nothing may use the memory in the range any more.
#[allow(unsafe_code)]
pub unsafe fn mem_unmap(vaddr: u64, len: u64) -> Result<u64, Error> {
    call(calls::MemUnmap { vaddr, len })
}

/// `proc_spawn(args)`: the kernel reads `args` and the arrays it points to.
pub fn proc_spawn(args: &SpawnArgs) -> Result<RawHandle, Error> {
    call(calls::ProcSpawn { args: args as *const SpawnArgs as u64 })
}

/// `proc_wait(process, flags)`.
pub fn proc_wait(process: RawHandle, flags: u64) -> Result<ExitStatus, Error> {
    let raw = call(calls::ProcWait { process, flags })?;
    ExitStatus::decode(raw).ok_or(Error::InvalidArgument)
}

/// `exit(code)`: ends this process.
pub fn exit(code: i32) -> ! {
    let _ = call(calls::Exit { code: code as u32 as u64 });
    // exit does not return; if it ever did, stop here rather than run on.
    loop {
        core::hint::spin_loop();
    }
}

/// `yield()`.
pub fn yield_now() {
    let _ = call(calls::Yield {});
}

/// `proc_yield_to(process)`: runs that process now if it is ready.
pub fn proc_yield_to(process: RawHandle) -> Result<(), Error> {
    call(calls::ProcYieldTo { process }).map(drop)
}

/// `proc_set_cpus(process, cpus)`: the CPUs that process may run on from
/// now on; returns the mask taken.
pub fn proc_set_cpus(process: RawHandle, cpus: u64) -> Result<u64, Error> {
    call(calls::ProcSetCpus { process, cpus })
}

/// `proc_state(process)`: what that process is doing, encoded
/// (`ProcState::decode`).
pub fn proc_state(process: RawHandle) -> Result<u64, Error> {
    call(calls::ProcState { process })
}

/// `sleep(timer, ns)`.
pub fn sleep(timer: RawHandle, ns: u64) -> Result<(), Error> {
    call(calls::Sleep { timer, ns }).map(drop)
}

/// `clock(timer)`: nanoseconds since boot.
pub fn clock(timer: RawHandle) -> Result<u64, Error> {
    call(calls::Clock { timer })
}

/// `timer_info(timer, out)`: the clock, the tick count and the
/// reference clock.
pub fn timer_info(timer: RawHandle) -> Result<TimerInfo, Error> {
    let mut info = TimerInfo::default();
    call(calls::TimerInfo { timer, out: &mut info as *mut TimerInfo as u64 })?;
    Ok(info)
}

/// The CPU's time-stamp counter (for benchmarks: cycles, not seconds).
pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc only reads the counter; the kernel leaves it enabled
    // for user mode.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// `disk_info(range)`: the record, including the device's statistics.
pub fn disk_info(range: RawHandle) -> Result<caps::abi::disk::DiskInfo, Error> {
    let mut info = caps::abi::disk::DiskInfo::default();
    // SAFETY: `info` is a live `DiskInfo`, the exact record the kernel writes.
    unsafe { raw::invoke(calls::DiskInfo { range, out: &mut info as *mut _ as u64 }) }?;
    Ok(info)
}

/// `disk_read(range, sector, buf.len() / 512, buf)`: the kernel writes
/// exactly `buf` (whose length must be a whole number of sectors).
pub fn disk_read(range: RawHandle, sector: u64, buf: &mut [u8]) -> Result<u64, Error> {
    let count = (buf.len() / caps::abi::SECTOR_SIZE) as u64;
    // SAFETY: the kernel writes `count * 512 <= buf.len()` bytes of `buf`.
    unsafe { raw::invoke(calls::DiskRead { range, sector, count, buf: buf.as_mut_ptr() as u64 }) }
}

/// `disk_write(range, sector, buf.len() / 512, buf)`: the kernel reads `buf`.
pub fn disk_write(range: RawHandle, sector: u64, buf: &[u8]) -> Result<u64, Error> {
    let count = (buf.len() / caps::abi::SECTOR_SIZE) as u64;
    call(calls::DiskWrite { range, sector, count, buf: buf.as_ptr() as u64 })
}

/// `disk_flush(range)`.
pub fn disk_flush(range: RawHandle) -> Result<(), Error> {
    call(calls::DiskFlush { range }).map(drop)
}

/// An asynchronous disk request in flight (`disk_submit`). It borrows its
/// buffer until the request is completed — by [`Pending::wait`],
/// [`Pending::poll`] or its `Drop` — since the kernel writes a read's data
/// into the buffer at completion.
pub struct Pending<'a> {
    id: Option<u64>,
    _buf: &'a mut [u8],
}

impl<'a> Pending<'a> {
    /// `disk_submit(range, op, sector, buf.len() / 512, buf)`.
    pub fn submit(
        range: RawHandle,
        op: u64,
        sector: u64,
        buf: &'a mut [u8],
    ) -> Result<Self, Error> {
        let count = (buf.len() / caps::abi::SECTOR_SIZE) as u64;
        // SAFETY: the kernel writes `buf` only during `disk_complete`, which
        // only this `Pending` calls, while it still borrows `buf`.
        let id = unsafe {
            raw::invoke(calls::DiskSubmit {
                range,
                op,
                sector,
                count,
                buf: buf.as_mut_ptr() as u64,
            })
        }?;
        Ok(Pending { id: Some(id), _buf: buf })
    }

    /// The request's id.
    pub fn id(&self) -> Option<u64> {
        self.id
    }

    /// Waits for the request; returns the sectors moved. `Revoked` (and a
    /// read's buffer untouched) if the capability it was started through is
    /// gone; `IoError` if the device failed this request.
    pub fn wait(mut self) -> Result<u64, Error> {
        let id = self.id.take().ok_or(Error::InvalidArgument)?;
        // SAFETY: we still borrow the buffer.
        unsafe { raw::invoke(calls::DiskComplete { id, flags: 0 }) }
    }

    /// The result if the request is done (`WouldBlock` if not yet).
    pub fn poll(&mut self) -> Result<u64, Error> {
        let id = self.id.ok_or(Error::InvalidArgument)?;
        let flags = caps::abi::disk::COMPLETE_NONBLOCK;
        // SAFETY: we still borrow the buffer.
        let r = unsafe { raw::invoke(calls::DiskComplete { id, flags }) };
        if r != Err(Error::WouldBlock) {
            self.id = None;
        }
        r
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            // SAFETY: we still borrow the buffer until this returns.
            let _ = unsafe { raw::invoke(calls::DiskComplete { id, flags: 0 }) };
        }
    }
}

/// What a receive returns (`ipc_recv`, `ipc_reply_recv`, `ipc_call`'s
/// answer): see `caps::abi::ipc`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpcRegs {
    /// The received tag.
    pub tag: caps::abi::ipc::Tag,
    /// The badge of the capability it came through.
    pub badge: u64,
    /// The reply handle of a call, or 0.
    pub reply: u64,
    /// Words, then the new handles.
    pub slots: [u64; caps::abi::ipc::MSG_SLOTS],
}

fn ipc_regs(r: raw::Regs) -> Result<IpcRegs, Error> {
    let tag = caps::abi::decode_result(r.rax)?;
    Ok(IpcRegs {
        tag: caps::abi::ipc::Tag(tag),
        badge: r.out[0],
        reply: r.out[1],
        slots: [r.out[2], r.out[3], r.out[4], r.out[5]],
    })
}

/// `endpoint_create(memory)`: a new endpoint with every right.
pub fn endpoint_create(memory: RawHandle) -> Result<RawHandle, Error> {
    call(calls::EndpointCreate { memory })
}

/// `notify_create(memory)`: a new notification with every right.
pub fn notify_create(memory: RawHandle) -> Result<RawHandle, Error> {
    call(calls::NotifyCreate { memory })
}

/// `notify_signal(notification)`.
pub fn notify_signal(notification: RawHandle) -> Result<(), Error> {
    call(calls::NotifySignal { notification }).map(drop)
}

/// `notify_wait(notification, flags)`: the bits.
pub fn notify_wait(notification: RawHandle, flags: u64) -> Result<u64, Error> {
    call(calls::NotifyWait { notification, flags })
}

/// `disk_bind(notification)` (`RawHandle::INVALID` unbinds).
pub fn disk_bind(notification: RawHandle) -> Result<(), Error> {
    call(calls::DiskBind { notification }).map(drop)
}

/// `endpoint_bind(endpoint, notification)` (`RawHandle::INVALID` unbinds).
pub fn endpoint_bind(endpoint: RawHandle, notification: RawHandle) -> Result<(), Error> {
    call(calls::EndpointBind { endpoint, notification }).map(drop)
}

/// `ipc_send` or `ipc_reply` in the register form (`call` says which):
/// the kernel reads no memory.
pub fn ipc_send(call_nr: Syscall, cap: RawHandle, tag: u64, slots: [u64; 4]) -> Result<(), Error> {
    let [slot0, slot1, slot2, slot3] = slots;
    match call_nr {
        Syscall::IpcSend => call(calls::IpcSend { endpoint: cap, tag, slot0, slot1, slot2, slot3 }),
        Syscall::IpcReply => call(calls::IpcReply { reply: cap, tag, slot0, slot1, slot2, slot3 }),
        _ => Err(Error::InvalidArgument),
    }
    .map(drop)
}

/// `ipc_send` or `ipc_reply` in the long form: the kernel reads `data`
/// and `handles` (at most `MAX_HANDLES`; the tag's count is set here).
pub fn ipc_send_long(
    call_nr: Syscall,
    cap: RawHandle,
    flags: u64,
    data: &[u8],
    handles: &[u64],
) -> Result<(), Error> {
    let (desc, tag) = long_desc(flags, data, handles)?;
    let slot0 = &desc as *const _ as u64;
    let (slot1, slot2, slot3) = (0, 0, 0);
    match call_nr {
        Syscall::IpcSend => call(calls::IpcSend { endpoint: cap, tag, slot0, slot1, slot2, slot3 }),
        Syscall::IpcReply => call(calls::IpcReply { reply: cap, tag, slot0, slot1, slot2, slot3 }),
        _ => Err(Error::InvalidArgument),
    }
    .map(drop)
}

fn long_desc(
    flags: u64,
    data: &[u8],
    handles: &[u64],
) -> Result<(caps::abi::ipc::MsgDesc, u64), Error> {
    use caps::abi::ipc::{MAX_HANDLES, MsgDesc, Tag};
    if handles.len() > MAX_HANDLES {
        return Err(Error::InvalidArgument);
    }
    let mut desc = MsgDesc { data: data.as_ptr() as u64, len: data.len() as u64, handles: [0; 4] };
    desc.handles[..handles.len()].copy_from_slice(handles);
    Ok((desc, Tag::long(handles.len()).with(flags).0))
}

/// `ipc_recv(endpoint, flags, buf)`: the kernel writes at most `buf`.
pub fn ipc_recv(ep: RawHandle, flags: u64, buf: &mut [u8]) -> Result<IpcRegs, Error> {
    let (ptr, len) = (buf.as_mut_ptr() as u64, buf.len() as u64);
    // SAFETY: the kernel writes only within `buf`, which we borrow mutably.
    ipc_regs(unsafe { raw::invoke6(calls::IpcRecv { endpoint: ep, flags, buf: ptr, len }) })
}

/// `ipc_call` in the register form (the kernel reads and writes no memory).
pub fn ipc_call(ep: RawHandle, tag: u64, slots: [u64; 4]) -> Result<IpcRegs, Error> {
    if tag & caps::abi::ipc::TAG_LONG != 0 {
        return Err(Error::InvalidArgument);
    }
    // SAFETY: no pointers in the register form.
    ipc_regs(unsafe {
        raw::invoke6(calls::IpcCall {
            endpoint: ep,
            tag,
            slot0: slots[0],
            slot1: slots[1],
            slot2: slots[2],
            slot3: slots[3],
        })
    })
}

/// `ipc_call` in the long form: the kernel reads `data` and `handles`
/// and writes the answer's data into at most `buf`.
pub fn ipc_call_long(
    ep: RawHandle,
    flags: u64,
    data: &[u8],
    handles: &[u64],
    buf: &mut [u8],
) -> Result<IpcRegs, Error> {
    let (desc, tag) = long_desc(flags, data, handles)?;
    let (ptr, len) = (buf.as_mut_ptr() as u64, buf.len() as u64);
    // SAFETY: the kernel reads `desc` and what it names, and writes only
    // within `buf`, which we borrow mutably.
    ipc_regs(unsafe {
        raw::invoke6(calls::IpcCall {
            endpoint: ep,
            tag,
            slot0: &desc as *const _ as u64,
            slot1: ptr,
            slot2: len,
            slot3: 0,
        })
    })
}

/// `ipc_reply_recv` in the register form: three reply slots, then a
/// receive on `ep` (long data of the received message is cut off).
pub fn ipc_reply_recv(
    reply: RawHandle,
    tag: u64,
    slots: [u64; 3],
    ep: RawHandle,
) -> Result<IpcRegs, Error> {
    if tag & caps::abi::ipc::TAG_LONG != 0 {
        return Err(Error::InvalidArgument);
    }
    // SAFETY: no pointers in the register form.
    ipc_regs(unsafe {
        raw::invoke6(calls::IpcReplyRecv {
            reply,
            tag,
            slot0: slots[0],
            slot1: slots[1],
            slot2: slots[2],
            endpoint: ep,
        })
    })
}

/// `ipc_reply_recv` in the long form: the kernel reads `data` and
/// `handles`, and writes the received data into at most `buf`.
pub fn ipc_reply_recv_long(
    reply: RawHandle,
    flags: u64,
    data: &[u8],
    handles: &[u64],
    buf: &mut [u8],
    ep: RawHandle,
) -> Result<IpcRegs, Error> {
    let (desc, tag) = long_desc(flags, data, handles)?;
    let (ptr, len) = (buf.as_mut_ptr() as u64, buf.len() as u64);
    // SAFETY: as `ipc_call_long`.
    ipc_regs(unsafe {
        raw::invoke6(calls::IpcReplyRecv {
            reply,
            tag,
            slot0: &desc as *const _ as u64,
            slot1: ptr,
            slot2: len,
            endpoint: ep,
        })
    })
}
