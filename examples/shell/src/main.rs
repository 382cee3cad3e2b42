//! An interactive shell on the console (`make shell`).
//!
//! It reads what is typed on the console (`console_read`, through the
//! `console` handle the manifest gives it, with `READ`), edits the line
//! (`libos::line`: echo, Backspace, Ctrl-U, Ctrl-C, Enter) and runs one
//! command per line: look at its capabilities, derive, revoke and drop
//! them by hand, start the programs the manifest lets it start with the
//! handles and rights you choose, watch them, use a file system on its
//! disk range, and print the live capability graph. `help` lists the
//! commands.
//!
//! It holds exactly what `shell.toml` grants it (console, timer, its
//! disk slice, the images of its helpers, its memory) and can give
//! nothing else away. Every mistake (an unknown command, bad arguments,
//! a revoked or dropped handle, a missing file) gets one line saying
//! what is wrong; no input makes it panic. `exit` ends it.
#![no_std]
#![no_main]

extern crate alloc;

mod caps_cmd;
mod files;
mod handles;
mod jobs;

use alloc::string::String;
use alloc::vec::Vec;
use libos::kind::{Console, DiskRange, Image, Timer};
use libos::line::{Event, LineEditor};
use libos::{Error, Handle, Start, print, println};

use handles::Handles;
use jobs::Job;

libos::main!(main);

/// What is printed before each line typed.
pub const PROMPT: &str = "shell> ";

/// Bytes asked of the console per read.
const READ_CHUNK: usize = 64;

/// How long to wait before reading again while another process reads
/// the console (a child started with `console:R`).
const BUSY_RETRY_NS: u64 = 100_000_000;

/// The shell's state: what it holds and what it started.
pub struct Shell {
    /// Its console (output and input).
    pub console: Handle<Console>,
    /// Its timer, if the manifest gives it one.
    pub timer: Option<Handle<Timer>>,
    /// Its disk slice, for the file system commands.
    pub disk: Option<Handle<DiskRange>>,
    /// The programs it may start, by name.
    pub images: Vec<(String, Handle<Image>)>,
    /// Its numbered handles.
    pub handles: Handles,
    /// The processes it started.
    pub jobs: Vec<Job>,
}

/// What to do after a command.
#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Exit,
}

const HELP: &str = "\
commands (a handle is #n as `caps` numbers it, or a role: console, disk, timer, memory, hello...):
  help                        this text
  caps                        list my capabilities: number, kind, rights, range or object
  info <h>                    one capability, as the kernel sees it now
  derive <h> <rights> [<first> <count>]
                              a new capability from <h> with fewer rights (letters of
                              RWXMSVTgdr: read write exec map send recv wait grant derive
                              revoke); for a disk range, optionally a sub-range (sectors)
  revoke <h>                  destroy everything derived from <h>, in every process
  drop <h>                    close my handle <h>
  run <app> [<grant>...] [-- <args>] [&]
                              start a program I may run, with grants <role>[=<h>][:<rights>]
                              (e.g. run hello console, run first-app disk=#5:R); waits for
                              it unless the line ends with &; grants are made only at start
  ps                          the processes I started and their state
  graph                       the live capability graph I can see (Graphviz DOT)
  mkfs                        format a file system on my disk range
  ls [<dir>]  cat <file>  write <file> <text>  mkdir <dir>  rm <path>
                              the file system on my disk range (paths start with /)
  exit                        end the shell";

impl Shell {
    /// Runs one command line; prints its output or one line saying what
    /// is wrong.
    fn execute(&mut self, line: &str) -> Flow {
        let line = line.trim();
        let (cmd, rest) = match line.split_once(' ') {
            Some((c, r)) => (c, r.trim()),
            None => (line, ""),
        };
        let args: Vec<&str> = rest.split_whitespace().collect();
        let result = match cmd {
            "" => Ok(()),
            "help" => {
                println!("{HELP}");
                Ok(())
            }
            "exit" => return Flow::Exit,
            "caps" => self.caps(&args),
            "info" => self.info(&args),
            "derive" => self.derive(&args),
            "revoke" => self.revoke(&args),
            "drop" => self.drop_handle(&args),
            "graph" => self.graph(&args),
            "run" => self.run(rest),
            "ps" => self.ps(&args),
            "mkfs" => self.mkfs(&args),
            "ls" => self.ls(&args),
            "cat" => self.cat(&args),
            "write" => self.write(rest),
            "mkdir" => self.mkdir(&args),
            "rm" => self.rm(&args),
            "grant" => Err(String::from(
                "handles are granted when a program starts: run <app> <role>=<h>:<rights>",
            )),
            other => {
                println!("unknown command '{other}' (type help for the list)");
                return Flow::Continue;
            }
        };
        if let Err(e) = result {
            println!("{cmd}: {e}");
        }
        Flow::Continue
    }
}

/// Fails unless `args` has exactly `n` words; the error is `usage`.
pub fn expect_args(
    args: &[&str],
    n: core::ops::RangeInclusive<usize>,
    usage: &str,
) -> Result<(), String> {
    if n.contains(&args.len()) { Ok(()) } else { Err(alloc::format!("usage: {usage}")) }
}

fn main(start: &Start) -> i32 {
    // Without a console there is nobody to talk to, and nowhere to say so.
    let Some(console) = start.handle::<Console>("console") else { return 2 };
    let mut shell = Shell::new(start, console);
    println!("exocap shell: type help for the commands");
    print!("{PROMPT}");
    let mut editor = LineEditor::new();
    let mut buf = [0u8; READ_CHUNK];
    let mut echo = Vec::new();
    let mut told_busy = false;
    loop {
        let n = match console.read(&mut buf) {
            Ok(n) => n,
            Err(Error::Busy) => {
                if !told_busy {
                    println!("shell: another process is reading the console; waiting for it");
                    told_busy = true;
                }
                match shell.timer {
                    Some(t) => {
                        let _ = t.sleep_ns(BUSY_RETRY_NS);
                    }
                    None => libos::process::yield_now(),
                }
                continue;
            }
            Err(e) => {
                println!("shell: cannot read the console ({e}); exiting");
                return 1;
            }
        };
        told_busy = false;
        for &b in &buf[..n] {
            match editor.feed(b, &mut echo) {
                Event::Nothing => {}
                Event::Cancelled => {
                    flush(console, &mut echo);
                    print!("{PROMPT}");
                }
                Event::Line(line) => {
                    flush(console, &mut echo);
                    if shell.execute(&line) == Flow::Exit {
                        println!("shell: bye");
                        return 0;
                    }
                    print!("{PROMPT}");
                }
            }
        }
        flush(console, &mut echo);
    }
}

/// Writes what the line editor echoes.
fn flush(console: Handle<Console>, echo: &mut Vec<u8>) {
    if !echo.is_empty() {
        let _ = console.write(echo);
        echo.clear();
    }
}

impl Shell {
    /// The shell with what it started with, every handle numbered.
    fn new(start: &Start, console: Handle<Console>) -> Shell {
        let mut handles = Handles::default();
        for (role, raw) in start.roles() {
            handles.add(raw, role);
        }
        Shell {
            console,
            timer: start.handle::<Timer>("timer"),
            disk: start.handle::<DiskRange>("disk"),
            images: start.images().map(|(n, h)| (String::from(n), h)).collect(),
            handles,
            jobs: Vec::new(),
        }
    }
}
