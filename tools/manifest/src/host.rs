//! Reading and checking `exocap.toml` on the host (feature `host`).
//!
//! ```toml
//! [disk]
//! sectors = 524288              # the data disk the slices must fit in
//! shared = false                # true: these apps (tests, benchmarks) run
//!                               # alone on a scratch disk; their slices may overlap
//!
//! [[app]]
//! name = "delegate"             # examples/delegate
//! helpers = ["delegate-reader"] # programs it may start (their images)
//! disk = 32768                  # its own slice, in sectors ("rest": to the end)
//! disk_at = 0                   # optional: a fixed first sector
//! console = true                # the default
//! timer = true                  # default false
//! ```
//!
//! Every mistake is an error naming the file and the app: an unknown key,
//! an app or helper that is not a program of the image, a duplicate app,
//! a slice that is empty, overlaps another app's or does not fit the disk.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use serde::Deserialize;

use crate::{App, NAME_LEN, Slice, valid_name};

/// The data disk size assumed when a manifest does not say (256 MiB, the
/// size `make run` and the QEMU tests give a fresh data disk).
pub const DEFAULT_DISK_SECTORS: u64 = 256 * 1024 * 1024 / 512;

/// The program that reads the manifest; it is not an app.
const INIT: &str = "init";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    disk: Option<DiskDecl>,
    #[serde(default)]
    app: Vec<AppDecl>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DiskDecl {
    sectors: Option<u64>,
    #[serde(default)]
    shared: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppDecl {
    name: String,
    #[serde(default)]
    helpers: Vec<String>,
    disk: Option<toml::Value>,
    disk_at: Option<u64>,
    #[serde(default = "yes")]
    console: bool,
    #[serde(default)]
    timer: bool,
}

fn yes() -> bool {
    true
}

/// How [`parse`] treats programs and apps that do not match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The image is the whole system (`make run`): every app must be a
    /// program of the image, and every program (but init) must be an app
    /// or a helper in the manifest.
    Strict,
    /// The image holds a chosen few programs (a QEMU test, a benchmark):
    /// apps without their program are left out; the helpers of the apps
    /// kept must still be there.
    Partial,
}

/// One manifest file: its name (for messages) and its text.
pub struct Source<'a> {
    /// Shown in messages (its path).
    pub name: &'a str,
    /// The TOML text.
    pub text: &'a str,
}

