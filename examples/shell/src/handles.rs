//! The shell's names for handles: small numbers a person can type.
//!
//! A raw handle value is an index with a generation (and means nothing to
//! read), so the shell numbers the handles it knows `#1`, `#2`... in the
//! order it learns of them: first those it started with (by their roles),
//! then each one it derives, starts or sees in the capability graph. A
//! number is never reused: once its capability is revoked or dropped,
//! using it gets the kernel's answer (`revoked`, `bad handle`), said
//! plainly. A handle can also be named by its role (`disk`, `console`,
//! `hello`).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use libos::abi::RawHandle;

/// One known handle.
pub struct Entry {
    /// Its value in our table.
    pub raw: RawHandle,
    /// Where it came from: its role, `derived from #n`, `process hello`...
    pub label: String,
    /// What the shell saw end its capability (`dropped`, `revoked with
    /// #3`), to explain the kernel's `bad handle` when it is used again.
    pub gone: Option<String>,
}

/// Every handle the shell has numbered.
#[derive(Default)]
pub struct Handles {
    entries: Vec<Entry>,
}

impl Handles {
    /// Numbers `raw` (if it is new) with `label`; returns its number.
    pub fn add(&mut self, raw: RawHandle, label: &str) -> usize {
        match self.number_of(raw) {
            Some(n) => n,
            None => {
                self.entries.push(Entry { raw, label: label.to_string(), gone: None });
                self.entries.len()
            }
        }
    }

    /// The number of `raw`, if it has one.
    pub fn number_of(&self, raw: RawHandle) -> Option<usize> {
        self.entries.iter().position(|e| e.raw == raw).map(|i| i + 1)
    }

    /// The entry numbered `n`.
    pub fn get(&self, n: usize) -> Option<&Entry> {
        n.checked_sub(1).and_then(|i| self.entries.get(i))
    }

    /// Notes why handle `n`'s capability is gone.
    pub fn mark_gone(&mut self, n: usize, why: String) {
        if let Some(e) = n.checked_sub(1).and_then(|i| self.entries.get_mut(i)) {
            e.gone = Some(why);
        }
    }

    /// The kernel's error `e` about handle `n`, with what the shell knows
    /// of why its capability is gone.
    pub fn error(&self, n: usize, e: libos::Error) -> String {
        match self.get(n).and_then(|en| en.gone.as_deref()) {
            Some(why) => format!("#{n}: {e} (its capability was {why})"),
            None => format!("#{n}: {e}"),
        }
    }

    /// Every entry with its number.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &Entry)> {
        self.entries.iter().enumerate().map(|(i, e)| (i + 1, e))
    }

    /// What `word` names: `#3` or `3` (a number), or a role (`disk`).
    /// The error says what is wrong, for the user.
    pub fn resolve(&self, word: &str) -> Result<(usize, RawHandle), String> {
        let digits = word.strip_prefix('#').unwrap_or(word);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            let n: usize = digits.parse().map_err(|_| format!("no handle {word} (see caps)"))?;
            return match self.get(n) {
                Some(e) => Ok((n, e.raw)),
                None => Err(format!("no handle #{n} (see caps)")),
            };
        }
        self.iter()
            .find(|(_, e)| e.label == word)
            .map(|(n, e)| (n, e.raw))
            .ok_or_else(|| format!("no handle named '{word}' (see caps)"))
    }
}
