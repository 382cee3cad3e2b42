//! Boot settings: `key=value` words in the ramdisk's `cmdline` file.
//!
//! The keys and their parsing are [`kerncore::bootcfg`] (tested on the
//! host); here they are read from the ramdisk, with the kernel's process
//! ceiling.

use crate::ramdisk::Ramdisk;
use crate::state::MAX_PROCESSES;

/// The name of the settings file inside the ramdisk.
const CMDLINE_FILE: &str = "cmdline";

/// The parsed boot settings.
pub type BootConfig = kerncore::bootcfg::BootConfig<'static>;

/// Reads the settings from the ramdisk; defaults when there are none.
pub fn from_ramdisk(ramdisk: Option<&Ramdisk>) -> BootConfig {
    BootConfig::from_file(ramdisk.and_then(|rd| rd.file(CMDLINE_FILE)), MAX_PROCESSES)
}