/// Reads the manifests `sources` (their apps in order, one list) for an
/// image holding `programs`, lays out the disk slices and checks it all.
/// Returns the apps to hand to init, in order, or a message for the user.
pub fn parse(sources: &[Source], programs: &[&str], mode: Mode) -> Result<Vec<App>, String> {
    let mut disk_sectors = None;
    // Each app with the file it comes from and whether that file's apps
    // share the disk.
    let mut all: Vec<(App, &str, bool)> = Vec::new();
    // Next free sector for slices without `disk_at`.
    let mut cursor = 0u64;
    for src in sources {
        let file: File = toml::from_str(src.text).map_err(|e| format!("{}: {e}", src.name))?;
        let shared = file.disk.as_ref().is_some_and(|d| d.shared);
        if let Some(sectors) = file.disk.and_then(|d| d.sectors) {
            if sectors == 0 {
                return Err(format!("{}: [disk] sectors must not be 0", src.name));
            }
            disk_sectors = Some(disk_sectors.map_or(sectors, |s: u64| s.min(sectors)));
        }
        for decl in file.app {
            let here = |what: &str| format!("{}: app {:?}: {what}", src.name, decl.name);
            if !valid_name(&decl.name) {
                return Err(here(&format!(
                    "a name is 1 to {NAME_LEN} letters, digits, '-' or '_'"
                )));
            }
            if decl.name == INIT {
                return Err(here("init reads the manifest; it is not an app"));
            }
            if all.iter().any(|(a, _, _)| a.name == decl.name) {
                return Err(here("listed twice"));
            }
            for h in &decl.helpers {
                if !valid_name(h) || h == INIT || *h == decl.name {
                    return Err(here(&format!("helper {h:?} is not a valid helper name")));
                }
            }
            let slice = match (&decl.disk, decl.disk_at) {
                (None, None) => None,
                (None, Some(_)) => return Err(here("disk_at without disk (the slice size)")),
                (Some(size), at) => {
                    let count = match size {
                        toml::Value::Integer(n) if *n > 0 => Some(*n as u64),
                        toml::Value::String(s) if s == "rest" => None,
                        _ => {
                            return Err(here(
                                "disk is a sector count above 0, or \"rest\" (to the end of the disk)",
                            ));
                        }
                    };
                    let first = at.unwrap_or(cursor);
                    if at.is_none() {
                        cursor = match count {
                            Some(n) => first.saturating_add(n),
                            None => u64::MAX,
                        };
                    }
                    Some(Slice { first, count })
                }
            };
            let app = App {
                name: decl.name,
                slice,
                console: decl.console,
                timer: decl.timer,
                helpers: decl.helpers,
            };
            all.push((app, src.name, shared));
        }
    }
    let disk_sectors = disk_sectors.unwrap_or(DEFAULT_DISK_SECTORS);

    let has = |p: &str| programs.contains(&p);
    let mut apps: Vec<(App, &str, bool)> = Vec::new();
    for (app, file, shared) in all {
        if !has(&app.name) {
            match mode {
                Mode::Partial => continue,
                Mode::Strict => {
                    return Err(format!(
                        "{file}: unknown app {:?}: there is no program of that name \
                         (an app is a folder examples/{0}/ with a [[bin]] of that name)",
                        app.name
                    ));
                }
            }
        }
        if let Some(h) = app.helpers.iter().find(|h| !has(h)) {
            return Err(format!(
                "{file}: app {:?}: helper {h:?} is not a program of the image (no examples/{h}/?)",
                app.name
            ));
        }
        apps.push((app, file, shared));
    }
    for (i, (a, file, shared)) in apps.iter().enumerate() {
        let Some(s) = a.slice else { continue };
        if s.first >= disk_sectors || s.end(disk_sectors) > disk_sectors {
            return Err(format!(
                "{file}: app {:?}: its disk slice (sectors {}..{}) does not fit the \
                 {disk_sectors}-sector disk ([disk] sectors)",
                a.name,
                s.first,
                s.end(disk_sectors)
            ));
        }
        // Apps of a `shared` file (tests, benchmarks) run alone on a
        // scratch disk: their slices may overlap anything.
        for (b, _, b_shared) in &apps[..i] {
            let Some(t) = b.slice else { continue };
            if *shared || *b_shared {
                continue;
            }
            if s.first < t.end(disk_sectors) && t.first < s.end(disk_sectors) {
                return Err(format!(
                    "{file}: app {:?}: its disk slice (sectors {}..{}) overlaps app {:?}'s ({}..{})",
                    a.name,
                    s.first,
                    s.end(disk_sectors),
                    b.name,
                    t.first,
                    t.end(disk_sectors)
                ));
            }
        }
    }
    if mode == Mode::Strict {
        for p in programs.iter().filter(|&&p| p != INIT) {
            let named =
                apps.iter().any(|(a, _, _)| a.name == *p || a.helpers.iter().any(|h| h == p));
            if !named {
                return Err(format!(
                    "program {p:?} is in the image but not in the manifest: add an entry \
                     [[app]] name = \"{p}\" (or list it in an app's helpers) to {}",
                    sources.first().map_or("the manifest", |s| s.name)
                ));
            }
        }
    }
    Ok(apps.into_iter().map(|(a, _, _)| a).collect())
}

