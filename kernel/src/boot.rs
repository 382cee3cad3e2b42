//! Starting the first process, `init`, with the root capabilities.
//!
//! init gets the console, its `memory` (like every process: a `Memory`
//! capability for its own quota, here all the memory the kernel does not
//! keep for itself), the timer, every disk whole (`disk`, `disk1`, ...),
//! and an `Image` capability
//! for each program in the ramdisk (role = the program's name), each with
//! every right its kind has. Everything else is derived from those by
//! user code.

use alloc::string::String;
use alloc::vec::Vec;
use caps::abi::Rights;
use caps::abi::process::Role;
use caps::{Object, ObjectId};

use crate::proc::spawn::{GrantSource, SpawnRequest, StartGrant, spawn};
use crate::qemu::{self, ExitCode};
use crate::ramdisk::Ramdisk;
use crate::state::{self, CONSOLE_ID, ProgramImage, TIMER_ID};

/// Directory of the programs in the ramdisk.
const BIN_DIR: &str = "bin/";
/// Frames the kernel keeps for itself (kernel page tables, stacks of
/// processes being torn down...), never given to init.
const KERNEL_RESERVE_FRAMES: u64 = 4096;

/// The programs in the ramdisk.
pub fn programs(ramdisk: Option<&Ramdisk>) -> Vec<ProgramImage> {
    let Some(rd) = ramdisk else { return Vec::new() };
    rd.files()
        .filter_map(|(name, bytes)| {
            let name = name.strip_prefix(BIN_DIR)?;
            Some(ProgramImage { name: String::from(name), bytes })
        })
        .collect()
}

fn grant(object: Object, role: &str) -> Option<StartGrant> {
    let rights: Rights = object.kind().valid_rights();
    Some(StartGrant { source: GrantSource::Mint(object), rights, role: Role::new(role)? })
}

/// Spawns init (`init_name`) with `args`. Powers off if there is nothing
/// to run.
pub fn start_init(init_name: &str, args: &str) {
    let mut k = state::lock();
    if k.images.is_empty() {
        log::info!("no programs in the ramdisk: nothing to run; powering off");
        qemu::exit(ExitCode::Success);
    }
    let Some(index) = k.images.iter().position(|p| p.name == init_name) else {
        log::error!("init program {init_name:?} is not in the ramdisk");
        qemu::exit(ExitCode::Failure);
    };
    let free = crate::mem::frame::free_frames().saturating_sub(KERNEL_RESERVE_FRAMES);
    let root = k.quotas.root(free).expect("the first quota");
    let mut grants: Vec<StartGrant> = Vec::new();
    grants.extend(grant(Object::Console(CONSOLE_ID), "console"));
    grants.extend(grant(Object::Timer(TIMER_ID), "timer"));
    // Each disk, whole, as a DiskRange: `disk` for the first, `disk1`...
    for n in 0..k.devices.len() as u32 {
        let (sectors, read_only) =
            k.devices.get(n).map_or((0, true), |d| (d.sector_count(), d.read_only()));
        if let Ok(range) = caps::SectorRange::new(n, 0, sectors) {
            let role = if n == 0 { String::from("disk") } else { alloc::format!("disk{n}") };
            // A disk that refuses writes (the boot disk) comes without the
            // right to ask.
            grants.extend(grant(Object::DiskRange(range), &role).map(|mut g| {
                if read_only {
                    g.rights.remove(Rights::WRITE);
                }
                g
            }));
        }
    }
    for (i, p) in k.images.iter().enumerate() {
        match grant(Object::Image(ObjectId(i as u64)), &p.name) {
            Some(g) => grants.push(g),
            None => log::warn!("program {:?}: name too long for a role; not given to init", p.name),
        }
    }
    let image = k.images[index].bytes;
    let req = SpawnRequest {
        name: init_name,
        image,
        parent_quota: root,
        parent_quota_rights: caps::abi::ObjectKind::Memory.valid_rights(),
        quota_pages: free,
        grants: &grants,
        args: args.as_bytes(),
        cpus: crate::proc::sched::online(),
    };
    match spawn(&mut k, &req) {
        Ok(pid) => {
            k.init = Some(pid);
            log::info!(
                "init: {init_name} started with {} handles, {} MiB",
                grants.len(),
                free * 4 / 1024
            );
        }
        Err(e) => {
            log::error!("cannot start init {init_name:?}: {e}");
            qemu::exit(ExitCode::Failure);
        }
    }
    // Drop the kernel's reference: init's quota now holds the memory.
    k.quotas.release(root);
}
