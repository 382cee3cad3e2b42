//! How long an idle CPU watches for work before it halts.
//!
//! Under virtualisation or emulation, waking a halted CPU costs an IPI
//! and the time the host takes to resume that CPU's thread. Under TCG
//! here an IPC round trip between two CPUs, which wakes a halted CPU
//! twice, took 82–91 µs without polling and 11–15 µs with it (the same
//! round trip on one CPU: 12–13 µs). A CPU that polls for
//! a while first sees the work at once. Polling burns the host's CPU,
//! though, so the window follows how long the CPU's idle spells last: the
//! rule of Linux's guest "haltpoll" governor
//! (`drivers/cpuidle/governors/haltpoll.c`).
//!
//! - A halt that ended within the longest window means polling would have
//!   caught the work: the window grows, to a quarter of the longest at
//!   first, then doubling up to the longest.
//! - A longer halt means polling would have burnt the host's CPU for
//!   nothing: the window halves, and drops to none below an eighth.
//! - Work that came while polling keeps the window.
//!
//! So a CPU serving IPC from another CPU polls, and one waiting for a
//! disk or a timer soon halts at once. Units are the caller's (TSC
//! cycles in the kernel).

/// One CPU's polling window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HaltPoll {
    window: u64,
}

impl HaltPoll {
    /// How long to poll before the next halt (0: halt at once).
    pub fn window(&self) -> u64 {
        self.window
    }

    /// After a halt of `slept`, with the longest window `max`.
    pub fn adapt(&mut self, slept: u64, max: u64) {
        self.window = if slept < max {
            self.window.saturating_mul(2).clamp(max / 4, max)
        } else if self.window / 2 < max / 8 {
            0
        } else {
            self.window / 2
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_halts_grow_the_window_long_ones_shrink_it() {
        let mut h = HaltPoll::default();
        assert_eq!(h.window(), 0);
        h.adapt(10, 800);
        assert_eq!(h.window(), 200, "a quarter of the longest first");
        h.adapt(10, 800);
        assert_eq!(h.window(), 400);
        h.adapt(10, 800);
        h.adapt(10, 800);
        assert_eq!(h.window(), 800, "never past the longest");
        h.adapt(5_000, 800);
        assert_eq!(h.window(), 400);
        h.adapt(5_000, 800);
        assert_eq!(h.window(), 200);
        h.adapt(5_000, 800);
        assert_eq!(h.window(), 100);
        h.adapt(5_000, 800);
        assert_eq!(h.window(), 0, "below an eighth: none");
        h.adapt(800, 800);
        assert_eq!(h.window(), 0, "a halt as long as the longest window is long");
    }

    proptest! {
        #[test]
        fn the_window_stays_within_the_longest(
            max in 0..u64::MAX / 2,
            slept in proptest::collection::vec(any::<u64>(), 0..50),
        ) {
            let mut h = HaltPoll::default();
            for s in slept {
                h.adapt(s, max);
                prop_assert!(h.window() <= max);
            }
        }
    }
}
