//! # exocap-manifest: which apps run, and with what authority
//!
//! The system manifest (`exocap.toml` at the top of the repository) names
//! the apps `init` runs, in order, and for each the capabilities it gets:
//! the console, the timer, its own slice of the data disk, and the images
//! of its helper programs. Nothing else: an app holds exactly what its
//! entry grants.
//!
//! The manifest is read on the host when the boot image is built
//! ([`host::parse`], feature `host`: `serde` + `toml`): every mistake
//! (an unknown app or helper, a misspelt grant, overlapping or oversized
//! disk slices) fails the build with a message naming it. The image builder
//! then hands `init` a compact, already-checked form ([`encode`]) as its
//! `manifest=` boot setting, which `init` reads with [`decode`] (no `std`,
//! no allocation beyond the result).
//!
//! Disk slices are laid out by the build, not by hand: apps without a fixed
//! `disk_at` get consecutive slices from sector 0 in manifest order, so a
//! slice stays where it is from boot to boot as long as the entries before
//! it keep their sizes (add new apps at the end, or pin one with
//! `disk_at`).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(feature = "host")]
extern crate std;

#[cfg(feature = "host")]
pub mod host;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write};

/// The longest program name: a name is a capability role in the start
/// page, at most this many bytes (`caps::abi::process::ROLE_LEN`).
pub const NAME_LEN: usize = 24;

/// The most bytes of arguments init can receive
/// (`caps::abi::process::ARGS_LEN`): the boot settings init gets,
/// compact manifest included, must fit.
pub const INIT_ARGS_LEN: usize = 1024;

/// The boot setting that carries the compact manifest to init.
pub const BOOT_KEY: &str = "manifest";

/// One app of the manifest, as init needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct App {
    /// The program's name (its folder in `examples/`, its image in the
    /// ramdisk).
    pub name: String,
    /// Its slice of the data disk, if it gets one.
    pub slice: Option<Slice>,
    /// Whether it gets the console (`console`): output and input (one
    /// reader at a time), plus derive/grant/revoke so it can pass it to
    /// its helpers and take it back.
    pub console: bool,
    /// Whether it gets the timer (`timer`).
    pub timer: bool,
    /// The programs it may start, by name (each given as an image handle
    /// whose role is the name).
    pub helpers: Vec<String>,
}

/// A part of the data disk, in 512-byte sectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slice {
    /// The first sector.
    pub first: u64,
    /// How many sectors; `None`: from `first` to the end of the disk.
    pub count: Option<u64>,
}

impl Slice {
    /// The end (exclusive) on a disk of `disk_sectors`.
    pub fn end(&self, disk_sectors: u64) -> u64 {
        match self.count {
            Some(n) => self.first.saturating_add(n),
            None => disk_sectors.max(self.first),
        }
    }
}

/// Why a compact manifest could not be read (a build that skipped the
/// checks, or a hand-written boot setting).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// The entry (app) it is about, counted from 0.
    pub entry: usize,
    /// What is wrong.
    pub what: &'static str,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "manifest entry {}: {}", self.entry, self.what)
    }
}

/// Whether `name` can name a program: 1 to [`NAME_LEN`] bytes of ASCII
/// letters, digits, `-` and `_` (so it fits a role and cannot clash with
/// the separators of the compact form).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= NAME_LEN
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The compact form: apps separated by `;`, each
/// `name/slice/grants/helpers` where `slice` is `-` or `first+count`
/// (`count` `*` = to the end of the disk), `grants` is `-` or letters
/// (`c` console, `t` timer) and `helpers` is `-` or names joined by `+`.
/// It has no spaces, so it is one boot-setting word.
pub fn encode(apps: &[App]) -> String {
    let mut out = String::new();
    for (i, app) in apps.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(&app.name);
        out.push('/');
        match app.slice {
            None => out.push('-'),
            Some(Slice { first, count: Some(n) }) => {
                let _ = write!(out, "{first}+{n}");
            }
            Some(Slice { first, count: None }) => {
                let _ = write!(out, "{first}+*");
            }
        }
        out.push('/');
        if !app.console && !app.timer {
            out.push('-');
        }
        if app.console {
            out.push('c');
        }
        if app.timer {
            out.push('t');
        }
        out.push('/');
        if app.helpers.is_empty() {
            out.push('-');
        }
        for (j, h) in app.helpers.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            out.push_str(h);
        }
    }
    out
}

