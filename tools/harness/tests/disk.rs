//! Disk-range capabilities on a real disk (the controller `EXOCAP_DISK`
//! names: virtio-blk, AHCI or NVMe; `make test` runs this on each): edges, rights,
//! revocation, delegation, queue depth, persistence, injected I/O errors.

use harness::{DATA_DISK_BYTES, DiskController, Exit, Image, Run, fresh_disk, test_dir};
use std::path::Path;

fn boot_with_disk(dir: &Path, examples: &str, programs: &[&str], disk: &Path) -> Run {
    let mut image = Image::new(&format!("examples={examples}")).program("init");
    for p in programs {
        image = image.program(p);
    }
    let mut machine = image.build(dir);
    machine.data_disk = Some(disk.to_path_buf());
    machine.run()
}

#[test]
fn disk_ranges_behave() {
    let dir = test_dir("disktest");
    let disk = dir.join("data.img");
    fresh_disk(&disk, DATA_DISK_BYTES).unwrap();
    boot_with_disk(&dir, "disktest", &["disktest", "disktest-sub"], &disk).expect(
        Exit::Success,
        &[
            &format!("disk 0: {}", DiskController::from_env().log_name()),
            "range edges and rights ok",
            "revoke during a stream of writes ok",
            "delegation to a child that derives and revokes ok",
            "requests in flight, all complete with correct data; one more refused",
            "large and unaligned buffers ok",
            "example disktest: ok",
        ],
    );
}

#[test]
fn delegate_example_and_its_data_survive_a_reboot() {
    let dir = test_dir("delegate");
    let disk = dir.join("data.img");
    fresh_disk(&disk, DATA_DISK_BYTES).unwrap();
    let programs = ["delegate", "delegate-writer", "delegate-reader"];
    let first = boot_with_disk(&dir, "delegate", &programs, &disk);
    first
        .expect(
            Exit::Success,
            &[
                // The reader prints through the console it gets by default.
                "delegate-reader: pattern read back",
                "write refused (MissingRight)",
                "(range revoked)",
                "example delegate: ok",
            ],
        )
        .expect_absent("from a previous boot");
    let second = boot_with_disk(&dir, "delegate", &programs, &disk);
    second.expect(
        Exit::Success,
        &["the writer's pattern from a previous boot is on the disk", "example delegate: ok"],
    );
}

#[test]
fn in_flight_requests_report_revoked_and_dead_owners_leak_nothing() {
    // Issue 11, item 2: completions after a revoke (of a parent, of a
    // grandparent), a drop, and owners dying with requests in flight.
    let dir = test_dir("inflight");
    let disk = dir.join("data.img");
    fresh_disk(&disk, DATA_DISK_BYTES).unwrap();
    let run = boot_with_disk(&dir, "disktest:mode=inflight", &["disktest", "disktest-sub"], &disk);
    run.expect(
        Exit::Success,
        &[
            "a revoked write reported Revoked",
            "requests in flight report Revoked after a revoke or drop, copy nothing",
            "owners died with requests in flight (4 rounds); nothing leaked",
            "a read waiting for the disk reports Revoked",
            "example disktest:mode=inflight: ok",
        ],
    )
    .expect_absent("KERNEL")
    .expect_absent("unknown request")
    .expect_absent("DMA pool");
}

/// Boots `disktest` in `mode` on a data disk whose sector 4096 fails every
/// read and write (QEMU's `blkdebug`).
fn run_with_bad_sector(test: &str, mode: &str) -> Run {
    let dir = test_dir(test);
    let disk = dir.join("data.img");
    fresh_disk(&disk, DATA_DISK_BYTES).unwrap();
    let conf = dir.join("blkdebug.conf");
    let rule = |event: &str| {
        format!(
            "[inject-error]\nevent = \"{event}\"\nerrno = \"5\"\nsector = \"4096\"\nonce = \"off\"\n\n"
        )
    };
    std::fs::write(&conf, rule("read_aio") + &rule("write_aio")).unwrap();
    let mut machine = Image::new(&format!("examples=disktest:mode={mode}"))
        .program("init")
        .program("disktest")
        .program("disktest-sub")
        .build(&dir);
    machine.data_disk = Some(disk);
    machine.blkdebug = Some(conf);
    machine.run()
}

#[test]
fn injected_io_errors_reach_the_program() {
    run_with_bad_sector("ioerror", "ioerror")
        .expect(
            Exit::Success,
            &[
                "I/O errors reach the program; other sectors intact",
                "example disktest:mode=ioerror: ok",
            ],
        )
        .expect_absent("KERNEL");
}

#[test]
fn an_io_error_is_reported_on_its_own_request_only() {
    // Issue 11, item 3: a failed async read, then good synchronous reads:
    // each gets its own result, and no read returns before its data is in.
    run_with_bad_sector("ioerror-mixed", "ioerror-mixed")
        .expect(
            Exit::Success,
            &[
                "each I/O error is reported on its own request only",
                "example disktest:mode=ioerror-mixed: ok",
            ],
        )
        .expect_absent("KERNEL")
        .expect_absent("unknown request");
}

