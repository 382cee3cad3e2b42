//! The live picture of authority: what this process can reach, as data
//! ([`snapshot`]) or as a Graphviz DOT graph ([`write_dot`]).
//!
//! The kernel's `cap_graph` reports every capability this process holds
//! and everything derived or granted from them, in any process, and
//! nothing else (`caps::abi::graph`). The DOT graph draws processes as
//! boxes, capabilities as ellipses labelled with their kind and, for disk
//! ranges, their sectors; its edges are `holds` (process to capability,
//! labelled with the rights), `derived from` (capability to the one it
//! came from) and `names` (capability to the object, for objects named by
//! id, so two capabilities to one endpoint meet at one node). A revoked
//! capability is gone from the kernel, so from every later picture.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write};

use caps::abi::{Error, GraphNode, ObjectKind, Rights};

/// The line before the DOT text when it is printed on the console, so a
/// host tool can cut it out of the log (`make graph`).
pub const BEGIN_MARKER: &str = "--- exocap authority graph begin ---";
/// The line after it.
pub const END_MARKER: &str = "--- exocap authority graph end ---";

/// Records asked for first; grown until the kernel's answer fits.
const FIRST_GUESS: usize = 64;
/// Tries before giving up on a graph that keeps growing under us.
const TRIES: usize = 8;

/// Every capability this process reaches, parents first.
///
/// Errors: `OutOfMemory` when the kernel cannot allocate its walk, or the
/// graph grew on each of several tries (other processes deriving fast).
#[cfg(target_os = "none")]
pub fn snapshot() -> Result<Vec<GraphNode>, Error> {
    let mut room = FIRST_GUESS;
    for _ in 0..TRIES {
        let mut nodes = alloc::vec![GraphNode::default(); room];
        let total = crate::sys::cap_graph(&mut nodes)?;
        if total <= room {
            nodes.truncate(total);
            return Ok(nodes);
        }
        room = total + total / 2;
    }
    Err(Error::OutOfMemory)
}

/// Host builds have no kernel to ask.
#[cfg(not(target_os = "none"))]
pub fn snapshot() -> Result<Vec<GraphNode>, Error> {
    let _ = (FIRST_GUESS, TRIES);
    Err(Error::BadSyscall)
}

/// Short names for rights, in bit order, as the graph labels show them.
const RIGHT_LETTERS: [(Rights, char); 10] = [
    (Rights::READ, 'R'),
    (Rights::WRITE, 'W'),
    (Rights::EXEC, 'X'),
    (Rights::MAP, 'M'),
    (Rights::SEND, 'S'),
    (Rights::RECV, 'V'),
    (Rights::WAIT, 'T'),
    (Rights::GRANT, 'g'),
    (Rights::DERIVE, 'd'),
    (Rights::REVOKE, 'r'),
];

/// `rights` in the graph's letters: `RW` read and write, `X` exec, `M`
/// map, `S` send, `V` receive, `T` wait, then `g` grant, `d` derive, `r`
/// revoke; `-` for none.
pub fn rights_letters(rights: Rights) -> String {
    let s: String =
        RIGHT_LETTERS.iter().filter(|(r, _)| rights.contains(*r)).map(|&(_, c)| c).collect();
    if s.is_empty() { String::from("-") } else { s }
}

/// Rights written in the letters of [`rights_letters`] (`RW`, `Rgd`...;
/// `-` for none): the inverse of it. `Err(c)` names the first character
/// that is no right's letter (or a letter given twice), so a caller can
/// say which.
pub fn parse_rights(text: &str) -> Result<Rights, char> {
    if text == "-" {
        return Ok(Rights::empty());
    }
    let mut rights = Rights::empty();
    for c in text.chars() {
        let &(r, _) = RIGHT_LETTERS.iter().find(|&&(_, l)| l == c).ok_or(c)?;
        if rights.contains(r) {
            return Err(c);
        }
        rights |= r;
    }
    if rights.is_empty() { Err(' ') } else { Ok(rights) }
}

/// What a capability is, in a label: `disk-range 0+2048` (device 0 is
/// implied), `endpoint`, `console`...
fn cap_label(n: &GraphNode) -> String {
    let kind = n.object_kind().map_or("unknown", ObjectKind::as_str);
    match n.object_kind() {
        Some(ObjectKind::DiskRange) if n.device == 0 => {
            alloc::format!("{kind} {}+{}", n.first, n.count)
        }
        Some(ObjectKind::DiskRange) => {
            alloc::format!("{kind} dev{} {}+{}", n.device, n.first, n.count)
        }
        _ if n.badge != 0 => alloc::format!("{kind} badge {}", n.badge),
        _ => String::from(kind),
    }
}

