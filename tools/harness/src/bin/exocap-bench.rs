//! `exocap-bench`: boots a benchmark image, collects the `BENCH <name>
//! <value> <unit>` lines its programs print, writes them to
//! `target/bench/results.json` and prints them as a table.
//!
//! ```text
//! exocap-bench <image> [--data-disk <raw>] [--out <json>] [--timeout <secs>]
//!              [--controller virtio|ahci|nvme] [--rename <from>=<to>] [--append]
//!              [--instructions <prefix>] [--icount] [--cpus <n>]
//! exocap-bench --linux <kernel> <initramfs> [--out <json>] [--append]
//! ```
//!
//! `--controller` attaches the data disk to that controller; `--rename`
//! (repeatable) replaces the prefix `from` of every figure's name with `to`
//! (the disk benchmark's `disk_read4k_p50_us` run on AHCI becomes
//! `ahci_read4k_p50_us`); `--append` keeps the figures already in the
//! output file (those of the same name are replaced). `--cpus` sets the
//! machine's CPU count (1 by default, whatever `SMP` says: the figures'
//! names say when they are not on one CPU). When the file then holds both
//! `smp_syscalls_per_sec_1` and `smp_syscalls_per_sec_2`, `smp_scaling_2`
//! is their ratio (and `smp_user_scaling_2` that of
//! `smp_user_steps_per_sec_1` and `_2`, `smp_derive_scaling_2` that of
//! `smp_derive_drop_per_sec_1` and `_2`). With `EXOCAP_BENCH_CONSOLE=<file>`
//! set, the machine's whole console is written there (the kernel's log,
//! the programs' other lines).
//!
//! `--instructions <prefix>` runs the guest under `-icount shift=0`, where
//! its clock advances one nanosecond per guest instruction, and keeps only
//! the disk benchmark's kernel-time figures, which then count the kernel's
//! instructions per request: `disk_kernel_overhead_sync_ns` becomes
//! `<prefix>kernel_instr_sync`, `disk_kernel_overhead_qd1_ns`
//! `<prefix>kernel_instr_qd1`, `disk_kernel_overhead_ns` (32 in flight)
//! `<prefix>kernel_instr_qd32`. Unlike times, these do not move with the
//! host's load, so two sittings can be compared.
//!
//! `--icount` runs under the same `-icount shift=0` and keeps every figure
//! as printed: a time in ns is then a count of guest instructions (the
//! syscall and IPC benchmarks' `syscall_null_ns`, `ipc_call_roundtrip_ns`
//! become instructions per call), deterministic from one sitting to the
//! next. Cycle figures are meaningless under it.
//!
//! `--linux` boots a Linux kernel and initramfs in the same machine
//! instead (`tools/linux-pipe`: Linux's pipe round trip, the yardstick of
//! issue 14) and keeps what it prints; with `--append`, when the file
//! holds `ipc_call_roundtrip_ns` from the same sitting, it adds
//! `ipc_call_over_linux_pipe`, the ratio of the two.

use harness::{DATA_DISK_BYTES, DiskController, Exit, Machine};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// One figure.
struct Figure {
    name: String,
    value: f64,
    unit: String,
}

fn parse(console: &str) -> Vec<Figure> {
    console
        .lines()
        .filter_map(|line| {
            let rest = &line[line.find("BENCH ")? + "BENCH ".len()..];
            let mut words = rest.split_whitespace();
            let name = words.next()?.to_string();
            let value = words.next()?.parse().ok()?;
            let unit = words.next().unwrap_or("").to_string();
            Some(Figure { name, value, unit })
        })
        .collect()
}

/// The figures of a file [`json`] wrote (an unreadable or missing file
/// has none).
fn read_json(path: &std::path::Path) -> Vec<Figure> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let (name, rest) = line.trim().strip_prefix('"')?.split_once("\": { \"value\": ")?;
            let (value, rest) = rest.split_once(", \"unit\": \"")?;
            let unit = rest.split_once('"')?.0;
            Some(Figure { name: name.into(), value: value.parse().ok()?, unit: unit.into() })
        })
        .collect()
}

