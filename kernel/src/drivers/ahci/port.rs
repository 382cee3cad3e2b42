//! One AHCI port with an ATA disk, as a [`BlockDevice`]: its command
//! list, received FIS area and command tables, the commands in flight,
//! and recovery from a failed command.
//!
//! Each request is one ATA command in one command slot (a request of at
//! most `caps::abi::disk::MAX_SECTORS` fits one command, and each segment
//! one PRDT entry). Reads and writes are NCQ commands (READ/WRITE FPDMA
//! QUEUED, tag = slot, several in flight) when the disk and the HBA offer
//! NCQ, else READ/WRITE DMA EXT, one at a time, the others waiting in
//! their slots; FLUSH CACHE EXT always runs alone. [`CommandQueue`]
//! (`kerncore::ata`, tested on the host) decides what may be issued when.
//!
//! Errors (section 6.2.2): when the port reports one (a task file error,
//! a host bus or interface error, any PxSERR bit) or a command takes
//! longer than `COMMAND_TIMEOUT_S`, the NCQ commands the device
//! finished are reaped, the port is stopped and started again (with a
//! COMRESET after an NCQ error, which leaves the device refusing NCQ
//! commands until then, or if the device stays busy or the HBA keeps
//! commands issued), and the commands that were in flight are issued
//! again one at a time without NCQ, so that the failing one is found: it
//! gets `IoError`, the others complete normally. Commands run alone until
//! one succeeds, then NCQ resumes. A port that cannot be restarted is
//! taken out of service: every request on it fails with `IoError`.
//!
//! The QEMU in use (7.2 as Debian ships it) sets PxIS.TFES for a failed
//! NCQ command; older QEMUs report it only through PxSERR, which counts
//! as an error too. A stale error status (left by a failed non-queued
//! command) fails QEMU's acknowledgement of the next NCQ command, hence
//! the commands run alone after an error.

use alloc::format;
use alloc::string::String;
use caps::abi::Error;
use core::sync::atomic::{Ordering, fence};
use kerncore::ata::{self, CommandQueue, IdentifyError, Transfer};

use super::{Abar, Capabilities, IS, PORT_BASE, PORT_STRIDE};
use crate::drivers::block::{BlockDevice, Op, RequestId, SECTOR_SIZE};
use crate::drivers::dma;
use crate::mem::{PAGE_SIZE, phys_to_virt};
use crate::time::spin_until;

/// Port registers, offsets in the port's block (section 3.3).
const PX_CLB: u64 = 0x00;
const PX_CLBU: u64 = 0x04;
const PX_FB: u64 = 0x08;
const PX_FBU: u64 = 0x0c;
const PX_IS: u64 = 0x10;
const PX_IE: u64 = 0x14;
const PX_CMD: u64 = 0x18;
const PX_TFD: u64 = 0x20;
const PX_SIG: u64 = 0x24;
const PX_SSTS: u64 = 0x28;
const PX_SCTL: u64 = 0x2c;
const PX_SERR: u64 = 0x30;
const PX_SACT: u64 = 0x34;
const PX_CI: u64 = 0x38;

/// PxCMD bits (section 3.3.7).
const CMD_ST: u32 = 1 << 0;
const CMD_SUD: u32 = 1 << 1;
const CMD_POD: u32 = 1 << 2;
const CMD_FRE: u32 = 1 << 4;
const CMD_FR: u32 = 1 << 14;
const CMD_CR: u32 = 1 << 15;

/// PxIS bits (section 3.3.5): completions, and the errors.
const IS_DHRS: u32 = 1 << 0;
const IS_PSS: u32 = 1 << 1;
const IS_DSS: u32 = 1 << 2;
const IS_SDBS: u32 = 1 << 3;
const IS_UFS: u32 = 1 << 4;
const IS_DPS: u32 = 1 << 5;
const IS_OFS: u32 = 1 << 24;
const IS_INFS: u32 = 1 << 26;
const IS_IFS: u32 = 1 << 27;
const IS_HBDS: u32 = 1 << 28;
const IS_HBFS: u32 = 1 << 29;
const IS_TFES: u32 = 1 << 30;
/// The PxIS bits that mean a command went wrong.
const IS_ERROR: u32 = IS_UFS | IS_OFS | IS_INFS | IS_IFS | IS_HBDS | IS_HBFS | IS_TFES;
/// What the port interrupts for (PxIE has the same layout).
const IE_ALL: u32 = IS_DHRS | IS_PSS | IS_DSS | IS_SDBS | IS_DPS | IS_ERROR;