/// Writes `nodes` (from [`snapshot`]) as a Graphviz `digraph`.
///
/// `names` labels processes by their opaque holder id (a `Process`
/// capability's `object` is the id of the process it names); `me` is this
/// process's own label, used for the holder of the records that carry a
/// handle. Other processes show as `process <id>`, the id shortened.
pub fn write_dot(
    nodes: &[GraphNode],
    me: &str,
    names: &[(u64, &str)],
    out: &mut impl Write,
) -> fmt::Result {
    let mut processes: BTreeMap<u64, String> = BTreeMap::new();
    for n in nodes {
        processes.entry(n.holder).or_insert_with(|| {
            if let Some(&(_, name)) = names.iter().find(|&&(id, _)| id == n.holder) {
                String::from(name)
            } else if n.handle != 0 {
                String::from(me)
            } else {
                alloc::format!("process {:04x}", n.holder & 0xffff)
            }
        });
    }
    writeln!(out, "digraph authority {{")?;
    writeln!(out, "  rankdir=LR;")?;
    writeln!(out, "  node [fontname=\"monospace\", fontsize=10];")?;
    writeln!(out, "  edge [fontname=\"monospace\", fontsize=9];")?;
    for (id, name) in &processes {
        writeln!(out, "  \"p{id:016x}\" [shape=box, style=bold, label=\"{name}\"];")?;
    }
    let mut objects: BTreeMap<u64, String> = BTreeMap::new();
    for n in nodes {
        writeln!(out, "  \"c{:08x}\" [shape=ellipse, label=\"{}\"];", n.node, cap_label(n))?;
        writeln!(
            out,
            "  \"p{:016x}\" -> \"c{:08x}\" [label=\"holds {}\"];",
            n.holder,
            n.node,
            rights_letters(n.rights())
        )?;
        if let Some(parent) = n.parent() {
            writeln!(
                out,
                "  \"c{:08x}\" -> \"c{parent:08x}\" [label=\"derived from\", style=dashed];",
                n.node
            )?;
        }
        if n.object != 0 && n.object_kind() != Some(ObjectKind::Process) {
            let kind = n.object_kind().map_or("unknown", ObjectKind::as_str);
            objects
                .entry(n.object)
                .or_insert_with(|| alloc::format!("{kind} {:04x}", n.object & 0xffff));
            writeln!(
                out,
                "  \"c{:08x}\" -> \"o{:016x}\" [label=\"names\", style=dotted];",
                n.node, n.object
            )?;
        } else if n.object_kind() == Some(ObjectKind::Process) {
            // A process capability names a process box (which may hold
            // nothing we reach: then it is drawn here).
            if let alloc::collections::btree_map::Entry::Vacant(slot) = processes.entry(n.object) {
                let name = names.iter().find(|&&(id, _)| id == n.object).map(|&(_, s)| s);
                let label = match name {
                    Some(s) => String::from(s),
                    None => alloc::format!("process {:04x}", n.object & 0xffff),
                };
                writeln!(out, "  \"p{:016x}\" [shape=box, label=\"{label}\"];", n.object)?;
                slot.insert(label);
            }
            writeln!(
                out,
                "  \"c{:08x}\" -> \"p{:016x}\" [label=\"names\", style=dotted];",
                n.node, n.object
            )?;
        }
    }
    for (id, label) in &objects {
        writeln!(out, "  \"o{id:016x}\" [shape=diamond, label=\"{label}\"];")?;
    }
    writeln!(out, "}}")
}

/// Prints this process's picture on its console between
/// [`BEGIN_MARKER`] (followed by ` <title>`) and [`END_MARKER`]. Every
/// line of the DOT text but the first and last is indented, so lines other
/// programs print meanwhile (never indented by them) can be told apart.
/// `processes` names other processes by this process's handles to them
/// (see [`process_names`]). Errors: those of [`snapshot`].
pub fn print_dot(title: &str, me: &str, processes: &[(u64, &str)]) -> Result<(), Error> {
    let nodes = snapshot()?;
    let names = process_names(&nodes, processes);
    let mut dot = String::new();
    write_dot(&nodes, me, &names, &mut dot).map_err(|_| Error::OutOfMemory)?;
    // One line per write: other processes sharing the console then
    // interleave whole lines only, which a reader of the log can skip.
    crate::println!("{BEGIN_MARKER} {title}");
    for line in dot.lines() {
        crate::println!("{line}");
    }
    crate::println!("{END_MARKER}");
    Ok(())
}

