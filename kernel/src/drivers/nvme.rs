//! The NVMe driver: every namespace of every NVMe controller on PCI bus 0
//! as a disk.
//!
//! Set-up follows the initialization sequence of NVMe Base 2.0, 3.5.1:
//! the controller is reset (CC.EN cleared, CSTS.RDY awaited), given its
//! admin queue pair (AQA/ASQ/ACQ), enabled with 4 KiB pages and the NVM
//! command set, and asked, on its admin queue, for its IDENTIFY data
//! (serial, model, MDTS, write cache), its active namespaces and their
//! IDENTIFY data, and for an I/O queue per CPU for every namespace to
//! expose (Set Features, Number of Queues). Every wait is bounded by the
//! controller's own CAP.TO: a controller that never becomes ready, or
//! does not answer, is reported at boot and skipped, as is one that needs
//! what the driver does not do (pages larger than 4 KiB, no NVM command
//! set). A namespace whose logical blocks are not 512 bytes, or carry
//! metadata, is reported and skipped; one of any sector count, odd or
//! not, is exposed whole.
//!
//! **An I/O queue pair per CPU, for each namespace.** Each exposed
//! namespace is its own [`BlockDevice`](super::block::BlockDevice)
//! ([`namespace::Namespace`]) and owns a submission/completion queue pair
//! ([`queue::QueuePair`]: its doorbells, phase tag, command ids and PRP
//! lists) for every CPU, so two disks of one controller share no mutable
//! state, and two CPUs doing I/O on one disk submit on different queues.
//! The controller is asked for `namespaces x CPUs` I/O queues; with fewer
//! granted (or fewer whose doorbells lie in the BAR mapped, or room in
//! the DMA pool for fewer, with `POOL_RESERVE_PAGES` left for the disks
//! probed later, the boot disk, and for transfers), each namespace gets
//! an equal share, at least one, the CPUs sharing them; namespaces beyond
//! one pair each are reported and skipped. A pair takes 19 pages of the DMA pool at QEMU's MDTS (2 for
//! 65 submission entries, 1 for the completion queue, 16 for 64 PRP lists
//! of 1 KiB). After set-up the admin queue is idle; its pages stay the
//! controller's, as do the queues' (nothing removes a disk).
//!
//! Completions come by MSI-X: the queue pairs of CPU `i` signal table
//! entry `i`, routed to [`DISK_VECTOR`](super::DISK_VECTOR) on CPU `i`
//! (so `irqcpu=` does not apply to NVMe; a pair past the controller's
//! MSI-X table signals entry 0, CPU 0), whose handler polls every disk.
//! Without interrupts (`diskirq=off`, or no MSI-X) the completion queues
//! are created with interrupts off and the idle loop and the timer tick
//! poll them.

mod namespace;
mod queue;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use kerncore::nvme::{
    Capabilities, ControllerInfo, IDENTIFY_BYTES, NamespaceError, PAGE, active_namespaces,
    parse_identify_controller, parse_identify_namespace,
};
use virtio_drivers::transport::pci::bus::{Command as PciCommand, DeviceFunction, PciRoot};
use x86_64::PhysAddr;

use super::Found;
use super::block::{SECTOR_SIZE, Size};
use super::dma;
use super::pci::{self, PortCam};
use crate::mem::phys_to_virt;
use namespace::Namespace;
use queue::{Command, QueuePair, Registers, reg};

/// The PCI class of an NVM Express controller (PCI Code and ID
/// Assignment 1.11, 1.2): mass storage, non-volatile memory, NVMe I/O.
const CLASS_MASS_STORAGE: u8 = 0x01;
const SUBCLASS_NVM: u8 = 0x08;
const PROG_IF_NVME: u8 = 0x02;

