//! AHCI: SATA disks behind an AHCI host bus adapter (HBA), such as q35's
//! ICH9 controller at 00:1f.2 (AHCI 1.3.1; "section" below means its
//! sections).
//!
//! [`probe`] finds every AHCI controller on PCI bus 0 (class 01h, subclass
//! 06h, programming interface 01h), takes it from the firmware (BIOS/OS
//! handoff where offered), resets it, and brings up each implemented port
//! that has an ATA disk: each becomes one [`port::AhciPort`] block device.
//! Ports without a device are skipped quietly; ATAPI drives, port
//! multipliers and disks the driver cannot use (no 48-bit addressing, a
//! logical sector other than 512 bytes) are logged and skipped. A
//! controller that does not come back from reset is logged and skipped.
//!
//! Completions come by MSI (`drivers::DISK_VECTOR`), or by polling from
//! the timer tick when interrupts are off (`diskirq=off`) or the
//! controller has no MSI. All ports of a controller share its interrupt:
//! each port's `poll` acknowledges its own bit of the global IS register.

mod port;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use virtio_drivers::transport::pci::bus::{Command, DeviceFunction, PciRoot};

use super::Found;
use super::block::{BlockDevice, Size};
use super::pci::{self, PortCam};
use crate::time::spin_until;

/// PCI class of an AHCI controller: mass storage, SATA, AHCI 1.0
/// programming interface (PCI Code and ID Assignment 1.11, 1.1).
const CLASS_MASS_STORAGE: u8 = 0x01;
const SUBCLASS_SATA: u8 = 0x06;
const PROG_IF_AHCI: u8 = 0x01;
/// The BAR holding the HBA's registers, ABAR (section 2.1.11).
const ABAR: u8 = 5;

/// Generic host control registers (section 3.1).
const CAP: u64 = 0x00;
const GHC: u64 = 0x04;
const IS: u64 = 0x08;
const PI: u64 = 0x0c;
const CAP2: u64 = 0x24;
const BOHC: u64 = 0x28;

/// CAP bits (section 3.1.1).
const CAP_S64A: u32 = 1 << 31;
const CAP_SNCQ: u32 = 1 << 30;
const CAP_SSS: u32 = 1 << 27;
const CAP_NCS_SHIFT: u32 = 8;
const CAP_NCS_MASK: u32 = 0x1f;
/// GHC bits (section 3.1.2).
const GHC_HR: u32 = 1 << 0;
const GHC_IE: u32 = 1 << 1;
const GHC_AE: u32 = 1 << 31;
/// CAP2.BOH: BIOS/OS handoff supported (section 3.1.10).
const CAP2_BOH: u32 = 1 << 0;
/// BOHC bits (section 3.1.11).
const BOHC_BOS: u32 = 1 << 0;
const BOHC_OOS: u32 = 1 << 1;
const BOHC_BB: u32 = 1 << 4;

/// Where port `p`'s registers begin, and their stride (section 3.3).
const PORT_BASE: u64 = 0x100;
const PORT_STRIDE: u64 = 0x80;

/// How long the HBA may take to come back from reset (section 10.4.3:
/// "within 1 second").
const RESET_TIMEOUT_NS: u64 = 1_000_000_000;
/// How long the firmware may take to give the controller up (section
/// 10.6.3: 25 ms, or 2 s more once it says it is busy, BOHC.BB).
const HANDOFF_TIMEOUT_NS: u64 = 25_000_000;
const HANDOFF_BUSY_TIMEOUT_NS: u64 = 2_000_000_000;
/// How long the links of the ports get, after reset, to come up
/// (PxSSTS.DET = 3) before a port without one is taken for empty. A
/// device answers COMRESET within 10 ms (SATA 3.2, 8.4.1), so this is
/// spent once per controller, by a controller with empty ports.
const LINK_TIMEOUT_NS: u64 = 20_000_000;

/// The HBA's registers (ABAR), mapped uncached; `len` bytes.
#[derive(Clone, Copy)]
pub(super) struct Abar {
    base: u64,
    len: u64,
}