/// Reads the compact form written by [`encode`]. An empty text is an
/// empty manifest.
pub fn decode(text: &str) -> Result<Vec<App>, DecodeError> {
    let mut apps = Vec::new();
    if text.is_empty() {
        return Ok(apps);
    }
    for (entry, item) in text.split(';').enumerate() {
        let err = |what| DecodeError { entry, what };
        let mut fields = item.split('/');
        let (Some(name), Some(slice), Some(grants), Some(helpers), None) =
            (fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(err("not four fields name/slice/grants/helpers"));
        };
        if !valid_name(name) {
            return Err(err("bad program name"));
        }
        let slice = match slice {
            "-" => None,
            s => {
                let (first, count) = s.split_once('+').ok_or(err("slice is not first+count"))?;
                let first = first.parse().map_err(|_| err("bad first sector"))?;
                let count = match count {
                    "*" => None,
                    n => Some(n.parse().map_err(|_| err("bad sector count"))?),
                };
                if count == Some(0) {
                    return Err(err("empty slice"));
                }
                Some(Slice { first, count })
            }
        };
        let (mut console, mut timer) = (false, false);
        if grants != "-" {
            for g in grants.chars() {
                match g {
                    'c' if !console => console = true,
                    't' if !timer => timer = true,
                    _ => return Err(err("unknown or repeated grant letter")),
                }
            }
        }
        let helpers = match helpers {
            "-" => Vec::new(),
            list => {
                let names: Vec<String> = list.split('+').map(String::from).collect();
                if !names.iter().all(|n| valid_name(n)) {
                    return Err(err("bad helper name"));
                }
                names
            }
        };
        apps.push(App { name: name.into(), slice, console, timer, helpers });
    }
    Ok(apps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn app(name: &str, slice: Option<Slice>, console: bool, timer: bool, helpers: &[&str]) -> App {
        App {
            name: name.into(),
            slice,
            console,
            timer,
            helpers: helpers.iter().map(|&h| String::from(h)).collect(),
        }
    }

    #[test]
    fn round_trip_keeps_every_field() {
        let apps = vec![
            app(
                "delegate",
                Some(Slice { first: 0, count: Some(32768) }),
                true,
                true,
                &["d-r", "d_w"],
            ),
            app("hello", None, false, false, &[]),
            app("fs", Some(Slice { first: 65536, count: None }), true, false, &[]),
            app("t", None, false, true, &["x"]),
        ];
        let text = encode(&apps);
        assert!(!text.contains(char::is_whitespace));
        assert_eq!(decode(&text).unwrap(), apps);
    }

    #[test]
    fn empty_text_is_an_empty_manifest() {
        assert_eq!(decode("").unwrap(), vec![]);
        assert_eq!(encode(&[]), "");
    }

    #[test]
    fn malformed_entries_are_refused_with_their_index() {
        for (text, entry) in [
            ("a/-/-", 0),
            ("a/-/-/-/x", 0),
            ("a/-/-/-;b/1/-/-", 1),
            ("a/-/-/-;b/x+1/-/-", 1),
            ("a/0+0/-/-", 0),
            ("a/0+y/-/-", 0),
            ("a/-/cc/-", 0),
            ("a/-/z/-", 0),
            ("a b/-/-/-", 0),
            ("a/-/-/b+", 0),
            ("/-/-/-", 0),
        ] {
            assert_eq!(decode(text).unwrap_err().entry, entry, "{text}");
        }
        let long = "x".repeat(NAME_LEN + 1);
        assert!(decode(&alloc::format!("{long}/-/-/-")).is_err());
    }

    #[test]
    fn limits_match_the_abi() {
        assert_eq!(NAME_LEN, caps::abi::process::ROLE_LEN);
        assert_eq!(INIT_ARGS_LEN, caps::abi::process::ARGS_LEN);
    }

    #[test]
    fn slice_end_to_the_end_of_the_disk() {
        assert_eq!(Slice { first: 10, count: Some(5) }.end(100), 15);
        assert_eq!(Slice { first: 10, count: None }.end(100), 100);
        assert_eq!(Slice { first: 200, count: None }.end(100), 200);
    }
}
