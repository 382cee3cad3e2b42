//! The system manifest: an app runs from its entry with exactly what the
//! entry grants, a missing grant is named, and a manifest mistake stops
//! the image build.

use harness::{DATA_DISK_BYTES, Exit, Image, Run, fresh_disk, test_dir};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Boots `examples` with `programs` and a fresh data disk; `manifest`,
/// if given, replaces the repository's manifests.
fn boot(test: &str, examples: &str, programs: &[&str], manifest: Option<&str>) -> Run {
    let dir = test_dir(test);
    let disk = dir.join("data.img");
    fresh_disk(&disk, DATA_DISK_BYTES).unwrap();
    let mut image = image(&dir, examples, programs, manifest);
    image = image.program("init");
    let mut machine = image.build(&dir);
    machine.data_disk = Some(disk);
    machine.run()
}

fn image(dir: &Path, examples: &str, programs: &[&str], manifest: Option<&str>) -> Image {
    let cmdline = if examples.is_empty() { String::new() } else { format!("examples={examples}") };
    let mut image = Image::new(&cmdline);
    for p in programs {
        image = image.program(p);
    }
    if let Some(text) = manifest {
        let path: PathBuf = dir.join("exocap.toml");
        std::fs::write(&path, text).unwrap();
        image = image.manifests(&[path]);
    }
    image
}

#[test]
fn the_readme_app_runs_from_its_manifest_entry() {
    // No `examples=`: init runs the manifest's apps, here the one whose
    // program the image holds. Its name has a '-', which means nothing.
    boot("first-app", "", &["first-app"], None).expect(
        Exit::Success,
        &["first byte: 0", "example first-app: ok", "init: 1/1 examples passed"],
    );
}

#[test]
fn an_app_missing_a_handle_is_told_its_name_and_the_manifest() {
    // The same app, with an entry that grants no disk.
    let manifest = "[[app]]\nname = \"first-app\"\n";
    boot("first-app-no-disk", "", &["first-app"], Some(manifest))
        .expect(
            Exit::Failure,
            &[
                "panic: panicked at examples/first-app/src/main.rs",
                "a disk range: this program was given no handle \"disk\" (a disk-range)",
                "exocap.toml",
                "example first-app: FAILED",
            ],
        )
        .expect_absent("first byte");
}

#[test]
fn an_app_s_slice_is_where_its_entry_puts_it() {
    // A marker at sector 100 of the data disk; the entry puts the app's
    // slice there, so its sector 0 is the marker.
    const MARKER: u8 = 0x5a;
    let dir = test_dir("first-app-at");
    let disk = dir.join("data.img");
    fresh_disk(&disk, DATA_DISK_BYTES).unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&disk).unwrap();
    file.write_all_at(&[MARKER], 100 * 512).unwrap();
    let manifest = "[[app]]\nname = \"first-app\"\ndisk = 8\ndisk_at = 100\n";
    let mut machine = image(&dir, "", &["first-app"], Some(manifest)).program("init").build(&dir);
    machine.data_disk = Some(disk);
    machine
        .run()
        .expect(Exit::Success, &[&format!("first byte: {MARKER}"), "example first-app: ok"]);
}

/// The imager's message for a build of `programs` under `manifest`.
fn build_error(test: &str, programs: &[&str], manifest: &str) -> String {
    let dir = test_dir(test);
    image(&dir, "", programs, Some(manifest)).program("init").try_build(&dir).unwrap_err()
}

#[test]
fn manifest_mistakes_fail_the_image_build_with_a_message() {
    let cases = [
        // A helper that is not a program of the image.
        ("[[app]]\nname = \"hello\"\nhelpers = [\"hello-helper\"]\n", "helper \"hello-helper\""),
        // A grant of something that does not exist.
        ("[[app]]\nname = \"hello\"\nserial = true\n", "serial"),
        // Overlapping slices.
        (
            "[[app]]\nname = \"hello\"\ndisk = 100\n[[app]]\nname = \"first-app\"\ndisk = 10\ndisk_at = 50\n",
            "overlaps app \"hello\"",
        ),
        // A slice larger than the disk.
        ("[disk]\nsectors = 1000\n[[app]]\nname = \"hello\"\ndisk = 2000\n", "does not fit"),
        // Not TOML.
        ("[[app]\nname = \"hello\"\n", "exocap.toml"),
    ];
    for (i, (manifest, needle)) in cases.iter().enumerate() {
        let err = build_error(&format!("manifest-mistake-{i}"), &["hello", "first-app"], manifest);
        assert!(err.contains(needle), "case {i}: want {needle:?} in: {err}");
        assert!(err.starts_with("imager: manifest: "), "case {i}: {err}");
    }
}
