//! Boot tests: the kernel comes up, reports its bugs clearly, and powers off
//! with the right status. Each test boots its own image (self-test kernel).

use std::time::Duration;

use harness::qmp::Action;
use harness::{EXAMPLE_PROGRAMS, EXAMPLES, Event, Exit, Image, Run, test_dir};

const BANNER: &str = "exocap 0.1.0 (x86_64 capability exokernel) booting";
/// How a boot with no programs ends.
const NOTHING_TO_RUN: &str = "no programs in the ramdisk: nothing to run; powering off";

fn boot(name: &str, cmdline: &str) -> harness::Run {
    Image::new(cmdline).build(&test_dir(name)).run()
}

#[test]
fn banner_memory_summary_and_clean_poweroff() {
    boot("banner", "")
        .expect(Exit::Success, &[BANNER, "memory: ", "frames free", NOTHING_TO_RUN])
        .expect_absent("EXCEPTION")
        .expect_absent("PANIC");
}

#[test]
fn uefi_boot_reaches_the_banner() {
    let machine = Image::new("").uefi().build(&test_dir("uefi"));
    // UEFI memory maps come in many pieces: none may be dropped.
    machine.run().expect(Exit::Success, &[BANNER, NOTHING_TO_RUN]).expect_absent("ignored");
}

#[test]
fn uefi_boot_runs_every_example_with_a_data_disk() {
    // `make run UEFI=1` once died at disk set-up: OVMF puts the virtio
    // BARs above all RAM, where the physical window had no mapping.
    let dir = test_dir("uefi-examples");
    let disk = dir.join("data.img");
    harness::fresh_disk(&disk, harness::DATA_DISK_BYTES).unwrap();
    let mut image = Image::new(&format!("examples={EXAMPLES}")).program("init").uefi();
    for p in EXAMPLE_PROGRAMS {
        image = image.program(p);
    }
    let mut machine = image.build(&dir);
    machine.data_disk = Some(disk);
    machine.timeout = Duration::from_secs(120);
    machine
        .run()
        .expect(
            Exit::Success,
            &[&format!("disk 0: {}", machine.controller.log_name()), "init: 4/4 examples passed"],
        )
        .expect_absent("EXCEPTION");
}

#[test]
fn bad_boot_settings_are_reported_not_fatal() {
    boot("bad-settings", "log=loud nonsense")
        .expect(Exit::Success, &["[WARN ] boot settings:", NOTHING_TO_RUN]);
}

#[test]
fn log_level_setting_is_obeyed() {
    boot("log-warn", "log=warn").expect(Exit::Success, &[]).expect_absent(BANNER);
}

/// Boots a self test that must end in a kernel exception report and a
/// failure exit (not a hang, not a triple fault).
fn expect_exception(selftest: &str, header: &str) -> harness::Run {
    let run = boot(selftest, &format!("selftest={selftest}"));
    run.expect(Exit::Failure, &[header, "rip=0x", "rax=0x"]);
    run
}

#[test]
fn divide_error_is_reported() {
    expect_exception(
        "divide",
        "KERNEL EXCEPTION #DE divide error (vector 0) error=0x0 rip=0xffffffff8",
    );
}

#[test]
fn invalid_opcode_is_reported() {
    expect_exception("invalid-opcode", "KERNEL EXCEPTION #UD invalid opcode (vector 6)");
}

#[test]
fn breakpoint_is_reported() {
    expect_exception("breakpoint", "KERNEL EXCEPTION #BP breakpoint (vector 3)");
}

#[test]
fn page_fault_is_reported_with_cr2() {
    expect_exception("page-fault", "KERNEL EXCEPTION #PF page fault (vector 14)")
        .expect(Exit::Failure, &["cr2=0x00007000dead0000"]);
}

#[test]
fn general_protection_is_reported() {
    expect_exception("general-protection", "KERNEL EXCEPTION #GP general protection (vector 13)");
}

#[test]
fn kernel_stack_overflow_is_a_reported_double_fault() {
    // Regression: the double-fault stack once sat in read-only memory, so a
    // stack overflow became a silent triple fault.
    expect_exception("stack-overflow", "KERNEL EXCEPTION #DF double fault (vector 8)");
}

#[test]
fn panic_is_reported_with_its_location() {
    boot("panic", "selftest=panic")
        .expect(Exit::Failure, &["KERNEL PANIC at kernel/src/selftest.rs:", "selftest panic"]);
}