/// A short description of the apps for the build log.
pub fn describe(apps: &[App]) -> String {
    let names: Vec<String> = apps.iter().map(|a| a.name.to_string()).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn parse1(text: &str, programs: &[&str], mode: Mode) -> Result<Vec<App>, String> {
        parse(&[Source { name: "exocap.toml", text }], programs, mode)
    }

    const EXAMPLE: &str = r#"
        [[app]]
        name = "delegate"
        helpers = ["delegate-reader", "delegate-writer"]
        disk = 32768
        timer = true

        [[app]]
        name = "ipc"
        helpers = ["ipc-client"]
        disk = 32768

        [[app]]
        name = "hello"
        console = false

        [[app]]
        name = "fs"
        disk = "rest"
    "#;
    const PROGRAMS: [&str; 7] =
        ["init", "delegate", "delegate-reader", "delegate-writer", "ipc", "ipc-client", "hello"];

    #[test]
    fn slices_are_consecutive_in_manifest_order() {
        let mut programs = PROGRAMS.to_vec();
        programs.push("fs");
        let apps = parse1(EXAMPLE, &programs, Mode::Strict).unwrap();
        let slices: Vec<_> = apps.iter().map(|a| a.slice).collect();
        assert_eq!(
            slices,
            vec![
                Some(Slice { first: 0, count: Some(32768) }),
                Some(Slice { first: 32768, count: Some(32768) }),
                None,
                Some(Slice { first: 65536, count: None }),
            ]
        );
        assert_eq!(apps[0].helpers, vec!["delegate-reader", "delegate-writer"]);
        assert!(apps[0].console && apps[0].timer);
        assert!(!apps[2].console && !apps[1].timer);
    }

    #[test]
    fn an_unknown_app_fails_a_strict_build_and_is_left_out_of_a_partial_one() {
        let err = parse1(EXAMPLE, &PROGRAMS, Mode::Strict).unwrap_err();
        assert!(err.contains("unknown app \"fs\""), "{err}");
        let apps = parse1(EXAMPLE, &["init", "hello"], Mode::Partial).unwrap();
        assert_eq!(apps.len(), 1);
        assert_eq!(apps[0].name, "hello");
    }

    #[test]
    fn a_missing_helper_fails_even_a_partial_build() {
        let err =
            parse1(EXAMPLE, &["init", "delegate", "delegate-reader"], Mode::Partial).unwrap_err();
        assert!(err.contains("helper \"delegate-writer\""), "{err}");
    }

    #[test]
    fn a_program_not_in_the_manifest_fails_a_strict_build() {
        let mut programs = PROGRAMS.to_vec();
        programs.extend(["fs", "mine"]);
        let err = parse1(EXAMPLE, &programs, Mode::Strict).unwrap_err();
        assert!(err.contains("\"mine\"") && err.contains("[[app]] name = \"mine\""), "{err}");
    }

    #[test]
    fn a_dash_in_a_name_means_nothing() {
        let text = "[[app]]\nname = \"my-app\"\n";
        let apps = parse1(text, &["my-app"], Mode::Strict).unwrap();
        assert_eq!(apps[0].name, "my-app");
        assert!(apps[0].helpers.is_empty());
    }

    #[test]
    fn overlapping_slices_fail() {
        let text = r#"
            [[app]]
            name = "a"
            disk = 100
            [[app]]
            name = "b"
            disk = 10
            disk_at = 99
        "#;
        let err = parse1(text, &["a", "b"], Mode::Strict).unwrap_err();
        assert!(err.contains("overlaps app \"a\""), "{err}");
        // The same slices are fine when only one of the apps is in the image.
        assert!(parse1(text, &["b"], Mode::Partial).is_ok());
    }

    #[test]
    fn a_rest_slice_overlaps_everything_after_it() {
        let text = r#"
            [[app]]
            name = "a"
            disk = "rest"
            [[app]]
            name = "b"
            disk = 1
        "#;
        let err = parse1(text, &["a", "b"], Mode::Strict).unwrap_err();
        assert!(err.contains("\"b\""), "{err}");
    }

    #[test]
    fn oversized_and_empty_slices_fail() {
        let big = "[disk]\nsectors = 1000\n[[app]]\nname = \"a\"\ndisk = 1001\n";
        assert!(parse1(big, &["a"], Mode::Strict).unwrap_err().contains("does not fit"));
        let past =
            "[disk]\nsectors = 1000\n[[app]]\nname = \"a\"\ndisk = \"rest\"\ndisk_at = 1000\n";
        assert!(parse1(past, &["a"], Mode::Strict).unwrap_err().contains("does not fit"));
        let zero = "[[app]]\nname = \"a\"\ndisk = 0\n";
        assert!(parse1(zero, &["a"], Mode::Strict).unwrap_err().contains("sector count"));
        let word = "[[app]]\nname = \"a\"\ndisk = \"all\"\n";
        assert!(parse1(word, &["a"], Mode::Strict).is_err());
        let at_only = "[[app]]\nname = \"a\"\ndisk_at = 5\n";
        assert!(parse1(at_only, &["a"], Mode::Strict).unwrap_err().contains("disk_at"));
    }

    #[test]
    fn a_grant_of_something_unknown_fails() {
        let text = "[[app]]\nname = \"a\"\nserial = true\n";
        let err = parse1(text, &["a"], Mode::Strict).unwrap_err();
        assert!(err.contains("serial"), "{err}");
    }

    #[test]
    fn names_must_be_programs_names() {
        for text in [
            "[[app]]\nname = \"init\"\n",
            "[[app]]\nname = \"a b\"\n",
            "[[app]]\nname = \"a\"\n[[app]]\nname = \"a\"\n",
            "[[app]]\nname = \"a\"\nhelpers = [\"a\"]\n",
        ] {
            assert!(parse1(text, &["init", "a", "a b"], Mode::Strict).is_err(), "{text}");
        }
    }

    #[test]
    fn several_files_make_one_list_with_one_layout() {
        let first = Source { name: "one.toml", text: "[[app]]\nname = \"a\"\ndisk = 10\n" };
        let second = Source { name: "two.toml", text: "[[app]]\nname = \"b\"\ndisk = 10\n" };
        let apps = parse(&[first, second], &["a", "b"], Mode::Strict).unwrap();
        assert_eq!(apps[1].slice, Some(Slice { first: 10, count: Some(10) }));
        let dup = Source { name: "two.toml", text: "[[app]]\nname = \"a\"\n" };
        let first = Source { name: "one.toml", text: "[[app]]\nname = \"a\"\n" };
        assert!(parse(&[first, dup], &["a"], Mode::Strict).unwrap_err().contains("two.toml"));
    }

    /// The program names of a folder of packages (`prefix` + folder).
    fn programs_in(dir: &str, prefix: &str) -> Vec<String> {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let mut names: Vec<String> = std::fs::read_dir(std::format!("{root}/{dir}"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .map(|e| std::format!("{prefix}{}", e.file_name().to_string_lossy()))
            .collect();
        names.sort();
        names
    }

    fn check_file(path: &str, programs: &[String], mode: Mode) -> Vec<App> {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let text = std::fs::read_to_string(std::format!("{root}/{path}")).unwrap();
        let programs: Vec<&str> = programs.iter().map(String::as_str).collect();
        parse(&[Source { name: path, text: &text }], &programs, mode)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_repository_manifests_are_valid() {
        // `make run`'s image: every example folder but the interactive
        // shell, checked strictly.
        let mut examples = programs_in("examples", "");
        examples.retain(|p| p != "shell");
        let apps = check_file("exocap.toml", &examples, Mode::Strict);
        assert!(apps.iter().any(|a| a.name == "first-app"));
        // `make shell`'s image: the shell and the programs it may start
        // (the Makefile's SHELL_PROGRAMS).
        let shell: Vec<String> =
            ["shell", "hello", "first-app", "delegate-reader"].map(String::from).to_vec();
        let apps = check_file("shell.toml", &shell, Mode::Strict);
        assert_eq!(apps.len(), 1);
        assert!(apps[0].console && apps[0].timer && apps[0].slice.is_some());
        let benches = programs_in("bench", "bench-");
        let apps = check_file("bench/exocap.toml", &benches, Mode::Strict);
        assert_eq!(apps.len(), 7);
        // The test programs, plus the files the tests add as helpers.
        let mut tests = programs_in("tests/programs", "");
        tests.push("fuzz-child".into());
        tests.push("badelf-ok".into());
        for bad in ["truncated", "garbage", "empty", "machine", "dynamic", "entry", "w-and-x"] {
            tests.push(std::format!("badelf-bad-{bad}"));
        }
        for bad in ["low-vaddr", "memsz", "offset", "kernel"] {
            tests.push(std::format!("badelf-bad-{bad}"));
        }
        check_file("tests/programs/exocap.toml", &tests, Mode::Strict);
    }
}
