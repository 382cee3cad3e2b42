//! Leaf locks, and the lock-order check of the test kernels.
//!
//! The lock order (`docs/architecture.md`, "Locks"): the kernel lock
//! (`state`), then at most one leaf lock: the heap's, the frame
//! allocator's, the DMA pool's, the console's or the PIT's. A leaf lock is
//! held for a few instructions and nothing is waited for under it, so a
//! CPU that takes two (or the kernel lock under one) breaks the rule that keeps the
//! kernel free of deadlock: another CPU taking them in the other order, or
//! an interrupt handler on this CPU wanting the one already held, spins
//! for ever.
//!
//! Every leaf lock is a [`LeafLock`]. In kernels built with
//! `authority-checks` (the test kernels), each CPU records the leaf locks
//! it holds, and taking a second one, or the kernel lock under one, is a
//! panic that names both (`LOCK ORDER: ...`): the order is checked on
//! every acquisition the whole test suite makes, not only where a
//! deadlock happens to strike (the idea of Linux's lockdep, reduced to
//! the one rule exocap has). Other kernels compile the check out.

use core::ops::{Deref, DerefMut};

/// A spin lock at the bottom of the lock order (see the module doc).
pub struct LeafLock<T> {
    /// Its bit in a CPU's set of held leaf locks.
    bit: u8,
    /// For the lock-order report.
    name: &'static str,
    inner: spin::Mutex<T>,
}

/// Access to a [`LeafLock`]'s data, until dropped.
pub struct LeafGuard<'a, T> {
    bit: u8,
    guard: spin::MutexGuard<'a, T>,
}

impl<T> LeafLock<T> {
    /// A lock around `value`; `bit` (one bit set) must be this lock's
    /// alone.
    pub const fn new(name: &'static str, bit: u8, value: T) -> Self {
        assert!(bit.is_power_of_two());
        LeafLock { bit, name, inner: spin::Mutex::new(value) }
    }

    /// Takes the lock (spinning while another CPU holds it).
    #[inline]
    pub fn lock(&self) -> LeafGuard<'_, T> {
        order::taking_leaf(self.bit, self.name);
        LeafGuard { bit: self.bit, guard: self.inner.lock() }
    }
}

impl<T> Deref for LeafGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for LeafGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

impl<T> Drop for LeafGuard<'_, T> {
    fn drop(&mut self) {
        order::released_leaf(self.bit);
    }
}

/// The leaf locks' bits.
pub mod bits {
    /// The kernel heap (`mem::heap`).
    pub const HEAP: u8 = 1 << 0;
    /// The frame allocator (`mem::frame`).
    pub const FRAMES: u8 = 1 << 1;
    /// The DMA pool (`drivers::dma`).
    pub const DMA: u8 = 1 << 2;
    /// The console (`console`).
    pub const CONSOLE: u8 = 1 << 3;
    /// The PIT's count (`arch::pit`).
    pub const PIT: u8 = 1 << 4;
}

/// `arm()` starts checking, once every CPU's per-CPU area is installed
/// (each CPU's record is found through it; before, only the boot CPU
/// runs kernel code that takes locks). `taking_kernel_lock()` says the
/// kernel lock is about to be taken on this CPU.
pub use order::{arm, taking_kernel_lock};

#[cfg(feature = "authority-checks")]
mod order {
    use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

    use crate::arch::percpu::MAX_CPUS;

    /// Each CPU's held leaf locks, by CPU index (only that CPU writes its
    /// own).
    static HELD: [AtomicU8; MAX_CPUS] = [const { AtomicU8::new(0) }; MAX_CPUS];
    static ARMED: AtomicBool = AtomicBool::new(false);

    pub fn arm() {
        ARMED.store(true, Ordering::Release);
    }

    /// This CPU's record, once armed.
    fn held() -> Option<&'static AtomicU8> {
        if !ARMED.load(Ordering::Acquire) {
            return None;
        }
        HELD.get(crate::arch::percpu::index() as usize)
    }

    pub fn taking_leaf(bit: u8, name: &'static str) {
        let Some(held) = held() else { return };
        let already = held.load(Ordering::Relaxed);
        if already != 0 {
            // Off first: the report must not trip the check again.
            ARMED.store(false, Ordering::Relaxed);
            panic!("LOCK ORDER: leaf lock {name} taken while holding leaf locks {already:#06b}");
        }
        held.store(bit, Ordering::Relaxed);
    }

    pub fn released_leaf(bit: u8) {
        if let Some(held) = held() {
            held.fetch_and(!bit, Ordering::Relaxed);
        }
    }

    pub fn taking_kernel_lock() {
        let Some(held) = held() else { return };
        let already = held.load(Ordering::Relaxed);
        if already != 0 {
            ARMED.store(false, Ordering::Relaxed);
            panic!("LOCK ORDER: the kernel lock taken while holding leaf locks {already:#06b}");
        }
    }
}

#[cfg(not(feature = "authority-checks"))]
mod order {
    #[inline(always)]
    pub fn arm() {}
    #[inline(always)]
    pub fn taking_leaf(_bit: u8, _name: &'static str) {}
    #[inline(always)]
    pub fn released_leaf(_bit: u8) {}
    #[inline(always)]
    pub fn taking_kernel_lock() {}
}