impl Abar {
    /// The 32-bit register at `offset`. Offsets outside the mapping
    /// (which the driver never computes: ports are checked against it at
    /// probe) read as 0.
    fn read(self, offset: u64) -> u32 {
        if offset + 4 > self.len {
            return 0;
        }
        // SAFETY: a 4-byte-aligned register (every AHCI register offset
        // is) inside the HBA's register space, which `map_abar` mapped
        // uncached for the kernel's lifetime; register reads have no
        // effect on memory.
        unsafe { ((self.base + offset) as *const u32).read_volatile() }
    }

    /// Writes the 32-bit register at `offset` (ignored outside the
    /// mapping).
    fn write(self, offset: u64, value: u32) {
        if offset + 4 > self.len {
            return;
        }
        // SAFETY: as in `read`. What the write makes the HBA do (DMA to
        // the addresses programmed in its registers) is the driver's part:
        // it only programs memory it owns for that purpose.
        unsafe { ((self.base + offset) as *mut u32).write_volatile(value) }
    }

    /// Sets `bits` in the register at `offset`.
    fn set(self, offset: u64, bits: u32) {
        self.write(offset, self.read(offset) | bits);
    }

    /// Clears `bits` in the register at `offset`.
    fn clear(self, offset: u64, bits: u32) {
        self.write(offset, self.read(offset) & !bits);
    }
}

/// What a controller offers, from CAP.
#[derive(Clone, Copy)]
struct Capabilities {
    /// Command slots per port (CAP.NCS + 1).
    slots: usize,
    /// 64-bit DMA addresses (CAP.S64A).
    s64a: bool,
    /// Native command queuing (CAP.SNCQ).
    ncq: bool,
    /// Staggered spin-up: a port's device spins up only once PxCMD.SUD is
    /// set (CAP.SSS).
    sss: bool,
}

/// Finds every AHCI controller on bus 0 and returns a block device for
/// each ATA disk on it (the boot disk too: `drivers::probe` tells it by
/// its MBR), in controller then port order, each with a description for
/// the boot log (`AHCI port 1 at 00:1f.2, 256 MiB, NCQ
/// depth 32, MSI`). Completions by MSI to `irq`, else polled. Writes to
/// no disk.
pub fn probe(root: &mut PciRoot<PortCam>, irq: super::IrqTarget) -> Vec<Found> {
    let found = pci::functions_of_class(root, CLASS_MASS_STORAGE, SUBCLASS_SATA, PROG_IF_AHCI);
    let mut disks = Vec::new();
    for df in found {
        if let Err(e) = probe_controller(root, df, irq, &mut disks) {
            log::warn!("AHCI at {df}: {e}; skipped");
        }
    }
    disks
}

/// Takes controller `df` and adds its disks to `disks`.
fn probe_controller(
    root: &mut PciRoot<PortCam>,
    df: DeviceFunction,
    irq: super::IrqTarget,
    disks: &mut Vec<Found>,
) -> Result<(), &'static str> {
    let (_, command) = root.get_status_command(df);
    root.set_command(df, command | Command::MEMORY_SPACE | Command::BUS_MASTER);
    let abar = map_abar(root, df)?;
    take_ownership(abar, df);
    let caps = reset(abar)?;
    let implemented = abar.read(PI);
    // Section 10.1.1: wake every port's device (staggered spin-up), then
    // give the links one wait together.
    for p in ports(implemented, abar) {
        port::PortRegs::new(abar, p).spin_up(caps.sss);
    }
    spin_until(LINK_TIMEOUT_NS, || {
        ports(implemented, abar).all(|p| port::PortRegs::new(abar, p).link_up())
    });
    let interrupts = match irq {
        Some(apic_id) => pci::enable_msi(root, df, super::DISK_VECTOR, apic_id),
        None => Err("diskirq=off"),
    };
    if let Err(e) = interrupts
        && e != "diskirq=off"
    {
        log::warn!("AHCI at {df}: no completion interrupt ({e}); polling");
    }
    let mut any = false;
    for p in 0..32u8 {
        if implemented & (1 << p) == 0 {
            continue;
        }
        if ports(1 << p, abar).next().is_none() {
            log::warn!("AHCI port {p} at {df}: registers beyond the HBA's memory; skipped");
            continue;
        }
        match port::AhciPort::bring_up(abar, p, caps) {
            Ok(Some(disk)) => {
                let queue = match disk.ncq_depth() {
                    Some(d) => format!("NCQ depth {d}"),
                    None => String::from("no NCQ"),
                };
                let description = format!(
                    "AHCI port {p} at {df}, {}, {queue}, {}",
                    Size(disk.sector_count()),
                    if interrupts.is_ok() { "MSI" } else { "polled" }
                );
                disks.push(Found { device: Box::new(disk), description });
                any = true;
            }
            Ok(None) => {}
            Err(e) if e == port::NOT_A_DISK_ATAPI || e == port::NOT_A_DISK_SEMB => {
                log::info!("AHCI port {p} at {df}: {e}; skipped")
            }
            Err(e) => log::warn!("AHCI port {p} at {df}: {e}; skipped"),
        }
    }
    if any && interrupts.is_ok() {
        abar.write(IS, !0);
        abar.set(GHC, GHC_IE);
    }
    Ok(())
}

