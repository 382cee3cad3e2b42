//! Boot settings: `key=value` words in the ramdisk's `cmdline` file.
//!
//! | key | values | meaning |
//! |---|---|---|
//! | `log` | `off` `error` `warn` `info` `debug` `trace` | console log level (default `info`) |
//! | `selftest` | a name from the kernel's `selftest.rs` | test builds only: run a kernel self test |
//! | `init` | a program in the ramdisk | the first process (default `init`) |
//! | `ramdisk` | 0 to [`MAX_RAM_DISK_MIB`] MiB | also make a RAM disk of that size (default 0: none) |
//! | `procs` | 1 to the kernel's `MAX_PROCESSES` | most processes alive at once (default and ceiling `MAX_PROCESSES`; a lower limit lets tests reach it) |
//! | `diskirq` | `on` `off` | whether disks complete by interrupt (default `on`; `off` leaves completions to the idle loop and the timer tick, for tests of that path) |
//! | `bootdisk` | 8 hex digits | the MBR disk signature (bytes 440..444, little-endian) of the disk the system booted from, written there by the imager: the kernel lists that disk last and read-only (as Linux's `root=PARTUUID=` names a disk by its signature) |
//! | `irqcpu` | 0 to [`MAX_IRQ_CPU`] | the CPU (by index: 0 is the boot CPU, then the others in the order they came up) disk interrupts go to (default 0; a CPU that is not online: the boot CPU, with a warning); NVMe's go to the CPU each queue pair belongs to |
//! | `iopoll` | 0 to [`MAX_IO_POLL_US`] µs | how long the idle loop polls busy devices before it halts until their interrupt (default [`DEFAULT_IO_POLL_US`]; 0: halt at once) |
//! | `haltpoll` | 0 to [`MAX_HALT_POLL_US`] µs | how long an idle CPU with nothing to run watches for work before it halts (default [`DEFAULT_HALT_POLL_US`]; 0: halt at once) |
//!
//! Every other word is passed on to init as its arguments (for example
//! `example=hello`). A bad value is reported and otherwise ignored: a typo
//! in the settings must not stop a boot.

use alloc::string::String;
use log::LevelFilter;

/// The largest RAM disk, in MiB (1 GiB). Its list of frames (8 bytes per
/// 4 KiB page) must fit the kernel heap (16 MiB): a 1 GiB disk takes
/// 2 MiB of it; a typo of a few more digits would exhaust it and stop the
/// boot.
pub const MAX_RAM_DISK_MIB: u64 = 1024;

/// The idle loop's default polling window, in µs (see `iowait` in the
/// kernel): none. Measured in one sitting, bench-disk alone, three runs
/// each: halting at once gave 4 KiB reads of 113-120 µs (p50) and 4 KiB
/// write + flush of 200-217 µs, polling 200 µs first 135-150 and 244-292:
/// under emulation the spinning CPU thread takes the host cores the
/// emulated disk's threads need. Polling stays available for hosts where
/// it pays.
pub const DEFAULT_IO_POLL_US: u64 = 0;
/// The longest polling window, in µs (a tick is 1000).
pub const MAX_IO_POLL_US: u64 = 100_000;
/// How long an idle CPU watches for work before it halts, in µs, by
/// default (`haltpoll=`; Linux's guest "haltpoll" idle driver does the
/// same): waking a halted virtual CPU costs an IPI and the time the
/// host takes to resume its thread (under TCG here an IPC round trip
/// between two CPUs took 82–91 µs without polling, 11–15 µs with it),
/// while one that polls sees the work at once and needs no IPI.
pub const DEFAULT_HALT_POLL_US: u64 = 50;
/// The longest halt-polling window, in µs (a tick is 1000).
pub const MAX_HALT_POLL_US: u64 = 10_000;
/// The highest CPU index `irqcpu=` takes (the kernel runs on 16 CPUs at
/// most).
pub const MAX_IRQ_CPU: u32 = 15;

/// Keys the kernel itself uses (not passed to init).
const KERNEL_KEYS: [&str; 10] = [
    "log", "selftest", "init", "ramdisk", "procs", "iopoll", "haltpoll", "diskirq", "bootdisk",
    "irqcpu",
];

