//! The ABI shared by the kernel and user space.
//!
//! Everything in this module is plain data with a fixed numeric encoding:
//! object kinds, rights, error codes (and how a syscall result in `rax`
//! carries them), syscall numbers, handle values and the `cap_info` record.
//! User space (`libos`) depends on this module only; the kernel uses it to
//! decode requests and encode answers.

pub mod args;
pub mod disk;
pub mod error;
pub mod graph;
pub mod handle;
pub mod info;
pub mod ipc;
pub mod kind;
pub mod layout;
pub mod process;
pub mod rights;
pub mod ring;
pub mod syscall;
pub mod time;

pub use error::{Error, decode_result, encode_error, encode_result};
pub use graph::GraphNode;
pub use handle::{Handle, RawHandle};
pub use info::CapInfo;
pub use kind::{Kind, ObjectKind};
pub use rights::Rights;
pub use syscall::Syscall;

/// Bytes in one disk sector: the unit of every `DiskRange` offset and count.
pub const SECTOR_SIZE: usize = 512;

/// Bytes in one page frame: the unit of every `Memory` offset and count.
pub const FRAME_SIZE: usize = 4096;