/// PxTFD status bits (the ATA status register: ACS-3, 6.2).
const TFD_ERR: u32 = 1 << 0;
const TFD_DRQ: u32 = 1 << 3;
const TFD_BSY: u32 = 1 << 7;
/// PxSSTS.DET / PxSCTL.DET (sections 3.3.10, 3.3.11).
const DET_MASK: u32 = 0xf;
const DET_NONE: u32 = 0;
const DET_PRESENT: u32 = 3;
const SCTL_DET_COMRESET: u32 = 1;

/// PxSIG values (section 3.3.9; SATA 3.2, 11.3).
const SIG_ATA: u32 = 0x0000_0101;
const SIG_ATAPI: u32 = 0xeb14_0101;
const SIG_SEMB: u32 = 0xc33c_0101;
const SIG_PM: u32 = 0x9669_0101;

/// Why a port with a device that is not a disk is skipped (a boot fact,
/// logged as information; every other reason is a warning).
pub(super) const NOT_A_DISK_ATAPI: &str = "an ATAPI device (CD/DVD), not a disk";
pub(super) const NOT_A_DISK_SEMB: &str = "an enclosure bridge, not a disk";

/// The port's page: the command list (32 headers of 32 bytes, 1 KiB
/// aligned: section 4.2.2), the received FIS area (256 bytes, 256
/// aligned: section 4.2.1) and the IDENTIFY data.
const HEADER_BYTES: u64 = 32;
const RECEIVED_FIS_OFFSET: u64 = 0x400;
const IDENTIFY_OFFSET: u64 = 0x800;
/// Command header DW0 (section 4.2.2): command FIS length in dwords,
/// write (host to device), PRDT length in bits 31:16.
const HEADER_CFL: u32 = (ata::FIS_H2D_BYTES / 4) as u32;
const HEADER_WRITE: u32 = 1 << 6;
const HEADER_PRDTL_SHIFT: u32 = 16;

/// PRDT entries per command table, so the segments one request may carry
/// (section 4.2.3): 120 make a table of exactly 2 KiB (128 bytes of
/// command FIS and ATAPI command, then 16 bytes an entry), so 32 slots
/// take 16 pages of the DMA pool per port, and a 1 MiB buffer scattered
/// over 256 pages goes in 3 requests.
pub const PRDT_ENTRIES: usize = 120;
const PRDT_OFFSET: usize = 0x80;
const PRD_BYTES: usize = 16;
const TABLE_BYTES: usize = PRDT_OFFSET + PRDT_ENTRIES * PRD_BYTES;
/// The most bytes one PRDT entry moves (section 4.2.3.3: 22-bit count).
const PRD_MAX_BYTES: usize = 4 << 20;
const _: () = assert!(TABLE_BYTES.is_multiple_of(128) && TABLE_BYTES == 2048);
const _: () = assert!(caps::abi::disk::MAX_SECTORS <= ata::MAX_COMMAND_SECTORS as u64);

/// How long a port's engines get to stop (section 10.1.2: 500 ms).
const STOP_TIMEOUT_NS: u64 = 500_000_000;
/// How long COMRESET is held (section 10.4.2: at least 1 ms) and how
/// long the link then gets to come back.
const COMRESET_HOLD_NS: u64 = 1_000_000;
const LINK_TIMEOUT_NS: u64 = 1_000_000_000;
/// How long a device may stay busy (BSY or DRQ) after a reset or an
/// error. Spent with interrupts off, only on a device that misbehaves.
const BUSY_TIMEOUT_NS: u64 = 5_000_000_000;
/// How long IDENTIFY DEVICE may take at boot.
const IDENTIFY_TIMEOUT_NS: u64 = 5_000_000_000;
/// A command the device has not finished after this many seconds is
/// taken for lost, and the port recovers as from an error (Linux's libata
/// waits as long).
const COMMAND_TIMEOUT_S: u64 = 30;
/// Bus addresses an HBA without 64-bit addressing (CAP.S64A) reaches.
const ADDRESS_32_LIMIT: u64 = 1 << 32;

/// The registers of one port.
#[derive(Clone, Copy)]
pub(super) struct PortRegs {
    abar: Abar,
    port: u8,
}

impl PortRegs {
    pub(super) fn new(abar: Abar, port: u8) -> Self {
        PortRegs { abar, port }
    }

