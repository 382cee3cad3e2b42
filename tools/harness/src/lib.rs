//! The host side of exocap's QEMU tests and of `make run`.
//!
//! [`Machine`] describes one boot (image, data disk, firmware, deadline) and
//! holds the one QEMU command line the project uses; [`Machine::run`] boots
//! it with the serial console captured and returns a [`Run`]: the console
//! text and how the run ended. [`Image`] builds a boot image for a test
//! with the `imager` tool: the kernel, the user programs, the boot settings.
//!
//! The paths of the built pieces come from the environment, set by the
//! Makefile: `EXOCAP_IMAGER` (the image builder), `EXOCAP_KERNEL` (the
//! kernel ELF, the self-test build for tests), `EXOCAP_USER_DIR` (the user
//! programs). Run the QEMU tests with `make test`.

pub mod qmp;
pub mod session;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Host exit code of QEMU when the kernel reports success through
/// `isa-debug-exit` (it writes 0x10; QEMU exits `(0x10 << 1) | 1`).
pub const QEMU_EXIT_SUCCESS: i32 = 33;
/// Host exit code of QEMU when the kernel reports a failure (writes 0x11).
pub const QEMU_EXIT_FAILURE: i32 = 35;
/// The firmware image for UEFI boots (Debian's `ovmf` package).
pub const OVMF: &str = "/usr/share/ovmf/OVMF.fd";
/// Default size of a fresh data disk.
pub const DATA_DISK_BYTES: u64 = 256 * 1024 * 1024;

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The kernel powered off reporting success.
    Success,
    /// The kernel powered off reporting a failure (a failed run or a bug).
    Failure,
    /// QEMU stopped on its own with status 0: with `-no-reboot` that is a
    /// triple fault (or a reset), never a success.
    TripleFault,
    /// QEMU exited with some other status (e.g. it could not start).
    Qemu(i32),
    /// QEMU was killed by a signal.
    Killed,
    /// The deadline passed; QEMU was killed.
    Timeout,
    /// The harness killed QEMU as the run's [`StopRule`] asked (a
    /// simulated power cut, not a failure of the run).
    Stopped,
}

impl Exit {
    fn from_status(code: Option<i32>) -> Self {
        match code {
            Some(QEMU_EXIT_SUCCESS) => Exit::Success,
            Some(QEMU_EXIT_FAILURE) => Exit::Failure,
            Some(0) => Exit::TripleFault,
            Some(c) => Exit::Qemu(c),
            None => Exit::Killed,
        }
    }

    /// The exit status `make run` reports for this ending.
    pub fn shell_status(&self) -> i32 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::TripleFault => 2,
            Exit::Qemu(_) | Exit::Killed | Exit::Stopped => 3,
            Exit::Timeout => 124,
        }
    }

    /// A sentence for the user.
    pub fn describe(&self) -> String {
        match self {
            Exit::Success => "the kernel powered off reporting success".into(),
            Exit::Failure => "the kernel powered off reporting a failure".into(),
            Exit::TripleFault => "QEMU stopped without the kernel's exit (triple fault?)".into(),
            Exit::Qemu(c) => format!("QEMU exited with status {c}"),
            Exit::Killed => "QEMU was killed by a signal".into(),
            Exit::Timeout => "the run passed its deadline and QEMU was killed".into(),
            Exit::Stopped => "the harness killed QEMU as the run asked (power cut)".into(),
        }
    }
}

/// The result of one boot.
#[derive(Debug)]
pub struct Run {
    /// Everything the serial console printed.
    pub console: String,
    /// How it ended.
    pub exit: Exit,
    /// Wall time from QEMU's start to its end.
    pub elapsed: Duration,
}

