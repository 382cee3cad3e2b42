//! Hostile programs fail cleanly while the others carry on.

use harness::{DATA_DISK_BYTES, Exit, Image, Run, fresh_disk, test_dir};

/// Boots `cmdline` with init and `programs` in the ramdisk and a fresh
/// data disk, in the test directory `test`.
fn boot(test: &str, cmdline: &str, programs: &[&str]) -> Run {
    boot_on(test, cmdline, programs, harness::cpus_from_env())
}

/// [`boot`] on `cpus` CPUs.
fn boot_on(test: &str, cmdline: &str, programs: &[&str], cpus: u32) -> Run {
    let dir = test_dir(test);
    let disk = dir.join("data.img");
    fresh_disk(&disk, DATA_DISK_BYTES).unwrap();
    let mut image = Image::new(cmdline).program("init");
    for p in programs {
        image = image.program(p);
    }
    let mut machine = image.build(&dir);
    machine.data_disk = Some(disk);
    machine.cpus = cpus;
    machine.run()
}

const HOSTILE: [&str; 3] = ["hostile", "hostile-crasher", "hostile-deep"];

/// On one CPU, where the woken-waiter case can force its order; and on the
/// CPUs `SMP` says, where that case accepts either order.
#[test]
fn hostile_programs_fail_cleanly_and_others_carry_on() {
    hostile_on(1);
    let cpus = harness::cpus_from_env();
    if cpus > 1 {
        hostile_on(cpus);
    }
}

fn hostile_on(cpus: u32) {
    let (cmdline, woken) = if cpus == 1 {
        (
            "examples=hostile,hello",
            "hostile: a waiter woken but not yet run when its capability dies hears Revoked",
        )
    } else {
        ("examples=hostile:smp=1,hello", "hostile: a waiter woken ")
    };
    boot_on(&format!("hostile-{cpus}cpu"), cmdline, &[&HOSTILE[..], &["hello"]].concat(), cpus)
        .expect(
            Exit::Success,
            &[
                "hostile: a child spawned through a MAP|READ handle holds exactly MAP|READ",
                "hostile: waiters in proc_wait and sleep wake with Revoked when their capability dies",
                woken,
                "hostile: overlapping buffers refused or handled",
                "levels deep until the kernel refused; all unwound",
                "(hostile-crasher) killed: #PF page fault",
                "hostile: a child crashed holding a delegated range; it was released, ours works",
                if cpus == 1 { "example hostile: ok" } else { "example hostile:smp=1: ok" },
                "example hello: ok",
            ],
        )
        .expect_absent("KERNEL")
        .expect_absent("AUTHORITY");
}

/// Boots `hello` with one invariant deliberately broken after its first
/// syscall (`selftest=authority-<what>`): the authority checks must stop
/// the machine and say what is wrong. Without this, a checker that never
/// fires would pass every other test.
fn sabotaged(what: &str, expected: &str) {
    boot(
        &format!("authority-{what}"),
        &format!("selftest=authority-{what} examples=hello"),
        &["hello"],
    )
    .expect(
        Exit::Failure,
        &[
            &format!("sabotage: breaking authority-{what}"),
            "AUTHORITY CHECK FAILED after ",
            expected,
        ],
    )
    .expect_absent("example hello: ok");
}

#[test]
fn the_authority_checks_fire_on_rights_beyond_a_quota_ceiling() {
    sabotaged("rights", "holds rights beyond its quota's ceiling");
}

#[test]
fn the_authority_checks_fire_on_a_quota_over_its_limit() {
    sabotaged("quota", "over its limit");
}

#[test]
fn the_authority_checks_fire_on_a_root_capability_the_kernel_never_minted() {
    sabotaged("root", "was never minted by the kernel");
}

#[test]
fn the_authority_checks_fire_on_a_capability_naming_nothing() {
    sabotaged("dangling", "names nothing");
}

#[test]
fn the_authority_checks_fire_on_a_notification_queueing_a_process_not_waiting() {
    sabotaged("notify-queue", "queues a process not waiting");
}

#[test]
fn the_authority_checks_fire_on_a_mapping_that_outlived_its_capability() {
    sabotaged("stale-mapping", "outlived its capability");
}

#[test]
fn the_authority_checks_fire_on_a_memory_object_miscounting_its_capabilities() {
    sabotaged("mo-count", "counts 2 capabilities, 1 name it");
}

#[test]
fn the_authority_checks_fire_on_a_page_writable_in_one_mapping_and_executable_in_another() {
    sabotaged("mo-wx", "is writable and executable at once");
}

#[test]
fn a_full_process_table_is_its_own_error() {
    // The kernel's limit is lowered to 6 processes so the test reaches it;
    // init passes `procs=6` on to hostile, which fills the table.
    boot("process-table-full", "procs=6 examples=hostile:procs=6", &HOSTILE)
        .expect(
            Exit::Success,
            &[
                "hostile: a full process table is ProcessTableFull, with memory to spare",
                "example hostile:procs=6: ok",
            ],
        )
        .expect_absent("KERNEL");
}
