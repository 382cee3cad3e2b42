//! PCI configuration space through the legacy I/O ports (0xcf8/0xcfc),
//! finding the virtio block devices on bus 0, and routing a device's
//! MSI or MSI-X to a local APIC.

use alloc::vec::Vec;
use virtio_drivers::transport::DeviceType;
use virtio_drivers::transport::pci::bus::{Command, ConfigurationAccess, DeviceFunction, PciRoot};
use virtio_drivers::transport::pci::virtio_device_type;
use x86_64::instructions::port::Port;

const CONFIG_ADDRESS: u16 = 0xcf8;
const CONFIG_DATA: u16 = 0xcfc;

/// Configuration access through the I/O ports.
pub struct PortCam;

fn address(df: DeviceFunction, offset: u8) -> u32 {
    1 << 31
        | (df.bus as u32) << 16
        | (df.device as u32) << 11
        | (df.function as u32) << 8
        | (offset as u32 & 0xfc)
}

impl ConfigurationAccess for PortCam {
    fn read_word(&self, df: DeviceFunction, offset: u8) -> u32 {
        // SAFETY: the PCI configuration ports, used only while the boot CPU
        // probes the devices (the others do not schedule yet), so the
        // address/data pair is not interleaved with another access.
        unsafe {
            Port::<u32>::new(CONFIG_ADDRESS).write(address(df, offset));
            Port::<u32>::new(CONFIG_DATA).read()
        }
    }

    fn write_word(&mut self, df: DeviceFunction, offset: u8, data: u32) {
        // SAFETY: as in `read_word`.
        unsafe {
            Port::<u32>::new(CONFIG_ADDRESS).write(address(df, offset));
            Port::<u32>::new(CONFIG_DATA).write(data);
        }
    }

    unsafe fn unsafe_clone(&self) -> Self {
        PortCam
    }
}

/// The virtio block devices on bus 0, with memory decoding and bus
/// mastering turned on (the firmware assigned their BARs).
pub fn virtio_block_devices(root: &mut PciRoot<PortCam>) -> Vec<DeviceFunction> {
    let found: Vec<DeviceFunction> = root
        .enumerate_bus(0)
        .filter(|(_, info)| virtio_device_type(info) == Some(DeviceType::Block))
        .map(|(df, _)| df)
        .collect();
    for &df in &found {
        let (_, command) = root.get_status_command(df);
        root.set_command(df, command | Command::MEMORY_SPACE | Command::BUS_MASTER);
    }
    found
}

/// The functions on bus 0 of PCI class `class`, `subclass`, programming
/// interface `prog_if` (PCI Code and ID Assignment 1.11), in bus order:
/// how the AHCI and NVMe drivers find their controllers.
pub fn functions_of_class(
    root: &mut PciRoot<PortCam>,
    class: u8,
    subclass: u8,
    prog_if: u8,
) -> Vec<DeviceFunction> {
    root.enumerate_bus(0)
        .filter(|(_, info)| (info.class, info.subclass, info.prog_if) == (class, subclass, prog_if))
        .map(|(df, _)| df)
        .collect()
}

/// PCI capability ids (PCI Local Bus 3.0, appendix H).
const CAP_MSI: u8 = 0x05;
const CAP_VENDOR: u8 = 0x09;
const CAP_MSIX: u8 = 0x11;
/// The virtio PCI capability of the common configuration (virtio 1.2,
/// 4.1.4).
const VIRTIO_PCI_CAP_COMMON_CFG: u8 = 1;
/// Offsets in the virtio common configuration.
const COMMON_MSIX_CONFIG: u64 = 0x10;
const COMMON_QUEUE_SELECT: u64 = 0x16;
const COMMON_QUEUE_MSIX_VECTOR: u64 = 0x1a;
/// "No vector" for virtio's MSI-X vector registers.
const VIRTIO_MSI_NO_VECTOR: u16 = 0xffff;
/// MSI-X message control: enable, function mask.
const MSIX_ENABLE: u32 = 1 << 15;
const MSIX_FUNCTION_MASK: u32 = 1 << 14;
/// MSI message control (PCI 3.0, 6.8.1.3): enable, multiple message
/// enable (vectors granted, log2), 64-bit address, per-vector masking.
const MSI_ENABLE: u32 = 1;
const MSI_MULTIPLE_MESSAGE_ENABLE: u32 = 0x7 << 4;
const MSI_64_BIT: u16 = 1 << 7;
const MSI_PER_VECTOR_MASK: u16 = 1 << 8;
/// Where MSI messages go: the local APIC's interrupt window (Intel SDM
/// vol. 3, 11.11.1), destination APIC id in bits 12..20.
const MSI_ADDRESS_BASE: u64 = 0xfee0_0000;
/// Bytes per MSI-X table entry: address low, address high, data, control.
const MSIX_ENTRY_BYTES: u64 = 16;

/// The physical address of `bar` of `df` plus `offset`, if it is a memory
/// BAR the firmware placed.
fn bar_address(
    root: &mut PciRoot<PortCam>,
    df: DeviceFunction,
    bar: u8,
    offset: u64,
) -> Option<u64> {
    let (address, size) = root.bar_info(df, bar).ok()??.memory_address_size()?;
    (address != 0 && offset < size).then_some(address + offset)
}

