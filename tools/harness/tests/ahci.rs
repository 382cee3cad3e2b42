//! What is particular to the AHCI driver (the disk, ring and file-system
//! suites run on AHCI too, with `EXOCAP_DISK=ahci`): which ports become
//! disks, what the boot log says about them, and recovery from a failed
//! command among several in flight. Every test here puts its data disk on
//! AHCI port 1 whatever `EXOCAP_DISK` says.

use harness::{DATA_DISK_BYTES, DiskController, Exit, Image, Machine, Run, fresh_disk, test_dir};
use std::path::Path;

/// A machine running `examples` with a fresh data disk on AHCI port 1.
fn machine(dir: &Path, examples: &str) -> Machine {
    let disk = dir.join("data.img");
    fresh_disk(&disk, DATA_DISK_BYTES).unwrap();
    let mut machine = Image::new(&format!("examples={examples}"))
        .program("init")
        .program("disktest")
        .program("disktest-sub")
        .build(dir);
    machine.data_disk = Some(disk);
    machine.controller = DiskController::Ahci;
    machine
}

/// q35's AHCI controller has six ports: 0 (the boot disk) and 1 (the
/// data disk) hold disks; 2 to 5 are empty and say nothing. The boot log
/// names the NCQ depth and the interrupt.
#[test]
fn empty_ports_are_skipped_quietly_and_the_log_names_the_ncq_depth() {
    let dir = test_dir("ahci-ports");
    machine(&dir, "disktest")
        .run()
        .expect(
            Exit::Success,
            &[
                "disk 0: AHCI port 1 at 00:1f.2, 256 MiB, NCQ depth 32, MSI",
                "disk 1: AHCI port 0 at 00:1f.2,",
                "the boot disk, read-only",
                "example disktest: ok",
            ],
        )
        .expect_absent("AHCI port 2")
        .expect_absent("AHCI port 5")
        .expect_absent("AHCI at 00:1f.2");
}

/// A CD-ROM drive (ATAPI) on port 2 is named in the log and not made a
/// disk; the data disk on port 1 is still disk 0.
#[test]
fn an_atapi_port_is_logged_and_skipped() {
    let dir = test_dir("ahci-atapi");
    let mut m = machine(&dir, "disktest");
    m.extra.extend(["-device", "ide-cd,bus=ide.2"].map(String::from));
    m.run()
        .expect(
            Exit::Success,
            &[
                "AHCI port 2 at 00:1f.2: an ATAPI device (CD/DVD), not a disk; skipped",
                "disk 0: AHCI port 1 at 00:1f.2",
                "example disktest: ok",
            ],
        )
        .expect_absent("disk 2:");
}

/// Boots `examples` on an AHCI data disk whose sector 4096 fails every
/// read and write (QEMU's `blkdebug`).
fn run_with_bad_sector(test: &str, examples: &str) -> Run {
    let dir = test_dir(test);
    let conf = dir.join("blkdebug.conf");
    let rule = |event: &str| {
        format!(
            "[inject-error]\nevent = \"{event}\"\nerrno = \"5\"\nsector = \"4096\"\nonce = \"off\"\n\n"
        )
    };
    std::fs::write(&conf, rule("read_aio") + &rule("write_aio")).unwrap();
    let mut m = machine(&dir, examples);
    m.blkdebug = Some(conf);
    m.run()
}

/// A failed NCQ command among several in flight (five reads, two of the
/// bad sector): the port restarts, the unfinished commands run again one
/// at a time, the failing ones get `IoError` and the others their data
/// (`disktest:mode=ioerror-mixed`); then the port keeps working with NCQ
/// (plain `disktest`, which stays off the bad sector: range edges, 32
/// requests in flight with their data checked, large buffers).
#[test]
fn a_failed_command_among_several_in_flight_fails_alone_and_the_port_recovers() {
    run_with_bad_sector("ahci-recovery", "disktest:mode=ioerror-mixed,disktest")
        .expect(
            Exit::Success,
            &[
                "AHCI port 1: error (PxIS 0x40000000",
                "each I/O error is reported on its own request only",
                "example disktest:mode=ioerror-mixed: ok",
                "requests in flight, all complete with correct data; one more refused",
                "example disktest: ok",
                "init: 2/2 examples passed",
            ],
        )
        .expect_absent("out of service")
        .expect_absent("unknown request")
        .expect_absent("KERNEL");
}

/// The same recovery with the controller's interrupt off: the timer
/// tick's polling finds the error and recovers.
#[test]
fn recovery_works_when_polled() {
    run_with_bad_sector("ahci-recovery-polled", "disktest:mode=ioerror-mixed diskirq=off")
        .expect(
            Exit::Success,
            &[
                "disk 0: AHCI port 1 at 00:1f.2, 256 MiB, NCQ depth 32, polled",
                "each I/O error is reported on its own request only",
                "example disktest:mode=ioerror-mixed: ok",
            ],
        )
        .expect_absent("out of service")
        .expect_absent("KERNEL");
}