impl Run {
    /// The last `n` lines of the console, for failure messages.
    pub fn tail(&self, n: usize) -> String {
        let lines: Vec<&str> = self.console.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Whether some console line contains `needle`.
    pub fn has_line(&self, needle: &str) -> bool {
        self.console.lines().any(|l| l.contains(needle))
    }

    /// Panics (failing the test) unless the run ended as `exit` and every
    /// needle appears in some console line; the message holds the tail.
    #[track_caller]
    pub fn expect(&self, exit: Exit, needles: &[&str]) -> &Self {
        let missing: Vec<&&str> = needles.iter().filter(|n| !self.has_line(n)).collect();
        if self.exit != exit || !missing.is_empty() {
            panic!(
                "expected {exit:?} with lines {needles:?}\n got {:?}, missing {missing:?}\n--- console tail ---\n{}",
                self.exit,
                self.tail(40)
            );
        }
        self
    }

    /// Panics unless no console line contains `needle`.
    #[track_caller]
    pub fn expect_absent(&self, needle: &str) -> &Self {
        if self.has_line(needle) {
            panic!("unexpected line {needle:?}\n--- console tail ---\n{}", self.tail(40));
        }
        self
    }
}

/// The example apps the boot tests run (`examples=` for init) on every
/// firmware and CPU count: a slice of `make run`'s that needs no more
/// than a data disk.
pub const EXAMPLES: &str = "delegate,fs,hello,ipc";
/// The programs [`EXAMPLES`] needs in the image: the apps and their helpers.
pub const EXAMPLE_PROGRAMS: [&str; 9] = [
    "delegate",
    "delegate-reader",
    "delegate-writer",
    "fs",
    "hello",
    "ipc",
    "ipc-client",
    "ipc-pong",
    "ipc-storage",
];

/// The controller a [`Machine`]'s data disk is attached to. Every test
/// with a data disk runs on the one `EXOCAP_DISK` names (`virtio`, the
/// default, `ahci` or `nvme`), so one suite covers every controller
/// (`make test` runs the disk and file-system suites on each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskController {
    /// `virtio-blk-pci`.
    Virtio,
    /// The q35 machine's built-in AHCI controller (ICH9, 00:1f.2), port 1
    /// (port 0 holds the boot disk).
    Ahci,
    /// An NVMe controller (`-device nvme`), namespace 1.
    Nvme,
}

impl DiskController {
    /// Every controller, in the order the kernel probes them.
    pub const ALL: [DiskController; 3] =
        [DiskController::Virtio, DiskController::Nvme, DiskController::Ahci];

    /// The controller `EXOCAP_DISK` names (virtio-blk when unset).
    ///
    /// # Panics
    /// On a value that names no controller: a typo must not quietly test
    /// virtio-blk instead.
    pub fn from_env() -> Self {
        match std::env::var("EXOCAP_DISK") {
            Err(_) => DiskController::Virtio,
            Ok(v) => DiskController::parse(&v)
                .unwrap_or_else(|| panic!("EXOCAP_DISK={v:?}: expected virtio, ahci or nvme")),
        }
    }

    /// `virtio`, `ahci` or `nvme` (empty: virtio).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "" | "virtio" => Some(DiskController::Virtio),
            "ahci" => Some(DiskController::Ahci),
            "nvme" => Some(DiskController::Nvme),
            _ => None,
        }
    }

    /// How the kernel's boot log names it (`disk 0: <this> ...`).
    pub fn log_name(self) -> &'static str {
        match self {
            DiskController::Virtio => "virtio-blk",
            DiskController::Ahci => "AHCI",
            DiskController::Nvme => "NVMe",
        }
    }

    /// The QEMU `-device` argument that attaches drive `drive` to it.
    pub fn device(self, drive: &str) -> String {
        match self {
            DiskController::Virtio => format!("virtio-blk-pci,drive={drive}"),
            DiskController::Ahci => format!("ide-hd,drive={drive},bus=ide.1"),
            DiskController::Nvme => format!("nvme,serial=exocap-{drive},drive={drive}"),
        }
    }
}

/// The CPU count `EXOCAP_SMP` names (`make SMP=n` sets it), 2 when unset
/// (as `make`'s default).
///
/// # Panics
/// On a value that is not a number from 1 to 255: a typo must not quietly
/// test one CPU.
pub fn cpus_from_env() -> u32 {
    match std::env::var("EXOCAP_SMP") {
        Err(_) => 2,
        Ok(v) if v.is_empty() => 2,
        Ok(v) => v
            .parse()
            .ok()
            .filter(|n| (1..=255).contains(n))
            .unwrap_or_else(|| panic!("EXOCAP_SMP={v:?}: want a CPU count from 1 to 255")),
    }
}

