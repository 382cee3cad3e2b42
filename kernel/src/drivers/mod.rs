//! Device drivers: the block layer and its devices.
//!
//! Drivers are trusted kernel code (see `dma` on DMA without an IOMMU).

pub mod ahci;
pub mod block;
pub mod dma;
pub mod memdisk;
pub mod nvme;
pub mod pci;
pub mod virtio_blk;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use virtio_drivers::transport::pci::PciTransport;
use virtio_drivers::transport::pci::bus::PciRoot;

use block::{BlockDevice, Devices, Size};
use dma::KernelHal;

/// The vector block devices signal completions on (one for all: the
/// handler polls every device).
pub const DISK_VECTOR: u8 = 33;

/// Where the disks' completion interrupts (MSI, MSI-X) go: the local APIC
/// id of a CPU (`irqcpu=`), or `None` to poll (`diskirq=off`). NVMe,
/// with a queue pair per CPU, sends each pair's to its own CPU instead.
pub type IrqTarget = Option<u8>;

/// A disk a controller's probe found, before it gets its number.
pub struct Found {
    /// The disk.
    pub device: Box<dyn BlockDevice>,
    /// Where it is and how it completes, for the boot log
    /// (`virtio-blk at 00:03.0, 256 MiB, MSI-X`).
    pub description: String,
}

/// How long the boot waits for a disk's sector 0 (to find the boot disk).
const BOOT_SECTOR_TIMEOUT_NS: u64 = 2_000_000_000;
/// Where the MBR keeps its disk signature (little-endian).
const MBR_SIGNATURE: core::ops::Range<usize> = 440..444;

/// Finds the disks and numbers them: every controller's (virtio-blk, then
/// NVMe, then AHCI, each in PCI order), completing by interrupts sent to
/// `irq` (else polled);
/// then a RAM disk of `ram_disk_sectors` if asked for; last every disk
/// that carries the boot disk's MBR signature `boot_disk` (the disk the
/// system booted from, and any copy of it), read-only. So the first data
/// disk is disk 0 wherever the boot disk sits.
pub fn probe(ram_disk_sectors: u64, irq: IrqTarget, boot_disk: Option<u32>) -> Devices {
    let mut found = Vec::new();
    let mut root = PciRoot::new(pci::PortCam);
    found.extend(virtio_disks(&mut root, irq));
    found.extend(nvme::probe(&mut root, irq));
    found.extend(ahci::probe(&mut root, irq));
    if irq.is_none() {
        log::warn!("disks: no completion interrupt (diskirq=off); polling");
    }
    let (mut data, mut boot) = (Vec::new(), Vec::new());
    for mut f in found {
        let is_boot = boot_disk.is_some_and(|signature| {
            block::read_first_sector(&mut *f.device, BOOT_SECTOR_TIMEOUT_NS).is_some_and(|s| {
                s[MBR_SIGNATURE].try_into().ok().map(u32::from_le_bytes) == Some(signature)
            })
        });
        if is_boot { boot.push(f) } else { data.push(f) }
    }
    if ram_disk_sectors > 0 {
        match memdisk::MemDisk::new(ram_disk_sectors) {
            Some(d) => data.push(Found {
                device: Box::new(d),
                description: format!("RAM disk, {}", Size(ram_disk_sectors)),
            }),
            None => log::warn!("RAM disk: not enough memory"),
        }
    }
    let mut devices = Devices::new();
    for f in data {
        let n = devices.add(f.device);
        log::info!("disk {n}: {}", f.description);
    }
    for f in boot {
        let n = devices.add(Box::new(block::ReadOnly(f.device)));
        log::info!("disk {n}: {}, the boot disk, read-only", f.description);
    }
    devices
}

/// Every virtio block device on the PCI bus.
fn virtio_disks(root: &mut PciRoot<pci::PortCam>, irq: IrqTarget) -> Vec<Found> {
    let mut found = Vec::new();
    for df in pci::virtio_block_devices(root) {
        let disk = PciTransport::new::<KernelHal, _>(root, df)
            .map_err(|_| "PCI transport")
            .and_then(virtio_blk::VirtioBlk::new);
        match disk {
            Ok(d) => {
                // Completions by interrupt; without one, the idle loop and
                // the timer tick poll (`iowait`), slower but correct.
                let irq = irq.map(|apic_id| {
                    pci::enable_msix(root, df, DISK_VECTOR, &[apic_id])
                        .and_then(|_| pci::virtio_queue_msix(root, df, 0, 0))
                });
                if let Some(Err(e)) = irq {
                    log::warn!("virtio-blk at {df}: no completion interrupt ({e}); polling");
                }
                let description = format!(
                    "{} at {df}, {}{}, {}",
                    d.name(),
                    Size(d.sector_count()),
                    if d.read_only() { ", read-only" } else { "" },
                    if matches!(irq, Some(Ok(()))) { "MSI-X" } else { "polled" }
                );
                found.push(Found { device: Box::new(d), description });
            }
            Err(e) => log::warn!("virtio-blk at {df}: cannot set up: {e}"),
        }
    }
    found
}