    fn at(self, reg: u64) -> u64 {
        PORT_BASE + PORT_STRIDE * u64::from(self.port) + reg
    }

    fn read(self, reg: u64) -> u32 {
        self.abar.read(self.at(reg))
    }

    fn write(self, reg: u64, value: u32) {
        self.abar.write(self.at(reg), value)
    }

    fn set(self, reg: u64, bits: u32) {
        self.abar.set(self.at(reg), bits)
    }

    fn clear(self, reg: u64, bits: u32) {
        self.abar.clear(self.at(reg), bits)
    }

    /// Powers the device on and spins it up (PxCMD.POD, SUD: section
    /// 10.1.1; both are read-only ones on HBAs without the feature).
    pub(super) fn spin_up(self, staggered: bool) {
        if staggered || self.read(PX_CMD) & CMD_SUD == 0 {
            self.set(PX_CMD, CMD_POD | CMD_SUD);
        }
    }

    /// Whether a device is there and its link up (PxSSTS.DET = 3).
    pub(super) fn link_up(self) -> bool {
        self.read(PX_SSTS) & DET_MASK == DET_PRESENT
    }

    fn busy(self) -> bool {
        self.read(PX_TFD) & (TFD_BSY | TFD_DRQ) != 0
    }

    /// Stops the command list and FIS receive engines (section 10.1.2);
    /// whether both stopped in time.
    fn stop(self) -> bool {
        self.clear(PX_CMD, CMD_ST);
        let list = spin_until(STOP_TIMEOUT_NS, || self.read(PX_CMD) & CMD_CR == 0);
        self.clear(PX_CMD, CMD_FRE);
        let fis = spin_until(STOP_TIMEOUT_NS, || self.read(PX_CMD) & CMD_FR == 0);
        list && fis
    }

    /// Resets the link and the device (COMRESET, section 10.4.2), the
    /// command list engine stopped; then waits for the device to be ready.
    fn comreset(self) -> Result<(), &'static str> {
        let sctl = self.read(PX_SCTL) & !DET_MASK;
        self.write(PX_SCTL, sctl | SCTL_DET_COMRESET);
        spin_until(COMRESET_HOLD_NS, || false);
        self.write(PX_SCTL, sctl);
        if !spin_until(LINK_TIMEOUT_NS, || self.link_up()) {
            return Err("the link does not come back after COMRESET");
        }
        self.write(PX_SERR, !0);
        if !spin_until(BUSY_TIMEOUT_NS, || !self.busy()) {
            return Err("the device stays busy after COMRESET");
        }
        Ok(())
    }
}

/// A command in a slot.
#[derive(Clone, Copy)]
struct Command {
    id: RequestId,
    op: Op,
    lba: u64,
    sectors: u32,
    /// TSC when it was issued (0 while it waits).
    issued_at: u64,
}

/// The slots of `mask`, lowest first.
fn slots(mask: u32) -> impl Iterator<Item = usize> {
    (0..32).filter(move |i| mask & (1 << i) != 0)
}

/// An ATA disk on an AHCI port.
pub struct AhciPort {
    regs: PortRegs,
    sectors: u64,
    /// NCQ depth in use, if reads and writes go as NCQ commands.
    ncq_depth: Option<u8>,
    /// The HBA reaches 64-bit bus addresses.
    s64a: bool,
    /// Physical address of the port's page (command list, received FIS,
    /// IDENTIFY data).
    page: u64,
    /// Physical address of the command tables, slot `i` at
    /// `i * TABLE_BYTES`.
    tables: u64,
    queue: CommandQueue,
    commands: [Option<Command>; ata::MAX_SLOTS],
    /// The port could not be restarted after an error: every request
    /// fails.
    out_of_service: bool,
    /// The port was restarted after an error and no command has
    /// succeeded since: commands run alone, without NCQ. (A device whose
    /// status still shows the old error would fail the first NCQ
    /// command's acknowledgement: QEMU's does.)
    recovering: bool,
    /// TSC ticks after which an issued command counts as lost.
    timeout_ticks: u64,
    doorbell_cycles: u64,
}

