//! Boot settings: `key=value` words in the ramdisk's `cmdline` file.
//!
//! | key | values | meaning |
//! |---|---|---|
//! | `log` | `off` `error` `warn` `info` `debug` `trace` | console log level (default `info`) |
//! | `selftest` | a name from `selftest.rs` | test builds only: run a kernel self test |
//! | `init` | a program in the ramdisk | the first process (default `init`) |
//! | `ramdisk` | MiB | also make a RAM disk of that size (default 0: none) |
//! | `procs` | 1 to `MAX_PROCESSES` | most processes alive at once (default and ceiling `MAX_PROCESSES`; a lower limit lets tests reach it) |
//!
//! Every other word is passed on to init as its arguments (for example
//! `example=hello`). A bad value is reported and otherwise ignored: a typo
//! in the settings must not stop a boot.

use crate::ramdisk::Ramdisk;
use log::LevelFilter;

/// The name of the settings file inside the ramdisk.
const CMDLINE_FILE: &str = "cmdline";

/// The parsed boot settings.
pub struct BootConfig {
    /// Console log level.
    pub log_level: LevelFilter,
    /// Which kernel self test to run (test builds only).
    #[cfg_attr(not(feature = "selftest"), allow(dead_code))]
    pub selftest: Option<&'static str>,
    /// The first process's program.
    pub init: &'static str,
    /// Size of the RAM disk to make, in MiB (0: none).
    pub ram_disk_mib: u64,
    /// Most processes alive at once.
    pub max_procs: usize,
    /// The whole settings text.
    text: &'static str,
    /// The first problem found in the settings, reported once logging is up.
    pub error: Option<&'static str>,
}

impl BootConfig {
    /// Reads the settings from the ramdisk; defaults when there are none.
    pub fn from_ramdisk(ramdisk: Option<&Ramdisk>) -> Self {
        let text = ramdisk.and_then(|rd| rd.file(CMDLINE_FILE)).map(core::str::from_utf8);
        match text {
            Some(Ok(text)) => Self::parse(text),
            Some(Err(_)) => Self { error: Some("cmdline is not UTF-8"), ..Self::default() },
            None => Self::default(),
        }
    }

    /// Parses whitespace-separated `key=value` words.
    pub fn parse(text: &'static str) -> Self {
        let mut cfg = Self { text, ..Self::default() };
        for word in text.split_whitespace() {
            let (key, value) = word.split_once('=').unwrap_or((word, ""));
            match key {
                "log" => match value.parse() {
                    Ok(level) => cfg.log_level = level,
                    Err(_) => {
                        cfg.error.get_or_insert("bad log level ignored");
                    }
                },
                "selftest" => cfg.selftest = Some(value),
                "init" => cfg.init = value,
                "ramdisk" => match value.parse() {
                    Ok(mib) => cfg.ram_disk_mib = mib,
                    Err(_) => {
                        cfg.error.get_or_insert("bad ramdisk size ignored");
                    }
                },
                "procs" => match value.parse() {
                    Ok(n) if (1..=crate::state::MAX_PROCESSES).contains(&n) => cfg.max_procs = n,
                    _ => {
                        cfg.error.get_or_insert("bad process limit ignored");
                    }
                },
                _ => {} // passed on to init (see `init_args`)
            }
        }
        cfg
    }
}

/// Keys the kernel itself uses (not passed to init).
const KERNEL_KEYS: [&str; 5] = ["log", "selftest", "init", "ramdisk", "procs"];

impl BootConfig {
    /// The words the kernel does not use, space-separated, for init.
    pub fn init_args(&self) -> alloc::string::String {
        let mut args = alloc::string::String::new();
        let words = self.text.split_whitespace();
        for w in words.filter(|w| !KERNEL_KEYS.contains(&w.split_once('=').map_or(*w, |(k, _)| k)))
        {
            if !args.is_empty() {
                args.push(' ');
            }
            args.push_str(w);
        }
        args
    }
}

impl Default for BootConfig {
    fn default() -> Self {
        Self {
            log_level: LevelFilter::Info,
            selftest: None,
            init: "init",
            ram_disk_mib: 0,
            max_procs: crate::state::MAX_PROCESSES,
            text: "",
            error: None,
        }
    }
}
