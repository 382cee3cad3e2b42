//! `exocap-graph`: boots an image whose apps print authority graphs
//! (`make graph`), cuts each graph out of the console and renders it.
//!
//! ```text
//! exocap-graph <image> --data-disk <raw> --out <dir>
//! ```
//! Writes `<dir>/graph.dot` and `<dir>/graph.svg` (the first graph), and
//! `<dir>/graph-<n>.dot`/`.svg` for the others, with Graphviz's `dot`.
//! Exits 0 when the run passed and printed at least one graph.

use harness::{DATA_DISK_BYTES, Exit, Machine, authority_graphs, fresh_disk};
use std::path::PathBuf;
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut image, mut disk, mut out) = (None, None, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data-disk" => disk = args.next().map(PathBuf::from),
            "--out" => out = args.next().map(PathBuf::from),
            _ if !arg.starts_with('-') && image.is_none() => image = Some(PathBuf::from(arg)),
            _ => image = None,
        }
    }
    let (Some(image), Some(out)) = (image, out) else {
        eprintln!("usage: exocap-graph <image> --data-disk <raw> --out <dir>");
        return ExitCode::from(64);
    };
    let mut machine = Machine::new(image);
    if let Some(disk) = disk.as_ref().filter(|d| !d.exists())
        && let Err(e) = fresh_disk(disk, DATA_DISK_BYTES)
    {
        eprintln!("exocap-graph: cannot create {}: {e}", disk.display());
        return ExitCode::from(3);
    }
    machine.data_disk = disk;
    let run = machine.run();
    if run.exit != Exit::Success {
        eprintln!("exocap-graph: the run failed: {}\n{}", run.exit.describe(), run.tail(30));
        return ExitCode::from(1);
    }
    let graphs = authority_graphs(&run.console);
    if graphs.is_empty() {
        eprintln!("exocap-graph: the run printed no graph\n{}", run.tail(30));
        return ExitCode::from(1);
    }
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!("exocap-graph: cannot create {}: {e}", out.display());
        return ExitCode::from(3);
    }
    for (i, (title, dot)) in graphs.iter().enumerate() {
        let stem = if i == 0 { "graph".to_string() } else { format!("graph-{}", i + 1) };
        let dot_path = out.join(format!("{stem}.dot"));
        let svg_path = out.join(format!("{stem}.svg"));
        if let Err(e) = std::fs::write(&dot_path, dot) {
            eprintln!("exocap-graph: cannot write {}: {e}", dot_path.display());
            return ExitCode::from(3);
        }
        let status =
            Command::new("dot").arg("-Tsvg").arg(&dot_path).arg("-o").arg(&svg_path).status();
        match status {
            Ok(s) if s.success() => println!("{} ({title})", svg_path.display()),
            Ok(s) => {
                eprintln!("exocap-graph: dot failed on {} ({s})", dot_path.display());
                return ExitCode::from(1);
            }
            Err(e) => {
                eprintln!("exocap-graph: cannot run Graphviz's dot ({e}): run tools/setup.sh");
                return ExitCode::from(3);
            }
        }
    }
    ExitCode::SUCCESS
}