/// The `names` for [`write_dot`] from handles this process holds to other
/// processes: each `(process handle, name)` becomes `(its holder id, name)`.
pub fn process_names<'a>(nodes: &[GraphNode], processes: &[(u64, &'a str)]) -> Vec<(u64, &'a str)> {
    processes
        .iter()
        .filter_map(|&(handle, name)| {
            let n = nodes.iter().find(|n| n.handle == handle && handle != 0)?;
            (n.object_kind() == Some(ObjectKind::Process)).then_some((n.object, name))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_letters_parse_back() {
        for bits in [0u32, 1, 3, 0x7f, 0x3ff, 0x155, 0x2aa] {
            let r = Rights::from_bits_truncate(bits);
            assert_eq!(parse_rights(&rights_letters(r)), Ok(r), "{bits:#x}");
        }
        assert_eq!(parse_rights("RW"), Ok(Rights::READ | Rights::WRITE));
        assert_eq!(parse_rights("Rq"), Err('q'));
        assert_eq!(parse_rights("rw"), Err('w'));
        assert_eq!(parse_rights("RR"), Err('R'));
        assert_eq!(parse_rights(""), Err(' '));
    }

    fn node(node: u32, parent: u32, kind: ObjectKind, holder: u64) -> GraphNode {
        GraphNode {
            node,
            parent,
            kind: kind as u32,
            rights: (Rights::READ | Rights::WRITE | Rights::GRANT).bits(),
            holder,
            ..GraphNode::default()
        }
    }

    #[test]
    fn dot_shows_holds_derived_from_rights_and_ranges() {
        let mut root = node(1, GraphNode::NO_PARENT, ObjectKind::DiskRange, 10);
        root.count = 2048;
        root.handle = 77;
        let mut child = node(2, 1, ObjectKind::DiskRange, 20);
        (child.first, child.count, child.rights) = (16, 8, Rights::READ.bits());
        let mut proc_cap = node(3, GraphNode::NO_PARENT, ObjectKind::Process, 10);
        (proc_cap.object, proc_cap.handle) = (20, 99);
        let nodes = [root, child, proc_cap];
        let names = process_names(&nodes, &[(99, "helper"), (5, "nobody")]);
        assert_eq!(names, [(20, "helper")]);
        let mut dot = String::new();
        write_dot(&nodes, "app", &names, &mut dot).unwrap();
        assert!(dot.starts_with("digraph authority {"), "{dot}");
        assert!(dot.contains("label=\"app\""), "{dot}");
        assert!(dot.contains("label=\"helper\""), "{dot}");
        assert!(dot.contains("label=\"disk-range 16+8\""), "{dot}");
        assert!(dot.contains("label=\"disk-range 0+2048\""), "{dot}");
        assert!(
            dot.contains("\"p0000000000000014\" -> \"c00000002\" [label=\"holds R\"]"),
            "{dot}"
        );
        assert!(dot.contains("\"c00000002\" -> \"c00000001\" [label=\"derived from\""), "{dot}");
        assert!(dot.contains("\"c00000003\" -> \"p0000000000000014\""), "{dot}");
        assert_eq!(dot.matches("label=\"holds").count(), 3);
        assert!(dot.trim_end().ends_with('}'));
    }

    #[test]
    fn dot_names_notifications_with_their_badge() {
        let root = node(1, GraphNode::NO_PARENT, ObjectKind::Notification, 10);
        let mut badged = node(2, 1, ObjectKind::Notification, 20);
        (badged.badge, badged.rights) = (4, Rights::SEND.bits());
        let mut dot = String::new();
        write_dot(&[root, badged], "app", &[], &mut dot).unwrap();
        assert!(dot.contains("label=\"notification\""), "{dot}");
        assert!(dot.contains("label=\"notification badge 4\""), "{dot}");
    }

    #[test]
    fn rights_have_one_letter_each() {
        assert_eq!(rights_letters(Rights::empty()), "-");
        assert_eq!(rights_letters(Rights::READ | Rights::REVOKE | Rights::GRANT), "Rgr");
        let all: String = RIGHT_LETTERS.iter().map(|&(_, c)| c).collect();
        let unique: alloc::collections::BTreeSet<char> = all.chars().collect();
        assert_eq!(unique.len(), RIGHT_LETTERS.len());
    }
}
