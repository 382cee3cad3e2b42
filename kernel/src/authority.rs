//! Authority checks: after every syscall, check the invariants that make
//! the system secure. A debug feature (`authority-checks`), on in the test
//! and fuzzing kernels; a violation is a kernel bug, reported with the
//! syscall that caused it, and the machine powers off with a failure.
//!
//! What is checked:
//! - the capability space's own invariants (`CapSpace::check_invariants`):
//!   every derived capability's rights within its parent's, every range
//!   within its parent's, the tree and the tables consistent;
//! - every capability names a live object (process, quota, image, disk,
//!   endpoint, reply, notification),
//!   and every disk range lies on its device;
//! - every root capability (one derived from nothing) is of a kind the
//!   kernel mints — whole disks, consoles, timers, images, quotas,
//!   processes, memory objects (any page range of a live one: a dropped
//!   first capability leaves its derived sub-ranges as roots) — so no
//!   table holds a capability it was neither given nor derived;
//! - every table belongs to a live process, and every live process has one;
//! - every quota is within its limit, and its rights ceiling within its
//!   parent's;
//! - no capability holds rights its source did not: derived and granted
//!   ones within their parent's (above), and every `Memory` capability
//!   within its quota's ceiling, the rights of the handle the quota was
//!   carved through (so spawn cannot mint a child more memory rights than
//!   its parent's handle held).
//! - every process blocked in IPC (sending, receiving, or waiting for the
//!   answer to a call) waits through a live capability of its own naming
//!   that endpoint, with the right it needs, and is in that endpoint's
//!   queue; every queued process is so blocked;
//! - likewise every process blocked in `notify_wait` is tied to a live
//!   capability of its own naming that notification, with WAIT, and is in
//!   its queue of waiters; a notification with waiters has an empty word;
//! - the console's one waiting reader (`console_read`) is blocked there,
//!   tied to a live `Console` capability of its own with READ, and is the
//!   only process so blocked;
//! - every memory object's capability names a live object and a page
//!   range inside it; every object has as many capabilities as name it;
//!   every mapping of one is in its holder's address space, page for page
//!   on the object's frames, with no more access than the capability it
//!   was made through (which is live, the holder's, and covers it), and
//!   no page is writable in one mapping and executable in another;
//! - the kernel's GS base names this CPU's per-CPU area, whatever the
//!   process did to its own GS (`arch::percpu::check`; also at every
//!   timer tick);
//! - every synchronous disk transfer that the device runs straight in its
//!   process's frames still has every page of its buffer mapped there (the
//!   frames are not freed under the device).

use alloc::format;
use alloc::string::String;
use caps::Object;
use caps::abi::Syscall;

use crate::proc::State;
use crate::qemu;
use crate::state::Kernel;

