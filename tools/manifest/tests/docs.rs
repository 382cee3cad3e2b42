//! The app guide (`docs/apps.md`) and the README show code that must stay
//! true: every Rust block is quoted, word for word, from a program the
//! build compiles (named on the line after the block), and every TOML
//! block is a manifest the parser accepts.

use exocap_manifest::host::{Mode, Source, parse};

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The fenced blocks of `text` with language `lang`, each with the line
/// that follows it.
fn blocks<'a>(text: &'a str, lang: &str) -> Vec<(String, &'a str)> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    let fence = format!("```{lang}");
    while let Some(line) = lines.next() {
        if line.trim_end() != fence {
            continue;
        }
        let mut body = String::new();
        for l in lines.by_ref() {
            if l.trim_end() == "```" {
                break;
            }
            body.push_str(l);
            body.push('\n');
        }
        out.push((body, lines.next().unwrap_or("")));
    }
    out
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn docs_code_blocks_are_quoted_from_built_programs() {
    let guide = read("docs/apps.md");
    let rust = blocks(&guide, "rust");
    assert!(rust.len() >= 7, "the guide's Rust blocks: {}", rust.len());
    for (body, after) in rust {
        let path = after.trim().trim_start_matches("(`").trim_end_matches("`)");
        assert!(
            path.ends_with(".rs") && !path.contains(' '),
            "a Rust block of docs/apps.md is not followed by (`<program file>`):\n{body}"
        );
        assert!(read(path).contains(&body), "docs/apps.md: this block is not in {path}:\n{body}");
    }
    let readme = read("README.md");
    let app = read("examples/first-app/src/main.rs");
    let rust = blocks(&readme, "rust");
    assert_eq!(rust.len(), 1);
    assert!(app.contains(&rust[0].0), "the README's app is not examples/first-app");
}

#[test]
fn docs_manifest_blocks_parse() {
    for path in ["docs/apps.md", "README.md"] {
        let text = read(path);
        let toml = blocks(&text, "toml");
        assert!(!toml.is_empty(), "{path}");
        for (body, _) in toml {
            parse(&[Source { name: path, text: &body }], &[], Mode::Partial)
                .unwrap_or_else(|e| panic!("{e}\n{body}"));
        }
    }
}