/// The implemented ports of `mask` whose registers lie inside the mapping.
fn ports(mask: u32, abar: Abar) -> impl Iterator<Item = u8> {
    (0..32u8).filter(move |&p| {
        mask & (1 << p) != 0 && PORT_BASE + PORT_STRIDE * (u64::from(p) + 1) <= abar.len
    })
}

/// Maps ABAR (BAR 5), a memory BAR the firmware placed.
fn map_abar(root: &mut PciRoot<PortCam>, df: DeviceFunction) -> Result<Abar, &'static str> {
    let (phys, len) = root
        .bar_info(df, ABAR)
        .ok()
        .flatten()
        .and_then(|bar| bar.memory_address_size())
        .filter(|&(address, len)| address != 0 && len >= PORT_BASE)
        .ok_or("no memory BAR 5 (ABAR)")?;
    let virt =
        crate::mem::paging::map_device_memory(phys, len).ok_or("page tables for the ABAR")?;
    Ok(Abar { base: virt.as_u64(), len })
}

/// BIOS/OS handoff (section 10.6.3), where the HBA offers it: asks the
/// firmware to give the controller up and waits for it. A firmware that
/// does not answer in time is logged, and the controller taken anyway.
fn take_ownership(abar: Abar, df: DeviceFunction) {
    abar.set(GHC, GHC_AE);
    if abar.read(CAP2) & CAP2_BOH == 0 {
        return;
    }
    abar.set(BOHC, BOHC_OOS);
    let released = spin_until(HANDOFF_TIMEOUT_NS, || abar.read(BOHC) & BOHC_BOS == 0)
        || (abar.read(BOHC) & BOHC_BB != 0
            && spin_until(HANDOFF_BUSY_TIMEOUT_NS, || abar.read(BOHC) & BOHC_BOS == 0));
    if !released {
        log::warn!("AHCI at {df}: the firmware does not release the controller; taking it anyway");
    }
}

/// Resets the HBA (section 10.4.3) and enables AHCI mode; its
/// capabilities. Errors: it does not come back from reset.
fn reset(abar: Abar) -> Result<Capabilities, &'static str> {
    abar.set(GHC, GHC_AE);
    abar.set(GHC, GHC_HR);
    if !spin_until(RESET_TIMEOUT_NS, || abar.read(GHC) & GHC_HR == 0) {
        return Err("the controller does not come back from reset");
    }
    abar.set(GHC, GHC_AE);
    let cap = abar.read(CAP);
    Ok(Capabilities {
        slots: ((cap >> CAP_NCS_SHIFT) & CAP_NCS_MASK) as usize + 1,
        s64a: cap & CAP_S64A != 0,
        ncq: cap & CAP_SNCQ != 0,
        sss: cap & CAP_SSS != 0,
    })
}