/// Runs every check; the first violation, described.
pub fn check(k: &mut Kernel) -> Result<(), String> {
    crate::arch::percpu::check().map_err(|e| format!("per-CPU area: {e}"))?;
    k.caps.check_invariants().map_err(|v| format!("capability space: {v:?}"))?;
    for (id, p) in k.procs.iter() {
        match (p.state, p.table) {
            (State::Dead, Some(_)) => {
                return Err(format!("dead process {:#x} still has a table", id.0));
            }
            (State::Dead, None) => {}
            (_, None) => return Err(format!("live process {:#x} has no table", id.0)),
            _ => {}
        }
        // A parked capability is a spent reply whose only capability it is
        // (`ipc::reply`).
        if let Some(cap) = p.table.and_then(|t| k.caps.parked(t)) {
            let spent = match cap.object {
                Object::Reply(r) => k.ipc.replies.get(r).is_some_and(|r| {
                    r.state == crate::ipc::objects::ReplyState::Spent && r.caps == 1
                }),
                _ => false,
            };
            if !spent {
                return Err(format!("process {:#x} has {cap:?} parked", id.0));
            }
        }
    }
    for (id, q) in k.quotas.0.iter() {
        if q.used > q.limit {
            return Err(format!("quota {:#x} over its limit: {} of {}", id.0, q.used, q.limit));
        }
        if let Some((parent, _)) = q.parent
            && let Some(p) = k.quotas.0.get(parent)
            && !p.ceiling.contains(q.ceiling)
        {
            return Err(format!(
                "quota {:#x} has rights {:?} beyond its parent's {:?}",
                id.0, q.ceiling, p.ceiling
            ));
        }
    }
    let audited: alloc::vec::Vec<_> =
        k.caps.audit().map(|a| (a.table, *a.capability, a.parent.copied())).collect();
    for (table, cap, parent) in audited {
        if !k.procs.iter().any(|(_, p)| p.table == Some(table)) {
            return Err(format!("table {:#x} belongs to no live process", table.as_u64()));
        }
        let live = match cap.object {
            Object::Process(id) => k.procs.get(id).is_some(),
            Object::Memory(id) => k.quotas.0.get(id).is_some(),
            Object::Image(id) => (id.0 as usize) < k.images.len(),
            Object::Endpoint(id) => k.ipc.endpoints.get(id).is_some(),
            Object::Reply(id) => k.ipc.replies.get(id).is_some(),
            Object::Notification(id) => k.notifications.get(id).is_some(),
            Object::IoRing(id) => k.rings.rings.get(id).is_some(),
            Object::MemoryObject(r) => k.memobjs.objects.get(r.object).is_some_and(|o| {
                r.first.checked_add(r.count).is_some_and(|end| end <= o.frames.len() as u64)
            }),
            Object::DiskRange(r) => k.devices.get(r.device).is_some_and(|d| {
                r.first.checked_add(r.count).is_some_and(|end| end <= d.sector_count())
            }),
            _ => true,
        };
        if !live {
            return Err(format!("capability {cap:?} names nothing"));
        }
        if let Object::Memory(id) = cap.object
            && let Some(q) = k.quotas.0.get(id)
            && !q.ceiling.contains(cap.rights)
        {
            return Err(format!(
                "capability {cap:?} holds rights beyond its quota's ceiling {:?}",
                q.ceiling
            ));
        }
        if parent.is_none() {
            let minted = match cap.object {
                // Only whole disks are minted; every other range is derived.
                Object::DiskRange(r) => {
                    r.first == 0
                        && k.devices.get(r.device).is_some_and(|d| r.count == d.sector_count())
                }
                // Any page range of a live object (checked above): the
                // first capability names all of it, but once its holder
                // drops it, the sub-ranges derived from it are re-parented
                // to its parent, none, and are roots (found by the fuzzer:
                // `mo_create`, `cap_derive` of pages 1..3, `cap_drop` of the
                // first).
                Object::MemoryObject(_) => true,
                _ => true,
            };
            if !minted {
                return Err(format!("root capability {cap:?} was never minted by the kernel"));
            }
        }
    }
    // A process's tie to the handle it blocked through ends when its wait
    // does (the scheduler relies on it: `Scheduler::tie`).
    if let Some(pid) = k.sched.here().current
        && k.sched.through.iter().any(|t| t.pid == pid)
    {
        return Err(format!("the running process {:#x} is still tied to a handle", pid.0));
    }
    ipc_waiters(k)?;
    notify_waiters(k)?;
    console_reader(k)?;
    memory_objects(k)?;
    direct_transfers(k)?;
    cpus(k)
}

