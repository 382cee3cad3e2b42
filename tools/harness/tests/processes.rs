//! Processes and the syscall path: user programs run isolated, every bad
//! input gets its own error, faults kill only the faulting process.

use harness::{Exit, Image, Run, env_path, test_dir};

/// Boots init running `examples` (comma-separated entries), with the
/// programs `programs` in the ramdisk.
fn run_examples(test: &str, examples: &str, programs: &[&str]) -> Run {
    let mut image = Image::new(&format!("examples={examples}")).program("init");
    for p in programs {
        image = image.program(p);
    }
    image.build(&test_dir(test)).run()
}

#[test]
fn hello_runs_and_init_reports_it() {
    run_examples("hello", "hello", &["hello"]).expect(
        Exit::Success,
        &["hello from hello, an exocap process", "example hello: ok", "init: 1/1 examples passed"],
    );
}

#[test]
fn processes_run_one_after_another_and_are_reaped() {
    // Ten in a row: each is reaped (its memory and slot reused) or the
    // later ones would run out.
    let list = ["hello"; 10].join(",");
    let run = run_examples("sequence", &list, &["hello"]);
    run.expect(Exit::Success, &["init: 10/10 examples passed"]);
    assert_eq!(run.console.matches("example hello: ok").count(), 10);
}

#[test]
fn a_failing_example_fails_the_run() {
    run_examples("missing", "no-such-program,hello", &["hello"]).expect(
        Exit::Failure,
        &[
            "example no-such-program: FAILED (no such program in the manifest: add an [[app]] entry to exocap.toml)",
            "example hello: ok",
            "init: 1/2 examples passed",
        ],
    );
}

#[test]
fn bad_input_sweep_gets_its_error_for_every_case() {
    // A RAM disk, so the sweep covers the disk syscalls too.
    let run = run_examples("sweep", "sweep ramdisk=1", &["sweep", "sweep-peer"]);
    run.expect(Exit::Success, &["all as expected", "example sweep: ok"]).expect_absent("PANIC");
}

/// Each fault kind with the vector the kernel must report.
const FAULTS: [(&str, &str); 25] = [
    ("page-fault", "#PF page fault"),
    ("write-code", "#PF page fault"),
    ("kernel-read", "#PF page fault"),
    ("kernel-jump", "#PF page fault"),
    ("noncanonical-jump", "#GP general protection"),
    ("general-protection", "#GP general protection"),
    ("privileged", "#GP general protection"),
    ("cli", "#GP general protection"),
    ("port-io", "#GP general protection"),
    ("divide", "#DE divide error"),
    ("invalid-opcode", "#UD invalid opcode"),
    ("breakpoint", "#BP breakpoint"),
    ("x87", "#NM device not available"),
    ("sse", "#UD invalid opcode"),
    ("stack-overflow", "#PF page fault"),
    ("single-step", "#DB debug"),
    ("single-step-syscall", "#DB debug"),
    ("int-reserved", "#GP general protection"),
    ("int-double-fault", "#GP general protection"),
    ("wrgsbase", "#UD invalid opcode"),
    ("icebp", "#DB debug"),
    ("int-nmi", "#GP general protection"),
    ("int-timer", "#GP general protection"),
    ("iret-to-kernel", "#GP general protection"),
    ("mov-ss-syscall", "#DB debug"),
];

#[test]
fn each_user_fault_kills_only_the_faulting_process() {
    // All faults in one boot, each followed by a healthy program.
    let list: Vec<String> = FAULTS.iter().map(|(k, _)| format!("fault:kind={k},hello")).collect();
    let run = run_examples("faults", &list.join(","), &["fault", "hello"]);
    run.expect(
        Exit::Failure,
        &[&format!("init: {}/{} examples passed", FAULTS.len(), 2 * FAULTS.len())],
    );
    for (kind, report) in FAULTS {
        let killed =
            run.console.lines().position(|l| l.contains("(fault) killed: ") && l.contains(report));
        assert!(killed.is_some(), "no kill report {report:?} for {kind}\n{}", run.tail(60));
        assert!(
            run.has_line(&format!("example fault:kind={kind}: FAILED (killed by CPU exception")),
            "init did not see {kind} die\n{}",
            run.tail(60)
        );
    }
    assert_eq!(run.console.matches("example hello: ok").count(), FAULTS.len());
    run.expect_absent("KERNEL");
}

