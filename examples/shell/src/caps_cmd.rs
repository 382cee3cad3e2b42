//! The capability commands: `caps`, `info`, `derive`, `revoke`, `drop`,
//! `graph`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use libos::abi::args::{DERIVE_RANGE, DERIVE_SAME};
use libos::abi::{CapInfo, GraphNode, ObjectKind, RawHandle};
use libos::graph::{parse_rights, rights_letters};
use libos::{Rights, println};

use crate::{Shell, expect_args};

/// What a capability is: `disk-range sectors 0+64`, `process`, `console`.
fn describe(kind: Option<ObjectKind>, badge: u64, device: u64, first: u64, count: u64) -> String {
    let name = kind.map_or("unknown", ObjectKind::as_str);
    match kind {
        Some(ObjectKind::DiskRange) if device == 0 => format!("{name} sectors {first}+{count}"),
        Some(ObjectKind::DiskRange) => format!("{name} dev{device} sectors {first}+{count}"),
        _ if badge != 0 => format!("{name} badge {badge}"),
        _ => String::from(name),
    }
}

fn describe_node(n: &GraphNode) -> String {
    describe(n.object_kind(), n.badge, n.device, n.first, n.count)
}

fn describe_info(i: &CapInfo) -> String {
    describe(ObjectKind::from_raw(u64::from(i.kind)), i.badge, i.device, i.first, i.count)
}

/// Rights from their letters, or a message naming the bad letter.
pub fn rights_arg(text: &str) -> Result<Rights, String> {
    parse_rights(text).map_err(|c| match c {
        ' ' => String::from("no rights given (letters of RWXMSVTgdr, or - for none)"),
        c => format!("'{c}' in '{text}' is not a right, or is given twice (letters of RWXMSVTgdr)"),
    })
}

/// A number argument, or a message naming it.
pub fn number_arg(text: &str, what: &str) -> Result<u64, String> {
    text.parse().map_err(|_| format!("{what} '{text}' is not a number"))
}

impl Shell {
    /// `caps`: every capability the shell holds, from the kernel's graph,
    /// then the numbers whose capability is gone.
    pub fn caps(&mut self, args: &[&str]) -> Result<(), String> {
        expect_args(args, 0..=0, "caps")?;
        let nodes = libos::graph::snapshot().map_err(|e| format!("cap_graph: {e}"))?;
        let mine: Vec<&GraphNode> = nodes.iter().filter(|n| n.handle != 0).collect();
        let mut held = Vec::new();
        for n in &mine {
            let raw = RawHandle::from_raw(n.handle);
            let num = self.handles.add(raw, "(found in the graph)");
            let parent = mine
                .iter()
                .find(|p| Some(p.node) == n.parent())
                .and_then(|p| self.handles.number_of(RawHandle::from_raw(p.handle)));
            held.push((num, *n, parent));
        }
        held.sort_by_key(|&(num, _, _)| num);
        println!("  #   rights      what                            name");
        for (num, n, parent) in &held {
            let label = &self.handles.get(*num).map_or("", |e| e.label.as_str());
            // Derived here: the label says so; granted or found: the graph.
            let from = match parent {
                Some(p) if !label.starts_with("derived") => format!(" (from #{p})"),
                _ => String::new(),
            };
            println!(
                "  #{num:<3}{:<12}{:<32}{label}{from}",
                rights_letters(n.rights()),
                describe_node(n)
            );
        }
        for (num, e) in self.handles.iter() {
            if !held.iter().any(|&(n, _, _)| n == num) {
                let why = match (&e.gone, libos::sys::cap_info(e.raw)) {
                    (Some(why), _) => why.clone(),
                    (None, Err(err)) => String::from(err.as_str()),
                    (None, Ok(_)) => String::from("not in the graph"),
                };
                println!("  #{num:<3}(gone: {why}) {}", e.label);
            }
        }
        Ok(())
    }

    /// `info <h>`: what the kernel says of one handle now.
    pub fn info(&mut self, args: &[&str]) -> Result<(), String> {
        expect_args(args, 1..=1, "info <handle>")?;
        let (num, raw) = self.handles.resolve(args[0])?;
        let info = libos::sys::cap_info(raw).map_err(|e| self.handles.error(num, e))?;
        println!(
            "#{num}: {} rights {}",
            describe_info(&info),
            rights_letters(Rights::from_bits_truncate(info.rights))
        );
        Ok(())
    }

    /// `derive <h> <rights> [<first> <count>]`.
    pub fn derive(&mut self, args: &[&str]) -> Result<(), String> {
        const USAGE: &str = "derive <handle> <rights> [<first sector> <count>]";
        if args.len() != 2 && args.len() != 4 {
            return Err(format!("usage: {USAGE}"));
        }
        let (num, raw) = self.handles.resolve(args[0])?;
        let rights = rights_arg(args[1])?;
        let (mode, a, b) = if args.len() == 4 {
            (DERIVE_RANGE, number_arg(args[2], "first sector")?, number_arg(args[3], "count")?)
        } else {
            (DERIVE_SAME, 0, 0)
        };
        let new = libos::sys::cap_derive(raw, rights, mode, a, b).map_err(|e| match e {
            libos::Error::MissingRight => format!(
                "#{num}: missing right (deriving needs DERIVE, and only rights it holds can be \
                 given)"
            ),
            e => self.handles.error(num, e),
        })?;
        let n = self.handles.add(new, &format!("derived from #{num}"));
        let what = libos::sys::cap_info(new).map_or(String::from("?"), |i| describe_info(&i));
        println!("#{n}: {what} rights {} (from #{num})", rights_letters(rights));
        Ok(())
    }

    /// `revoke <h>`.
    pub fn revoke(&mut self, args: &[&str]) -> Result<(), String> {
        expect_args(args, 1..=1, "revoke <handle>")?;
        let (num, raw) = self.handles.resolve(args[0])?;
        let n = libos::sys::cap_revoke(raw).map_err(|e| self.handles.error(num, e))?;
        // Which of our own numbers died with it, to explain their errors.
        let dead: Vec<usize> = self
            .handles
            .iter()
            .filter(|(_, e)| e.gone.is_none() && libos::sys::cap_kind(e.raw).is_err())
            .map(|(n, _)| n)
            .collect();
        for n in dead {
            self.handles.mark_gone(n, format!("revoked with #{num}"));
        }
        println!("#{num}: revoked {n} capabilities derived from it");
        Ok(())
    }

    /// `drop <h>`; never the console (the shell would lose its input and
    /// output with it).
    pub fn drop_handle(&mut self, args: &[&str]) -> Result<(), String> {
        expect_args(args, 1..=1, "drop <handle>")?;
        let (num, raw) = self.handles.resolve(args[0])?;
        if raw == self.console.raw() {
            return Err(format!("#{num} is the shell's own console: it would lose its input"));
        }
        libos::sys::cap_drop(raw).map_err(|e| self.handles.error(num, e))?;
        self.handles.mark_gone(num, String::from("dropped"));
        println!("#{num}: dropped");
        Ok(())
    }

    /// `graph`: the live graph as DOT, processes named by their jobs.
    pub fn graph(&mut self, args: &[&str]) -> Result<(), String> {
        expect_args(args, 0..=0, "graph")?;
        let names: Vec<(u64, &str)> =
            self.jobs.iter().map(|j| (j.process.raw().as_raw(), j.name.as_str())).collect();
        libos::graph::print_dot("shell", "shell", &names).map_err(|e| format!("cap_graph: {e}"))
    }
}