/// A process runs on one CPU at a time: every running process is the
/// current process of exactly one CPU, every CPU's current process is
/// running (or, on this CPU, just ended), and none is in the ready queue;
/// each runs and waits inside its CPUs (online ones), and only a running
/// one has a mask pending (`proc_set_cpus`), one that leaves its CPU out.
fn cpus(k: &Kernel) -> Result<(), String> {
    let here = crate::arch::percpu::index() as usize;
    for (cpu, s) in k.sched.cpus().iter().enumerate() {
        let Some(pid) = s.current else { continue };
        if k.sched.cpus().iter().enumerate().any(|(c, o)| c != cpu && o.current == Some(pid)) {
            return Err(format!("process {:#x} is current on two CPUs", pid.0));
        }
        match k.procs.get(pid).map(|p| p.state) {
            Some(crate::proc::State::Running) => {}
            Some(crate::proc::State::Dead) if cpu == here => {}
            state => {
                return Err(format!(
                    "CPU {cpu}'s current process {:#x} is {state:?}, not running",
                    pid.0
                ));
            }
        }
        if k.sched.runq.contains(pid) {
            return Err(format!("the running process {:#x} is also ready", pid.0));
        }
        let p = k.procs.get(pid).expect("looked up above");
        if p.cpus & (1 << cpu) == 0 || p.cpu != cpu as u32 {
            return Err(format!(
                "process {:#x} runs on CPU {cpu}, outside its CPUs {:#x} (or says CPU {})",
                pid.0, p.cpus, p.cpu
            ));
        }
    }
    for (cpu, pid, allowed) in k.sched.runq.iter() {
        match k.procs.get(pid) {
            Some(p) if p.state == crate::proc::State::Ready => {
                if p.cpu != cpu || p.cpus != allowed || allowed & (1 << cpu) == 0 {
                    return Err(format!(
                        "process {:#x} waits on CPU {cpu} with mask {allowed:#x}; \
                         it says CPU {} and mask {:#x}",
                        pid.0, p.cpu, p.cpus
                    ));
                }
            }
            other => {
                return Err(format!(
                    "process {:#x} is queued on CPU {cpu} but is {:?}",
                    pid.0,
                    other.map(|p| p.state)
                ));
            }
        }
    }
    for (pid, p) in k.procs.iter() {
        let online = crate::proc::sched::online();
        if p.state != crate::proc::State::Dead && (p.cpus == 0 || p.cpus & !online != 0) {
            return Err(format!("process {:#x} has the CPUs {:#x}", pid.0, p.cpus));
        }
        // A mask `proc_set_cpus` left pending applies where the process
        // stops running: one still pending is a running process's.
        if let Some(next) = p.next_cpus
            && (p.state != crate::proc::State::Running || next & (1 << p.cpu) != 0)
        {
            return Err(format!(
                "process {:#x} is {:?} on CPU {} with the CPUs {next:#x} pending",
                pid.0, p.state, p.cpu
            ));
        }
        if p.state == crate::proc::State::Ready && !k.sched.runq.contains(pid) {
            return Err(format!("ready process {:#x} is in no run queue", pid.0));
        }
        if p.state == crate::proc::State::Running
            && !k.sched.cpus().iter().any(|s| s.current == Some(pid))
        {
            return Err(format!("process {:#x} is running on no CPU", pid.0));
        }
    }
    Ok(())
}

/// Every synchronous transfer straight into user frames still has its
/// whole buffer mapped in its process: nothing unmapped (and freed) the
/// frames while the device may write them.
fn direct_transfers(k: &Kernel) -> Result<(), String> {
    for t in &k.disk_waits.sync {
        let Some((buf, len)) = t.direct_buffer() else { continue };
        let aspace = k.procs.get(t.pid).and_then(|p| p.aspace.as_ref());
        let page = caps::abi::layout::PAGE_SIZE;
        let mut at = buf & !(page - 1);
        while at < buf + len {
            if aspace.and_then(|a| a.translate_any(at)).is_none() {
                return Err(format!(
                    "process {:#x}'s disk transfer runs in a page no longer mapped ({at:#x})",
                    t.pid.0
                ));
            }
            at += page;
        }
    }
    Ok(())
}

