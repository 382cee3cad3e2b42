//! A short run of the syscall fuzzer on fixed seeds (`make fuzz` runs it
//! longer): no kernel panic, hang, authority-check failure or broken rule.

use harness::{DATA_DISK_BYTES, Exit, Image, env_path, fresh_disk, test_dir};
use std::time::Duration;

fn fuzz(seed: u64, calls: u64) {
    let dir = test_dir(&format!("fuzz-test-{seed}"));
    let disk = dir.join("data.img");
    fresh_disk(&disk, DATA_DISK_BYTES).unwrap();
    let mut machine = Image::new(&format!("examples=fuzz:seed={seed}+calls={calls}"))
        .program("init")
        .program("fuzz")
        .file("bin/fuzz-child", env_path("EXOCAP_USER_DIR").join("fuzz"))
        .build(&dir);
    machine.data_disk = Some(disk);
    machine.timeout = Duration::from_secs(120);
    let run = machine.run();
    run.expect(
        Exit::Success,
        &[&format!("fuzz: seed {seed}:"), "0 violations", "init: 1/1 examples passed"],
    )
    .expect_absent("AUTHORITY CHECK FAILED")
    .expect_absent("KERNEL");
    // The IPC peer makes messages and handles really travel: a run where
    // none did would not test transfer under the authority checks.
    let (deliveries, peer) = ipc_counts(&run.console, seed)
        .unwrap_or_else(|| panic!("seed {seed}: no IPC summary\n{}", run.tail(20)));
    assert!(deliveries > 0 && peer > 0, "seed {seed}: no IPC message delivered\n{}", run.tail(20));
    // Rings really got entries to check (a run where none did would not
    // test the ring's checks).
    let (written, consumed) = ring_entries(&run.console, seed)
        .unwrap_or_else(|| panic!("seed {seed}: no ring summary\n{}", run.tail(20)));
    assert!(written > 0 && consumed > 0, "seed {seed}: no ring entry checked\n{}", run.tail(20));
    // Memory objects were really made and mapped (their invariants are
    // checked after every syscall only while some exist).
    let (created, mapped) = memory_objects(&run.console, seed)
        .unwrap_or_else(|| panic!("seed {seed}: no memory-object summary\n{}", run.tail(20)));
    assert!(created > 0 && mapped > 0, "seed {seed}: no memory object mapped\n{}", run.tail(20));
}

/// From the fuzzer's memory-object summary line: the objects it created
/// and the mappings it made.
fn memory_objects(console: &str, seed: u64) -> Option<(u64, u64)> {
    let line = console.lines().find(|l| {
        l.contains(&format!("fuzz: seed {seed}: ")) && l.contains(" memory objects created")
    })?;
    let number_before = |what: &str| -> Option<u64> {
        line[..line.find(what)?].split_whitespace().last()?.parse().ok()
    };
    Some((number_before(" memory objects created")?, number_before(" mappings made")?))
}

/// From the fuzzer's ring summary line: the submissions it wrote into
/// rings, and those the kernel consumed.
fn ring_entries(console: &str, seed: u64) -> Option<(u64, u64)> {
    let line = console.lines().find(|l| {
        l.contains(&format!("fuzz: seed {seed}: ")) && l.contains(" ring entries written")
    })?;
    let number_before = |what: &str| -> Option<u64> {
        line[..line.find(what)?].split_whitespace().last()?.parse().ok()
    };
    Some((number_before(" ring entries written")?, number_before(" consumed")?))
}

/// From the fuzzer's IPC summary line: the deliveries its calls made and
/// the messages its peer received.
fn ipc_counts(console: &str, seed: u64) -> Option<(u64, u64)> {
    let line = console
        .lines()
        .find(|l| l.contains(&format!("fuzz: seed {seed}: ")) && l.contains("IPC deliveries"))?;
    let number_before = |what: &str| -> Option<u64> {
        line[..line.find(what)?].split_whitespace().last()?.parse().ok()
    };
    Some((number_before(" IPC deliveries")?, number_before(" messages in")?))
}

#[test]
fn fuzz_seed_1() {
    fuzz(1, 20_000);
}

#[test]
fn fuzz_seed_2() {
    fuzz(2, 20_000);
}

#[test]
fn fuzz_seed_3() {
    fuzz(3, 20_000);
}
