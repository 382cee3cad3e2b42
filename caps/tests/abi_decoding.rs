//! The kernel decodes what the ABI documents: for every syscall, the
//! kernel's dispatcher passes exactly the documented argument registers,
//! in order, to a handler whose doc comment opens with the same signature.
//!
//! The kernel builds only for bare metal, so this reads its source: the
//! dispatcher's `match` (`kernel/src/syscall/mod.rs`) and each handler's
//! doc comment. Renaming, reordering or dropping an argument on either side
//! without the other fails here.

use caps::abi::Syscall;

const DISPATCHER: &str = include_str!("../../kernel/src/syscall/mod.rs");

/// The handler files, by the module name the dispatcher uses.
fn handler_source(module: &str) -> &'static str {
    match module {
        "cap" => include_str!("../../kernel/src/syscall/cap.rs"),
        "console" => include_str!("../../kernel/src/syscall/console.rs"),
        "disk" => include_str!("../../kernel/src/syscall/disk.rs"),
        "graph" => include_str!("../../kernel/src/syscall/graph.rs"),
        "ipc" => include_str!("../../kernel/src/syscall/ipc.rs"),
        "mem" => include_str!("../../kernel/src/syscall/mem.rs"),
        "process" => include_str!("../../kernel/src/syscall/process.rs"),
        "time" => include_str!("../../kernel/src/syscall/time.rs"),
        other => panic!("the dispatcher calls into an unknown module {other:?}"),
    }
}

/// `(module, function, arguments)` of the dispatcher's arm for `call`.
fn arm(call: Syscall) -> Option<(String, String, Vec<String>)> {
    let needle = format!("Syscall::{call:?} =>");
    let at = DISPATCHER.find(&needle).unwrap_or_else(|| panic!("no dispatcher arm for {call:?}"));
    let rest = DISPATCHER[at + needle.len()..].trim_start();
    let expr = &rest[..rest.find(",\n").expect("an arm ends with a comma")];
    let (path, args) = expr.split_once('(')?;
    let (module, function) = path.split_once("::")?;
    let args = args.strip_suffix(')')?;
    let args = args.split(',').map(|a| a.trim().to_string()).filter(|a| !a.is_empty()).collect();
    Some((module.to_string(), function.to_string(), args))
}

/// The first line of the doc comment above `pub fn function(` in `source`.
fn first_doc_line(source: &str, function: &str) -> String {
    let at = source
        .find(&format!("pub fn {function}("))
        .unwrap_or_else(|| panic!("no handler fn {function}"));
    let above: Vec<&str> =
        source[..at].lines().rev().take_while(|l| l.starts_with("///")).collect();
    above.last().map(|l| l.trim_start_matches("///").trim().to_string()).unwrap_or_default()
}

#[test]
fn the_dispatcher_decodes_the_documented_arguments() {
    let mut checked = 0;
    for call in Syscall::ALL {
        let sig = call.signature();
        let Some((module, function, args)) = arm(call) else {
            // Only `nop` is answered inline (the entry handles it first).
            assert_eq!(call, Syscall::Nop, "{call:?}: the arm is not a handler call");
            assert!(sig.args.is_empty());
            continue;
        };
        if args != ["f"] {
            let want: Vec<String> = (0..sig.args.len()).map(|i| format!("a{i}")).collect();
            assert_eq!(
                args, want,
                "{call:?}: the dispatcher passes {args:?}, the ABI documents {:?}",
                sig.args
            );
        }
        let doc = first_doc_line(handler_source(&module), &function);
        let want = format!("`{}({})`", call.name(), sig.args.join(", "));
        assert!(
            doc.starts_with(&want),
            "{module}::{function} ({call:?}): its doc opens {doc:?}, the ABI says {want}"
        );
        checked += 1;
    }
    assert_eq!(checked, Syscall::COUNT - 1);
}