/// Admin command opcodes (Base 2.0, 5, Figure 138).
const ADMIN_CREATE_IO_SQ: u8 = 0x01;
const ADMIN_CREATE_IO_CQ: u8 = 0x05;
const ADMIN_IDENTIFY: u8 = 0x06;
const ADMIN_SET_FEATURES: u8 = 0x09;
/// Identify's CNS values (Base 2.0, 5.17.1, Figure 273).
const CNS_NAMESPACE: u32 = 0x00;
const CNS_CONTROLLER: u32 = 0x01;
const CNS_ACTIVE_NAMESPACES: u32 = 0x02;
/// Set Features' feature id for the number of queues (Base 2.0, 5.27.1.5).
const FEATURE_NUMBER_OF_QUEUES: u32 = 0x07;

/// CC fields (Base 2.0, 3.1.3.5): enable, and the I/O queue entry sizes
/// as powers of two (64-byte submission, 16-byte completion entries).
/// CSS = 0 (NVM), MPS = 0 (4 KiB pages), AMS = 0 (round robin).
const CC_EN: u32 = 1;
const CC_IOSQES: u32 = 6 << 16;
const CC_IOCQES: u32 = 4 << 20;
/// CSTS fields (Base 2.0, 3.1.3.6): ready, controller fatal status.
const CSTS_RDY: u32 = 1;
const CSTS_CFS: u32 = 1 << 1;
/// What reading a register of a device that is gone gives.
const ALL_ONES: u32 = u32::MAX;

/// Commands in flight on an I/O queue pair (fewer if CAP.MQES allows
/// fewer).
const IO_DEPTH: usize = queue::MAX_DEPTH;
/// Commands in flight on the admin queue (set-up sends one at a time).
const ADMIN_DEPTH: usize = 4;
/// Bytes of BAR0 mapped at most: the registers, and the doorbells of the
/// admin queue and up to 511 I/O queue pairs at the smallest stride.
const MAX_BAR_MAP: u64 = 0x2000;
/// DMA pool pages the driver leaves free for everything probed after it
/// (AHCI ports, the boot disk among them: 17 pages each) and for the
/// bounce buffers of transfers: namespaces whose queue pair would dig
/// into them are reported and skipped (a controller may have hundreds).
const POOL_RESERVE_PAGES: usize = 256;
/// The largest transfer of one command the driver uses: the block
/// layer's largest request (so its PRP list fits in 2 KiB).
const MAX_COMMAND_BYTES: u64 = caps::abi::disk::MAX_SECTORS * SECTOR_SIZE as u64;

/// The disks of every NVMe controller on PCI bus 0, in controller then
/// namespace order, each with its description for the boot log
/// (`NVMe namespace 1 at 00:04.0, 256 MiB, 2 queue pairs of 64, MSI-X`:
/// its pairs, one per CPU, and the commands each holds). Completions are
/// signalled by MSI-X, each CPU's pairs to that CPU, if `irq` is set
/// (interrupts on). A controller or namespace that cannot be used is
/// reported in the log and left out.
pub fn probe(root: &mut PciRoot<PortCam>, irq: super::IrqTarget) -> Vec<Found> {
    let found = pci::functions_of_class(root, CLASS_MASS_STORAGE, SUBCLASS_NVM, PROG_IF_NVME);
    let mut disks = Vec::new();
    for df in found {
        match Controller::set_up(root, df, irq) {
            Ok(mut d) => disks.append(&mut d),
            Err(e) => log::warn!("nvme {df}: {e}; skipped"),
        }
    }
    disks
}

/// A controller being set up.
struct Controller {
    df: DeviceFunction,
    regs: Registers,
    cap: Capabilities,
    admin: QueuePair,
    /// A page for IDENTIFY data.
    identify_phys: u64,
}

/// A namespace that will be exposed: its id and IDENTIFY data.
struct Usable {
    nsid: u32,
    sectors: u64,
    read_only: bool,
}