#[test]
fn unknown_selftest_fails_the_run() {
    boot("unknown-selftest", "selftest=no-such-test")
        .expect(Exit::Failure, &["selftest no-such-test: unknown self test"]);
}

#[test]
fn kernel_heap_works() {
    boot("heap", "selftest=heap").expect(Exit::Success, &["selftest heap: ok"]);
}

#[test]
fn frame_allocator_hands_out_distinct_ascending_frames_and_refuses_a_double_free() {
    // The selftest frees one frame twice on purpose: the second is refused
    // and logged as a kernel bug, not a panic (issue 13's allocator).
    boot("frames", "selftest=frames").expect(
        Exit::Success,
        &["frame allocator: freeing frame", "refused: NotInUse", "selftest frames: ok"],
    );
}

#[test]
fn kernel_page_tables_map_and_unmap() {
    boot("paging", "selftest=paging").expect(Exit::Success, &["selftest paging: ok"]);
}

/// Boots `external` with `events` acted on while it runs.
fn external_events(test: &str, events: Vec<Event>) -> Run {
    let dir = test_dir(test);
    let mut machine =
        Image::new("examples=external").program("init").program("external").build(&dir);
    machine.events = events;
    machine.run()
}

fn nmi_after(line: &str) -> Event {
    Event { after_line: line.into(), delay: Duration::from_millis(300), action: Action::InjectNmi }
}

#[test]
fn an_nmi_between_an_entry_and_its_swapgs_finds_the_kernels_gs_base() {
    // The self test swaps to a user GS base in kernel mode, as a `syscall`
    // entry is before its `swapgs`, and sends itself an NMI: the paranoid
    // entry must run the handler on the kernel's base and put back the one
    // it found.
    boot("nmi-user-gs", "selftest=nmi-with-user-gs")
        .expect(Exit::Success, &["selftest nmi-with-user-gs: ok"])
        .expect_absent("KERNEL");
}

#[test]
fn an_nmi_is_reported_and_everything_carries_on() {
    // One NMI while a process spins in user mode, one while the CPU idles.
    external_events("nmi", vec![nmi_after("external: spinning"), nmi_after("external: idle")])
        .expect(
            Exit::Success,
            &[
                "harness: performed InjectNmi",
                "nmi: 1 non-maskable interrupt(s) received (1 since boot); external event",
                "nmi: 1 non-maskable interrupt(s) received (2 since boot); external event",
                "external: still running after both phases",
                "example external: ok",
            ],
        )
        .expect_absent("killed")
        .expect_absent("KERNEL");
}

#[test]
fn a_machine_check_is_reported_with_its_bank_and_powers_off() {
    // An uncorrected error (VAL|UC|EN|PCC) in bank 1, RIPV|EIPV set.
    let mce = Action::Monitor("mce 0 1 0xb200000000000000 0x5 0x1000 0x0".into());
    external_events(
        "machine-check",
        vec![Event {
            after_line: "external: spinning".into(),
            delay: Duration::from_millis(300),
            action: mce,
        }],
    )
    .expect(
        Exit::Failure,
        &[
            "MACHINE CHECK: uncorrected hardware error, powering off",
            "KERNEL EXCEPTION #MC machine check (vector 18)",
            "bank 1: status=0xb200000000000000 addr=0x1000",
        ],
    )
    .expect_absent("external: still running");
}

/// The symbol patterns of `kernel/hot.ld` (one `*(.text.<pattern>)` a line).
fn hot_patterns() -> Vec<String> {
    let script =
        std::fs::read_to_string(harness::repo_root().join("kernel/hot.ld")).expect("kernel/hot.ld");
    script
        .lines()
        .filter_map(|l| l.trim().strip_prefix("*(.text.")?.strip_suffix(')').map(String::from))
        .collect()
}

/// Whether `name` matches `pattern`, whose only wildcard is a trailing `*`.
fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pattern,
    }
}