/// One boot of exocap in QEMU.
#[derive(Clone, Debug)]
pub struct Machine {
    /// The boot disk image.
    pub image: PathBuf,
    /// The data disk (raw image), attached to `controller`.
    pub data_disk: Option<PathBuf>,
    /// The controller the data disk hangs on ([`DiskController::from_env`]
    /// by default).
    pub controller: DiskController,
    /// A `blkdebug` rule file for the data disk (QEMU's error injection):
    /// the disk's reads and writes go through it.
    pub blkdebug: Option<PathBuf>,
    /// How many CPUs the machine has (`-smp`); [`cpus_from_env`] by
    /// default.
    pub cpus: u32,
    /// Boot through UEFI (OVMF) instead of BIOS.
    pub uefi: bool,
    /// Boot this Linux kernel and initramfs instead of `image` (the
    /// yardstick benchmarks compare exocap with, in the same machine).
    pub linux: Option<(PathBuf, PathBuf)>,
    /// Use KVM (not available on our build machines: TCG is the default).
    pub kvm: bool,
    /// Wait for GDB on :1234 before starting (`-s -S`).
    pub gdb: bool,
    /// Kill QEMU after this long.
    pub timeout: Duration,
    /// More QEMU arguments (tests use it for `blkdebug` and the like).
    pub extra: Vec<String>,
    /// Kill QEMU at a chosen moment of the run (a power cut); `None`
    /// (the default) lets it run to its end or its deadline.
    pub stop: Option<StopRule>,
    /// Actions on the running machine (an NMI, a machine check), each sent
    /// through QMP a delay after a console line; see [`Event`].
    pub events: Vec<Event>,
    /// [`Machine::run_interactive`] passes this terminal's input to the
    /// serial console (`make shell`): every key, Ctrl-C included, reaches
    /// the guest, and Ctrl-A X leaves QEMU. Otherwise the guest reads
    /// nothing.
    pub keyboard: bool,
}

/// An action [`Machine::run`] performs on the running machine: `delay`
/// after the first console line containing `after_line` appears (after
/// the previous event's moment, so events happen in order).
#[derive(Clone, Debug)]
pub struct Event {
    /// Text of the console line that starts the clock.
    pub after_line: String,
    /// How long after that line to act.
    pub delay: Duration,
    /// What to do.
    pub action: qmp::Action,
}

/// When [`Machine::run`] kills QEMU on purpose: `delay` after the
/// `occurrence`-th console line containing `after_line` appears. The run
/// then ends as [`Exit::Stopped`], with the console printed up to that
/// moment.
#[derive(Clone, Debug)]
pub struct StopRule {
    /// Text of the console line that starts the clock.
    pub after_line: String,
    /// Which line with that text starts it, once the line has ended: 1
    /// for the first. A count of the guest's own lines, rather than a
    /// longer delay, cuts at a point of its work that does not depend on
    /// how fast the host runs it.
    pub occurrence: usize,
    /// How long after that line to kill QEMU.
    pub delay: Duration,
}

impl Machine {
    /// A BIOS boot of `image` with no data disk and a 60 s deadline.
    pub fn new(image: impl Into<PathBuf>) -> Self {
        Machine {
            image: image.into(),
            data_disk: None,
            controller: DiskController::from_env(),
            blkdebug: None,
            cpus: cpus_from_env(),
            uefi: false,
            linux: None,
            kvm: false,
            gdb: false,
            timeout: Duration::from_secs(60),
            extra: Vec::new(),
            stop: None,
            events: Vec::new(),
            keyboard: false,
        }
    }