impl AhciPort {
    /// Brings up port `port`: `Ok(None)` if no device is attached; an
    /// error (for the boot log) if the device is not an ATA disk this
    /// driver can use or does not answer. The port is left stopped and
    /// its memory given back on an error.
    pub(super) fn bring_up(
        abar: Abar,
        port: u8,
        caps: Capabilities,
    ) -> Result<Option<AhciPort>, String> {
        let regs = PortRegs::new(abar, port);
        match regs.read(PX_SSTS) & DET_MASK {
            DET_PRESENT => {}
            DET_NONE => return Ok(None),
            det => return Err(format!("a device without an established link (DET {det})")),
        }
        if !regs.stop() {
            return Err(String::from("the port's engines do not stop"));
        }
        let slots = caps.slots.min(ata::MAX_SLOTS);
        let table_pages = (slots * TABLE_BYTES).div_ceil(PAGE_SIZE as usize);
        let page = dma::alloc(1).ok_or("DMA pool exhausted")?;
        let Some(tables) = dma::alloc(table_pages) else {
            dma::free(page, 1);
            return Err(String::from("DMA pool exhausted"));
        };
        let mut disk = AhciPort {
            regs,
            sectors: 0,
            ncq_depth: None,
            s64a: caps.s64a,
            page,
            tables,
            queue: CommandQueue::new(slots),
            commands: [None; ata::MAX_SLOTS],
            out_of_service: false,
            recovering: false,
            timeout_ticks: crate::time::tsc_hz().saturating_mul(COMMAND_TIMEOUT_S),
            doorbell_cycles: 0,
        };
        match disk.start_port(caps, table_pages) {
            Ok(()) => Ok(Some(disk)),
            Err(e) => {
                disk.abandon(table_pages);
                Err(e)
            }
        }
    }

    /// Programs the port's memory, checks the device's signature, starts
    /// the port, and identifies the disk.
    fn start_port(&mut self, caps: Capabilities, table_pages: usize) -> Result<(), String> {
        let r = self.regs;
        let end = self.tables + table_pages as u64 * PAGE_SIZE;
        if !caps.s64a && (end > ADDRESS_32_LIMIT || self.page >= ADDRESS_32_LIMIT) {
            return Err(String::from("DMA memory beyond the HBA's 32-bit addresses"));
        }
        let fis = self.page + RECEIVED_FIS_OFFSET;
        r.write(PX_CLB, self.page as u32);
        r.write(PX_CLBU, (self.page >> 32) as u32);
        r.write(PX_FB, fis as u32);
        r.write(PX_FBU, (fis >> 32) as u32);
        // The device's first D2H FIS (its signature) arrives once FIS
        // receive is on (section 10.3.1).
        r.set(PX_CMD, CMD_FRE);
        if !spin_until(BUSY_TIMEOUT_NS, || !r.busy()) {
            r.comreset()?;
        }
        r.write(PX_SERR, !0);
        r.write(PX_IS, !0);
        match r.read(PX_SIG) {
            SIG_ATA => {}
            SIG_ATAPI => return Err(String::from(NOT_A_DISK_ATAPI)),
            SIG_PM => return Err(String::from("a port multiplier (not supported)")),
            SIG_SEMB => return Err(String::from(NOT_A_DISK_SEMB)),
            sig => return Err(format!("unknown device signature {sig:#010x}")),
        }
        r.set(PX_CMD, CMD_ST);
        let identity = self.identify()?;
        self.sectors = identity.sectors;
        self.ncq_depth = match identity.ncq_depth {
            Some(d) if caps.ncq => Some(d.min(caps.slots as u8)),
            _ => None,
        };
        // With NCQ, tags (= slots) stop at the depth: give back the
        // tables past it. Without, every slot holds a waiting command.
        if let Some(depth) = self.ncq_depth {
            let used = (usize::from(depth) * TABLE_BYTES).div_ceil(PAGE_SIZE as usize);
            if used < table_pages {
                dma::free(self.tables + used as u64 * PAGE_SIZE, table_pages - used);
            }
            self.queue = CommandQueue::new(usize::from(depth));
        }
        r.write(PX_IS, !0);
        r.write(PX_IE, IE_ALL);
        Ok(())
    }

    /// Stops the port and gives its memory back (kept, and logged, if the
    /// port does not stop: the HBA could still write it).
    fn abandon(self, table_pages: usize) {
        self.regs.write(PX_IE, 0);
        if self.regs.stop() {
            dma::free(self.tables, table_pages);
            dma::free(self.page, 1);
        } else {
            log::warn!("AHCI port {}: does not stop; its memory is kept", self.regs.port);
        }
    }

