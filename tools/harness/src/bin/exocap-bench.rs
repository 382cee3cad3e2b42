//! `exocap-bench`: boots a benchmark image, collects the `BENCH <name>
//! <value> <unit>` lines its programs print, writes them to
//! `target/bench/results.json` and prints them as a table.
//!
//! ```text
//! exocap-bench <image> [--data-disk <raw>] [--out <json>] [--timeout <secs>]
//! ```

use harness::{DATA_DISK_BYTES, Exit, Machine};
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
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data-disk" => data_disk = args.next().map(PathBuf::from),
            "--out" => out = args.next().map(PathBuf::from).unwrap_or(out),
            "--timeout" => timeout = args.next().and_then(|s| s.parse().ok()).unwrap_or(timeout),
            _ if image.is_none() && !arg.starts_with('-') => image = Some(arg),
            _ => {
                eprintln!(
                    "usage: exocap-bench <image> [--data-disk <raw>] [--out <json>] [--timeout <secs>]"
                );
                return ExitCode::from(64);
            }
        }
    }
    let Some(image) = image else {
        eprintln!("exocap-bench: no image given");
        return ExitCode::from(64);
    };
    let mut machine = Machine::new(image);
    // A disk with real data in every block: reading a sparse image's holes
    // would flatter the figures.
    if let Some(disk) = &data_disk
        && let Err(e) = filled_disk(disk, DATA_DISK_BYTES)
    {
        eprintln!("exocap-bench: cannot create {}: {e}", disk.display());
        return ExitCode::from(3);
    }
    machine.data_disk = data_disk;
    machine.timeout = Duration::from_secs(timeout);
    let run = machine.run();
    let figures = parse(&run.console);
    if run.exit != Exit::Success || figures.is_empty() {
        eprintln!("exocap-bench: {}; console tail:\n{}", run.exit.describe(), run.tail(40));
        return ExitCode::FAILURE;
    }
    if let Some(dir) = out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = std::fs::write(&out, json(&figures)) {
        eprintln!("exocap-bench: cannot write {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    println!("{:<32} {:>14}  unit", "benchmark", "value");
    for f in &figures {
        println!("{:<32} {:>14.3}  {}", f.name, f.value, f.unit);
    }
    println!("(written to {})", out.display());
    ExitCode::SUCCESS
}