/// The parsed boot settings; strings borrow from the settings text.
#[derive(Debug, PartialEq, Eq)]
pub struct BootConfig<'a> {
    /// Console log level.
    pub log_level: LevelFilter,
    /// Which kernel self test to run (test builds only).
    pub selftest: Option<&'a str>,
    /// The first process's program.
    pub init: &'a str,
    /// Size of the RAM disk to make, in MiB (0: none).
    pub ram_disk_mib: u64,
    /// Most processes alive at once.
    pub max_procs: usize,
    /// How long the idle loop polls the devices while requests are in
    /// flight before it halts until an interrupt, in microseconds
    /// (`iopoll=`; 0: never poll, sleep at once).
    pub io_poll_us: u64,
    /// How long an idle CPU watches for work before it halts, in
    /// microseconds (`haltpoll=`; 0: halt at once).
    pub halt_poll_us: u64,
    /// Whether disks complete by interrupt (`diskirq=`).
    pub disk_irq: bool,
    /// The index of the CPU disk interrupts go to (`irqcpu=`).
    pub irq_cpu: u32,
    /// The boot disk's MBR disk signature (`bootdisk=`), if named.
    pub boot_disk: Option<u32>,
    /// The whole settings text.
    text: &'a str,
    /// The first problem found in the settings, reported once logging is up.
    pub error: Option<&'static str>,
}

impl<'a> BootConfig<'a> {
    /// The defaults, with at most `max_procs` processes (the kernel's
    /// ceiling).
    pub fn defaults(max_procs: usize) -> Self {
        Self {
            log_level: LevelFilter::Info,
            selftest: None,
            init: "init",
            ram_disk_mib: 0,
            max_procs,
            io_poll_us: DEFAULT_IO_POLL_US,
            halt_poll_us: DEFAULT_HALT_POLL_US,
            disk_irq: true,
            irq_cpu: 0,
            boot_disk: None,
            text: "",
            error: None,
        }
    }

    /// Reads the settings file's bytes (`None`: no file, the defaults).
    /// Bytes that are not UTF-8 give the defaults and an error.
    pub fn from_file(file: Option<&'a [u8]>, max_procs: usize) -> Self {
        match file.map(core::str::from_utf8) {
            Some(Ok(text)) => Self::parse(text, max_procs),
            Some(Err(_)) => {
                Self { error: Some("cmdline is not UTF-8"), ..Self::defaults(max_procs) }
            }
            None => Self::defaults(max_procs),
        }
    }

    /// Parses whitespace-separated `key=value` words; `procs` may be at
    /// most `max_procs`, the default.
    pub fn parse(text: &'a str, max_procs: usize) -> Self {
        let mut cfg = Self { text, ..Self::defaults(max_procs) };
        for word in text.split_whitespace() {
            let (key, value) = word.split_once('=').unwrap_or((word, ""));
            let bad = match key {
                "log" => value
                    .parse()
                    .map(|level| cfg.log_level = level)
                    .err()
                    .map(|_| "bad log level ignored"),
                "selftest" => {
                    cfg.selftest = Some(value);
                    None
                }
                "init" => {
                    cfg.init = value;
                    None
                }
                "ramdisk" => match value.parse() {
                    Ok(mib) if mib <= MAX_RAM_DISK_MIB => {
                        cfg.ram_disk_mib = mib;
                        None
                    }
                    _ => Some("bad ramdisk size ignored"),
                },
                "diskirq" => match value {
                    "on" | "off" => {
                        cfg.disk_irq = value == "on";
                        None
                    }
                    _ => Some("bad diskirq ignored"),
                },
                "bootdisk" => match u32::from_str_radix(value, 16) {
                    Ok(signature) if value.len() == 8 && signature != 0 => {
                        cfg.boot_disk = Some(signature);
                        None
                    }
                    _ => Some("bad bootdisk signature ignored"),
                },
                "irqcpu" => match value.parse() {
                    Ok(cpu) if cpu <= MAX_IRQ_CPU => {
                        cfg.irq_cpu = cpu;
                        None
                    }
                    _ => Some("bad irqcpu ignored"),
                },
                "iopoll" => match value.parse() {
                    Ok(us) if us <= MAX_IO_POLL_US => {
                        cfg.io_poll_us = us;
                        None
                    }
                    _ => Some("bad iopoll ignored"),
                },
                "haltpoll" => match value.parse() {
                    Ok(us) if us <= MAX_HALT_POLL_US => {
                        cfg.halt_poll_us = us;
                        None
                    }
                    _ => Some("bad haltpoll ignored"),
                },
                "procs" => match value.parse() {
                    Ok(n) if (1..=max_procs).contains(&n) => {
                        cfg.max_procs = n;
                        None
                    }
                    _ => Some("bad process limit ignored"),
                },
                _ => None, // passed on to init (see `init_args`)
            };
            if let Some(bad) = bad {
                cfg.error.get_or_insert(bad);
            }
        }
        cfg
    }