    /// IDENTIFY DEVICE in slot 0, polled (section 5.5.1, at boot).
    fn identify(&mut self) -> Result<ata::Identity, String> {
        let r = self.regs;
        let buffer = self.page + IDENTIFY_OFFSET;
        self.build(0, &ata::fis_identify(), false, [(buffer, 512)].into_iter());
        fence(Ordering::SeqCst);
        r.write(PX_CI, 1);
        let finished = spin_until(IDENTIFY_TIMEOUT_NS, || {
            r.read(PX_CI) & 1 == 0 || r.read(PX_IS) & IS_ERROR != 0
        });
        fence(Ordering::SeqCst);
        if !finished {
            return Err(String::from("IDENTIFY DEVICE timed out"));
        }
        if r.read(PX_IS) & IS_ERROR != 0 || r.read(PX_TFD) & TFD_ERR != 0 {
            return Err(format!("IDENTIFY DEVICE failed (PxTFD {:#x})", r.read(PX_TFD)));
        }
        let mut words = [0u16; ata::IDENTIFY_WORDS];
        let bytes = self.dma_bytes(buffer, 512);
        for (w, b) in words.iter_mut().zip(bytes.chunks_exact(2)) {
            *w = u16::from_le_bytes([b[0], b[1]]);
        }
        ata::parse_identify(&words).map_err(|e| match e {
            IdentifyError::NoLba48 => String::from("no 48-bit addressing (not supported)"),
            IdentifyError::SectorSize(n) => {
                format!("logical sectors of {n} bytes, not 512: not exposed")
            }
            IdentifyError::BadCapacity(n) => format!("a capacity of {n} sectors: not exposed"),
        })
    }

    /// The NCQ depth in use, if reads and writes are queued.
    pub(super) fn ncq_depth(&self) -> Option<u8> {
        self.ncq_depth
    }

    /// `len` bytes of our DMA memory at `phys`.
    fn dma_bytes(&mut self, phys: u64, len: usize) -> &mut [u8] {
        debug_assert!(
            (phys >= self.page && phys + len as u64 <= self.page + PAGE_SIZE)
                || phys >= self.tables
        );
        // SAFETY: `phys` is inside the port's page or its command tables,
        // DMA pool pages this port owns, reached through the physical
        // window; callers only touch a slot's table or header while its
        // command is not issued (the device does not read it then), and
        // the IDENTIFY data once the device wrote it. The borrow of
        // `self` keeps two such views from overlapping.
        unsafe {
            core::slice::from_raw_parts_mut(
                phys_to_virt(x86_64::PhysAddr::new(phys)).as_mut_ptr::<u8>(),
                len,
            )
        }
    }

    /// Writes slot `slot`'s command: the command FIS and PRDT in its
    /// table, and its header in the command list. The slot must not be
    /// issued.
    fn build(
        &mut self,
        slot: usize,
        cfis: &[u8; ata::FIS_H2D_BYTES],
        write: bool,
        segments: impl Iterator<Item = (u64, usize)>,
    ) {
        let table_phys = self.tables + (slot * TABLE_BYTES) as u64;
        let table = self.dma_bytes(table_phys, TABLE_BYTES);
        table[..ata::FIS_H2D_BYTES].copy_from_slice(cfis);
        let mut entries = 0u32;
        for (entry, (address, len)) in
            table[PRDT_OFFSET..].chunks_exact_mut(PRD_BYTES).zip(segments)
        {
            // Section 4.2.3.3: data base address, reserved, byte count
            // minus one (bit 0 always one: the count is even).
            entry[0..8].copy_from_slice(&address.to_le_bytes());
            entry[8..12].copy_from_slice(&0u32.to_le_bytes());
            entry[12..16].copy_from_slice(&(len as u32 - 1).to_le_bytes());
            entries += 1;
        }
        let flags = HEADER_CFL | if write { HEADER_WRITE } else { 0 };
        let header = self.dma_bytes(self.page + slot as u64 * HEADER_BYTES, HEADER_BYTES as usize);
        header[0..4].copy_from_slice(&(flags | entries << HEADER_PRDTL_SHIFT).to_le_bytes());
        header[4..8].copy_from_slice(&0u32.to_le_bytes());
        header[8..16].copy_from_slice(&table_phys.to_le_bytes());
        header[16..32].fill(0);
    }

