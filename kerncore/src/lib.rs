//! # exocap kernel core
//!
//! The parts of the kernel that touch no hardware: tables, counters,
//! queues and checks of untrusted input. They live here, apart from the
//! kernel crate (which builds only for `x86_64-unknown-none`), so that
//! `cargo test` runs them on the host, with unit tests and property tests
//! against simple reference models. The kernel uses them through thin
//! modules of the same names.
//!
//! ## Promises
//! - **Safe Rust only** (`forbid(unsafe_code)`), `no_std` + `alloc`: what
//!   is tested here is what the kernel runs.
//! - **No panics on bad input.** Images, boot settings and ids come from
//!   outside the kernel; a bad one is refused with an error, never a panic.
//! - **Counters never wrap.** A free, credit or release that does not match
//!   an earlier take is a kernel bug: it is refused and changes nothing,
//!   rather than turning a count negative.
//! - **Bounded.** Every table has a limit; every operation is a loop over
//!   at most that many entries, with constant stack.
//!
//! ## The pieces
//! - [`ata`]: ATA command FISes, IDENTIFY data, and the order an AHCI
//!   port issues commands in (NCQ ones together, others alone).
//! - [`objtable`]: objects named by generation-checked ids.
//! - [`quota`]: memory quotas: charge, credit, carve, references, ceilings.
//! - [`queue`]: FIFOs of objects linked through the objects themselves.
//! - [`pagepool`]: which pages of a physically contiguous pool are in use.
//! - [`framemap`]: which physical frames are free, handed out next fit.
//! - [`mapping`]: where memory objects are mapped, by which capability.
//! - [`elf`]: the checks a program image passes before it is loaded.
//! - [`bootcfg`]: boot settings parsed from the command line.
//! - [`brlock`]: the kernel lock's protocol (readers with a flag each),
//!   model-checked with `loom`.
//! - [`ring`]: an I/O ring's indices: the program's checked, the
//!   completion queue kept from overflowing.
//! - [`haltpoll`]: how long an idle CPU polls for work before it halts.
//! - [`runq`]: the ready processes of each CPU: affinity, and idle CPUs
//!   stealing from busy ones.
//! - [`bytering`]: bytes received and not yet read (console input),
//!   dropped and counted when full.
//! - [`nvme`]: an NVMe controller's capabilities and IDENTIFY data read,
//!   and the PRP entries of a command built from a request's segments.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod ata;
pub mod bootcfg;
pub mod brlock;
pub mod bytering;
pub mod elf;
pub mod framemap;
pub mod haltpoll;
pub mod mapping;
pub mod nvme;
pub mod objtable;
pub mod pagepool;
pub mod queue;
pub mod quota;
pub mod ring;
pub mod runq;
