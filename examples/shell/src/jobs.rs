//! Starting programs (`run`) and watching them (`ps`).
//!
//! `run <app> [<grant>...] [-- <args>] [&]`: `<app>` is one of the images
//! the manifest gave the shell (its helpers). Each grant is
//! `<role>[=<h>][:<rights>]`: the child gets a copy of handle `<h>` (by
//! default the shell's handle named `<role>`) under role `<role>`, with
//! `<rights>` (by default: the console for output only, anything else
//! with the rights the shell holds). The kernel refuses rights the shell
//! does not hold, or a handle without GRANT. The child also gets the
//! shell's console for its output unless a grant names `console`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use libos::kind::{Image, Process};
use libos::process::Spawn;
use libos::{ExitStatus, Handle, Rights, println};

use crate::Shell;
use crate::caps_cmd::rights_arg;

/// Pages each program started from the shell may use.
const CHILD_QUOTA_PAGES: u64 = 1024;

/// A process the shell started.
pub struct Job {
    /// Its number in `ps`.
    pub id: usize,
    /// The program.
    pub name: String,
    /// Our handle to it.
    pub process: Handle<Process>,
    /// How it ended, once known.
    pub status: Option<ExitStatus>,
}

/// A grant as typed: role, handle word, rights.
struct GrantArg<'a> {
    role: &'a str,
    handle: &'a str,
    rights: Option<&'a str>,
}

fn parse_grant(word: &str) -> Result<GrantArg<'_>, String> {
    let (rest, rights) = match word.split_once(':') {
        Some((r, rights)) => (r, Some(rights)),
        None => (word, None),
    };
    let (role, handle) = match rest.split_once('=') {
        Some((role, h)) => (role, h),
        None => (rest, rest),
    };
    if role.is_empty() || handle.is_empty() || rights == Some("") {
        return Err(format!("bad grant '{word}' (write <role>[=<handle>][:<rights>])"));
    }
    Ok(GrantArg { role, handle, rights })
}

fn status_text(s: ExitStatus) -> String {
    match s {
        ExitStatus::Exited(code) => format!("exited {code}"),
        ExitStatus::Faulted(vector) => format!("killed by CPU exception {vector}"),
        ExitStatus::Killed => String::from("killed by the kernel"),
    }
}

impl Shell {
    /// `run <app> [<grant>...] [-- <args>] [&]`.
    pub fn run(&mut self, rest: &str) -> Result<(), String> {
        const USAGE: &str = "run <app> [<role>[=<handle>][:<rights>]...] [-- <args>] [&]";
        let (rest, background) = match rest.strip_suffix('&') {
            Some(r) => (r.trim(), true),
            None => (rest, false),
        };
        let (words, args) = match rest.split_once("--") {
            Some((w, a)) => (w, a.trim()),
            None => (rest, ""),
        };
        let mut words = words.split_whitespace();
        let app = words.next().ok_or(format!("usage: {USAGE}"))?;
        let image: Handle<Image> = match self.images.iter().find(|(n, _)| n == app) {
            Some(&(_, h)) => h,
            None => {
                let names: Vec<&str> = self.images.iter().map(|(n, _)| n.as_str()).collect();
                return Err(format!("no program '{app}' (I may run: {})", names.join(", ")));
            }
        };
        let mut spawn = Spawn::new(image).quota_pages(CHILD_QUOTA_PAGES).args(args);
        for word in words {
            let g = parse_grant(word)?;
            let (num, raw) = self.handles.resolve(g.handle)?;
            // A handle that names nothing is said so here, with its story.
            let (_, held) = libos::sys::cap_kind(raw).map_err(|e| self.handles.error(num, e))?;
            let rights = match g.rights {
                Some(r) => rights_arg(r)?,
                None if raw == self.console.raw() => Rights::WRITE,
                None => held,
            };
            spawn = spawn
                .grant_raw(raw, rights, g.role)
                .map_err(|e| format!("role '{}': {e} (at most 24 bytes)", g.role))?;
        }
        let child = spawn.spawn().map_err(|e| match e {
            libos::Error::MissingRight => format!(
                "{app}: the kernel refused: missing right (a granted handle needs GRANT, \
                 and only rights it holds can be given)"
            ),
            e => format!("{app}: the kernel refused: {e}"),
        })?;
        let id = self.jobs.len() + 1;
        self.handles.add(child.0.raw(), &format!("process {app}"));
        self.jobs.push(Job { id, name: String::from(app), process: child.0, status: None });
        if background {
            println!("[{id}] {app} started");
            return Ok(());
        }
        let status = child.wait().map_err(|e| format!("wait for {app}: {e}"))?;
        self.jobs[id - 1].status = Some(status);
        println!("[{id}] {app}: {}", status_text(status));
        Ok(())
    }

    /// `ps`: the processes the shell started.
    pub fn ps(&mut self, args: &[&str]) -> Result<(), String> {
        crate::expect_args(args, 0..=0, "ps")?;
        if self.jobs.is_empty() {
            println!("no processes started yet (run <app>)");
        }
        for job in &mut self.jobs {
            if job.status.is_none() {
                match libos::process::Child(job.process).try_wait() {
                    Ok(s) => job.status = Some(s),
                    Err(libos::Error::WouldBlock) => {}
                    Err(e) => println!("[{}] {}: cannot tell ({e})", job.id, job.name),
                }
            }
            let state = job.status.map_or(String::from("running"), status_text);
            let num = self.handles.number_of(job.process.raw()).unwrap_or(0);
            println!("[{}] {:<20} {state} (handle #{num})", job.id, job.name);
        }
        Ok(())
    }
}
