//! Device drivers: the block layer and its devices.
//!
//! Drivers are trusted kernel code (see `dma` on DMA without an IOMMU).

pub mod ahci;
pub mod block;
pub mod dma;
pub mod memdisk;
pub mod pci;
pub mod virtio_blk;

use alloc::boxed::Box;
use virtio_drivers::transport::pci::PciTransport;
use virtio_drivers::transport::pci::bus::PciRoot;

use block::Devices;
use dma::KernelHal;

/// The vector block devices signal completions on (one for all: the
/// handler polls every device).
pub const DISK_VECTOR: u8 = 33;

/// Finds the disks: every virtio block device on the PCI bus, then every
/// ATA disk on an AHCI controller (completing by interrupt if `irq`),
/// then a RAM disk of `ram_disk_sectors` if asked
/// for.
pub fn probe(ram_disk_sectors: u64, irq: bool) -> Devices {
    let mut devices = Devices::new();
    let mut root = PciRoot::new(pci::PortCam);
    for df in pci::virtio_block_devices(&mut root) {
        let disk = PciTransport::new::<KernelHal, _>(&mut root, df)
            .map_err(|_| "PCI transport")
            .and_then(virtio_blk::VirtioBlk::new);
        match disk {
            Ok(d) => {
                use block::BlockDevice;
                // Completions by interrupt; without one, the idle loop and
                // the timer tick poll (`iowait`), slower but correct.
                let irq = if irq {
                    pci::enable_msix(&mut root, df, DISK_VECTOR, crate::arch::apic::id())
                        .and_then(|()| pci::virtio_queue_msix(&mut root, df, 0, 0))
                } else {
                    Err("diskirq=off")
                };
                log::info!(
                    "disk {}: {} at {df}, {} MiB{}, {}",
                    devices.len(),
                    d.name(),
                    d.sector_count() / 2048,
                    if d.read_only() { ", read-only" } else { "" },
                    match irq {
                        Ok(()) => "MSI-X",
                        Err(_) => "polled",
                    }
                );
                if let Err(e) = irq {
                    log::warn!("virtio-blk at {df}: no completion interrupt ({e}); polling");
                }
                devices.add(Box::new(d));
            }
            Err(e) => log::warn!("virtio-blk at {df}: cannot set up: {e}"),
        }
    }
    for (description, disk) in ahci::probe(&mut root, irq) {
        log::info!("disk {}: {description}", devices.len());
        devices.add(disk);
    }
    if ram_disk_sectors > 0 {
        match memdisk::MemDisk::new(ram_disk_sectors) {
            Some(d) => {
                log::info!("disk {}: RAM disk, {} MiB", devices.len(), ram_disk_sectors / 2048);
                devices.add(Box::new(d));
            }
            None => log::warn!("RAM disk: not enough memory"),
        }
    }
    devices
}
