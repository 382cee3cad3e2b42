//! The kernel lock's protocol: a reader-writer spin lock whose readers
//! each raise a flag of their own, on its own cache line (a "big reader"
//! lock, as Linux's brlock of the 2.4 kernels), so that readers on
//! different CPUs share no line and do not slow each other down.
//!
//! - A reader raises its flag, then looks at the writer's word; a writer
//!   sets the word, then looks at every reader flag, each side with a
//!   sequentially consistent fence between its store and its load
//!   (Dekker's order; C++ [atomics.fences]): at least one of the two sees
//!   the other, so a reader never runs beside a writer. (A first version
//!   used sequentially consistent operations without fences, which the
//!   language's model also allows; `loom` models such operations more
//!   weakly and flagged an overlap, so the fences make the argument the
//!   one every model checks.) A
//!   reader that finds the word taken lowers its flag and waits, so
//!   readers cannot starve a writer.
//! - The word also says whether the guarded data exists yet ([`UNINIT`]),
//!   and which index holds it for writing, so that a re-entry (the holder
//!   taking it again: a deadlock otherwise) is reported, not spun on.
//!
//! This is only the protocol: who may touch the data when. The kernel
//! (`kernel/src/state.rs`) keeps the data and hands out the guards. It is
//! model-checked with `loom` (`make host-test` runs
//! `RUSTFLAGS="--cfg loom" cargo test -p kerncore --release brlock`):
//! every interleaving and memory order of a reader beside a writer and of
//! two writers. (Three threads exceed `loom`'s branch limit in the spins
//! even bounded to two preemptions; the host test
//! `threads_never_overlap_a_writer` runs four real threads instead.)
//!
//! Errors are the caller's bugs (a re-entry, a use before `init_done`):
//! they are returned, never panicked on, and change nothing.

#[cfg(not(loom))]
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering, fence};
#[cfg(loom)]
use loom::sync::atomic::{AtomicBool, AtomicU32, Ordering, fence};

/// A writer holds the lock.
pub const WRITER: u32 = 1 << 31;
/// The data does not exist yet ([`BrLock::init_done`] has not run).
pub const UNINIT: u32 = 1 << 29;
/// No index (in `owner`).
const NOBODY: u32 = u32::MAX;

/// A mistake the caller made, found instead of a deadlock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockError {
    /// Used before [`BrLock::init_done`].
    Uninit,
    /// The index taking it for writing already holds it for writing.
    Reentered,
    /// The index taking it for reading holds it for writing.
    ReadWhileWriting,
    /// The index taking it for writing holds it for reading.
    WriteWhileReading,
    /// The index taking it for reading already reads it.
    NestedRead,
    /// An index past the lock's readers.
    BadIndex,
}

/// One reader's flag, alone on its cache line.
#[repr(align(64))]
struct Flag(AtomicBool);

/// The lock, for `N` readers (CPUs) indexed `0..N`.
pub struct BrLock<const N: usize> {
    /// [`WRITER`] and [`UNINIT`]: 0 when free.
    word: AtomicU32,
    /// The index holding it for writing (meaningful while [`WRITER`] is
    /// set): only to tell a re-entry from contention.
    owner: AtomicU32,
    readers: [Flag; N],
}

impl<const N: usize> BrLock<N> {
    /// A lock whose data does not exist yet: every use is
    /// [`LockError::Uninit`] until [`BrLock::begin_init`] and
    /// [`BrLock::init_done`].
    #[cfg(not(loom))]
    pub const fn new_uninit() -> Self {
        BrLock {
            word: AtomicU32::new(UNINIT),
            owner: AtomicU32::new(NOBODY),
            readers: [const { Flag(AtomicBool::new(false)) }; N],
        }
    }

    /// A lock whose data does not exist yet (`loom`'s atomics are not
    /// `const`).
    #[cfg(loom)]
    pub fn new_uninit() -> Self {
        BrLock {
            word: AtomicU32::new(UNINIT),
            owner: AtomicU32::new(NOBODY),
            readers: core::array::from_fn(|_| Flag(AtomicBool::new(false))),
        }
    }

    /// Takes the lock to create the data (once); `false` if it was not
    /// uninitialised. The caller then writes the data and calls
    /// [`BrLock::init_done`].
    pub fn begin_init(&self) -> bool {
        self.word.compare_exchange(UNINIT, WRITER, Ordering::SeqCst, Ordering::Relaxed).is_ok()
    }

    /// The data exists: releases the lock [`BrLock::begin_init`] took.
    pub fn init_done(&self) {
        self.word.store(0, Ordering::Release);
    }