/// Memory objects: counts, mappings and W^X (see the module's list).
fn memory_objects(k: &Kernel) -> Result<(), String> {
    use caps::abi::{ObjectKind, RawHandle, Rights};
    let page = caps::abi::layout::PAGE_SIZE;
    // One pass over the capabilities, not one per object.
    let mut naming = alloc::collections::BTreeMap::new();
    for a in k.caps.audit() {
        if let Object::MemoryObject(r) = a.capability.object {
            *naming.entry(r.object).or_insert(0usize) += 1;
        }
    }
    for (id, o) in k.memobjs.objects.iter() {
        let named = naming.get(&id).copied().unwrap_or(0);
        if named != o.caps as usize || named == 0 {
            return Err(format!(
                "memory object {:#x} counts {} capabilities, {named} name it",
                id.0, o.caps
            ));
        }
    }
    for m in k.memobjs.mappings.iter() {
        let Some(p) = k.procs.get(m.holder) else {
            return Err(format!("a mapping of object {:#x} has no holder", m.object.0));
        };
        let table = p.table.filter(|t| t.as_u64() == m.cap.0).ok_or_else(|| {
            format!("mapping at {:#x} made through another process's table", m.vaddr)
        })?;
        let mut need = Rights::MAP | Rights::READ;
        if m.writable {
            need |= Rights::WRITE;
        }
        if m.exec {
            need |= Rights::EXEC;
        }
        let cap = k
            .caps
            .lookup(table, RawHandle::from_raw(m.cap.1), ObjectKind::MemoryObject, need)
            .map_err(|e| {
                format!("mapping at {:#x} outlived its capability or its rights ({e:?})", m.vaddr)
            })?;
        let covered = matches!(cap.object, Object::MemoryObject(r)
            if r.object == m.object && m.first >= r.first && m.first + m.pages <= r.first + r.count);
        if !covered {
            return Err(format!("mapping at {:#x} beyond its capability's range", m.vaddr));
        }
        let o = k.memobjs.objects.get(m.object).ok_or("a mapping of a dead object")?;
        let aspace = p.aspace.as_ref().ok_or("a mapping in a process with no address space")?;
        for i in 0..m.pages {
            let va = m.vaddr + i * page;
            let frame = o.frames[(m.first + i) as usize].start_address();
            if aspace.translate_any(va) != Some(frame)
                || aspace.user_page(va, true).is_some() != m.writable
            {
                return Err(format!("mapping at {va:#x} is not the object's page as recorded"));
            }
            // Lent, so no device is handed it for a transfer its holder
            // waits on while a revoke elsewhere may unmap it.
            if aspace.user_page(va, false).map(|(_, lent)| lent) != Some(true) {
                return Err(format!("a memory object's page at {va:#x} is not marked lent"));
            }
        }
        if k.memobjs.mappings.conflicts_wx(m.object, m.first, m.pages, m.writable, m.exec) {
            return Err(format!("object {:#x} is writable and executable at once", m.object.0));
        }
    }
    Ok(())
}

/// The console's reader, if one waits, is blocked in `console_read` through
/// a live `Console` capability with READ; nobody else is.
fn console_reader(k: &Kernel) -> Result<(), String> {
    use crate::proc::Block;
    use caps::abi::{ObjectKind, Rights};
    for (id, p) in k.procs.iter() {
        let waiting = p.state == State::Blocked(Block::ConsoleRead);
        match (waiting, k.console_in.reader == Some(id)) {
            (true, false) => {
                return Err(format!("process {:#x} waits for input but is not the reader", id.0));
            }
            (false, true) => {
                return Err(format!("the console's reader {:#x} does not wait for input", id.0));
            }
            _ => {}
        }
        if !waiting {
            continue;
        }
        let tie = k.sched.through.iter().find(|t| t.pid == id).ok_or_else(|| {
            format!("process {:#x} waits for console input through nothing", id.0)
        })?;
        k.caps.lookup(tie.table, tie.handle, ObjectKind::Console, Rights::READ).map_err(|e| {
            format!("process {:#x} waits for console input through a dead capability ({e:?})", id.0)
        })?;
    }
    if let Some(pid) = k.console_in.reader
        && k.procs.get(pid).is_none()
    {
        return Err(format!("the console's reader {:#x} is no process", pid.0));
    }
    Ok(())
}