/// Routes MSI-X table entries `0..apic_ids.len()` of `df` to `vector`,
/// entry `i` on the local APIC `apic_ids[i]` (fixed delivery, edge),
/// masks every other entry, and turns MSI-X on (which also turns the pin
/// interrupt, INTx, off: PCI 3.0, 6.8.2). Returns how many entries were
/// routed: fewer than asked if the table is smaller (at least one).
/// Errors: the device has no MSI-X capability, or its table is not in a
/// memory BAR; `apic_ids` is empty.
pub fn enable_msix(
    root: &mut PciRoot<PortCam>,
    df: DeviceFunction,
    vector: u8,
    apic_ids: &[u8],
) -> Result<usize, &'static str> {
    if apic_ids.is_empty() {
        return Err("no CPU to route MSI-X to");
    }
    let cap = root.capabilities(df).find(|c| c.id == CAP_MSIX).ok_or("no MSI-X capability")?;
    let cam = PortCam;
    let entries = u64::from(cap.private_header & 0x7ff) + 1;
    let table = cam.read_word(df, cap.offset + 4);
    let phys = bar_address(root, df, (table & 7) as u8, u64::from(table & !7))
        .ok_or("MSI-X table not in a memory BAR")?;
    let virt = crate::mem::paging::map_device_memory(phys, entries * MSIX_ENTRY_BYTES)
        .ok_or("page tables for the MSI-X table")?
        .as_u64();
    let entry = |i: u64, word: u64| (virt + i * MSIX_ENTRY_BYTES + word * 4) as *mut u32;
    for i in 0..entries {
        // SAFETY: the device's MSI-X table (`entries` entries of 16 bytes,
        // in its BAR, mapped uncached just above); we own the device.
        unsafe {
            if let Some(&apic_id) = apic_ids.get(i as usize) {
                entry(i, 0).write_volatile((MSI_ADDRESS_BASE | u64::from(apic_id) << 12) as u32);
                entry(i, 1).write_volatile(0);
                entry(i, 2).write_volatile(u32::from(vector));
                entry(i, 3).write_volatile(0);
            } else {
                entry(i, 3).write_volatile(1);
            }
        }
    }
    let mut cam = PortCam;
    let header = cam.read_word(df, cap.offset);
    let control = ((header >> 16) | MSIX_ENABLE) & !MSIX_FUNCTION_MASK;
    cam.write_word(df, cap.offset, (header & 0xffff) | control << 16);
    Ok(apic_ids.len().min(entries as usize))
}

/// Routes the MSI of `df` (one message) to `vector` on the local APIC
/// `apic_id` (fixed delivery, edge), unmasks it, and turns MSI on (which
/// also turns the pin interrupt, INTx, off: PCI 3.0, 6.8.1.3). The
/// capability's layout depends on its 64-bit and per-vector-masking bits
/// (PCI 3.0, 6.8.1). Errors: the device has no MSI capability.
pub fn enable_msi(
    root: &mut PciRoot<PortCam>,
    df: DeviceFunction,
    vector: u8,
    apic_id: u8,
) -> Result<(), &'static str> {
    let cap = root.capabilities(df).find(|c| c.id == CAP_MSI).ok_or("no MSI capability")?;
    let mut cam = PortCam;
    let control = cap.private_header;
    cam.write_word(df, cap.offset + 4, (MSI_ADDRESS_BASE | u64::from(apic_id) << 12) as u32);
    let data = if control & MSI_64_BIT != 0 {
        cam.write_word(df, cap.offset + 8, 0);
        cap.offset + 12
    } else {
        cap.offset + 8
    };
    // Message data is the low 16 bits; the high half is kept as it is.
    let word = cam.read_word(df, data);
    cam.write_word(df, data, (word & 0xffff_0000) | u32::from(vector));
    if control & MSI_PER_VECTOR_MASK != 0 {
        let mask = cam.read_word(df, data + 4);
        cam.write_word(df, data + 4, mask & !1);
    }
    let header = cam.read_word(df, cap.offset);
    let control = ((header >> 16) & !MSI_MULTIPLE_MESSAGE_ENABLE) | MSI_ENABLE;
    cam.write_word(df, cap.offset, (header & 0xffff) | control << 16);
    Ok(())
}

/// Tells virtio device `df` to signal queue `queue`'s completions on MSI-X
/// entry `entry` and configuration changes on none (virtio 1.2, 4.1.5.1.2).
/// Errors: the device has no common configuration we can reach, or
/// refused the vector (it reads back "no vector").
pub fn virtio_queue_msix(
    root: &mut PciRoot<PortCam>,
    df: DeviceFunction,
    queue: u16,
    entry: u16,
) -> Result<(), &'static str> {
    let cam = PortCam;
    let cap = root
        .capabilities(df)
        .find(|c| c.id == CAP_VENDOR && (c.private_header >> 8) as u8 == VIRTIO_PCI_CAP_COMMON_CFG)
        .ok_or("no virtio common configuration")?;
    let bar = cam.read_word(df, cap.offset + 4) as u8;
    let offset = u64::from(cam.read_word(df, cap.offset + 8));
    let phys = bar_address(root, df, bar, offset).ok_or("virtio common configuration BAR")?;
    let common = crate::mem::paging::map_device_memory(phys, 0x40)
        .ok_or("page tables for the virtio configuration")?
        .as_u64();
    let reg = |off: u64| (common + off) as *mut u16;
    // SAFETY: 16-bit registers of the device's common configuration
    // (mapped uncached above); we own the device, and its driver does not
    // touch these registers after set-up.
    let read_back = unsafe {
        reg(COMMON_MSIX_CONFIG).write_volatile(VIRTIO_MSI_NO_VECTOR);
        reg(COMMON_QUEUE_SELECT).write_volatile(queue);
        reg(COMMON_QUEUE_MSIX_VECTOR).write_volatile(entry);
        reg(COMMON_QUEUE_MSIX_VECTOR).read_volatile()
    };
    if read_back == VIRTIO_MSI_NO_VECTOR {
        return Err("the device refused the MSI-X vector");
    }
    Ok(())
}
