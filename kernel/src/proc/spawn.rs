//! Building a new process: validate everything, then create it whole.
//!
//! Every step that can fail runs before the process becomes visible, and
//! each undoes what it did on failure, so a failed spawn leaves no trace:
//! no quota charged, no capability granted, no frame held.

use alloc::string::String;
use alloc::vec::Vec;
use caps::abi::RawHandle;
use caps::abi::layout::{PAGE_SIZE, STACK_SIZE, STACK_TOP, START_INFO_ADDR};
use caps::abi::process::{
    ARGS_LEN, Grant, MAX_START_HANDLES, NAME_LEN, Role, START_MAGIC, START_VERSION, StartHandle,
    StartInfo,
};
use caps::abi::{Error, Rights};
use caps::{Capability, NO_BADGE, Object, ObjectId, TableId};

use super::kstack::{KernelStack, STACK_PAGES};
use super::{Process, State, elf};
use crate::arch::trap::{TrapFrame, trap_return};
use crate::arch::{context, cpu, gdt};
use crate::mem::aspace::{Access, AddressSpace, Charge};
use crate::state::Kernel;

/// The role of the `Memory` handle every process starts with: its own quota.
pub const MEMORY_ROLE: &str = "memory";
/// Most handles in one process's table.
pub const TABLE_QUOTA: u32 = 1024;
/// RFLAGS a process starts with: interrupts on (bit 1 is always set).
const USER_RFLAGS: u64 = 0x202;

/// One handle for the new process: the parent's handle, the rights the
/// child gets, and the role it finds it by.
#[derive(Clone, Copy, Debug)]
pub struct StartGrant {
    /// The parent's handle (or, for boot, `None` and a capability to mint).
    pub source: GrantSource,
    /// Rights of the child's copy.
    pub rights: Rights,
    /// Role name.
    pub role: Role,
}

/// Where a start handle comes from.
#[derive(Clone, Copy, Debug)]
pub enum GrantSource {
    /// Copied from the parent's table (needs GRANT there).
    Parent(TableId, RawHandle),
    /// Minted by the kernel (the root capabilities init starts with).
    Mint(Object),
}

impl StartGrant {
    /// Decodes a user `Grant` record.
    pub fn from_user(parent: TableId, g: &Grant) -> Result<Self, Error> {
        if g.reserved != 0 || g.role.as_str().is_none_or(str::is_empty) {
            return Err(Error::InvalidArgument);
        }
        let rights = Rights::from_raw(g.rights as u64).ok_or(Error::InvalidArgument)?;
        Ok(StartGrant {
            source: GrantSource::Parent(parent, RawHandle::from_raw(g.handle)),
            rights,
            role: g.role,
        })
    }
}

/// What to spawn.
pub struct SpawnRequest<'a> {
    /// The program's name.
    pub name: &'a str,
    /// The ELF image.
    pub image: &'a [u8],
    /// The quota the child's own quota is carved from.
    pub parent_quota: ObjectId,
    /// The rights of the parent's `Memory` capability for that quota: the
    /// child's own `memory` handle gets exactly these (never more).
    pub parent_quota_rights: Rights,
    /// Frames the child may use in all.
    pub quota_pages: u64,
    /// The handles it starts with.
    pub grants: &'a [StartGrant],
    /// Its arguments (at most `ARGS_LEN` bytes).
    pub args: &'a [u8],
    /// The CPUs it may run on (`SpawnArgs::cpus`, the parent's put in for
    /// 0); those not online are dropped, and none left is
    /// `InvalidArgument`.
    pub cpus: kerncore::runq::CpuSet,
}