    /// Rewrites slot `slot`'s command FIS (its PRDT stays).
    fn rewrite_fis(&mut self, slot: usize, cfis: &[u8; ata::FIS_H2D_BYTES]) {
        let table_phys = self.tables + (slot * TABLE_BYTES) as u64;
        self.dma_bytes(table_phys, ata::FIS_H2D_BYTES).copy_from_slice(cfis);
    }

    /// Hands every command that may go now to the device (PxSACT first
    /// for NCQ ones, then PxCI: section 5.3.2).
    fn kick(&mut self) {
        let out = self.queue.issue();
        if out.all == 0 {
            return;
        }
        let now = crate::arch::cpu::rdtsc();
        for i in slots(out.all) {
            if let Some(c) = &mut self.commands[i] {
                c.issued_at = now;
            }
        }
        // The tables and headers are written before the device is told.
        fence(Ordering::SeqCst);
        if out.queued != 0 {
            self.regs.write(PX_SACT, out.queued);
        }
        self.regs.write(PX_CI, out.all);
        self.doorbell_cycles += crate::arch::cpu::rdtsc() - now;
    }

    /// Reports slot `slot`'s command done with `result` and frees it.
    fn complete(
        &mut self,
        slot: usize,
        result: Result<(), Error>,
        done: &mut dyn FnMut(RequestId, Result<(), Error>),
    ) {
        self.queue.finish(slot);
        if let Some(c) = self.commands[slot].take() {
            done(c.id, result);
        }
    }

    /// Recovers from an error or a lost command (section 6.2.2): reaps
    /// the NCQ commands that finished, restarts the port, fails a command
    /// that ran alone, and sends the other unfinished ones back to run
    /// alone, one at a time.
    fn recover(&mut self, is: u32, serr: u32, done: &mut dyn FnMut(RequestId, Result<(), Error>)) {
        let issued = self.queue.issued();
        log::warn!(
            "AHCI port {}: error (PxIS {is:#x}, PxSERR {serr:#x}, PxTFD {:#x}); restarting the port",
            self.regs.port,
            self.regs.read(PX_TFD)
        );
        // A failed NCQ command keeps its PxSACT bit (SATA 3.2, 13.6.5);
        // the cleared ones finished well.
        let queued = self.queue.issued_queued();
        let (failed, suspects) = if queued {
            let active = self.regs.read(PX_SACT);
            fence(Ordering::SeqCst);
            for i in slots(issued & !active) {
                self.complete(i, Ok(()), done);
            }
            (0, issued & active)
        } else {
            (issued, 0)
        };
        // After an NCQ error the device takes no NCQ command until its
        // error log is read or it is reset (SATA 3.2, 13.6.3.3): reset it.
        match self.restart(queued) {
            Ok(()) => {
                for i in slots(failed) {
                    self.complete(i, Err(Error::IoError), done);
                }
                // The unfinished ones first, then those that waited, all
                // alone until one succeeds (`recovering`).
                let again = suspects | self.queue.waiting();
                for i in slots(again) {
                    let Some(c) = self.commands[i] else { continue };
                    let t = match c.op {
                        Op::Read => Transfer::Read,
                        Op::Write => Transfer::Write,
                        Op::Flush => continue,
                    };
                    match ata::fis_dma_ext(t, c.lba, c.sectors) {
                        Some(fis) => self.rewrite_fis(i, &fis),
                        None => self.complete(i, Err(Error::IoError), done),
                    }
                }
                self.queue.run_alone(again);
                self.recovering = true;
            }
            Err(e) => {
                log::error!("AHCI port {}: {e}; the port is out of service", self.regs.port);
                self.out_of_service = true;
                for i in slots(self.queue.issued() | self.queue.waiting()) {
                    self.complete(i, Err(Error::IoError), done);
                }
            }
        }
    }

    /// Stops the port, resets the device (COMRESET) if `reset`, if it
    /// stays busy or if the HBA keeps commands issued, clears the errors,
    /// and starts it again (section 6.2.2.1).
    fn restart(&mut self, reset: bool) -> Result<(), &'static str> {
        let r = self.regs;
        r.clear(PX_CMD, CMD_ST);
        let stopped = spin_until(STOP_TIMEOUT_NS, || r.read(PX_CMD) & CMD_CR == 0);
        if reset || !stopped || r.busy() || r.read(PX_SACT) != 0 || r.read(PX_CI) != 0 {
            r.comreset()?;
        }
        r.write(PX_SERR, !0);
        r.write(PX_IS, !0);
        r.abar.write(IS, 1 << r.port);
        if r.read(PX_CMD) & CMD_CR != 0 {
            return Err("the command list engine does not stop");
        }
        if r.read(PX_SACT) | r.read(PX_CI) != 0 {
            return Err("the HBA keeps commands issued across a stop");
        }
        if !spin_until(BUSY_TIMEOUT_NS, || !r.busy()) {
            return Err("the device stays busy");
        }
        r.set(PX_CMD, CMD_ST);
        Ok(())
    }
}

