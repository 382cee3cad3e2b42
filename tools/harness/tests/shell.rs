//! The interactive shell (`make shell`), driven as a person would drive
//! it: boot the image `shell.toml` describes, wait for the prompt, type a
//! command, read the answer, and so on, mistakes included. Each mistake
//! must get its one-line message and the shell must keep answering; at
//! the end `exit` ends it and the run.
//!
//! Every line is typed only after the prompt is back (a slow, shared host
//! makes the test slower, not flaky), and Enter is a CR, as a terminal
//! sends it.

use std::time::Duration;

use harness::session::Session;
use harness::{DATA_DISK_BYTES, Exit, Image, fresh_disk, repo_root, test_dir};

const PROMPT: &str = "shell> ";
/// Per command: generous, the host is shared.
const ANSWER: Duration = Duration::from_secs(120);

/// Types `line` and returns the answer (without the echoed line).
fn ask(s: &mut Session, line: &str) -> String {
    let text = s.command(PROMPT, line, ANSWER).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    // The echo: the line as typed, then the newline the shell echoes.
    match text.split_once('\n') {
        Some((_, answer)) => answer.to_string(),
        None => panic!("{line:?}: no end of line echoed in {text:?}"),
    }
}

/// Asserts that the answer to `line` contains every needle.
fn expect(s: &mut Session, line: &str, needles: &[&str]) -> String {
    let answer = ask(s, line);
    for n in needles {
        assert!(answer.contains(n), "{line:?}: no {n:?} in the answer:\n{answer}");
    }
    answer
}

/// The handle number a `derive` answer gives: `#<n>: ...`.
fn new_handle(answer: &str) -> String {
    let line = answer.lines().find(|l| l.starts_with('#')).expect("a '#n:' line");
    line[..line.find(':').unwrap()].to_string()
}