/// Creates a process and makes it ready. Returns its id.
pub fn spawn(k: &mut Kernel, req: &SpawnRequest) -> Result<ObjectId, Error> {
    // One start handle is the child's own `memory`.
    if req.grants.len() >= MAX_START_HANDLES || req.args.len() > ARGS_LEN {
        return Err(Error::InvalidArgument);
    }
    let cpus = super::sched::usable(req.cpus)?;
    if k.procs.is_full() {
        return Err(Error::ProcessTableFull);
    }
    let program = elf::parse(req.image)?;
    // Check the grants before anything is created.
    for g in req.grants {
        if let GrantSource::Parent(table, handle) = g.source {
            let cap = k.caps.get(table, handle)?;
            if !cap.rights.contains(Rights::GRANT) || !cap.rights.contains(g.rights) {
                return Err(Error::MissingRight);
            }
        }
    }

    let own = k.quotas.carve(req.parent_quota, req.quota_pages, req.parent_quota_rights)?;
    let mut built = Partial { own, aspace: None, table: None, kstack: None };
    match build(k, req, &program, cpus, &mut built) {
        Ok(pid) => Ok(pid),
        Err(e) => {
            built.undo(k);
            Err(e)
        }
    }
}

/// What a spawn has built so far, to undo on failure.
struct Partial {
    own: ObjectId,
    aspace: Option<AddressSpace>,
    table: Option<TableId>,
    kstack: Option<KernelStack>,
}

impl Partial {
    fn undo(self, k: &mut Kernel) {
        if let Some(table) = self.table {
            let mut removed = Vec::new();
            let _ = k.caps.destroy_table(table, |r| removed.push(r));
            k.caps_removed(&removed);
        }
        if let Some(a) = self.aspace {
            a.destroy(&mut k.quotas);
        }
        if let Some(s) = self.kstack {
            s.free();
            for _ in 0..STACK_PAGES {
                k.quotas.credit(self.own);
            }
        }
        k.quotas.release(self.own);
    }
}

fn build(
    k: &mut Kernel,
    req: &SpawnRequest,
    program: &elf::Program,
    cpus: kerncore::runq::CpuSet,
    built: &mut Partial,
) -> Result<ObjectId, Error> {
    let own = built.own;
    // Address space: program segments, stack, start page.
    let aspace = built.aspace.insert(AddressSpace::new(own, &mut k.quotas)?);
    for seg in &program.segments {
        aspace.map_zeroed(seg.page_start(), seg.pages(), seg.access, own, &mut k.quotas)?;
        let bytes = &req.image[seg.offset as usize..(seg.offset + seg.file_size) as usize];
        aspace.write_phys(seg.vaddr, bytes)?;
    }
    aspace.map_zeroed(
        STACK_TOP - STACK_SIZE,
        STACK_SIZE / PAGE_SIZE,
        Access::ReadWrite,
        own,
        &mut k.quotas,
    )?;
    aspace.map_zeroed(START_INFO_ADDR, 1, Access::Read, own, &mut k.quotas)?;

    // Kernel stack, charged to the child too.
    for i in 0..STACK_PAGES {
        if let Err(e) = k.quotas.charge(own) {
            for _ in 0..i {
                k.quotas.credit(own);
            }
            return Err(e);
        }
    }
    match KernelStack::new() {
        Some(s) => built.kstack = Some(s),
        None => {
            for _ in 0..STACK_PAGES {
                k.quotas.credit(own);
            }
            return Err(Error::OutOfMemory);
        }
    }

    // Capability table and start handles.
    let table = *built.table.insert(k.caps.create_table(TABLE_QUOTA, cpu::random_u64())?);
    let mut info = StartInfo {
        magic: START_MAGIC,
        version: START_VERSION,
        handle_count: 0,
        pid: 0,
        name: [0; NAME_LEN],
        handles: [StartHandle {
            handle: 0,
            kind: 0,
            rights: 0,
            role: Role([0; caps::abi::process::ROLE_LEN]),
        }; MAX_START_HANDLES],
        args_len: req.args.len() as u64,
        args: [0; ARGS_LEN],
    };
    info.args[..req.args.len()].copy_from_slice(req.args);
    let name = req.name.as_bytes();
    let n = name.len().min(NAME_LEN);
    info.name[..n].copy_from_slice(&name[..n]);
    // The child's quota is new, but its authority comes from the parent's
    // handle: minting it with more rights than that handle held would let
    // a MAP-only holder hand out WRITE or EXEC memory.
    let own_memory = StartGrant {
        source: GrantSource::Mint(Object::Memory(own)),
        rights: k.quotas.0.get(own).map_or(Rights::empty(), |q| q.ceiling),
        role: Role::new(MEMORY_ROLE).expect("a short role"),
    };
    for (i, g) in core::iter::once(&own_memory).chain(req.grants).enumerate() {
        let handle = match g.source {
            GrantSource::Parent(from, h) => k.caps.grant(from, h, table, g.rights)?,
            GrantSource::Mint(object) => {
                k.caps.mint(table, Capability { object, rights: g.rights, badge: NO_BADGE })?
            }
        };
        let cap = *k.caps.get(table, handle).expect("just created");
        k.cap_created(&cap);
        info.handles[i] = StartHandle {
            handle: handle.as_raw(),
            kind: cap.kind().as_raw() as u32,
            rights: cap.rights.bits(),
            role: g.role,
        };
        info.handle_count += 1;
    }

    // The process record; from here on nothing fails.
    let kstack = built.kstack.take().expect("made above");
    let process = Process {
        name: String::from(req.name),
        state: State::Ready,
        aspace: built.aspace.take(),
        table: built.table.take(),
        own_quota: own,
        kstack: Some(kstack),
        exit: None,
        waiters: Vec::new(),
        handle_refs: 0,
        ipc: crate::ipc::IpcState::default(),
        revoked: false,
        notified: 0,
        revoked_maps: [(0, 0); 4],
        // Its parent's CPU, as it last ran nowhere: an idle CPU steals it
        // from there if the parent keeps running.
        cpu: crate::arch::percpu::index(),
        cpus,
        next_cpus: None,
    };
    let pid = k.procs.insert(process).expect("room checked before building");
    let p = k.procs.get_mut(pid).expect("just inserted");
    info.pid = pid.0;
    let aspace = p.aspace.as_ref().expect("set above");
    // `StartInfo: IntoBytes`: no padding, checked by the compiler.
    let bytes = zerocopy::IntoBytes::as_bytes(&info);
    aspace.write_phys(START_INFO_ADDR, bytes).expect("the start page is mapped");
    let entry = program.entry;
    prepare_first_entry(p.kstack.as_ref().expect("set above"), entry);
    k.sched.enqueue(p, pid, super::sched::Place::Back);
    Ok(pid)
}

