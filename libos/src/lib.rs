//! # libos: exocap's library operating system
//!
//! The kernel only multiplexes hardware through capabilities; everything
//! a program expects of an operating system lives here, linked into the
//! program:
//! - the runtime: `_start`, a heap grown from the process's `memory`
//!   capability, `println!` over its `console`, panics that exit cleanly;
//! - typed handles ([`Handle<K>`]) with the calls each kind supports;
//! - processes ([`process::Spawn`]) and the start page ([`Start`]);
//! - IPC over endpoints ([`ipc`]): messages with handles, channels, RPC;
//! - notifications ([`notify`]): waiting for several event sources at once;
//! - shared memory ([`shm`]): memory objects mapped by several processes,
//!   and a bulk channel over one ([`bulk`]);
//! - block devices ([`block`]), I/O rings of disk requests ([`ring`]), and
//!   a crash-safe file system on them ([`fs`]).
//!
//! A program:
//! ```ignore
//! #![no_std]
//! #![no_main]
//! use libos::{Start, println};
//! libos::main!(main);
//! fn main(start: &Start) -> i32 {
//!     println!("hello from {}", start.name());
//!     0
//! }
//! ```
//!
//! `unsafe` lives only in [`sys`], the syscall layer; the rest is safe
//! code and most of it builds and is tested on the host.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

pub mod block;
pub mod bulk;
pub mod console;
pub mod disk;
pub mod fs;
pub mod graph;
pub mod handle;
pub mod iobuf;
pub mod ipc;
pub mod line;
pub mod notify;
pub mod process;
pub mod ring;
pub mod shm;
pub mod start;
#[allow(unsafe_code)]
pub mod sys;

pub use caps::abi;
pub use caps::abi::process::ExitStatus;
pub use caps::abi::{Error, Rights, kind};
pub use handle::Handle;
pub use start::{MissingHandle, Start};

/// Declares the program's `main`: `fn(&Start) -> i32`, the exit code.
#[macro_export]
macro_rules! main {
    ($main:path) => {
        #[unsafe(no_mangle)]
        fn __libos_main(start: &$crate::Start) -> i32 {
            $main(start)
        }
    };
}
