//! The local APIC: the periodic timer that drives preemption and sleeps.
//!
//! The legacy 8259 PICs are remapped away from the exception vectors and
//! masked; the local APIC (xAPIC, reached through the physical window) is
//! enabled with its spurious vector, and its timer is calibrated against
//! the PIT, as is the TSC the clock is read from.

use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::PhysAddr;
use x86_64::instructions::port::Port;
use x86_64::registers::model_specific::Msr;

use super::cpu::rdtsc;
use super::trap::{SPURIOUS_VECTOR, TIMER_VECTOR};
use crate::mem::phys_to_virt;

const IA32_APIC_BASE: u32 = 0x1b;
const APIC_BASE_MASK: u64 = 0x000f_ffff_ffff_f000;

// Register offsets.
const REG_ID: usize = 0x20;
const REG_TPR: usize = 0x80;
const REG_EOI: usize = 0xb0;
const REG_SVR: usize = 0xf0;
const REG_ICR_LOW: usize = 0x300;
const REG_ICR_HIGH: usize = 0x310;
const REG_LVT_TIMER: usize = 0x320;
const REG_TIMER_INITIAL: usize = 0x380;
const REG_TIMER_CURRENT: usize = 0x390;
const REG_TIMER_DIVIDE: usize = 0x3e0;

const SVR_ENABLE: u32 = 1 << 8;
const LVT_MASKED: u32 = 1 << 16;
const LVT_PERIODIC: u32 = 1 << 17;
const DIVIDE_BY_16: u32 = 0b0011;

// Interrupt command register fields (Intel SDM vol. 3A, 11.6.1).
const ICR_INIT: u32 = 0b101 << 8;
#[cfg(feature = "selftest")]
const ICR_NMI: u32 = 0b100 << 8;
const ICR_STARTUP: u32 = 0b110 << 8;
const ICR_DELIVERY_PENDING: u32 = 1 << 12;
const ICR_LEVEL_ASSERT: u32 = 1 << 14;
const ICR_DEST_SHIFT: u32 = 24;

/// The PIT's input clock.
const PIT_HZ: u64 = 1_193_182;
/// Calibration window: 10 ms of PIT ticks.
const CALIBRATION_PIT_TICKS: u64 = PIT_HZ / 100;
const CALIBRATION_NS: u64 = CALIBRATION_PIT_TICKS * 1_000_000_000 / PIT_HZ;

static APIC_VIRT: AtomicU64 = AtomicU64::new(0);
/// The timer's initial count for one tick (set by `init` on the boot CPU;
/// every CPU's timer runs at the same rate).
static TIMER_INITIAL: AtomicU64 = AtomicU64::new(0);

fn reg(offset: usize) -> *mut u32 {
    (APIC_VIRT.load(Ordering::Relaxed) as usize + offset) as *mut u32
}

fn read(offset: usize) -> u32 {
    // SAFETY: `init` set APIC_VIRT to the local APIC's registers (mapped in
    // the physical window); `offset` is one of the register offsets above.
    unsafe { reg(offset).read_volatile() }
}

fn write(offset: usize, value: u32) {
    // SAFETY: as in `read`.
    unsafe { reg(offset).write_volatile(value) }
}

fn disable_legacy_pics() {
    let ports: [(u16, u8); 10] = [
        (0x20, 0x11), // ICW1: init, ICW4 follows
        (0xa0, 0x11),
        (0x21, 0x20), // ICW2: master vectors 0x20..
        (0xa1, 0x28), // slave vectors 0x28..
        (0x21, 0x04), // ICW3: slave on IRQ2
        (0xa1, 0x02),
        (0x21, 0x01), // ICW4: 8086 mode
        (0xa1, 0x01),
        (0x21, 0xff), // mask every IRQ
        (0xa1, 0xff),
    ];
    for (port, value) in ports {
        // SAFETY: the 8259 command/data ports; this sequence remaps and masks
        // them so they can never raise an exception vector.
        unsafe { Port::<u8>::new(port).write(value) };
    }
}

/// Waits `CALIBRATION_PIT_TICKS` on PIT channel 2 (gate through port 0x61,
/// polled: no interrupt involved), calling `start` and `stop` around it.
fn pit_window(start: impl FnOnce(), stop: impl FnOnce()) {
    let mut gate = Port::<u8>::new(0x61);
    let mut command = Port::<u8>::new(0x43);
    let mut channel2 = Port::<u8>::new(0x42);
    // SAFETY: PIT channel 2 and its gate belong to the PC speaker, which
    // nothing else uses; mode 0 counts down once and raises OUT2.
    unsafe {
        let g = gate.read();
        gate.write((g & !0x02) | 0x01); // gate on, speaker off
        command.write(0b1011_0000); // channel 2, lo/hi byte, mode 0, binary
        channel2.write(CALIBRATION_PIT_TICKS as u8);
        channel2.write((CALIBRATION_PIT_TICKS >> 8) as u8);
        // Reloading the gate restarts the count.
        let g = gate.read();
        gate.write(g & !0x01);
        gate.write(g | 0x01);
        start();
        while gate.read() & 0x20 == 0 {
            core::hint::spin_loop();
        }
        stop();
    }
}