    /// The QEMU command line; the serial console goes to stdout.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args(["-machine", "q35", "-cpu", "max", "-m", "512M"]);
        cmd.arg("-smp").arg(self.cpus.to_string());
        cmd.args(["-accel", if self.kvm { "kvm" } else { "tcg" }]);
        if self.keyboard {
            // The terminal's keys all reach the guest (Ctrl-C too:
            // `signal=off`); Ctrl-A X leaves QEMU (`mux=on` reads it).
            cmd.args(["-display", "none", "-chardev", "stdio,id=con,mux=on,signal=off"]);
            cmd.args(["-serial", "chardev:con", "-monitor", "none", "-no-reboot"]);
        } else {
            cmd.args(["-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot"]);
        }
        cmd.args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]);
        if self.uefi {
            cmd.args(["-bios", OVMF]);
        }
        match &self.linux {
            Some((kernel, initrd)) => {
                cmd.arg("-kernel").arg(kernel).arg("-initrd").arg(initrd);
                cmd.args(["-append", "console=ttyS0 quiet panic=-1"]);
            }
            None => {
                cmd.arg("-drive").arg(format!("format=raw,file={}", self.image.display()));
            }
        }
        if let Some(disk) = &self.data_disk {
            let file = match &self.blkdebug {
                Some(rules) => format!("blkdebug:{}:{}", rules.display(), disk.display()),
                None => disk.display().to_string(),
            };
            cmd.arg("-drive").arg(format!("if=none,id=data,format=raw,cache=none,file={file}"));
            cmd.arg("-device").arg(self.controller.device("data"));
        }
        if self.gdb {
            cmd.args(["-s", "-S"]);
        }
        if !self.events.is_empty() {
            cmd.arg("-qmp").arg(format!("unix:{},server=on,wait=off", self.qmp_socket().display()));
        }
        cmd.args(&self.extra);
        cmd
    }

    /// Where the QMP socket of a run with events lives: beside the image,
    /// so parallel tests never share one.
    fn qmp_socket(&self) -> PathBuf {
        self.image.with_extension("qmp")
    }

    /// Boots with the console shown on this terminal (for `make run`).
    pub fn run_interactive(&self) -> std::io::Result<Exit> {
        let stdin = if self.keyboard { Stdio::inherit() } else { Stdio::null() };
        let status = self.command().stdin(stdin).status()?;
        Ok(Exit::from_status(status.code()))
    }

    /// Boots with the console captured, until QEMU exits or the deadline.
    pub fn run(&self) -> Run {
        let start = Instant::now();
        let mut child = match self
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                return Run {
                    console: format!("harness: cannot start qemu-system-x86_64: {e}"),
                    exit: Exit::Qemu(-1),
                    elapsed: start.elapsed(),
                };
            }
        };
        let console = Arc::new(Mutex::new(Vec::new()));
        let readers = [
            spawn_reader(child.stdout.take(), console.clone()),
            spawn_reader(child.stderr.take(), console.clone()),
        ];
        let mut events = Events {
            rules: &self.events,
            next: 0,
            due: None,
            searched: 0,
            unused: 0,
            qmp: None,
            notes: String::new(),
        };
        let exit = wait_until(
            &mut child,
            start + self.timeout,
            self.stop.as_ref(),
            &console,
            &mut |console| events.poll(console, &self.qmp_socket()),
        );
        for r in readers {
            let _ = r.join();
        }
        let bytes = console.lock().unwrap().clone();
        // What the harness did goes after the console, never inside it: a
        // note written while the kernel prints would split its lines.
        let mut text = String::from_utf8_lossy(&bytes).into_owned();
        text.push_str(&events.notes);
        Run { console: text, exit, elapsed: start.elapsed() }
    }
}

pub(crate) fn spawn_reader(
    pipe: Option<impl Read + Send + 'static>,
    sink: Arc<Mutex<Vec<u8>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let Some(mut pipe) = pipe else { return };
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    })
}

/// Waits for QEMU to exit; kills it at `deadline` ([`Exit::Timeout`]) or
/// when `stop` says so ([`Exit::Stopped`]).
fn wait_until(
    child: &mut Child,
    deadline: Instant,
    stop: Option<&StopRule>,
    console: &Mutex<Vec<u8>>,
    on_poll: &mut dyn FnMut(&Mutex<Vec<u8>>),
) -> Exit {
    let mut stop_at: Option<Instant> = None;
    // Console bytes already searched for the stop line, and the lines with
    // it seen so far.
    let mut searched: usize = 0;
    let mut seen = 0;
    loop {
        if let (Some(rule), None) = (stop, stop_at) {
            let bytes = console.lock().unwrap();
            seen += count_new_lines(&bytes, &mut searched, rule.after_line.as_bytes());
            if seen >= rule.occurrence.max(1) {
                stop_at = Some(Instant::now() + rule.delay);
            }
        }
        on_poll(console);
        match child.try_wait() {
            Ok(Some(status)) => return Exit::from_status(status.code()),
            Ok(None) if stop_at.is_some_and(|t| Instant::now() >= t) => {
                let _ = child.kill();
                let _ = child.wait();
                return Exit::Stopped;
            }
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Exit::Timeout;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => return Exit::Killed,
        }
    }
}

/// How many times `needle` occurs in `bytes` ending past `searched` (the
/// bytes searched before): each occurrence is counted once, including one
/// that straddles the two parts.
fn count_new(bytes: &[u8], searched: usize, needle: &[u8]) -> usize {
    if needle.is_empty() {
        return 0;
    }
    let from = searched.saturating_sub(needle.len() - 1);
    bytes[from.min(bytes.len())..].windows(needle.len()).filter(|w| *w == needle).count()
}