/// Every notification waiter is tied to a live capability with WAIT naming
/// the notification it is queued on, and the queues hold exactly the
/// waiters; a notification with waiters has nothing pending (a signal
/// would have gone to the first of them).
fn notify_waiters(k: &Kernel) -> Result<(), String> {
    use crate::proc::Block;
    use caps::abi::{ObjectKind, Rights};
    let mut blocked = 0;
    for (id, p) in k.procs.iter() {
        let State::Blocked(Block::Notify(n)) = p.state else { continue };
        blocked += 1;
        let tie = k.sched.through.iter().find(|t| t.pid == id).ok_or_else(|| {
            format!("process {:#x} waits on a notification through nothing", id.0)
        })?;
        let cap = k
            .caps
            .lookup(tie.table, tie.handle, ObjectKind::Notification, Rights::WAIT)
            .map_err(|e| {
                format!(
                    "process {:#x} waits on a notification through a dead capability ({e:?})",
                    id.0
                )
            })?;
        if cap.object != Object::Notification(n) {
            return Err(format!(
                "process {:#x} waits through another notification's capability",
                id.0
            ));
        }
    }
    let mut queued = 0;
    for (n, note) in k.notifications.iter() {
        if note.word != 0 && !note.waiters.is_empty() {
            return Err(format!("notification {:#x} has bits pending and waiters", n.0));
        }
        for pid in note.waiters.iter(&k.procs) {
            queued += 1;
            if queued > blocked {
                return Err(format!("notification {:#x} queues a process not waiting", n.0));
            }
            let fits =
                k.procs.get(pid).is_some_and(|p| p.state == State::Blocked(Block::Notify(n)));
            if !fits {
                return Err(format!(
                    "notification {:#x} queues process {:#x}, which waits elsewhere",
                    n.0, pid.0
                ));
            }
        }
    }
    if queued != blocked {
        return Err(format!("{blocked} processes wait on notifications, {queued} are queued"));
    }
    Ok(())
}

/// Every IPC waiter is tied to a live capability (see `ipc::Via`), the
/// endpoint queues hold exactly the senders and receivers, and a caller
/// waiting for its answer is the one its reply object waits to answer.
fn ipc_waiters(k: &Kernel) -> Result<(), String> {
    use crate::proc::Block;
    use caps::abi::{ObjectKind, Rights};
    let mut blocked = 0;
    for (id, p) in k.procs.iter() {
        let State::Blocked(block) = p.state else { continue };
        let (right, queued_on) = match block {
            Block::Send(ep) => (Rights::SEND, Some(ep)),
            Block::Recv(ep) => (Rights::RECV, Some(ep)),
            Block::Reply(r) => {
                let named = k.ipc.replies.get(r).map(|r| r.state);
                if named != Some(crate::ipc::objects::ReplyState::Waiting(id)) {
                    return Err(format!("process {:#x} waits for an answer no reply owes", id.0));
                }
                (Rights::SEND, None)
            }
            _ => continue,
        };
        blocked += usize::from(queued_on.is_some());
        let via =
            p.ipc.via.ok_or_else(|| format!("process {:#x} waits in IPC through nothing", id.0))?;
        if queued_on.is_some_and(|ep| ep != via.endpoint) {
            return Err(format!("process {:#x} is queued where it is not tied", id.0));
        }
        let table = p.table.ok_or_else(|| format!("process {:#x} waits with no table", id.0))?;
        let cap = k.caps.lookup(table, via.handle, ObjectKind::Endpoint, right).map_err(|e| {
            format!("process {:#x} waits in IPC through a dead capability ({e:?})", id.0)
        })?;
        if cap.object != Object::Endpoint(via.endpoint) {
            return Err(format!("process {:#x} waits through another endpoint's capability", id.0));
        }
    }
    let mut queued = 0;
    for (ep, e) in k.ipc.endpoints.iter() {
        for (queue, which) in [(&e.senders, 0), (&e.receivers, 1)] {
            for pid in queue.iter(&k.procs) {
                queued += 1;
                if queued > blocked {
                    return Err(format!("endpoint {:#x} queues a process not waiting", ep.0));
                }
                let fits = k.procs.get(pid).is_some_and(|p| match (which, p.state) {
                    (0, State::Blocked(Block::Send(on))) | (1, State::Blocked(Block::Recv(on))) => {
                        on == ep
                    }
                    _ => false,
                });
                if !fits {
                    return Err(format!(
                        "endpoint {:#x} queues process {:#x}, which waits elsewhere",
                        ep.0, pid.0
                    ));
                }
            }
        }
    }
    if queued != blocked {
        return Err(format!("{blocked} processes wait in IPC, {queued} are queued"));
    }
    Ok(())
}