impl Controller {
    /// Resets and enables the controller at `df`, and returns a disk for
    /// each usable namespace. Errors: why the controller is skipped
    /// (after a failure past the reset it is disabled again, and the DMA
    /// pages it was given are kept from the pool: a device that
    /// misbehaved might still write to them).
    fn set_up(
        root: &mut PciRoot<PortCam>,
        df: DeviceFunction,
        irq: super::IrqTarget,
    ) -> Result<Vec<Found>, String> {
        let (_, command) = root.get_status_command(df);
        let mut command = command | PciCommand::MEMORY_SPACE | PciCommand::BUS_MASTER;
        if irq.is_none() {
            // No pin interrupt either: the queues are polled.
            command |= PciCommand::INTERRUPT_DISABLE;
        }
        root.set_command(df, command);
        let bar = root.bar_info(df, 0).ok().flatten().and_then(|b| b.memory_address_size());
        let Some((phys, size)) = bar.filter(|&(a, s)| a != 0 && s >= 0x1000) else {
            return Err("BAR0 is not a memory BAR the firmware placed".into());
        };
        let len = size.min(MAX_BAR_MAP);
        let base = crate::mem::paging::map_device_memory(phys, len)
            .ok_or("no page tables for BAR0")?
            .as_mut_ptr::<u8>();
        // SAFETY: BAR0 of the controller, `len` bytes mapped uncached just
        // above and never unmapped; it has at least the 0x1000 bytes of
        // registers (checked above).
        let mut regs = unsafe { Registers::new(base, len as usize) };
        let cap = Capabilities::decode(regs.read64(reg::CAP));
        regs.set_stride(cap.doorbell_stride);
        if !cap.nvm_command_set {
            return Err("no NVM command set".into());
        }
        if cap.min_page > PAGE as u64 {
            return Err(format!(
                "smallest memory page {} KiB, only 4 KiB supported",
                cap.min_page / 1024
            ));
        }
        disable(&regs, &cap)?;
        let admin = QueuePair::new(regs, 0, ADMIN_DEPTH.min(cap.max_queue_entries as usize - 1), 0)
            .ok_or("no room in the DMA pool for the admin queue")?;
        let entries = u32::from(admin.entries()) - 1;
        regs.write32(reg::AQA, entries << 16 | entries);
        regs.write64(reg::ASQ, admin.sq_phys());
        regs.write64(reg::ACQ, admin.cq_phys());
        let identify_phys = dma::alloc(1).ok_or("no room in the DMA pool for IDENTIFY data")?;
        let mut c = Controller { df, regs, cap, admin, identify_phys };
        regs.write32(reg::CC, CC_EN | CC_IOSQES | CC_IOCQES);
        let disks =
            c.wait_status(CSTS_RDY, CSTS_RDY).and_then(|()| c.identify_and_create(root, irq));
        if disks.is_err() {
            // Quiet the controller; its pages are left to it.
            let _ = disable(&c.regs, &c.cap);
        } else {
            dma::free(c.identify_phys, 1);
        }
        disks
    }

    /// Waits until `CSTS & mask == value`, at most CAP.TO.
    fn wait_status(&self, mask: u32, value: u32) -> Result<(), String> {
        wait_status(&self.regs, &self.cap, mask, value)
    }

    /// Sends admin command `command` and waits for its completion, at
    /// most CAP.TO. Returns its result dword. Errors: a failed status or
    /// no answer.
    fn admin(&mut self, what: &str, command: Command) -> Result<u32, String> {
        let cid = self.admin.claim(0).ok_or("admin queue full")?;
        self.admin.write(cid, command);
        self.admin.submit();
        let timeout_ms = self.cap.timeout_ms;
        let mut done = None;
        crate::time::spin_until(timeout_ms * 1_000_000, || {
            done = self.admin.pop();
            done.is_some()
        });
        let c = done.ok_or_else(|| format!("{what}: no answer within {timeout_ms} ms"))?;
        self.admin.acknowledge();
        if self.admin.release(c.cid).is_none() {
            return Err(format!("{what}: completion of unknown command id {}", c.cid));
        }
        match c.status_code() {
            0 => Ok(c.result),
            s => Err(format!("{what} failed (status {s:#x})")),
        }
    }

