//! Timer calls: `clock`, `sleep`, and the `timer_info` record.
//!
//! | syscall | arguments | result | right |
//! |---|---|---|---|
//! | `clock` | timer | ns since boot (the TSC, calibrated at boot) | READ |
//! | `sleep` | timer, ns | 0, at the first timer tick at or after the deadline | WAIT |
//! | `timer_info` | timer, out ptr | 0; a [`TimerInfo`] at `out` | READ |

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// What `timer_info` writes: the clock, the timer tick, and a second
/// clock kept from other hardware, to check the first against.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct TimerInfo {
    /// Nanoseconds since boot, as `clock` says (the TSC).
    pub now_ns: u64,
    /// Timer interrupts taken since boot.
    pub ticks: u64,
    /// Timer interrupts the kernel asks for per second.
    pub tick_hz: u64,
    /// Nanoseconds since the reference clock started (at boot), counted by
    /// another device than the one `now_ns` comes from (the PIT, sampled
    /// at every tick and at each read): a sleep measured with it checks
    /// the clock that set its deadline.
    pub reference_ns: u64,
}

impl TimerInfo {
    /// The size of the record in bytes.
    pub const SIZE: usize = 32;
}

const _: () = assert!(core::mem::size_of::<TimerInfo>() == TimerInfo::SIZE);