impl BlockDevice for AhciPort {
    fn name(&self) -> &'static str {
        "AHCI"
    }

    fn sector_count(&self) -> u64 {
        self.sectors
    }

    fn read_only(&self) -> bool {
        false
    }

    unsafe fn start(
        &mut self,
        id: RequestId,
        op: Op,
        sector: u64,
        segments: &[&mut [u8]],
    ) -> Result<(), Error> {
        if self.out_of_service {
            return Err(Error::IoError);
        }
        let bytes: usize = segments.iter().map(|s| s.len()).sum();
        let sectors = (bytes / SECTOR_SIZE) as u32;
        let transfer = match op {
            Op::Read => Some(Transfer::Read),
            Op::Write => Some(Transfer::Write),
            Op::Flush => None,
        };
        // Range, shape and `max_segments`: checked by `Devices::start`;
        // what is left are the HBA's own limits.
        if transfer.is_some() {
            if segments.iter().any(|s| s.len() > PRD_MAX_BYTES) {
                return Err(Error::InvalidArgument);
            }
            if !self.s64a
                && segments
                    .iter()
                    .any(|s| dma::device_address(s.as_ptr()) + s.len() as u64 > ADDRESS_32_LIMIT)
            {
                return Err(Error::InvalidArgument);
            }
        }
        let queued = self.ncq_depth.is_some() && transfer.is_some() && !self.recovering;
        let slot = self.queue.claim(queued).ok_or(Error::Busy)?;
        let cfis = match transfer {
            None => Some(ata::fis_flush_cache_ext()),
            Some(t) if queued => ata::fis_fpdma_queued(t, sector, sectors, slot as u8),
            Some(t) => ata::fis_dma_ext(t, sector, sectors),
        };
        let Some(cfis) = cfis else {
            self.queue.finish(slot);
            return Err(Error::InvalidArgument);
        };
        let list = segments.iter().map(|s| (dma::device_address(s.as_ptr()), s.len()));
        self.build(slot, &cfis, op == Op::Write, list);
        self.commands[slot] = Some(Command { id, op, lba: sector, sectors, issued_at: 0 });
        self.kick();
        Ok(())
    }

    fn poll(&mut self, done: &mut dyn FnMut(RequestId, Result<(), Error>)) {
        let r = self.regs;
        // Acknowledge first (PxIS, then the HBA's bit: section 10.7.2), so
        // that a completion after the reads below interrupts again.
        let is = r.read(PX_IS);
        if is != 0 {
            r.write(PX_IS, is);
            r.abar.write(IS, 1 << r.port);
        }
        let issued = self.queue.issued();
        if issued == 0 {
            return;
        }
        let serr = r.read(PX_SERR);
        let oldest = slots(issued).filter_map(|i| self.commands[i]).map(|c| c.issued_at).min();
        let lost = oldest.is_some_and(|t| crate::arch::cpu::rdtsc() - t > self.timeout_ticks);
        if is & IS_ERROR != 0 || serr != 0 || lost {
            if lost {
                log::warn!("AHCI port {}: a command took over {COMMAND_TIMEOUT_S} s", r.port);
            }
            self.recover(is, serr, done);
        } else {
            // NCQ commands finish when their PxSACT bit clears, others
            // when their PxCI bit does (section 5.3.8).
            let busy = if self.queue.issued_queued() { r.read(PX_SACT) } else { r.read(PX_CI) };
            // The data is read only after the device said it is there.
            fence(Ordering::SeqCst);
            for i in slots(issued & !busy) {
                self.complete(i, Ok(()), done);
                self.recovering = false;
            }
        }
        self.kick();
    }

    fn in_flight(&self) -> usize {
        (self.queue.issued() | self.queue.waiting()).count_ones() as usize
    }

    fn max_segments(&self) -> usize {
        PRDT_ENTRIES
    }

    fn take_doorbell_cycles(&mut self) -> u64 {
        core::mem::take(&mut self.doorbell_cycles)
    }
}
