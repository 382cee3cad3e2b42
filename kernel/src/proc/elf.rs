//! Checking a program image before anything of it is loaded.
//!
//! The checks are [`kerncore::elf`] (tested on the host); here a checked
//! program's segments get the kernel's page access type. Loading is
//! `spawn.rs`.

use caps::abi::Error;

use crate::mem::aspace::Access;

/// A checked program image.
pub type Program = kerncore::elf::Program<Access>;

/// Checks `image` and describes how to load it; `InvalidArgument` for a
/// bad image (see [`kerncore::elf::parse`]).
pub fn parse(image: &[u8]) -> Result<Program, Error> {
    use kerncore::elf::Perm;
    let program = kerncore::elf::parse(image)?;
    Ok(program.map_access(|p| match p {
        Perm::Read => Access::Read,
        Perm::ReadWrite => Access::ReadWrite,
        Perm::ReadExec => Access::ReadExec,
    }))
}
