//! The boot ramdisk: a tar archive the bootloader loads next to the kernel.
//!
//! It holds the user programs (`bin/<name>`) and the boot settings
//! (`cmdline`). The host tool `tools/imager` writes it; `tar tf` lists it.
//! Parsing never allocates and never trusts the archive: a corrupt archive
//! yields no files, not a crash.

use bootloader_api::BootInfo;
use tar_no_std::TarArchiveRef;

/// The ramdisk as mapped by the bootloader.
pub struct Ramdisk {
    bytes: &'static [u8],
    archive: TarArchiveRef<'static>,
}

impl Ramdisk {
    /// The ramdisk the bootloader passed, if there is one and it parses.
    pub fn from_boot_info(boot_info: &BootInfo) -> Option<Self> {
        let addr = boot_info.ramdisk_addr.into_option()?;
        let len = usize::try_from(boot_info.ramdisk_len).ok()?;
        if len == 0 {
            return None;
        }
        // SAFETY: the bootloader mapped `len` bytes of ramdisk at `addr`,
        // read-only for us, for the life of the kernel; nothing writes them.
        let bytes = unsafe { core::slice::from_raw_parts(addr as *const u8, len) };
        let archive = TarArchiveRef::new(bytes).ok()?;
        Some(Self { bytes, archive })
    }

    /// Size of the archive in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// How many regular files the archive holds.
    pub fn file_count(&self) -> usize {
        self.archive.entries().count()
    }

    /// Every file as (name, contents).
    pub fn files(&self) -> impl Iterator<Item = (alloc::string::String, &'static [u8])> + '_ {
        self.archive.entries().filter_map(|e| {
            Some((alloc::string::String::from(e.filename().as_str().ok()?), e.data()))
        })
    }

    /// The contents of the file named `name`, if present.
    pub fn file(&self, name: &str) -> Option<&'static [u8]> {
        self.archive.entries().find(|e| e.filename().as_str() == Ok(name)).map(|e| e.data())
    }
}