#[test]
fn a_person_at_the_shell() {
    let dir = test_dir("shell");
    let disk = dir.join("data.img");
    fresh_disk(&disk, DATA_DISK_BYTES).unwrap();
    let mut image = Image::new("log=warn").manifests(&[repo_root().join("shell.toml")]);
    for p in ["init", "shell", "hello", "first-app", "delegate-reader"] {
        image = image.program(p);
    }
    let mut machine = image.build(&dir);
    machine.data_disk = Some(disk);
    let mut s = machine.session().expect("start QEMU");
    s.wait_for("exocap shell: type help", Duration::from_secs(180)).unwrap();

    expect(&mut s, "help", &["caps", "derive <h> <rights>", "run <app>", "graph", "exit"]);
    // Its capabilities: exactly what shell.toml grants, with rights.
    let caps = expect(
        &mut s,
        "caps",
        &["console", "memory", "timer", "disk-range sectors 0+8192", "RWgdr", "hello", "first-app"],
    );
    assert!(!caps.contains("fs"), "a program shell.toml does not give it:\n{caps}");

    // Start a program with a chosen grant; its output comes through.
    expect(
        &mut s,
        "run hello console",
        &["hello from hello, an exocap process", "hello: exited 0"],
    );

    // Derive by hand, delegate, revoke, and use what was revoked.
    let range = new_handle(&expect(
        &mut s,
        "derive disk RWgdr 0 64",
        &["disk-range sectors 0+64 rights RWgdr (from #"],
    ));
    let read_only = new_handle(&expect(
        &mut s,
        &format!("derive {range} Rg"),
        &["disk-range sectors 0+64 rights Rg (from"],
    ));
    expect(
        &mut s,
        &format!("run first-app disk={read_only}"),
        &["first byte: 0", "first-app: exited 0"],
    );
    // Granting needs GRANT on what is granted: a clear refusal.
    let no_grant = new_handle(&expect(&mut s, &format!("derive {range} R"), &["rights R (from"]));
    expect(
        &mut s,
        &format!("derive {read_only} R"),
        &[&format!("derive: {read_only}: missing right (deriving needs DERIVE")],
    );
    expect(
        &mut s,
        &format!("run first-app disk={no_grant}"),
        &["the kernel refused: missing right (a granted handle needs GRANT"],
    );
    expect(&mut s, &format!("revoke {range}"), &["revoked 2 capabilities derived from it"]);
    let gone = format!("{read_only}: bad handle (its capability was revoked with {range})");
    expect(&mut s, &format!("info {read_only}"), &[&format!("info: {gone}")]);
    expect(&mut s, &format!("run first-app disk={read_only}:R"), &[&format!("run: {gone}")]);
    expect(&mut s, "caps", &[&format!("{read_only} (gone: revoked with {range})")]);
    expect(&mut s, &format!("info {range}"), &["disk-range sectors 0+64 rights RWgdr"]);

    // Files on its disk range: written, read back, listed, missing.
    expect(&mut s, "ls", &["no file system on the disk range", "run mkfs first"]);
    expect(&mut s, "mkfs", &["mkfs: a new file system"]);
    expect(&mut s, "write /notes.txt typed at the shell", &["write: /notes.txt: 19 bytes"]);
    expect(&mut s, "mkdir /docs", &[]);
    expect(&mut s, "cat /notes.txt", &["typed at the shell"]);
    expect(&mut s, "ls /", &["notes.txt", "19 bytes", "docs/"]);
    expect(&mut s, "cat /missing", &["cat: /missing: not found"]);
    expect(&mut s, "rm /docs", &[]);
    let listing = expect(&mut s, "ls", &["notes.txt"]);
    assert!(!listing.contains("docs"), "rm left the directory:\n{listing}");

    // Mistakes: one clear line each, and the shell goes on.
    expect(&mut s, "frobnicate now", &["unknown command 'frobnicate' (type help for the list)"]);
    expect(&mut s, "derive", &["derive: usage: derive <handle> <rights>"]);
    expect(&mut s, "derive disk RQ", &["derive: 'Q' in 'RQ' is not a right"]);
    expect(&mut s, "derive disk R x 5", &["derive: first sector 'x' is not a number"]);
    expect(&mut s, "derive disk R 8000 1000", &["derive: #"]);
    expect(&mut s, "revoke #99", &["revoke: no handle #99 (see caps)"]);
    expect(&mut s, "drop nothing", &["drop: no handle named 'nothing'"]);
    expect(&mut s, "drop console", &["is the shell's own console"]);
    expect(&mut s, "run fs", &["run: no program 'fs' (I may run: "]);
    expect(&mut s, "run hello disk:RQ", &["run: 'Q' in 'RQ' is not a right"]);
    expect(&mut s, "run hello timer:RWX", &["run: hello: the kernel refused: "]);
    expect(&mut s, "grant hello", &["grant: handles are granted when a program starts"]);
    expect(&mut s, "cat", &["cat: usage: cat <file>"]);
    // A line longer than the editor keeps (200 bytes, libos::line): the
    // rest rings the bell, nothing typed after it is lost.
    let long = "x".repeat(300);
    expect(&mut s, &long, &[&format!("unknown command '{}'", "x".repeat(200))]);

    // In the background: the prompt comes back at once, `ps` follows it
    // (it fails for want of its handles, which `ps` reports).
    expect(&mut s, "run delegate-reader &", &["[3] delegate-reader started"]);
    let mut tries = 0;
    while !ask(&mut s, "ps").contains("[3] delegate-reader      exited 1") {
        tries += 1;
        assert!(tries < 100, "delegate-reader never ended:\n{}", s.console());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(s.console().contains("delegate-reader: no shared range"));

    // Line editing: Backspace and Ctrl-U fix what was typed.
    expect(&mut s, "pz\x08s", &["[1] hello", "exited 0"]);
    expect(&mut s, "rm /notes.txt\x15ps", &["[2] first-app"]);
    expect(&mut s, "cat /notes.txt", &["typed at the shell"]);
    // Ctrl-C abandons a line: the revoke typed is not run.
    s.wait_for(PROMPT, ANSWER).unwrap();
    s.type_bytes(b"revoke disk\x03").unwrap();
    s.wait_for("revoke disk^C\n", ANSWER).unwrap();
    expect(&mut s, &format!("info {range}"), &["disk-range sectors 0+64 rights RWgdr"]);

    // The live capability graph, as DOT.
    expect(
        &mut s,
        "graph",
        &[libos_markers::BEGIN, "digraph", "holds", "disk-range 0+64", libos_markers::END],
    );

    s.wait_for(PROMPT, ANSWER).unwrap();
    s.type_bytes(b"exit\r").unwrap();
    s.wait_for("shell: bye", ANSWER).unwrap();
    s.wait_for("example shell: ok", ANSWER).unwrap();
    let console = s.console();
    std::fs::write(dir.join("console.log"), &console).unwrap();
    assert_eq!(s.finish(ANSWER), Exit::Success, "{console}");
    assert!(!console.contains("PANIC") && !console.contains("panicked"), "{console}");
}

/// The lines around `print_dot`'s output (`libos::graph`).
mod libos_markers {
    pub const BEGIN: &str = "--- exocap authority graph begin ---";
    pub const END: &str = "--- exocap authority graph end ---";
}