/// Runs with `-icount shift=0,sleep=off`: the guest's clocks and timer
/// follow the instructions it runs, and an idle guest jumps to its next
/// timer deadline rather than waiting for the host, so a host that stalls
/// QEMU's thread (two test machines on two busy cores) cannot make ticks
/// go missing; only a kernel that keeps interrupts off for a tick can.
/// (With `sleep=on`, idle time follows the host's clock again, and a
/// stalled host lost 8 ticks of 403 once in 6 runs.)
#[test]
fn sleepers_wake_on_time_and_no_tick_is_lost_during_io() {
    let dir = test_dir("timekeeping");
    let disk = dir.join("data.img");
    fresh_disk(&disk, DATA_DISK_BYTES).unwrap();
    let image = Image::new("examples=disktest:mode=timekeeping")
        .program("init")
        .program("disktest")
        .program("disktest-sub");
    let mut machine = image.build(&dir);
    machine.data_disk = Some(disk);
    machine.extra = ["-icount", "shift=0,sleep=off"].map(String::from).to_vec();
    machine.run().expect(
        Exit::Success,
        &[
            "disktest: sleepers wake on time and no tick is lost while the disk works",
            "example disktest:mode=timekeeping: ok",
        ],
    );
}

/// Disks without a completion interrupt (`diskirq=off`) still work, by the
/// timer tick's polling, and a reader the tick wakes runs at once.
///
/// On one CPU whatever the environment says: there only the busy CPU's own
/// tick can find the read done (with more, another CPU's tick may find it
/// first and hand it over, which hides a fault of the tick's own path).
#[test]
fn a_disk_without_interrupts_is_polled_and_its_reader_runs_at_once() {
    let dir = test_dir("tickwake");
    let disk = dir.join("data.img");
    fresh_disk(&disk, DATA_DISK_BYTES).unwrap();
    let mut machine = Image::new("examples=disktest:mode=tickwake diskirq=off")
        .program("init")
        .program("disktest")
        .program("disktest-sub")
        .build(&dir);
    machine.data_disk = Some(disk);
    machine.cpus = 1;
    machine.run().expect(
        Exit::Success,
        &[
            &format!("disk 0: {}", DiskController::from_env().log_name()),
            // Each controller's line ends with how it completes (NVMe and
            // AHCI put their queue depth before it).
            ", polled",
            "no completion interrupt (diskirq=off); polling",
            "disktest: a read the tick finds done runs its reader at once",
            "example disktest:mode=tickwake: ok",
        ],
    );
}

/// `disk_bind`: disk and ring completions signal a notification, which one
/// `notify_wait` shares with other sources.
#[test]
fn disk_completions_signal_a_bound_notification() {
    let dir = test_dir("disknotify");
    let disk = dir.join("data.img");
    fresh_disk(&disk, DATA_DISK_BYTES).unwrap();
    boot_with_disk(&dir, "disktest:mode=notify", &["disktest", "disktest-sub"], &disk).expect(
        Exit::Success,
        &[
            "disktest: disk and ring completions signal the bound notification, beside other sources",
            "example disktest:mode=notify: ok",
        ],
    );
}

/// Review finding (fails today): `disk_bind` with a bad handle fails, and
/// a failed call changes nothing, so the earlier binding still signals.
/// `kernel/src/syscall/disk.rs` `bind` removes it before the lookup.
#[test]
fn a_failed_disk_bind_keeps_the_earlier_binding() {
    let dir = test_dir("diskbindfail");
    let disk = dir.join("data.img");
    fresh_disk(&disk, DATA_DISK_BYTES).unwrap();
    boot_with_disk(&dir, "disktest:mode=bindfail", &["disktest", "disktest-sub"], &disk).expect(
        Exit::Success,
        &[
            "disktest: a failed disk_bind keeps the earlier binding",
            "example disktest:mode=bindfail: ok",
        ],
    );
}

/// Review finding: every process bound with `disk_bind` is signalled when
/// its request completes, however many complete in one reap of the disk
/// (`kernel/src/iowait.rs` `signal_bound` signals at most 16 per reap and
/// loses the rest). `diskirq=off` so that completions are reaped by the
/// tick and the idle loop, many at once.
#[test]
fn every_bound_process_is_signalled_when_many_complete_at_once() {
    let dir = test_dir("diskmanybound");
    let disk = dir.join("data.img");
    fresh_disk(&disk, DATA_DISK_BYTES).unwrap();
    boot_with_disk(
        &dir,
        "disktest:mode=manybound diskirq=off",
        &["disktest", "disktest-sub"],
        &disk,
    )
    .expect(
        Exit::Success,
        &[
            "disktest: 40 bound processes each had their completion signalled",
            "example disktest:mode=manybound: ok",
        ],
    );
}

/// Review finding (fails today): the frames under a blocking `disk_read`
/// (aligned buffer: the device writes the user's frames) stay allocated
/// until the device is done, even when the buffer's last pages are an I/O
/// ring whose last capability another process closes meanwhile
/// (`Kernel::ring_cap_removed` unmaps them at once). Booted with
/// `diskirq=off`, so the read waits for a timer tick and the child surely
/// runs during it.
#[test]
fn frames_under_a_blocking_read_outlive_a_ring_teardown() {
    let dir = test_dir("diskringread");
    let disk = dir.join("data.img");
    fresh_disk(&disk, DATA_DISK_BYTES).unwrap();
    boot_with_disk(
        &dir,
        "disktest:mode=ringread diskirq=off",
        &["disktest", "disktest-sub"],
        &disk,
    )
    .expect(
        Exit::Success,
        &[
            "disktest: pages under a blocking read stay until the device is done",
            "example disktest:mode=ringread: ok",
        ],
    )
    .expect_absent("BUG");
}
