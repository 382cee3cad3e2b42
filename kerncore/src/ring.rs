//! An I/O ring's indices, as the kernel keeps them (`caps::abi::ring`).
//!
//! Each queue of a ring has one producer and one consumer, with
//! free-running `u32` indices (an entry's slot is `index & (entries - 1)`,
//! a queue holds `tail - head` entries, wrapping). The program produces
//! submissions (`sq_tail`) and consumes completions (`cq_head`); the
//! kernel consumes submissions (`sq_head`) and produces completions
//! (`cq_tail`). The kernel's own indices live here, never in the shared
//! memory; the program's are untrusted input, checked on every use.
//!
//! The rule that keeps the completion queue from overflowing: a slot is
//! reserved for every request in flight, so the kernel consumes a
//! submission only while `unconsumed completions + in flight < entries`,
//! and every request it starts can post its completion without
//! overwriting one the program has not consumed (as io_uring sizes its
//! completion queue for the requests it accepts).

use caps::abi::Error;

/// What the program's indices say, once checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    /// Submissions queued and not consumed (`sq_tail - sq_head`).
    pub queued: u32,
    /// Completions posted and not consumed (`cq_tail - cq_head`).
    pub unconsumed: u32,
}

/// The kernel's indices of one ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingIndices {
    /// Entries in each queue (a power of two, at least 1).
    entries: u32,
    /// The next submission to consume.
    sq_head: u32,
    /// The next completion slot to fill.
    cq_tail: u32,
    /// Requests started and not yet posted.
    in_flight: u32,
}

impl RingIndices {
    /// A new ring of `entries` (a power of two; anything else is
    /// `InvalidArgument`), both queues empty.
    pub const fn new(entries: u32) -> Result<Self, Error> {
        if !entries.is_power_of_two() {
            return Err(Error::InvalidArgument);
        }
        Ok(RingIndices { entries, sq_head: 0, cq_tail: 0, in_flight: 0 })
    }

    /// Entries in each queue.
    pub const fn entries(&self) -> u32 {
        self.entries
    }

    /// The next submission to consume.
    pub const fn sq_head(&self) -> u32 {
        self.sq_head
    }

    /// The next completion slot to fill.
    pub const fn cq_tail(&self) -> u32 {
        self.cq_tail
    }

    /// Requests started and not yet posted.
    pub const fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// Checks the program's `sq_tail` and `cq_head`: `OutOfRange` when
    /// either queue would hold more than `entries` (garbage the kernel
    /// refuses whole, consuming nothing).
    pub const fn check(&self, sq_tail: u32, cq_head: u32) -> Result<Pending, Error> {
        let queued = sq_tail.wrapping_sub(self.sq_head);
        let unconsumed = self.cq_tail.wrapping_sub(cq_head);
        if queued > self.entries || unconsumed > self.entries {
            return Err(Error::OutOfRange);
        }
        Ok(Pending { queued, unconsumed })
    }

    /// Whether one more submission may be consumed while the program's
    /// `cq_head` is as given: a completion slot is left for it after the
    /// unconsumed completions and the requests in flight. False for a
    /// `cq_head` that [`check`](Self::check) refuses.
    pub const fn has_room(&self, cq_head: u32) -> bool {
        let unconsumed = self.cq_tail.wrapping_sub(cq_head);
        unconsumed <= self.entries && unconsumed + self.in_flight < self.entries
    }

    /// The slot of the next submission to consume.
    pub const fn sq_slot(&self) -> u32 {
        self.sq_head & (self.entries - 1)
    }

    /// The slot of the next completion to fill.
    pub const fn cq_slot(&self) -> u32 {
        self.cq_tail & (self.entries - 1)
    }

    /// The next submission was consumed; `started` if it is now in flight
    /// (else it completes at once: post it with `post(false)`).
    pub fn consume(&mut self, started: bool) {
        self.sq_head = self.sq_head.wrapping_add(1);
        if started {
            self.in_flight += 1;
        }
    }