/// How many whole lines with `needle` the console `bytes` gained since
/// `searched` (the end of the lines counted before, which it moves on).
/// Whole lines only: a line still arriving (the serial port sends byte by
/// byte) is counted once it ends, as the tests that parse the console
/// count it.
fn count_new_lines(bytes: &[u8], searched: &mut usize, needle: &[u8]) -> usize {
    let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let n = count_new(&bytes[..whole], *searched, needle);
    *searched = whole.max(*searched);
    n
}

/// The events of one run still to happen.
struct Events<'a> {
    rules: &'a [Event],
    next: usize,
    due: Option<Instant>,
    searched: usize,
    /// Lines with the next event's text seen but not yet used by one.
    unused: usize,
    qmp: Option<qmp::Qmp>,
    /// What was performed (or failed), one line each, for the run's text.
    notes: String,
}

impl Events<'_> {
    /// Performs the next event if its moment has come. What happened,
    /// including a failure to reach QMP, is noted for the end of the run's
    /// console text, where the test's expectations show it.
    ///
    /// Each event needs a line of its own: lines with its text that came
    /// in one read, beyond the one it takes, are kept (`unused`) for the
    /// next events with the same text.
    fn poll(&mut self, console: &Mutex<Vec<u8>>, socket: &Path) {
        let Some(rule) = self.rules.get(self.next) else { return };
        if self.due.is_none() {
            let bytes = console.lock().unwrap();
            let needle = rule.after_line.as_bytes();
            self.unused += count_new_lines(&bytes, &mut self.searched, needle);
            if self.unused == 0 {
                return;
            }
            self.unused -= 1;
            self.due = Some(Instant::now() + rule.delay);
        }
        if self.due.is_some_and(|t| Instant::now() < t) {
            return;
        }
        let result = match &mut self.qmp {
            Some(q) => q.perform(&rule.action),
            None => qmp::Qmp::connect(socket).and_then(|mut q| {
                let r = q.perform(&rule.action);
                self.qmp = Some(q);
                r
            }),
        };
        let note = match result {
            Ok(()) => format!("\nharness: performed {:?}", rule.action),
            Err(e) => format!("\nharness: could not perform {:?}: {e}", rule.action),
        };
        self.notes.push_str(&note);
        self.next += 1;
        self.due = None;
        if self.rules.get(self.next).is_none_or(|r| r.after_line != rule.after_line) {
            self.unused = 0;
        }
    }
}

/// Creates (or truncates to zeros) a sparse raw disk image of `bytes`.
pub fn fresh_disk(path: &Path, bytes: u64) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::File::create(path)?;
    file.set_len(bytes)
}

/// A boot image to build for a test: kernel, programs, settings, and the
/// system manifests that say what init runs and grants (by default
/// [`TEST_MANIFESTS`], read partially: only the apps whose program the
/// image holds).
#[derive(Clone, Debug, Default)]
pub struct Image {
    cmdline: String,
    files: Vec<(String, PathBuf, bool)>,
    uefi: bool,
    manifests: Option<Vec<PathBuf>>,
}

/// The manifests of a test image, from the top of the repository: the
/// examples' and the test programs'.
pub const TEST_MANIFESTS: [&str; 2] = ["exocap.toml", "tests/programs/exocap.toml"];

/// The top of the repository.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A path the Makefile must have set in the environment.
pub fn env_path(var: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(v) => PathBuf::from(v),
        None => panic!("{var} is not set: run the QEMU tests through `make test`"),
    }
}

impl Image {
    /// An image with the given boot settings (`key=value` words).
    pub fn new(cmdline: &str) -> Self {
        Image { cmdline: cmdline.into(), ..Default::default() }
    }

    /// Adds the user program `name` (from `EXOCAP_USER_DIR`) as `bin/<name>`.
    pub fn program(mut self, name: &str) -> Self {
        let path = env_path("EXOCAP_USER_DIR").join(name);
        self.files.push((name.into(), path, true));
        self
    }

    /// Adds a file from `path` under `name` in the ramdisk.
    pub fn file(mut self, name: &str, path: impl Into<PathBuf>) -> Self {
        self.files.push((name.into(), path.into(), false));
        self
    }

    /// Use these manifests instead of [`TEST_MANIFESTS`] (still partially).
    pub fn manifests(mut self, paths: &[PathBuf]) -> Self {
        self.manifests = Some(paths.to_vec());
        self
    }