/// Builds the new process's kernel stack: a [`TrapFrame`] that enters user
/// mode at `entry` with the start page's address in `rdi` and every other
/// register zero, under a switch frame that returns into [`first_entry`].
fn prepare_first_entry(stack: &KernelStack, entry: u64) {
    let sel = gdt::selectors();
    let frame = TrapFrame {
        r15: 0,
        r14: 0,
        r13: 0,
        r12: 0,
        r11: 0,
        r10: 0,
        r9: 0,
        r8: 0,
        rbp: 0,
        rdi: START_INFO_ADDR,
        rsi: 0,
        rdx: 0,
        rcx: 0,
        rbx: 0,
        rax: 0,
        vector: 0,
        error: 0,
        rip: entry,
        cs: sel.user_code.0 as u64,
        rflags: USER_RFLAGS,
        rsp: STACK_TOP,
        ss: sel.user_data.0 as u64,
    };
    let frame_addr = stack.top() - size_of::<TrapFrame>() as u64;
    // SAFETY: the stack is fresh, mapped and ours; the frame fits below its
    // top, and the switch frame below that (the stack is 32 KiB).
    unsafe {
        (frame_addr as *mut TrapFrame).write(frame);
        *stack.saved_rsp() = context::initial_stack(frame_addr, first_entry);
    }
}

/// Where a new process's kernel stack first "returns" to: finish the
/// switch, then leave for user mode through the prepared trap frame.
#[unsafe(naked)]
unsafe extern "C" fn first_entry() {
    core::arch::naked_asm!(
        "call {after}",
        "jmp {ret}",
        after = sym super::switch::after_switch,
        ret = sym trap_return,
    )
}