    /// A completion was written into slot [`cq_slot`](Self::cq_slot);
    /// `was_in_flight` if it ends a request counted in flight.
    pub fn post(&mut self, was_in_flight: bool) {
        self.cq_tail = self.cq_tail.wrapping_add(1);
        if was_in_flight {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
    }

    /// A request in flight will never be posted (a kernel bug kept it
    /// from its buffer: it was made an orphan).
    pub fn orphan_one(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// The ring ended with requests in flight (they are orphans now, and
    /// will never be posted).
    pub fn forget_in_flight(&mut self) {
        self.in_flight = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes_must_be_powers_of_two() {
        assert_eq!(RingIndices::new(0), Err(Error::InvalidArgument));
        assert_eq!(RingIndices::new(3), Err(Error::InvalidArgument));
        assert!(RingIndices::new(1).is_ok());
        assert!(RingIndices::new(256).is_ok());
    }

    #[test]
    fn garbage_indices_are_out_of_range() {
        let r = RingIndices::new(4).unwrap();
        assert_eq!(r.check(4, 0), Ok(Pending { queued: 4, unconsumed: 0 }));
        assert_eq!(r.check(5, 0), Err(Error::OutOfRange));
        assert_eq!(r.check(u32::MAX, 0), Err(Error::OutOfRange));
        assert_eq!(r.check(0, 1), Err(Error::OutOfRange));
        assert!(!r.has_room(1));
    }

    #[test]
    fn indices_wrap() {
        let mut r = RingIndices { entries: 4, sq_head: u32::MAX, cq_tail: u32::MAX, in_flight: 0 };
        assert_eq!(r.check(1, u32::MAX - 1), Ok(Pending { queued: 2, unconsumed: 1 }));
        r.consume(true);
        r.post(true);
        assert_eq!((r.sq_head(), r.cq_tail(), r.in_flight()), (0, 0, 0));
        assert_eq!(r.sq_slot(), 0);
    }

    /// What a program does between two `ring_enter`s.
    #[derive(Clone, Debug)]
    enum Step {
        /// Queue this many submissions (as many as fit).
        Push(u32),
        /// Consume this many completions (as many as there are).
        Reap(u32),
        /// Write garbage indices for one `ring_enter`.
        Garbage(u32, u32),
        /// `ring_enter` consuming at most this many; the device finishes
        /// `done` of the requests in flight first.
        Enter { to_submit: u32, done: u32, bad_every: u32 },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0u32..10).prop_map(Step::Push),
            (0u32..10).prop_map(Step::Reap),
            (any::<u32>(), any::<u32>()).prop_map(|(a, b)| Step::Garbage(a, b)),
            (0u32..12, 0u32..12, 0u32..4).prop_map(|(to_submit, done, bad_every)| Step::Enter {
                to_submit,
                done,
                bad_every
            }),
        ]
    }

    proptest! {
        /// A program that keeps its own indices honest, against the
        /// kernel's rules: garbage is refused and changes nothing; the
        /// kernel never posts a completion over one the program has not
        /// consumed; every consumed submission is posted exactly once; the
        /// kernel never consumes more than was queued.
        #[test]
        fn completions_never_overwrite_and_nothing_is_lost(
            log2 in 0u32..5,
            steps in prop::collection::vec(step(), 0..200),
        ) {
            let entries = 1u32 << log2;
            let mut k = RingIndices::new(entries).unwrap();
            // The program's indices.
            let (mut sq_tail, mut cq_head) = (0u32, 0u32);
            // Model: completion slots holding an unconsumed completion.
            let mut unconsumed = 0u32;
            let (mut consumed_total, mut posted_total) = (0u64, 0u64);
            for s in steps {
                match s {
                    Step::Push(n) => {
                        let queued = sq_tail.wrapping_sub(k.sq_head());
                        sq_tail = sq_tail.wrapping_add(n.min(entries - queued));
                    }
                    Step::Reap(n) => {
                        let n = n.min(unconsumed);
                        cq_head = cq_head.wrapping_add(n);
                        unconsumed -= n;
                    }
                    Step::Garbage(a, b) => {
                        let before = k;
                        match k.check(a, b) {
                            Err(e) => {
                                prop_assert_eq!(e, Error::OutOfRange);
                                prop_assert_eq!(k, before);
                            }
                            Ok(p) => {
                                prop_assert!(p.queued <= entries && p.unconsumed <= entries);
                            }
                        }
                    }
                    Step::Enter { to_submit, done, bad_every } => {
                        let p = k.check(sq_tail, cq_head);
                        prop_assert!(p.is_ok());
                        let p = p.unwrap();
                        prop_assert_eq!(p.unconsumed, unconsumed);
                        // The device finishes some: posted first.
                        for _ in 0..done.min(k.in_flight()) {
                            prop_assert!(unconsumed < entries, "a completion overwrote one");
                            k.post(true);
                            unconsumed += 1;
                            posted_total += 1;
                        }
                        let mut n = 0;
                        while n < to_submit.min(p.queued) && k.has_room(cq_head) {
                            // Every `bad_every`-th entry is bad: it completes
                            // at once.
                            let bad = bad_every != 0 && n % bad_every == 0;
                            k.consume(!bad);
                            consumed_total += 1;
                            if bad {
                                prop_assert!(unconsumed < entries, "a completion overwrote one");
                                k.post(false);
                                unconsumed += 1;
                                posted_total += 1;
                            }
                            n += 1;
                        }
                        prop_assert!(unconsumed + k.in_flight() <= entries);
                    }
                }
            }
            // Everything in flight completes: each has its slot.
            while k.in_flight() > 0 {
                prop_assert!(unconsumed < entries, "a completion overwrote one");
                k.post(true);
                unconsumed += 1;
                posted_total += 1;
            }
            prop_assert_eq!(consumed_total, posted_total);
        }
    }
}