    /// IDENTIFY with `cns` for namespace `nsid`, into the IDENTIFY page.
    fn identify(
        &mut self,
        what: &str,
        cns: u32,
        nsid: u32,
    ) -> Result<&[u8; IDENTIFY_BYTES], String> {
        let mut c = Command::new(ADMIN_IDENTIFY, nsid);
        c.prp1 = self.identify_phys;
        c.cdw10 = cns;
        self.admin(what, c)?;
        let data = phys_to_virt(PhysAddr::new(self.identify_phys)).as_ptr::<[u8; IDENTIFY_BYTES]>();
        // SAFETY: our IDENTIFY page, which the controller wrote before it
        // completed the command and no other command in flight uses.
        Ok(unsafe { &*data })
    }

    /// IDENTIFY controller and namespaces, the I/O queues, the disks.
    fn identify_and_create(
        &mut self,
        root: &mut PciRoot<PortCam>,
        irq: super::IrqTarget,
    ) -> Result<Vec<Found>, String> {
        let df = self.df;
        let min_page = self.cap.min_page;
        let info = parse_identify_controller(
            self.identify("IDENTIFY controller", CNS_CONTROLLER, 0)?,
            min_page,
        );
        let max_command_bytes = info.max_transfer.unwrap_or(u64::MAX).min(MAX_COMMAND_BYTES);
        log_controller(df, &info, max_command_bytes);
        if max_command_bytes < PAGE as u64 {
            return Err(format!("largest transfer {max_command_bytes} bytes, under a page"));
        }
        let max_command_bytes = max_command_bytes as usize;
        let found = self.namespaces(&info)?;
        if found.is_empty() {
            log::info!("nvme {df}: no namespace to expose");
            return Ok(Vec::new());
        }
        // I/O queues: a pair per CPU for every namespace, as many as the
        // controller grants (Set Features returns the counts allocated,
        // 0-based); with fewer, the CPUs share a namespace's pairs.
        let cpus = crate::arch::percpu::count().max(1);
        let wanted = (found.len() * cpus).min(usize::from(u16::MAX)) as u32 - 1;
        let mut c = Command::new(ADMIN_SET_FEATURES, 0);
        c.cdw10 = FEATURE_NUMBER_OF_QUEUES;
        c.cdw11 = wanted << 16 | wanted;
        let granted = self.admin("Set Features (number of queues)", c)?;
        let granted = (granted & 0xffff).min(granted >> 16) as usize + 1;
        // Queues whose doorbells lie in the part of BAR0 mapped (a large
        // doorbell stride leaves room for few).
        let doorbells = (1..=granted.min(usize::from(u16::MAX)))
            .take_while(|&qid| self.regs.has_doorbells(qid as u16))
            .count();
        let queues = granted.min(doorbells);
        let depth = IO_DEPTH.min(self.cap.max_queue_entries as usize - 1);
        let pool_pages = QueuePair::pool_pages(depth, namespace::list_entries(max_command_bytes));
        // Pairs per namespace: as many as the queues and the DMA pool give
        // every namespace alike (so the CPUs share pairs before a
        // namespace is left out), one per CPU at most, one at least.
        let pool_pairs = dma::free_pages().saturating_sub(POOL_RESERVE_PAGES) / pool_pages;
        let per_namespace = (queues.min(pool_pairs) / found.len()).clamp(1, cpus);
        // The largest request in commands must fit in the queue at once.
        if (MAX_COMMAND_BYTES as usize).div_ceil(max_command_bytes) > depth {
            return Err(format!(
                "{} KiB a command at most and {depth} in flight: a 1 MiB request does not fit",
                max_command_bytes / 1024
            ));
        }
        // MSI-X entry `i` interrupts CPU `i`; a namespace's pair for CPU
        // `i` signals entry `i` (entry 0, CPU 0, if the table is smaller).
        let apic_ids: Vec<u8> = (0..per_namespace)
            .filter_map(crate::arch::percpu::by_index)
            .map(|cpu| cpu.apic_id as u8)
            .collect();
        let interrupts = match irq {
            Some(_) => pci::enable_msix(root, df, super::DISK_VECTOR, &apic_ids),
            None => Err("diskirq=off"),
        };
        if let Err(e) = interrupts
            && irq.is_some()
        {
            log::warn!("nvme {df}: no completion interrupt ({e}); polling");
        }
        let mut disks = Vec::new();
        let mut next_qid = 1;
        for ns in &found {
            if usize::from(next_qid) > queues {
                log::warn!(
                    "nvme {df} namespace {}: the controller grants {granted} I/O queue(s), \
                     {doorbells} with doorbells in the BAR mapped; skipped",
                    ns.nsid
                );
                continue;
            }
            let room = dma::free_pages().saturating_sub(POOL_RESERVE_PAGES) / pool_pages;
            if room == 0 {
                log::warn!(
                    "nvme {df}: namespaces {} to {} would take the DMA pool's last \
                     {POOL_RESERVE_PAGES} pages (kept for the other disks and for transfers; \
                     {pool_pages} pages a queue pair); skipped",
                    ns.nsid,
                    found.last().map_or(ns.nsid, |last| last.nsid)
                );
                break;
            }
            // `per_namespace` pairs for every namespace fit in the queues
            // (or it is 1, and the namespaces past them are skipped
            // above) and in the pool (or it is 1, and those past the pool
            // are skipped here).
            let pairs = per_namespace.min(room);
            let mut queues = Vec::with_capacity(pairs);
            for cpu in 0..pairs {
                let vector = match interrupts {
                    Ok(routed) if cpu < routed => Some(cpu as u16),
                    Ok(_) => Some(0),
                    Err(_) => None,
                };
                queues.push(self.create_queue_pair(next_qid, depth, max_command_bytes, vector)?);
                next_qid += 1;
            }
            let disk = Namespace::new(
                ns.nsid,
                ns.sectors,
                ns.read_only,
                info.volatile_write_cache,
                max_command_bytes,
                queues,
            );
            let description = format!(
                "NVMe namespace {} at {df}, {}{}, {} queue pair{} of {}, {}",
                ns.nsid,
                Size(ns.sectors),
                if ns.read_only { ", read-only" } else { "" },
                disk.queue_pairs(),
                if disk.queue_pairs() == 1 { "" } else { "s" },
                disk.depth(),
                if interrupts.is_ok() { "MSI-X" } else { "polled" }
            );
            disks.push(Found { device: Box::new(disk), description });
        }
        Ok(disks)
    }

