//! The live picture of authority (`make graph`): the `delegate` example,
//! booted with its `graph` argument, prints what it reaches through
//! `cap_graph` while its writer holds a delegated range, and again after
//! revoking it. The DOT must show the delegation (`holds`, `derived from`,
//! rights and ranges) and then lose exactly the revoked range.

use std::collections::BTreeMap;
use std::process::Command;

use harness::{DATA_DISK_BYTES, Exit, Image, authority_graphs, fresh_disk, test_dir};

/// The nodes (id → label) and edges (from, to, label) of one DOT graph.
struct Dot {
    nodes: BTreeMap<String, String>,
    edges: Vec<(String, String, String)>,
}

fn label(attrs: &str) -> String {
    let at = attrs.find("label=\"").expect("every node and edge has a label") + 7;
    attrs[at..at + attrs[at..].find('"').unwrap()].to_string()
}

fn parse(dot: &str) -> Dot {
    let mut d = Dot { nodes: BTreeMap::new(), edges: Vec::new() };
    for line in dot.lines().map(str::trim).filter(|l| l.starts_with('"')) {
        let quoted: Vec<&str> = line.split('"').collect();
        if line.contains(" -> ") {
            d.edges.push((quoted[1].into(), quoted[3].into(), label(line)));
        } else {
            d.nodes.insert(quoted[1].into(), label(line));
        }
    }
    d
}

impl Dot {
    fn process(&self, name: &str) -> Option<&str> {
        self.nodes
            .iter()
            .find(|(id, l)| id.starts_with('p') && *l == name)
            .map(|(id, _)| id.as_str())
    }

    /// `(capability, its label, the edge's label)` of each `holds` edge of
    /// process `p`.
    fn held_by(&self, p: &str) -> Vec<(String, String, String)> {
        self.edges
            .iter()
            .filter(|(from, _, l)| from == p && l.starts_with("holds"))
            .map(|(_, to, l)| (to.clone(), self.nodes[to].clone(), l.clone()))
            .collect()
    }

    fn parent_of(&self, cap: &str) -> Option<&str> {
        self.edges
            .iter()
            .find(|(from, _, l)| from == cap && l == "derived from")
            .map(|(_, to, _)| to.as_str())
    }
}

#[test]
fn the_graph_shows_a_delegated_range_then_loses_it_when_revoked() {
    let dir = test_dir("graph");
    let disk = dir.join("data.img");
    fresh_disk(&disk, DATA_DISK_BYTES).unwrap();
    let mut image = Image::new("examples=delegate:graph");
    for p in ["init", "delegate", "delegate-reader", "delegate-writer"] {
        image = image.program(p);
    }
    let mut machine = image.build(&dir);
    machine.data_disk = Some(disk);
    let run = machine.run();
    std::fs::write(dir.join("console.log"), &run.console).unwrap();
    run.expect(Exit::Success, &["example delegate:graph: ok"]);
    let graphs = authority_graphs(&run.console);
    let titles: Vec<&str> = graphs.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(titles, ["before revoke", "after revoke"], "{}", run.tail(40));
    let (before, after) = (parse(&graphs[0].1), parse(&graphs[1].1));

    // Before: the writer holds a read-write range derived from the one
    // the delegate holds with every right, the same sectors.
    let delegate = before.process("delegate").expect("the delegate's own box");
    let writer = before.process("delegate-writer").expect("the writer, named");
    let written: Vec<_> = before
        .held_by(writer)
        .into_iter()
        .filter(|(_, l, _)| l.starts_with("disk-range "))
        .collect();
    assert_eq!(written.len(), 1, "the writer holds one range: {written:?}");
    let (range_cap, range, holds) = &written[0];
    assert_eq!(holds, "holds RW");
    let parent = before.parent_of(range_cap).expect("the writer's range derives from R1");
    assert_eq!(&before.nodes[parent], range, "granted as is, the same sectors");
    let r1 = before.held_by(delegate).into_iter().find(|(c, _, _)| c == parent);
    assert_eq!(r1.map(|(_, _, h)| h).as_deref(), Some("holds RWgdr"));
    // R1 itself derives from the delegate's slice, whose own parent (in
    // init's table) is not reachable, so not drawn.
    let slice = before.parent_of(parent).expect("R1 derives from the slice");
    assert_eq!(before.parent_of(slice), None);
    assert!(before.held_by(delegate).iter().any(|(c, _, _)| c == slice));
    // The writer's console and timer come from the delegate's too.
    assert!(before.held_by(writer).iter().any(|(_, l, h)| l == "console" && h == "holds W"));
    // Nothing of init's is reachable: no process but these (and the
    // reader, which has ended and holds nothing, so is drawn only as what
    // the delegate's process handle names).
    let boxes = before.nodes.keys().filter(|id| id.starts_with('p')).count();
    assert_eq!(boxes, 3, "{:?}", before.nodes);

    // Objects of other kinds never share an id with a process (quotas and
    // processes are numbered by separate kernel tables).
    for id in before.nodes.keys().filter(|id| id.starts_with('o')) {
        assert!(!before.nodes.contains_key(&format!("p{}", &id[1..])), "{id} is also a process");
    }

    // After: the writer's range is gone; R1 and the rest remain.
    let writer_after = after.process("delegate-writer").expect("the writer still runs");
    assert!(
        after.held_by(writer_after).iter().all(|(_, l, _)| !l.starts_with("disk-range")),
        "the revoked range is still drawn"
    );
    assert!(after.nodes.contains_key(parent), "R1 itself is not revoked");
    assert!(!after.nodes.contains_key(range_cap));
    // Exactly the revoked range disappears, and nothing appears; except
    // that the writer may run between the revoke and the second picture
    // (a timer tick), see its range gone and end, taking the rest of what
    // it held with it (a race of the example, not of the kernel).
    assert!(after.nodes.keys().all(|id| before.nodes.contains_key(id)), "a node appeared");
    let gone: Vec<&String> =
        before.nodes.keys().filter(|id| !after.nodes.contains_key(*id)).collect();
    let mut expected = vec![range_cap.clone()];
    if after.held_by(writer_after).is_empty() {
        expected.extend(before.held_by(writer).into_iter().map(|(c, _, _)| c));
    }
    expected.sort();
    expected.dedup();
    assert_eq!(gone, expected.iter().collect::<Vec<_>>(), "{:?}", after.nodes);
    if !after.held_by(writer_after).is_empty() {
        assert_eq!(before.nodes.len() - after.nodes.len(), 1);
    }

    // Graphviz renders it (tools/setup.sh installs it, like QEMU).
    let dot_path = dir.join("graph.dot");
    std::fs::write(&dot_path, &graphs[0].1).unwrap();
    let svg = dir.join("graph.svg");
    let status = Command::new("dot").arg("-Tsvg").arg(&dot_path).arg("-o").arg(&svg).status();
    assert!(status.expect("Graphviz's dot runs").success());
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
}

#[test]
fn graphs_are_cut_out_of_the_console() {
    let console = "x\n--- exocap authority graph begin --- one\r\ndigraph a {\n\
                   other: a line of another program\n  \"p\" -> \"c\";\n}\n\
                   --- exocap authority graph end ---\nnoise\n\
                   --- exocap authority graph begin --- cut\ndigraph b {\n";
    let graphs = authority_graphs(console);
    assert_eq!(graphs, [("one".to_string(), "digraph a {\n  \"p\" -> \"c\";\n}\n".to_string())]);
}
