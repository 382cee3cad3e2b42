//! The clock (the TSC, calibrated at boot) and the timer tick.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::{apic, cpu};

/// Timer interrupts per second: the resolution of `sleep` and of
/// preemption.
pub const TICK_HZ: u64 = 1000;

static TSC_HZ: AtomicU64 = AtomicU64::new(1);
/// Timer interrupts taken since boot.
static TICKS: AtomicU64 = AtomicU64::new(0);
/// Ticks between two samples of the reference clock (< 54 ms of PIT).
const REFERENCE_EVERY: u64 = 16;
static BOOT_TSC: AtomicU64 = AtomicU64::new(0);

/// Calibrates the clock and starts the timer (interrupts stay off).
pub fn init() {
    BOOT_TSC.store(cpu::rdtsc(), Ordering::Relaxed);
    let cal = apic::init(TICK_HZ);
    crate::arch::pit::start();
    TSC_HZ.store(cal.tsc_hz.max(1), Ordering::Relaxed);
    log::info!(
        "timer: TSC {} MHz, local APIC timer {} kHz, tick {} Hz",
        cal.tsc_hz / 1_000_000,
        cal.apic_hz / 1000,
        TICK_HZ
    );
}

/// Nanoseconds since boot.
pub fn now_ns() -> u64 {
    // Saturating: an AP's TSC a little behind the boot CPU's must read as
    // boot time, not as a time near the end of the counter.
    let ticks = cpu::rdtsc().saturating_sub(BOOT_TSC.load(Ordering::Relaxed));
    (ticks as u128 * 1_000_000_000 / TSC_HZ.load(Ordering::Relaxed) as u128) as u64
}

/// Polls `done` until it holds or `timeout_ns` have passed; returns whether
/// it held (asked once more at the deadline). For the short, bounded waits
/// of device and CPU bring-up, with interrupts off; `done` may take what
/// it found out of the loop through its captures.
pub fn spin_until(timeout_ns: u64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = now_ns().saturating_add(timeout_ns);
    loop {
        if done() {
            return true;
        }
        if now_ns() > deadline {
            return done();
        }
        core::hint::spin_loop();
    }
}

/// TSC ticks per second.
pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// Timer interrupts taken since boot.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// The timer interrupt.
pub fn tick(from_user: bool) {
    // Every CPU's timer ticks; the boot CPU's counts time.
    if crate::arch::percpu::index() == 0
        && TICKS.fetch_add(1, Ordering::Relaxed).is_multiple_of(REFERENCE_EVERY)
    {
        crate::arch::pit::sample();
    }
    crate::proc::switch::tick(now_ns(), from_user);
}
