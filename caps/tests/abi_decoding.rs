//! The ABI's documentation cannot drift from its decoding.
//!
//! The decoding itself is generated (`caps::abi::syscall`): the kernel
//! implements `Handlers`, whose methods take each call's generated argument
//! struct, and the `Syscall` docs are generated from the same table. What
//! is still written by hand is checked here, by reading the source:
//! - the kernel's `Handlers` impl sends each call to a handler that takes
//!   that call's struct, and whose doc comment opens with the call's
//!   signature (`name(arg, arg)`);
//! - every place in `docs/` and the README that writes a call as
//!   `name(...)` names its arguments as the ABI does, in order.

use caps::abi::Syscall;

const WRAPPER: &str = include_str!("../../kernel/src/syscall/mod.rs");

/// The handler files, by the module name the wrapper uses.
fn handler_source(module: &str) -> &'static str {
    match module {
        "cap" => include_str!("../../kernel/src/syscall/cap.rs"),
        "console" => include_str!("../../kernel/src/syscall/console.rs"),
        "disk" => include_str!("../../kernel/src/syscall/disk.rs"),
        "graph" => include_str!("../../kernel/src/syscall/graph.rs"),
        "ipc" => include_str!("../../kernel/src/syscall/ipc.rs"),
        "mem" => include_str!("../../kernel/src/syscall/mem.rs"),
        "memobj" => include_str!("../../kernel/src/syscall/memobj.rs"),
        "notify" => include_str!("../../kernel/src/syscall/notify.rs"),
        "process" => include_str!("../../kernel/src/syscall/process.rs"),
        "ring" => include_str!("../../kernel/src/syscall/ring.rs"),
        "time" => include_str!("../../kernel/src/syscall/time.rs"),
        other => panic!("the wrapper calls into an unknown module {other:?}"),
    }
}

/// The method of `Handlers` that runs `call` (as the generated trait
/// names it).
fn method(call: Syscall) -> &'static str {
    match call {
        Syscall::Yield => "yield_now",
        other => other.name(),
    }
}

/// `(module, function)` the wrapper's `Handlers` method for `call` runs,
/// or `None` if it answers inline.
fn handler_of(call: Syscall) -> Option<(String, String)> {
    let needle = format!("fn {}(&mut self, ", method(call));
    let at = WRAPPER.find(&needle).unwrap_or_else(|| panic!("no Handlers method for {call:?}"));
    let rest = &WRAPPER[at..];
    let header = &rest[..rest.find('{').unwrap()];
    let want = format!("calls::{call:?})");
    if !header.contains("_: calls::") {
        assert!(header.contains(&want), "{call:?}: the method header is {header:?}");
    }
    let body = &rest[rest.find('{').unwrap() + 1..rest.find("\n    }").unwrap()];
    let body = body.trim().trim_start_matches("ret(");
    let (path, _) = body.split_once('(')?;
    let (module, function) = path.split_once("::")?;
    Some((module.to_string(), function.to_string()))
}

/// The handler fn's header (up to its body) and the first line of the
/// doc comment above `pub fn function(` in `source`.
fn handler(source: &str, function: &str) -> (String, String) {
    let at = source
        .find(&format!("pub fn {function}("))
        .unwrap_or_else(|| panic!("no handler fn {function}"));
    let header = source[at..at + source[at..].find('{').unwrap()].to_string();
    let above: Vec<&str> =
        source[..at].lines().rev().take_while(|l| l.starts_with("///")).collect();
    let doc =
        above.last().map(|l| l.trim_start_matches("///").trim().to_string()).unwrap_or_default();
    (header, doc)
}

#[test]
fn each_handler_takes_its_calls_struct_and_documents_its_signature() {
    let mut checked = 0;
    for call in Syscall::ALL {
        let sig = call.signature();
        let Some((module, function)) = handler_of(call) else {
            // Answered in the wrapper itself.
            assert!(matches!(call, Syscall::Nop | Syscall::Yield), "{call:?}");
            continue;
        };
        let (header, doc) = handler(handler_source(&module), &function);
        assert!(
            header.contains(&format!("calls::{call:?})")),
            "{module}::{function} ({call:?}) does not take calls::{call:?}: {header}"
        );
        let want = format!("`{}({})`", call.name(), sig.args.join(", "));
        assert!(
            doc.starts_with(&want),
            "{module}::{function} ({call:?}): its doc opens {doc:?}, the ABI says {want}"
        );
        checked += 1;
    }
    assert_eq!(checked, Syscall::COUNT - 2);
}

/// Every `` `name(args)` `` of a syscall in the prose docs, with its file.
fn doc_mentions() -> Vec<(&'static str, Syscall, String)> {
    let files: [(&str, &str); 4] = [
        ("README.md", include_str!("../../README.md")),
        ("docs/architecture.md", include_str!("../../docs/architecture.md")),
        ("docs/apps.md", include_str!("../../docs/apps.md")),
        ("caps/src/abi/args.rs", include_str!("../src/abi/args.rs")),
    ];
    let mut found = Vec::new();
    for (file, text) in files {
        for call in Syscall::ALL {
            let needle = format!("`{}(", call.name());
            let mut from = 0;
            while let Some(at) = text[from..].find(&needle) {
                let start = from + at + needle.len();
                let end = start + text[start..].find(')').expect("a closing parenthesis");
                found.push((file, call, text[start..end].to_string()));
                from = end;
            }
        }
    }
    found
}

#[test]
fn the_docs_name_each_calls_arguments_as_the_abi_does() {
    let mentions = doc_mentions();
    assert!(!mentions.is_empty(), "the docs name no call at all: is the scan broken?");
    let mut wrong = Vec::new();
    for (file, call, args) in mentions {
        let args: Vec<&str> = args.split(',').map(str::trim).filter(|a| !a.is_empty()).collect();
        if args != call.signature().args {
            wrong.push(format!(
                "{file}: `{}({})`, the ABI says `{}({})`",
                call.name(),
                args.join(", "),
                call.name(),
                call.signature().args.join(", ")
            ));
        }
    }
    assert!(wrong.is_empty(), "docs that differ from the ABI:\n{}", wrong.join("\n"));
}