    /// The active namespaces to expose, each checked; the others are
    /// reported.
    fn namespaces(&mut self, info: &ControllerInfo) -> Result<Vec<Usable>, String> {
        let df = self.df;
        // The active namespace list (NVMe 1.1 and later); an older
        // controller's ids are 1..=NN, the inactive ones with NSZE 0.
        let ids: Vec<u32> =
            match self.identify("IDENTIFY active namespaces", CNS_ACTIVE_NAMESPACES, 0) {
                Ok(list) => active_namespaces(list).collect(),
                Err(e) => {
                    log::info!("nvme {df}: {e}; trying namespaces 1 to {}", info.namespaces);
                    (1..=info.namespaces.min(1024)).collect()
                }
            };
        let mut found = Vec::new();
        for nsid in ids {
            let data = self.identify("IDENTIFY namespace", CNS_NAMESPACE, nsid)?;
            let why = match parse_identify_namespace(data) {
                Ok(ns) if ns.block_bytes != SECTOR_SIZE as u64 => {
                    format!("{}-byte sectors, not supported", ns.block_bytes)
                }
                Ok(ns) if ns.metadata_bytes != 0 => {
                    format!("{} bytes of metadata a sector, not supported", ns.metadata_bytes)
                }
                Ok(ns) => {
                    found.push(Usable { nsid, sectors: ns.blocks, read_only: ns.write_protected });
                    continue;
                }
                Err(NamespaceError::Inactive) => continue,
                Err(NamespaceError::BadFormat) => "LBA format out of range".into(),
            };
            log::warn!("nvme {df} namespace {nsid}: {why}; skipped");
        }
        Ok(found)
    }