    /// The words the kernel does not use, space-separated, for init.
    pub fn init_args(&self) -> String {
        let mut args = String::new();
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

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    const MAX: usize = 64;

    #[test]
    fn disk_interrupts_on_or_off() {
        assert!(BootConfig::parse("", MAX).disk_irq);
        let c = BootConfig::parse("diskirq=off x=1", MAX);
        assert_eq!((c.disk_irq, c.error, c.init_args().as_str()), (false, None, "x=1"));
        assert!(BootConfig::parse("diskirq=on", MAX).disk_irq);
        assert_eq!(BootConfig::parse("", MAX).irq_cpu, 0);
        let c = BootConfig::parse("irqcpu=3 example=x", MAX);
        assert_eq!((c.irq_cpu, c.error, c.init_args().as_str()), (3, None, "example=x"));
        let most = format!("irqcpu={MAX_IRQ_CPU}");
        assert_eq!(BootConfig::parse(&most, MAX).irq_cpu, MAX_IRQ_CPU);
        for bad in ["irqcpu=16", "irqcpu=-1", "irqcpu=one", "irqcpu="] {
            let c = BootConfig::parse(bad, MAX);
            assert_eq!((c.irq_cpu, c.error), (0, Some("bad irqcpu ignored")), "{bad}");
        }
        let c = BootConfig::parse("diskirq=no", MAX);
        assert_eq!((c.disk_irq, c.error), (true, Some("bad diskirq ignored")));
    }

    #[test]
    fn boot_disk_signature() {
        assert_eq!(BootConfig::parse("", MAX).boot_disk, None);
        let c = BootConfig::parse("bootdisk=0a1B2c3d example=x", MAX);
        assert_eq!(
            (c.boot_disk, c.error, c.init_args().as_str()),
            (Some(0x0a1b_2c3d), None, "example=x")
        );
        // Zero is what an unsigned disk (every fresh data disk) carries.
        for bad in ["bootdisk=00000000", "bootdisk=1234", "bootdisk=0x123456", "bootdisk=zzzzzzzz"]
        {
            let c = BootConfig::parse(bad, MAX);
            assert_eq!(
                (c.boot_disk, c.error),
                (None, Some("bad bootdisk signature ignored")),
                "{bad}"
            );
        }
    }

    #[test]
    fn polling_windows() {
        type Field = fn(&BootConfig) -> u64;
        let windows: [(&str, Field, u64, u64, &str); 2] = [
            ("iopoll", |c| c.io_poll_us, DEFAULT_IO_POLL_US, MAX_IO_POLL_US, "bad iopoll ignored"),
            (
                "haltpoll",
                |c| c.halt_poll_us,
                DEFAULT_HALT_POLL_US,
                MAX_HALT_POLL_US,
                "bad haltpoll ignored",
            ),
        ];
        for (key, field, default, max, refused) in windows {
            assert_eq!(field(&BootConfig::parse("", MAX)), default, "{key}");
            let text = format!("{key}=50 example=x");
            let c = BootConfig::parse(&text, MAX);
            assert_eq!((field(&c), c.error, c.init_args().as_str()), (50, None, "example=x"));
            assert_eq!(field(&BootConfig::parse(&format!("{key}={max}"), MAX)), max, "{key}");
            for bad in ["-1", "1ms", "on", &format!("{}", max + 1)] {
                let text = format!("{key}={bad}");
                let c = BootConfig::parse(&text, MAX);
                assert_eq!((field(&c), c.error), (default, Some(refused)), "{key}={bad}");
            }
        }
    }

    #[test]
    fn every_setting_is_read() {
        let c = BootConfig::parse("log=debug selftest=pf init=shell ramdisk=8 procs=3", MAX);
        assert_eq!(c.log_level, LevelFilter::Debug);
        assert_eq!(c.selftest, Some("pf"));
        assert_eq!(c.init, "shell");
        assert_eq!(c.ram_disk_mib, 8);
        assert_eq!(c.max_procs, 3);
        assert_eq!(c.error, None);
        assert_eq!(c.init_args(), "");
    }

    #[test]
    fn nothing_gives_the_defaults() {
        assert_eq!(BootConfig::from_file(None, MAX), BootConfig::defaults(MAX));
        let c = BootConfig::parse("  \n ", MAX);
        assert_eq!(
            (c.log_level, c.init, c.ram_disk_mib, c.max_procs),
            (LevelFilter::Info, "init", 0, MAX)
        );
    }

    #[test]
    fn process_limits_out_of_range_are_ignored() {
        for bad in ["procs=0", "procs=65", "procs=-1", "procs=", "procs=x", "procs"] {
            let c = BootConfig::parse(bad, MAX);
            assert_eq!(c.max_procs, MAX, "{bad}");
            assert_eq!(c.error, Some("bad process limit ignored"), "{bad}");
        }
        assert_eq!(BootConfig::parse("procs=1", MAX).max_procs, 1);
        assert_eq!(BootConfig::parse("procs=64", MAX).max_procs, 64);
    }

    #[test]
    fn ram_disk_sizes_out_of_range_are_ignored() {
        let over = format!("ramdisk={}", MAX_RAM_DISK_MIB + 1);
        for bad in [over.as_str(), "ramdisk=18446744073709551616", "ramdisk=-1", "ramdisk=1M"] {
            let c = BootConfig::parse(bad, MAX);
            assert_eq!(c.ram_disk_mib, 0, "{bad}");
            assert_eq!(c.error, Some("bad ramdisk size ignored"), "{bad}");
        }
        let most = format!("ramdisk={MAX_RAM_DISK_MIB}");
        assert_eq!(BootConfig::parse(&most, MAX).ram_disk_mib, MAX_RAM_DISK_MIB);
    }

    #[test]
    fn the_first_error_is_kept_and_later_words_still_count() {
        let c = BootConfig::parse("log=loud procs=0 init=x", MAX);
        assert_eq!(c.error, Some("bad log level ignored"));
        assert_eq!(c.init, "x");
        assert_eq!(c.log_level, LevelFilter::Info);
    }

    #[test]
    fn other_words_go_to_init_in_order() {
        let c = BootConfig::parse("example=hello log=warn  fast logx=1 procs=2 init", MAX);
        assert_eq!(c.init_args(), "example=hello fast logx=1");
    }

    #[test]
    fn bytes_that_are_not_utf8_give_defaults_and_an_error() {
        let c = BootConfig::from_file(Some(b"log=debug \xff"), MAX);
        assert_eq!(c.log_level, LevelFilter::Info);
        assert_eq!(c.error, Some("cmdline is not UTF-8"));
    }

    proptest! {
        /// Any `procs=` and `ramdisk=` value: taken exactly when in range,
        /// otherwise the default and an error; never a panic.
        #[test]
        fn numbers_are_taken_exactly_in_range(procs in any::<i128>(), mib in any::<i128>()) {
            let text = format!("procs={procs} ramdisk={mib}");
            let c = BootConfig::parse(&text, MAX);
            let procs_ok = (1..=MAX as i128).contains(&procs);
            let mib_ok = (0..=i128::from(MAX_RAM_DISK_MIB)).contains(&mib);
            prop_assert_eq!(c.max_procs as i128, if procs_ok { procs } else { MAX as i128 });
            prop_assert_eq!(i128::from(c.ram_disk_mib), if mib_ok { mib } else { 0 });
            prop_assert_eq!(c.error.is_none(), procs_ok && mib_ok);
        }

        /// Arbitrary text never panics, and the words passed to init are
        /// exactly the words whose key the kernel does not use.
        #[test]
        fn any_text_parses(text in "[a-z=0-9 \t\n]{0,60}") {
            let c = BootConfig::parse(&text, MAX);
            prop_assert!(c.max_procs >= 1 && c.max_procs <= MAX);
            prop_assert!(c.ram_disk_mib <= MAX_RAM_DISK_MIB);
            let expect: Vec<&str> = text
                .split_whitespace()
                .filter(|w| !KERNEL_KEYS.contains(&w.split('=').next().unwrap_or(w)))
                .collect();
            prop_assert_eq!(c.init_args(), expect.join(" "));
        }
    }
}
