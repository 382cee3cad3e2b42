//! The PIT's channel 0 as a reference clock: free-running, read by
//! latching its count, kept apart from the TSC and the local APIC timer
//! (which the clock and the tick come from) so that they can be checked
//! against it (`timer_info`).
//!
//! Channel 0 counts down from 65536 at 1.193182 MHz (a wrap every
//! 54.9 ms) and raises IRQ 0, which no interrupt controller delivers (the
//! 8259s are masked, the IOAPIC is not programmed). The count is sampled
//! every 16 timer ticks and at each read, so a wrap is never missed
//! unless ticks stop for 38 ms more than that — which is what the checks
//! are there to catch.
//!
//! A sample is three port accesses (latch, low byte, high byte) and an
//! update of the running count, and the boot CPU's tick takes one beside
//! `timer_info` on any CPU: so a sample is taken under a leaf lock. (Two
//! CPUs at the ports at once read each other's bytes, and a step of the
//! reference clock came out up to one PIT period, 55 ms, off; test
//! `the_reference_clock_read_on_every_cpu_at_once_agrees_with_the_clock`.)

use x86_64::instructions::port::Port;

use crate::sync::{LeafLock, bits};

/// The PIT's input clock, in Hz.
const PIT_HZ: u64 = 1_193_182;
const CHANNEL0: u16 = 0x40;
const COMMAND: u16 = 0x43;

/// The count read last, and the PIT input clocks counted until then.
struct Counter {
    last: u16,
    counted: u64,
}

static COUNTER: LeafLock<Counter> =
    LeafLock::new("pit", bits::PIT, Counter { last: 0, counted: 0 });

/// Latches and reads channel 0's count. Only under [`COUNTER`]'s lock: the
/// three accesses must not interleave with another CPU's.
fn read_count() -> u16 {
    let mut command = Port::<u8>::new(COMMAND);
    let mut data = Port::<u8>::new(CHANNEL0);
    // SAFETY: the PIT's command and channel-0 ports; channel 0 is ours
    // (the 8259 that would deliver its IRQ is masked); latching (command
    // 0) then reading low and high bytes has no other effect.
    unsafe {
        command.write(0);
        let low = data.read();
        let high = data.read();
        u16::from_le_bytes([low, high])
    }
}

/// Starts channel 0 counting (mode 2, rate generator, full period).
pub fn start() {
    // SAFETY: as in `read_count`; mode 2 with a reload of 0 (65536) only
    // makes the channel count.
    unsafe {
        Port::<u8>::new(COMMAND).write(0b0011_0100); // channel 0, lo/hi, mode 2, binary
        Port::<u8>::new(CHANNEL0).write(0);
        Port::<u8>::new(CHANNEL0).write(0);
    }
    let mut counter = COUNTER.lock();
    counter.last = read_count();
}

/// Takes a sample: adds the counts since the last one. Call at least
/// every 54 ms (the timer tick does, every 16 ms).
pub fn sample() {
    sample_locked(&mut COUNTER.lock());
}

fn sample_locked(counter: &mut Counter) -> u64 {
    let now = read_count();
    // Counting down, wrapping at 65536.
    counter.counted += u64::from(counter.last.wrapping_sub(now));
    counter.last = now;
    counter.counted
}

/// Nanoseconds since `start`, by the PIT.
pub fn now_ns() -> u64 {
    let counted = sample_locked(&mut COUNTER.lock());
    (u128::from(counted) * 1_000_000_000 / u128::from(PIT_HZ)) as u64
}