#[test]
fn the_hot_path_section_holds_every_listed_function() {
    // A function renamed or removed would silently leave the hot path's
    // pages (`kernel/hot.ld`); this says which.
    let kernel = harness::env_path("EXOCAP_KERNEL");
    let run = |tool: &str, args: &[&str]| {
        let out = std::process::Command::new(tool)
            .args(args)
            .arg(&kernel)
            .output()
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let sections = run("readelf", &["-SW"]);
    let hot = sections.lines().find(|l| l.contains(" .text.hot ")).expect("a .text.hot section");
    let fields: Vec<&str> = hot.split_whitespace().collect();
    let at = fields.iter().position(|&f| f == ".text.hot").unwrap();
    let start = u64::from_str_radix(fields[at + 2], 16).unwrap();
    let size = u64::from_str_radix(fields[at + 4], 16).unwrap();
    let symbols: Vec<(u64, String)> = run("nm", &["--defined-only"])
        .lines()
        .filter_map(|l| {
            let mut p = l.split_whitespace();
            let addr = u64::from_str_radix(p.next()?, 16).ok()?;
            let _kind = p.next()?;
            Some((addr, p.next()?.to_string()))
        })
        .collect();
    let patterns = hot_patterns();
    assert!(patterns.len() > 20, "kernel/hot.ld lists {} functions", patterns.len());
    for pattern in patterns {
        let found: Vec<u64> =
            symbols.iter().filter(|(_, n)| matches(&pattern, n)).map(|&(a, _)| a).collect();
        assert!(!found.is_empty(), "kernel/hot.ld names {pattern}, which the kernel lacks");
        assert!(
            found.iter().all(|&a| (start..start + size).contains(&a)),
            "{pattern} is outside .text.hot"
        );
    }
}

/// The disk the system booted from is found by its MBR signature (the
/// imager writes it and names it on the kernel's command line) and listed
/// last, read-only, wherever it sits: here a copy of the boot image on a
/// virtio-blk device that PCI order puts before the data disk. The data
/// disk stays disk 0, and the apps' slices of it work.
#[test]
fn the_boot_disk_is_listed_last_and_read_only() {
    let dir = test_dir("bootdisk");
    let disk = dir.join("data.img");
    harness::fresh_disk(&disk, harness::DATA_DISK_BYTES).unwrap();
    let mut machine = Image::new("examples=delegate")
        .program("init")
        .program("delegate")
        .program("delegate-reader")
        .program("delegate-writer")
        .build(&dir);
    let copy = dir.join("boot-copy.img");
    std::fs::copy(&machine.image, &copy).unwrap();
    let drive = |id: &str, file: &std::path::Path| {
        format!("if=none,id={id},format=raw,cache=none,file={}", file.display())
    };
    machine.extra.extend(
        [
            "-drive",
            &drive("bootcopy", &copy),
            "-device",
            "virtio-blk-pci,drive=bootcopy,addr=0x3",
            "-drive",
            &drive("data", &disk),
            "-device",
            "virtio-blk-pci,drive=data,addr=0x5",
        ]
        .map(String::from),
    );
    machine
        .run()
        .expect(
            Exit::Success,
            &[
                "disk 0: virtio-blk at 00:05.0, 256 MiB, MSI-X",
                // Both disks with the boot signature, the copy and the
                // image QEMU boots from (AHCI port 0), come last.
                "disk 1: virtio-blk at 00:03.0",
                "MSI-X, the boot disk, read-only",
                "disk 2: AHCI port 0 at 00:1f.2",
                "example delegate: ok",
            ],
        )
        .expect_absent("disk 3:");
}

/// A TLB shootdown request is acted on only by its targets (kernel self
/// test `tlb-targets`): a CPU that was not one, catching up on it later,
/// once tore a reused root out from under a running process.
#[test]
fn a_shootdown_is_acted_on_by_its_targets_alone() {
    boot("tlb-targets", "selftest=tlb-targets")
        .expect(Exit::Success, &["selftest tlb-targets: ok"]);
}

/// A full table of reply objects does not stop a call to a server whose
/// spent reply waits parked (kernel self test `reply-parked`).
#[test]
fn a_parked_reply_serves_a_call_when_the_reply_table_is_full() {
    boot("reply-parked", "selftest=reply-parked")
        .expect(Exit::Success, &["selftest reply-parked: ok"]);
}

/// Every request a device is handed passed the block layer's checks, each
/// refusal with its own error (kernel self test `block-checks`).
#[test]
fn the_block_layer_refuses_bad_requests_before_any_device() {
    boot("block-checks", "selftest=block-checks")
        .expect(Exit::Success, &["selftest block-checks: ok"])
        .expect_absent("case ");
}