    /// Takes the lock for writing as index `me`, spinning (calling `relax`
    /// between tries) while another index holds it or any other index
    /// reads; `cpus` bounds the indices that may read (those installed).
    #[inline]
    pub fn write(&self, me: u32, cpus: usize, relax: impl FnMut()) -> Result<(), LockError> {
        if self.word.compare_exchange(0, WRITER, Ordering::Acquire, Ordering::Relaxed).is_err() {
            self.write_contended(me, relax)?;
        }
        self.owner.store(me, Ordering::Relaxed);
        if cpus > 1 {
            return self.wait_for_readers(me, cpus);
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn write_contended(&self, me: u32, mut relax: impl FnMut()) -> Result<(), LockError> {
        loop {
            let word = self.word.load(Ordering::Relaxed);
            if word & UNINIT != 0 {
                return Err(LockError::Uninit);
            }
            if word & WRITER != 0 && self.owner.load(Ordering::Relaxed) == me {
                return Err(LockError::Reentered);
            }
            if word == 0
                && self
                    .word
                    .compare_exchange(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return Ok(());
            }
            relax();
            spin_hint();
        }
    }

    /// Waits until no index but `me` reads; if `me` reads, gives the lock
    /// back and says so.
    #[inline(never)]
    fn wait_for_readers(&self, me: u32, cpus: usize) -> Result<(), LockError> {
        // Between the word taken and the flags read (see the module docs).
        fence(Ordering::SeqCst);
        for (i, flag) in self.readers.iter().enumerate().take(cpus) {
            if i == me as usize {
                if flag.0.load(Ordering::Relaxed) {
                    self.write_unlock();
                    return Err(LockError::WriteWhileReading);
                }
                continue;
            }
            while flag.0.load(Ordering::Acquire) {
                spin_hint();
            }
        }
        Ok(())
    }

    /// Whether index `me` reads now (for a check on one CPU, where
    /// [`BrLock::write`] does not look at the flags).
    pub fn reading(&self, me: u32) -> bool {
        self.readers.get(me as usize).is_some_and(|f| f.0.load(Ordering::Relaxed))
    }

    /// Gives back the lock taken for writing.
    #[inline]
    pub fn write_unlock(&self) {
        self.owner.store(NOBODY, Ordering::Relaxed);
        self.word.store(0, Ordering::Release);
    }

    /// Takes the lock for reading as index `me`, spinning (calling `relax`
    /// between tries) while a writer holds it.
    #[inline]
    pub fn read(&self, me: u32, relax: impl FnMut()) -> Result<(), LockError> {
        let flag = &self.readers.get(me as usize).ok_or(LockError::BadIndex)?.0;
        if flag.swap(true, Ordering::Relaxed) {
            return Err(LockError::NestedRead);
        }
        // Between the flag raised and the word read (see the module docs).
        fence(Ordering::SeqCst);
        if self.word.load(Ordering::Acquire) != 0 {
            return self.read_contended(flag, me, relax);
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn read_contended(
        &self,
        flag: &AtomicBool,
        me: u32,
        mut relax: impl FnMut(),
    ) -> Result<(), LockError> {
        loop {
            flag.store(false, Ordering::Release);
            loop {
                let word = self.word.load(Ordering::Relaxed);
                if word & UNINIT != 0 {
                    return Err(LockError::Uninit);
                }
                if word & WRITER == 0 {
                    break;
                }
                if self.owner.load(Ordering::Relaxed) == me {
                    return Err(LockError::ReadWhileWriting);
                }
                relax();
                spin_hint();
            }
            flag.store(true, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            if self.word.load(Ordering::Acquire) == 0 {
                return Ok(());
            }
        }
    }

    /// Gives back the lock index `me` took for reading.
    #[inline]
    pub fn read_unlock(&self, me: u32) {
        if let Some(f) = self.readers.get(me as usize) {
            f.0.store(false, Ordering::Release);
        }
    }

    /// Whether some index holds it for writing.
    pub fn is_write_locked(&self) -> bool {
        self.word.load(Ordering::Relaxed) & WRITER != 0
    }
}

/// Lets another thread run (`loom` must be told, or a spin never ends).
#[inline]
fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn ready() -> BrLock<4> {
        let l = BrLock::new_uninit();
        assert!(l.begin_init());
        l.init_done();
        l
    }

    #[test]
    fn uninitialised_is_refused_for_reading_and_writing() {
        let l = BrLock::<2>::new_uninit();
        assert_eq!(l.write(0, 2, || {}), Err(LockError::Uninit));
        assert_eq!(l.read(1, || {}), Err(LockError::Uninit));
        assert!(!l.reading(1), "a refused reader leaves its flag down");
        assert!(l.begin_init());
        assert!(!l.begin_init(), "init runs once");
        l.init_done();
        assert_eq!(l.write(0, 2, || {}), Ok(()));
    }

    #[test]
    fn a_reentry_is_reported_not_spun_on() {
        let l = ready();
        l.write(1, 4, || {}).unwrap();
        assert_eq!(l.write(1, 4, || {}), Err(LockError::Reentered));
        assert_eq!(l.read(1, || {}), Err(LockError::ReadWhileWriting));
        assert!(l.is_write_locked(), "the refused calls changed nothing");
        l.write_unlock();
        l.read(2, || {}).unwrap();
        assert_eq!(l.read(2, || {}), Err(LockError::NestedRead));
        assert_eq!(l.write(2, 4, || {}), Err(LockError::WriteWhileReading));
        assert!(!l.is_write_locked(), "a refused writer gives the word back");
        l.read_unlock(2);
        assert_eq!(l.write(2, 4, || {}), Ok(()));
    }

    #[test]
    fn readers_share_and_a_bad_index_is_refused() {
        let l = ready();
        l.read(0, || {}).unwrap();
        l.read(3, || {}).unwrap();
        assert!(l.reading(0) && l.reading(3));
        assert_eq!(l.read(4, || {}), Err(LockError::BadIndex));
        l.read_unlock(0);
        l.read_unlock(3);
        assert_eq!(l.write(1, 4, || {}), Ok(()));
    }

    #[test]
    fn one_cpu_writes_without_looking_at_the_flags() {
        let l = ready();
        // With one CPU up, its own flag is not looked at by `write` (the
        // kernel checks `reading` itself in its test builds).
        l.read(0, || {}).unwrap();
        l.read_unlock(0);
        assert_eq!(l.write(0, 1, || {}), Ok(()));
        l.write_unlock();
    }

    #[test]
    fn threads_never_overlap_a_writer() {
        use std::sync::Arc;
        use std::sync::atomic::AtomicU64;
        let l = Arc::new(ready());
        let inside = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..4u32)
            .map(|me| {
                let (l, inside) = (Arc::clone(&l), Arc::clone(&inside));
                std::thread::spawn(move || {
                    for i in 0..20_000 {
                        if (i + me) % 3 == 0 {
                            l.write(me, 4, || {}).unwrap();
                            assert_eq!(inside.swap(1 << 32, Ordering::SeqCst), 0);
                            inside.store(0, Ordering::SeqCst);
                            l.write_unlock();
                        } else {
                            l.read(me, || {}).unwrap();
                            let seen = inside.fetch_add(1, Ordering::SeqCst);
                            assert!(seen < 1 << 32, "a reader beside a writer");
                            inside.fetch_sub(1, Ordering::SeqCst);
                            l.read_unlock(me);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! Every interleaving (bounded by `loom`) and every order its memory
    //! model allows. Inside the lock, a writer marks `inside` and readers
    //! count themselves in it: any overlap of a writer with anyone fails
    //! an assertion. `data` is written by writers with relaxed stores:
    //! a reader or writer that comes after one must see its value, which
    //! only the lock's own orderings guarantee.
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicU64;

    const MARK: u64 = 1 << 32;

    struct Guarded {
        lock: BrLock<3>,
        inside: AtomicU64,
        data: AtomicU64,
    }

    fn guarded() -> Arc<Guarded> {
        let g = Guarded {
            lock: BrLock::new_uninit(),
            inside: AtomicU64::new(0),
            data: AtomicU64::new(0),
        };
        assert!(g.lock.begin_init());
        g.lock.init_done();
        Arc::new(g)
    }

    fn write(g: &Guarded, me: u32) {
        g.lock.write(me, 3, || {}).unwrap();
        assert_eq!(g.inside.swap(MARK, Ordering::Relaxed), 0, "a writer beside someone");
        let v = g.data.load(Ordering::Relaxed);
        g.data.store(v + 1, Ordering::Relaxed);
        g.inside.store(0, Ordering::Relaxed);
        g.lock.write_unlock();
    }

    fn read(g: &Guarded, me: u32) -> u64 {
        g.lock.read(me, || {}).unwrap();
        assert!(g.inside.fetch_add(1, Ordering::Relaxed) < MARK, "a reader beside a writer");
        let v = g.data.load(Ordering::Relaxed);
        g.inside.fetch_sub(1, Ordering::Relaxed);
        g.lock.read_unlock(me);
        v
    }

    #[test]
    fn a_reader_and_a_writer() {
        loom::model(|| {
            let g = guarded();
            let w = {
                let g = Arc::clone(&g);
                loom::thread::spawn(move || write(&g, 0))
            };
            assert!(read(&g, 1) <= 1);
            w.join().unwrap();
            assert_eq!(read(&g, 1), 1, "a reader after the writer sees its write");
        });
    }

    #[test]
    fn two_writers() {
        loom::model(|| {
            let g = guarded();
            let w = {
                let g = Arc::clone(&g);
                loom::thread::spawn(move || write(&g, 0))
            };
            write(&g, 1);
            w.join().unwrap();
            assert_eq!(read(&g, 2), 2, "no write was lost");
        });
    }
}
