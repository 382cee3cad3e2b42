//! PCI configuration space through the legacy I/O ports (0xcf8/0xcfc),
//! and finding the virtio block devices on bus 0.

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
        // SAFETY: the PCI configuration ports; one CPU and interrupts off,
        // so the address/data pair is not interleaved with another access.
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