/// Checks after `call`; a violation powers the machine off with a failure.
pub fn after_syscall(call: Option<Syscall>) {
    let mut k = crate::state::lock();
    #[cfg(feature = "selftest")]
    sabotage::apply(&mut k);
    if let Err(violation) = check(&mut k) {
        let pid = k.sched.here().current.map_or(0, |p| p.0);
        crate::console::emergency_println(format_args!(
            "AUTHORITY CHECK FAILED after {} by process {pid:#x}: {violation}",
            call.map_or("an unknown syscall", Syscall::name)
        ));
        qemu::exit(qemu::ExitCode::Failure);
    }
}

/// Deliberately broken invariants, so a test can prove each check fires
/// (`selftest=authority-<what>` in a test kernel's boot settings). The
/// damage is done once, just before the first check after a syscall by a
/// process other than init's first (so init has started its example).
#[cfg(feature = "selftest")]
pub mod sabotage {
    use core::sync::atomic::{AtomicU8, Ordering};

    use caps::abi::layout::PAGE_SIZE;
    use caps::abi::{ObjectKind, RawHandle, Rights};
    use caps::{Capability, NO_BADGE, Object, ObjectId, SectorRange, TableId};
    use kerncore::mapping::Mapping;

    use crate::mem::aspace::Access;
    use crate::state::Kernel;

    /// Where the W^X sabotage maps a page twice (nothing of `hello` is
    /// there).
    const WX_AT: u64 = 0x0000_5000_0000_0000;

    /// Which invariant to break; 0 = none.
    static ARMED: AtomicU8 = AtomicU8::new(0);

    /// The breakable invariants, by self-test name.
    const KINDS: [&str; 8] = [
        "authority-rights",
        "authority-quota",
        "authority-root",
        "authority-dangling",
        "authority-notify-queue",
        "authority-stale-mapping",
        "authority-mo-count",
        "authority-mo-wx",
    ];