fn json(figures: &[Figure]) -> String {
    let mut s = String::from("{\n");
    for (i, f) in figures.iter().enumerate() {
        let comma = if i + 1 < figures.len() { "," } else { "" };
        let _ = writeln!(
            s,
            "  \"{}\": {{ \"value\": {}, \"unit\": \"{}\" }}{comma}",
            f.name, f.value, f.unit
        );
    }
    s.push_str("}\n");
    s
}

/// Writes `bytes` of pseudo-random data to `path`.
fn filled_disk(path: &std::path::Path, bytes: u64) -> std::io::Result<()> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut chunk = vec![0u8; 1 << 20];
    for _ in 0..bytes / chunk.len() as u64 {
        for word in chunk.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            word.copy_from_slice(&x.to_le_bytes());
        }
        file.write_all(&chunk)?;
    }
    file.flush()
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut image = None;
    let mut data_disk = None;
    let mut out = PathBuf::from("target/bench/results.json");
    let mut timeout = 600;
    let mut controller = DiskController::from_env();
    let mut renames: Vec<(String, String)> = Vec::new();
    let mut cpus = 1;
    let mut append = false;
    let mut instructions: Option<String> = None;
    let mut icount = false;
    let mut linux = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data-disk" => data_disk = args.next().map(PathBuf::from),
            "--out" => out = args.next().map(PathBuf::from).unwrap_or(out),
            "--timeout" => timeout = args.next().and_then(|s| s.parse().ok()).unwrap_or(timeout),
            "--controller" => match args.next().as_deref().and_then(DiskController::parse) {
                Some(c) => controller = c,
                None => {
                    eprintln!("exocap-bench: --controller takes virtio, ahci or nvme");
                    return ExitCode::from(64);
                }
            },
            "--cpus" => match args.next().and_then(|n| n.parse().ok()).filter(|&n| n >= 1) {
                Some(n) => cpus = n,
                None => {
                    eprintln!("exocap-bench: --cpus takes a CPU count");
                    return ExitCode::from(64);
                }
            },
            "--rename" => match args.next().as_deref().and_then(|r| r.split_once('=')) {
                Some((from, to)) => renames.push((from.into(), to.into())),
                None => {
                    eprintln!("exocap-bench: --rename takes <from>=<to>");
                    return ExitCode::from(64);
                }
            },
            "--append" => append = true,
            "--linux" => match (args.next(), args.next()) {
                (Some(kernel), Some(initrd)) => linux = Some((kernel.into(), initrd.into())),
                _ => {
                    eprintln!("exocap-bench: --linux takes a kernel and an initramfs");
                    return ExitCode::from(64);
                }
            },
            "--icount" => icount = true,
            "--instructions" => match args.next() {
                Some(prefix) => instructions = Some(prefix),
                None => {
                    eprintln!("exocap-bench: --instructions takes a figure-name prefix");
                    return ExitCode::from(64);
                }
            },
            _ if image.is_none() && !arg.starts_with('-') => image = Some(arg),
            _ => {
                eprintln!(
                    "usage: exocap-bench <image> [--data-disk <raw>] [--out <json>] [--timeout <secs>] \
                     [--controller virtio|ahci|nvme] [--rename <from>=<to>] [--append] \
                     [--instructions <prefix>] [--icount] [--cpus <n>]"
                );
                return ExitCode::from(64);
            }
        }
    }
    let image = match (image, &linux) {
        (Some(image), None) => image,
        (None, Some(_)) => String::new(),
        _ => {
            eprintln!("exocap-bench: give an image, or --linux and no image");
            return ExitCode::from(64);
        }
    };
    let mut machine = Machine::new(image);
    machine.linux = linux.clone();
    // A disk with real data in every block: reading a sparse image's holes
    // would flatter the figures.
    if let Some(disk) = &data_disk
        && let Err(e) = filled_disk(disk, DATA_DISK_BYTES)
    {
        eprintln!("exocap-bench: cannot create {}: {e}", disk.display());
        return ExitCode::from(3);
    }
    machine.data_disk = data_disk;
    machine.controller = controller;
    machine.cpus = cpus;
    if instructions.is_some() || icount {
        machine.extra.extend(["-icount", "shift=0,sleep=on"].map(String::from));
    }
    machine.timeout = Duration::from_secs(timeout);
    let run = machine.run();
    // The whole console, for a look at what the figures do not say.
    if let Ok(path) = std::env::var("EXOCAP_BENCH_CONSOLE") {
        let _ = std::fs::write(path, &run.console);
    }
    let mut figures = parse(&run.console);
    if run.exit != Exit::Success || figures.is_empty() {
        eprintln!("exocap-bench: {}; console tail:\n{}", run.exit.describe(), run.tail(40));
        return ExitCode::FAILURE;
    }
    if let Some(prefix) = &instructions {
        figures = kernel_instructions(figures, prefix);
    }
    for f in &mut figures {
        if let Some((from, to)) = renames.iter().find(|(from, _)| f.name.starts_with(from.as_str()))
        {
            f.name = format!("{to}{}", &f.name[from.len()..]);
        }
    }
    if append && linux.is_some() {
        let ratio = over_linux_pipe(&read_json(&out), &figures);
        figures.extend(ratio);
    }
    let mut shown = figures.len();
    if append {
        let mut all = read_json(&out);
        all.retain(|old| !figures.iter().any(|f| f.name == old.name));
        all.append(&mut figures);
        figures = all;
        let smp_run = figures[figures.len() - shown..]
            .iter()
            .any(|f| f.name.starts_with("smp_syscalls_per_sec_"));
        for scaling in smp_scaling(&figures).into_iter().filter(|_| smp_run) {
            figures.retain(|f| f.name != scaling.name);
            figures.push(scaling);
            shown += 1;
        }
    }
    if let Some(dir) = out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = std::fs::write(&out, json(&figures)) {
        eprintln!("exocap-bench: cannot write {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    println!("{:<32} {:>14}  unit", "benchmark", "value");
    for f in &figures[figures.len() - shown..] {
        println!("{:<32} {:>14.3}  {}", f.name, f.value, f.unit);
    }
    println!("(written to {})", out.display());
    ExitCode::SUCCESS
}

/// `ipc_call_over_linux_pipe`: exocap's IPC round trip (in `earlier`, the
/// figures of the same sitting) over Linux's pipe round trip (in
/// `linux`), if both are there.
fn over_linux_pipe(earlier: &[Figure], linux: &[Figure]) -> Option<Figure> {
    let value = |figures: &[Figure], name: &str| {
        figures.iter().find(|f| f.name == name).map(|f| f.value).filter(|&v| v > 0.0)
    };
    let call = value(earlier, "ipc_call_roundtrip_ns")?;
    let pipe = value(linux, "linux_pipe_roundtrip_ns")?;
    Some(Figure {
        name: "ipc_call_over_linux_pipe".into(),
        value: (call / pipe * 1000.0).round() / 1000.0,
        unit: "ratio".into(),
    })
}

/// `smp_scaling_2`: null syscalls per second on two CPUs (two processes)
/// over one CPU (one process), and `smp_user_scaling_2`, the same of
/// arithmetic in user mode (the machine's own scaling, the first one's
/// ceiling), and `smp_derive_scaling_2`, the same of `cap_derive` and
/// `cap_drop` pairs (calls that change the caller's own table), each if
/// `figures` has both of its figures.
fn smp_scaling(figures: &[Figure]) -> Vec<Figure> {
    let value = |name: &str| figures.iter().find(|f| f.name == name).map(|f| f.value);
    let ratio = |what: &str, name: &str| {
        let one = value(&format!("smp_{what}_per_sec_1")).filter(|&v| v > 0.0)?;
        let two = value(&format!("smp_{what}_per_sec_2"))?;
        Some(Figure {
            name: name.into(),
            value: (two / one * 1000.0).round() / 1000.0,
            unit: "ratio".into(),
        })
    };
    [
        ratio("syscalls", "smp_scaling_2"),
        ratio("user_steps", "smp_user_scaling_2"),
        ratio("derive_drop", "smp_derive_scaling_2"),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The kernel-time figures of the disk benchmark of a run under
/// `-icount shift=0` (one ns a guest instruction), renamed as counts of
/// instructions per request (see the module doc).
fn kernel_instructions(figures: Vec<Figure>, prefix: &str) -> Vec<Figure> {
    figures
        .into_iter()
        .filter_map(|f| {
            let rest = f.name.strip_prefix("disk_kernel_overhead")?.strip_suffix("_ns")?;
            let depth = if rest.is_empty() { "_qd32" } else { rest };
            Some(Figure {
                name: format!("{prefix}kernel_instr{depth}"),
                value: f.value,
                unit: "instructions".into(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_read_back_as_written() {
        let figures = vec![
            Figure { name: "disk_iops_qd32".into(), value: 28724.0, unit: "IOPS".into() },
            Figure { name: "ipc_call_over_floor".into(), value: 1.642, unit: "".into() },
        ];
        let text = json(&figures);
        let path = std::env::temp_dir().join(format!("exocap-bench-{}.json", std::process::id()));
        std::fs::write(&path, &text).unwrap();
        let back = read_json(&path);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(json(&back), text);
        assert_eq!(back.len(), 2);
    }

    #[test]
    fn the_ipc_round_trip_is_compared_with_linux_when_both_are_there() {
        let f = |name: &str, value| Figure { name: name.into(), value, unit: "ns".into() };
        let earlier = vec![f("ipc_call_roundtrip_ns", 11_000.0), f("syscall_null_ns", 130.0)];
        let linux = vec![f("linux_pipe_roundtrip_ns", 94_000.0)];
        let r = over_linux_pipe(&earlier, &linux).unwrap();
        assert_eq!((r.name.as_str(), r.value), ("ipc_call_over_linux_pipe", 0.117));
        assert!(over_linux_pipe(&[], &linux).is_none());
        assert!(over_linux_pipe(&earlier, &[]).is_none());
    }

    #[test]
    fn each_scaling_needs_both_of_its_figures() {
        let f = |name: &str, value| Figure { name: name.into(), value, unit: "/s".into() };
        let mut figures = vec![
            f("smp_syscalls_per_sec_1", 1000.0),
            f("smp_syscalls_per_sec_2", 1700.0),
            f("smp_user_steps_per_sec_2", 5.0),
        ];
        let got = |figures: &[Figure]| -> Vec<(String, f64)> {
            smp_scaling(figures).into_iter().map(|r| (r.name, r.value)).collect()
        };
        assert_eq!(got(&figures), [("smp_scaling_2".to_string(), 1.7)]);
        figures.push(f("smp_user_steps_per_sec_1", 3.0));
        assert_eq!(
            got(&figures),
            [("smp_scaling_2".to_string(), 1.7), ("smp_user_scaling_2".to_string(), 1.667)]
        );
        // A zero one-CPU figure gives no ratio rather than infinity.
        figures[0].value = 0.0;
        assert_eq!(got(&figures), [("smp_user_scaling_2".to_string(), 1.667)]);
    }

    #[test]
    fn kernel_times_become_instruction_counts() {
        let f = |name: &str| Figure { name: name.into(), value: 1.0, unit: "ns".into() };
        let figures = vec![
            f("disk_read4k_p50_us"),
            f("disk_kernel_overhead_sync_ns"),
            f("disk_kernel_overhead_qd1_ns"),
            f("disk_kernel_overhead_ns"),
        ];
        let names: Vec<String> =
            kernel_instructions(figures, "ahci_").into_iter().map(|f| f.name).collect();
        assert_eq!(
            names,
            ["ahci_kernel_instr_sync", "ahci_kernel_instr_qd1", "ahci_kernel_instr_qd32"]
        );
    }
}
