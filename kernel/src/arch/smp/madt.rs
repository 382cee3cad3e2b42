//! The processors the firmware lists: ACPI's MADT (ACPI 6.5, 5.2.12),
//! read with the `acpi` crate through the physical window.

use alloc::vec::Vec;
use core::fmt;
use core::ptr::NonNull;

use acpi::madt::{Madt, MadtEntry};
use acpi::{AcpiHandler, AcpiTables, PhysicalMapping};

/// Local APIC / x2APIC structure flags (ACPI 6.5, table 5.24).
const FLAG_ENABLED: u32 = 1 << 0;
const FLAG_ONLINE_CAPABLE: u32 = 1 << 1;

/// Maps ACPI tables for the `acpi` crate: every physical address is
/// already reached through the physical window (pages the window lacks are
/// mapped by `map_device_memory`, as for PCI BARs), so "mapping" is an
/// offset and "unmapping" does nothing.
#[derive(Clone, Copy, Debug)]
struct WindowHandler;

impl AcpiHandler for WindowHandler {
    unsafe fn map_physical_region<T>(&self, phys: usize, size: usize) -> PhysicalMapping<Self, T> {
        let virt = crate::mem::paging::map_device_memory(phys as u64, size as u64)
            .and_then(|v| NonNull::new(v.as_mut_ptr::<T>()))
            // The window's pages exist for all RAM; only a page-table
            // allocation for a page outside it can fail, and the crate's
            // interface has no way to report it.
            .expect("ACPI table mapping: out of memory for page tables");
        // SAFETY: `virt` maps `size` bytes at `phys` for ever (the window
        // is never unmapped); the caller (the crate) vouches that a `T`
        // lies there.
        unsafe { PhysicalMapping::new(phys, virt, size, size, *self) }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}
}

/// Why the processors could not be listed.
#[derive(Debug)]
pub enum Error {
    /// The bootloader found no RSDP.
    NoRsdp,
    /// The ACPI tables are malformed or lack a MADT.
    Acpi(acpi::AcpiError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoRsdp => write!(f, "no ACPI RSDP from the bootloader"),
            Error::Acpi(e) => write!(f, "ACPI: {e:?}"),
        }
    }
}

/// The local APIC ids of the processors the MADT lists as enabled or
/// online-capable, in table order, without duplicates (a CPU may be listed
/// both as a local APIC and as an x2APIC).
pub fn processors(rsdp: Option<u64>) -> Result<Vec<u32>, Error> {
    let rsdp = rsdp.ok_or(Error::NoRsdp)?;
    // SAFETY: the bootloader found the RSDP at this physical address (it
    // checked the signature); the crate validates the checksum.
    let tables =
        unsafe { AcpiTables::from_rsdp(WindowHandler, rsdp as usize) }.map_err(Error::Acpi)?;
    let madt = tables.find_table::<Madt>().map_err(Error::Acpi)?;
    let mut ids = Vec::new();
    for entry in madt.get().entries() {
        let (id, flags) = match entry {
            MadtEntry::LocalApic(e) => (e.apic_id as u32, e.flags),
            MadtEntry::LocalX2Apic(e) => (e.x2apic_id, e.flags),
            _ => continue,
        };
        if flags & (FLAG_ENABLED | FLAG_ONLINE_CAPABLE) != 0 && !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}