    /// Arms the sabotage `name`; false if `name` is not one.
    pub fn arm(name: &str) -> bool {
        match KINDS.iter().position(|&k| k == name) {
            Some(i) => {
                ARMED.store(i as u8 + 1, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Breaks the armed invariant once, in the running process's table.
    pub fn apply(k: &mut Kernel) {
        let armed = ARMED.load(Ordering::Relaxed);
        let Some(pid) = k.sched.here().current else { return };
        if armed == 0 || k.init == Some(pid) {
            return;
        }
        let Some(table) = k.procs.get(pid).and_then(|p| p.table) else { return };
        let own = k.procs.get(pid).map(|p| p.own_quota);
        ARMED.store(0, Ordering::Relaxed);
        log::warn!("sabotage: breaking {}", KINDS[armed as usize - 1]);
        match armed {
            // A quota whose ceiling is below the rights of its handle (what
            // the spawn bug did, seen from the other side).
            1 => {
                if let Some(q) = own.and_then(|o| k.quotas.0.get_mut(o)) {
                    q.ceiling = Rights::READ;
                }
            }
            2 => {
                if let Some(q) = own.and_then(|o| k.quotas.0.get_mut(o)) {
                    q.used = q.limit + 1;
                }
            }
            // A sector range from nowhere: a root capability for part of a
            // disk, which the kernel never mints.
            3 => {
                if let Ok(range) = SectorRange::new(0, 1, 1) {
                    let rights = ObjectKind::DiskRange.valid_rights();
                    let cap =
                        Capability { object: Object::DiskRange(range), rights, badge: NO_BADGE };
                    let _ = k.caps.mint(table, cap);
                }
            }
            // A memory-object mapping whose capability is gone (what a
            // revoke that forgot to unmap would leave).
            6 => {
                k.memobjs.mappings.insert(kerncore::mapping::Mapping {
                    holder: pid,
                    cap: (table.as_u64(), 0x0dea_d000),
                    object: caps::ObjectId(0),
                    vaddr: 0x7000_0000_0000,
                    first: 0,
                    pages: 1,
                    writable: false,
                    exec: false,
                });
            }
            // A notification queueing the running process as a waiter.
            5 => {
                let Some(own) = own else { return };
                let n = crate::notify::Notification {
                    quota: own,
                    caps: 0,
                    senders: 0,
                    word: 0,
                    waiters: Default::default(),
                };
                if let Some(id) = k.notifications.insert(n)
                    && let Some(n) = k.notifications.get_mut(id)
                {
                    n.waiters.push_back(&mut k.procs, pid);
                }
            }
            // A memory object counting a capability more than name it (so
            // it would never be freed).
            7 => {
                let Some((id, _)) = own.and_then(|own| new_object(k, table, own)) else { return };
                if let Some(o) = k.memobjs.objects.get_mut(id) {
                    o.caps += 1;
                }
            }
            // A memory object's page mapped writable at one address and
            // executable at another, both recorded.
            8 => {
                let Some((id, handle)) = own.and_then(|own| new_object(k, table, own)) else {
                    return;
                };
                let Some(frame) = k.memobjs.objects.get(id).map(|o| o.frames[0]) else { return };
                let Some(aspace) = k.procs.get_mut(pid).and_then(|p| p.aspace.as_mut()) else {
                    return;
                };
                let cap = crate::memobj::cap_key(table, handle);
                for (i, access) in [Access::ReadWrite, Access::ReadExec].into_iter().enumerate() {
                    let vaddr = WX_AT + i as u64 * PAGE_SIZE;
                    if aspace.map_frames(vaddr, &[frame], access, &mut k.quotas).is_err() {
                        return;
                    }
                    let writable = access == Access::ReadWrite;
                    k.memobjs.mappings.insert(Mapping {
                        holder: pid,
                        cap,
                        object: id,
                        vaddr,
                        first: 0,
                        pages: 1,
                        writable,
                        exec: !writable,
                    });
                }
            }
            // A capability naming a process that never existed.
            _ => {
                let ghost = caps::ObjectId(u64::MAX >> 1);
                let cap = Capability {
                    object: Object::Process(ghost),
                    rights: ObjectKind::Process.valid_rights(),
                    badge: NO_BADGE,
                };
                let _ = k.caps.mint(table, cap);
            }
        }
    }

    /// A one-page memory object charged to `quota`, its capability (every
    /// right) in `table`: its id and the handle.
    fn new_object(
        k: &mut Kernel,
        table: TableId,
        quota: ObjectId,
    ) -> Option<(ObjectId, RawHandle)> {
        let rights = ObjectKind::MemoryObject.valid_rights();
        let handle = RawHandle::from_raw(crate::memobj::create(k, table, quota, 1, rights).ok()?);
        match k.caps.get(table, handle).ok()?.object {
            Object::MemoryObject(range) => Some((range.object, handle)),
            _ => None,
        }
    }
}
