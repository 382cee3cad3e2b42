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
    machine
        .run()
        .expect(
            Exit::Success,
            &[&format!("fuzz: seed {seed}:"), "0 violations", "init: 1/1 examples passed"],
        )
        .expect_absent("AUTHORITY CHECK FAILED")
        .expect_absent("KERNEL");
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