    /// Creates I/O queue pair `qid` of `depth` commands on the controller
    /// (completion queue first, then its submission queue: Base 2.0,
    /// 5.4 and 5.5), interrupting on MSI-X entry `vector`, or polled.
    fn create_queue_pair(
        &mut self,
        qid: u16,
        depth: usize,
        max_command_bytes: usize,
        vector: Option<u16>,
    ) -> Result<QueuePair, String> {
        let io = QueuePair::new(self.regs, qid, depth, namespace::list_entries(max_command_bytes))
            .ok_or_else(|| format!("no room in the DMA pool or BAR0 for I/O queue {qid}"))?;
        let size = u32::from(io.entries()) - 1;
        let mut c = Command::new(ADMIN_CREATE_IO_CQ, 0);
        c.prp1 = io.cq_phys();
        c.cdw10 = size << 16 | u32::from(io.id());
        // Interrupt vector (bits 31:16), interrupts enabled (bit 1),
        // physically contiguous (bit 0).
        c.cdw11 = match vector {
            Some(v) => u32::from(v) << 16 | 1 << 1 | 1,
            None => 1,
        };
        self.admin("Create I/O Completion Queue", c)?;
        let mut c = Command::new(ADMIN_CREATE_IO_SQ, 0);
        c.prp1 = io.sq_phys();
        c.cdw10 = size << 16 | u32::from(io.id());
        // Its completion queue (bits 31:16), physically contiguous.
        c.cdw11 = u32::from(io.id()) << 16 | 1;
        self.admin("Create I/O Submission Queue", c)?;
        Ok(io)
    }
}

/// Waits until `CSTS & mask == value`, at most CAP.TO. Errors: the
/// controller reports a fatal status, is gone, or does not get there.
fn wait_status(regs: &Registers, cap: &Capabilities, mask: u32, value: u32) -> Result<(), String> {
    let mut csts = 0;
    let settled = crate::time::spin_until(cap.timeout_ms * 1_000_000, || {
        csts = regs.read32(reg::CSTS);
        csts == ALL_ONES || (csts & CSTS_CFS != 0 && value != 0) || csts & mask == value
    });
    if csts == ALL_ONES {
        Err("not responding (its registers read all ones)".into())
    } else if csts & CSTS_CFS != 0 && value != 0 {
        Err("controller fatal status".into())
    } else if settled {
        Ok(())
    } else {
        let what = if value == 0 { "reset" } else { "ready" };
        Err(format!("not {what} within {} ms (CAP.TO)", cap.timeout_ms))
    }
}

/// Resets the controller: clears CC.EN and waits for CSTS.RDY to clear.
fn disable(regs: &Registers, cap: &Capabilities) -> Result<(), String> {
    let cc = regs.read32(reg::CC);
    if cc & CC_EN != 0 {
        regs.write32(reg::CC, cc & !CC_EN);
    }
    wait_status(regs, cap, CSTS_RDY, 0)
}

/// The controller's line in the boot log.
fn log_controller(df: DeviceFunction, info: &ControllerInfo, max_command_bytes: u64) {
    log::info!(
        "nvme {df}: {}, serial {}, firmware {}, {} KiB a command, {}",
        info.model,
        info.serial,
        info.firmware,
        max_command_bytes / 1024,
        if info.volatile_write_cache { "write cache" } else { "no write cache" }
    );
}