/// What calibration measured.
pub struct Calibration {
    /// TSC ticks per second.
    pub tsc_hz: u64,
    /// Local APIC timer ticks (divide by 16) per second.
    pub apic_hz: u64,
}

/// Sets the interrupt controllers up and starts the timer at `tick_hz`.
/// Interrupts stay disabled until the caller enables them.
pub fn init(tick_hz: u64) -> Calibration {
    disable_legacy_pics();
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU; reading it has no
    // side effects.
    let base = unsafe { Msr::new(IA32_APIC_BASE).read() } & APIC_BASE_MASK;
    APIC_VIRT.store(phys_to_virt(PhysAddr::new(base)).as_u64(), Ordering::Relaxed);

    write(REG_TPR, 0);
    write(REG_SVR, SVR_ENABLE | SPURIOUS_VECTOR as u32);
    write(REG_TIMER_DIVIDE, DIVIDE_BY_16);
    write(REG_LVT_TIMER, LVT_MASKED | TIMER_VECTOR as u32);

    let (mut tsc0, mut tsc1) = (0, 0);
    pit_window(
        || {
            write(REG_TIMER_INITIAL, u32::MAX);
            tsc0 = rdtsc();
        },
        || tsc1 = rdtsc(),
    );
    let apic_ticks = u32::MAX - read(REG_TIMER_CURRENT);
    let cal = Calibration {
        tsc_hz: (tsc1 - tsc0) * 1_000_000_000 / CALIBRATION_NS,
        apic_hz: apic_ticks as u64 * 1_000_000_000 / CALIBRATION_NS,
    };

    TIMER_INITIAL.store((cal.apic_hz / tick_hz).max(1), Ordering::Relaxed);
    start_timer();
    cal
}

/// Starts this CPU's periodic timer at the rate the boot CPU's `init`
/// calibrated (an AP's, when it starts scheduling).
pub fn start_timer() {
    write(REG_LVT_TIMER, LVT_PERIODIC | TIMER_VECTOR as u32);
    write(REG_TIMER_INITIAL, TIMER_INITIAL.load(Ordering::Relaxed) as u32);
}

/// Signals the end of the interrupt being handled.
pub fn end_of_interrupt() {
    write(REG_EOI, 0);
}

/// This CPU's local APIC id (xAPIC: bits 24..32 of the ID register), the
/// destination MSI messages name.
pub fn id() -> u8 {
    (read(REG_ID) >> 24) as u8
}

/// Sets up an application processor's local APIC: enabled with the
/// spurious vector, accepting every priority, its timer masked (parked
/// CPUs take no ticks). The registers are at the same physical address on
/// every CPU, each CPU reaching its own; the boot CPU's `init` mapped them.
pub fn init_ap() {
    write(REG_TPR, 0);
    write(REG_SVR, SVR_ENABLE | SPURIOUS_VECTOR as u32);
    write(REG_TIMER_DIVIDE, DIVIDE_BY_16);
    write(REG_LVT_TIMER, LVT_MASKED | TIMER_VECTOR as u32);
}

/// An inter-processor interrupt the ICR can send.
#[derive(Clone, Copy, Debug)]
pub enum Ipi {
    /// INIT: resets the target into the wait-for-SIPI state.
    Init,
    /// Start-up: the target starts in real mode at `page << 12` (CS =
    /// `page << 8`, IP = 0).
    Startup {
        /// The page number of the start-up code (below 1 MiB).
        page: u8,
    },
    /// A fixed interrupt on `vector` (wake-up and TLB shootdown IPIs).
    Fixed {
        /// The vector the target takes it on.
        vector: u8,
    },
    /// A non-maskable interrupt (the self tests send one to this CPU).
    #[cfg(feature = "selftest")]
    Nmi,
}

/// Sends `ipi` to the CPU whose local APIC id is `apic_id`, and waits (at
/// most `timeout_ns`) until the local APIC has sent it (Intel SDM vol. 3A,
/// 11.6.1: the delivery-status bit). Returns whether it was sent.
pub fn send_ipi(apic_id: u8, ipi: Ipi, timeout_ns: u64) -> bool {
    let low = match ipi {
        Ipi::Init => ICR_INIT | ICR_LEVEL_ASSERT,
        Ipi::Startup { page } => ICR_STARTUP | ICR_LEVEL_ASSERT | page as u32,
        Ipi::Fixed { vector } => ICR_LEVEL_ASSERT | vector as u32,
        #[cfg(feature = "selftest")]
        Ipi::Nmi => ICR_NMI | ICR_LEVEL_ASSERT,
    };
    write(REG_ICR_HIGH, (apic_id as u32) << ICR_DEST_SHIFT);
    // Writing the low half sends the IPI.
    write(REG_ICR_LOW, low);
    crate::time::spin_until(timeout_ns, || read(REG_ICR_LOW) & ICR_DELIVERY_PENDING == 0)
}