    /// Build for UEFI boot rather than BIOS.
    pub fn uefi(mut self) -> Self {
        self.uefi = true;
        self
    }

    /// Builds the image at `dir/boot.img` with the kernel from
    /// `EXOCAP_KERNEL` and returns a [`Machine`] that boots it. Panics
    /// (failing the test) if the imager fails.
    pub fn build(&self, dir: &Path) -> Machine {
        self.try_build(dir).unwrap_or_else(|e| panic!("imager failed: {e}"))
    }

    /// [`Image::build`], with the imager's message (e.g. a manifest
    /// mistake) as the error.
    pub fn try_build(&self, dir: &Path) -> Result<Machine, String> {
        std::fs::create_dir_all(dir).expect("create the test's directory");
        let out = dir.join("boot.img");
        let mut cmd = Command::new(env_path("EXOCAP_IMAGER"));
        cmd.arg("--kernel").arg(env_path("EXOCAP_KERNEL"));
        cmd.arg("--out").arg(&out);
        cmd.arg("--cmdline").arg(&self.cmdline);
        if self.uefi {
            cmd.arg("--uefi");
        }
        let defaults = || TEST_MANIFESTS.iter().map(|m| repo_root().join(m)).collect();
        for m in self.manifests.clone().unwrap_or_else(defaults) {
            cmd.arg("--manifest").arg(m);
        }
        cmd.arg("--partial");
        for (name, path, is_bin) in &self.files {
            cmd.arg(if *is_bin { "--bin" } else { "--file" });
            cmd.arg(format!("{name}={}", path.display()));
        }
        let output = cmd.output().expect("run the imager");
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).into_owned());
        }
        let mut machine = Machine::new(out);
        machine.uefi = self.uefi;
        if self.uefi {
            // OVMF's own start-up under TCG takes a good part of a minute
            // on a loaded host, before the kernel's first line.
            machine.timeout = machine.timeout.max(UEFI_TIMEOUT);
        }
        Ok(machine)
    }
}

/// The least time a UEFI boot is given ([`Machine::timeout`]).
pub const UEFI_TIMEOUT: Duration = Duration::from_secs(120);

/// A fresh, empty directory for one test's files (images, data disk).
pub fn test_dir(name: &str) -> PathBuf {
    let base = std::env::var_os("EXOCAP_TEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("exocap-tests"));
    let dir = base.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the test directory");
    dir
}

/// The line before each authority graph on the console (as `libos::graph`
/// prints it, followed by ` <title>`).
pub const GRAPH_BEGIN: &str = "--- exocap authority graph begin ---";
/// The line after it.
pub const GRAPH_END: &str = "--- exocap authority graph end ---";

/// Every authority graph a run printed (`libos::graph::print_dot`), as
/// `(title, DOT text)` in console order. A graph cut off before its end
/// line is left out. Lines other programs printed in the middle of one
/// (whole lines: `print_dot` writes a line at a time) are skipped: a DOT
/// line is `digraph ...`, indented, or `}`.
pub fn authority_graphs(console: &str) -> Vec<(String, String)> {
    let mut graphs = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in console.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(title) = line.strip_prefix(GRAPH_BEGIN) {
            current = Some((title.trim().to_string(), String::new()));
        } else if line == GRAPH_END {
            if let Some(graph) = current.take() {
                graphs.push(graph);
            }
        } else if let Some((_, dot)) = current.as_mut() {
            if !(line.starts_with("digraph ") || line.starts_with("  ") || line == "}") {
                continue;
            }
            dot.push_str(line);
            dot.push('\n');
        }
    }
    graphs
}

#[cfg(test)]
mod tests {
    use super::count_new;

    #[test]
    fn stop_lines_are_counted_once_across_reads() {
        let needle = b"fstest: durable";
        let text = b"fstest: durable a\nfstest: durable-removed b\nother\nfstest: durable c\n";
        assert_eq!(count_new(text, 0, needle), 3);
        // Read in pieces at every split point: the same three, never more.
        for cut in 0..=text.len() {
            let first = count_new(&text[..cut], 0, needle);
            assert_eq!(first + count_new(text, cut, needle), 3, "split at {cut}");
        }
        assert_eq!(count_new(text, text.len(), needle), 0);
        assert_eq!(count_new(text, 0, b""), 0);
    }
}