#[test]
fn a_process_changing_its_gs_does_not_change_the_kernels() {
    // The test kernel's authority checks compare the kernel's GS base with
    // the CPU's per-CPU area after every syscall and at every timer tick.
    let run = run_examples("gs", "gs-abuse,hello", &["gs-abuse", "gs-abuse-peer", "hello"]);
    run.expect(
        Exit::Success,
        &[
            "gs-abuse: the kernel kept its GS base",
            // A process switch gives each process its own FS and GS
            // selectors back (`arch::context::switch`).
            "gs-abuse-peer: FS and GS stayed null beside a process that changed its own",
            "gs-abuse: FS and GS kept per process across switches",
            "example gs-abuse: ok",
            "example hello: ok",
            "init: 2/2 examples passed",
        ],
    )
    .expect_absent("AUTHORITY CHECK FAILED")
    .expect_absent("KERNEL");
    assert_eq!(run.console.matches("GS intact").count(), 2, "{}", run.tail(40));
}

#[test]
fn a_process_with_a_bad_stack_pointer_makes_syscalls_and_takes_ticks() {
    // The stack pointer at kernel, non-canonical, zero and top-of-user
    // addresses across a `Nop`, a `yield` and timer interrupts: the kernel
    // must never touch it, and give it back unchanged.
    let run = run_examples("bad-stack", "bad-stack,hello", &["bad-stack", "hello"]);
    run.expect(
        Exit::Success,
        &[
            "bad-stack: the kernel never used the user stack",
            "example bad-stack: ok",
            "init: 2/2 examples passed",
        ],
    )
    .expect_absent("AUTHORITY CHECK FAILED")
    .expect_absent("KERNEL");
}

#[test]
fn a_spinning_process_is_preempted() {
    run_examples("preempt", "preempt", &["preempt", "preempt-spin"])
        .expect(Exit::Success, &["beside a spinning process", "example preempt: ok"]);
}

#[test]
fn quotas_give_out_of_memory_and_table_full() {
    run_examples("quota", "quota,hello", &["quota", "hello"]).expect(
        Exit::Success,
        &["until OutOfMemory, unmapped, mapped again", "until TableFull, closed them", "init: 2/2"],
    );
}

/// Malformed variants of a good program image.
fn bad_images(good: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(good[32..40].try_into().unwrap()) as usize;
    let phentsize = u16_at(good, 54);
    let first_load = (0..u16_at(good, 56))
        .map(|i| phoff + i * phentsize)
        .find(|&o| u32::from_le_bytes(good[o..o + 4].try_into().unwrap()) == 1)
        .expect("a PT_LOAD");
    let patch = |offset: usize, bytes: &[u8]| {
        let mut b = good.to_vec();
        b[offset..offset + bytes.len()].copy_from_slice(bytes);
        b
    };
    vec![
        // Names are short: `badelf-bad-<name>` must fit a role (24 bytes).
        ("truncated", good[..100].to_vec()),
        ("garbage", (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect()),
        ("empty", Vec::new()),
        ("machine", patch(18, &3u16.to_le_bytes())),
        ("dynamic", patch(16, &3u16.to_le_bytes())),
        ("entry", patch(24, &0x1000u64.to_le_bytes())),
        ("w-and-x", patch(first_load + 4, &7u32.to_le_bytes())),
        ("low-vaddr", patch(first_load + 16, &0u64.to_le_bytes())),
        ("memsz", patch(first_load + 40, &u64::MAX.to_le_bytes())),
        ("offset", patch(first_load + 8, &(1u64 << 40).to_le_bytes())),
        ("kernel", patch(first_load + 16, &0xffff_ffff_8000_0000u64.to_le_bytes())),
    ]
}

#[test]
fn malformed_elf_images_are_refused() {
    let dir = test_dir("badelf");
    let hello = env_path("EXOCAP_USER_DIR").join("hello");
    let good = std::fs::read(&hello).expect("hello built");
    let mut image = Image::new("examples=badelf").program("init").program("badelf");
    image = image.file("bin/badelf-ok", &hello);
    for (name, bytes) in bad_images(&good) {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        image = image.file(&format!("bin/badelf-bad-{name}"), path);
    }
    image
        .build(&dir)
        .run()
        .expect(Exit::Success, &["badelf: 11 malformed images refused", "example badelf: ok"]);
}
