//! The harness judges runs correctly (no QEMU needed).

use harness::Exit;

#[test]
fn exit_statuses_map_to_outcomes() {
    // A triple fault with -no-reboot makes QEMU exit 0: never a success.
    assert_eq!(Exit::TripleFault.shell_status(), 2);
    assert_eq!(Exit::Success.shell_status(), 0);
    assert_eq!(Exit::Failure.shell_status(), 1);
    assert_eq!(Exit::Timeout.shell_status(), 124);
}

#[test]
fn a_machine_that_never_exits_times_out_and_is_killed() {
    // `-S` stops the CPU before the first instruction: QEMU never exits.
    let dir = harness::test_dir("harness-timeout");
    let image = dir.join("empty.img");
    harness::fresh_disk(&image, 1024 * 1024).unwrap();
    let mut machine = harness::Machine::new(&image);
    machine.extra.push("-S".into());
    machine.timeout = std::time::Duration::from_secs(2);
    let run = machine.run();
    assert_eq!(run.exit, Exit::Timeout, "console: {}", run.console);
}

/// The kernel goes into the image without its debug sections: the BIOS
/// loader reads every byte of it, and the release kernel's line tables
/// made each boot about 5 s longer under emulation.
#[test]
fn the_image_holds_the_kernel_without_debug_sections() {
    let dir = harness::test_dir("harness-stripped-kernel");
    let machine =
        harness::Image::new("examples=hello").program("init").program("hello").build(&dir);
    let kernel = std::fs::read(format!("{}.kernel", machine.image.display())).unwrap();
    let original = std::fs::read(std::env::var("EXOCAP_KERNEL").unwrap()).unwrap();
    let has_debug = |elf: &[u8]| elf.windows(11).any(|w| w == b".debug_line");
    assert!(!has_debug(&kernel), "the image's kernel has line tables");
    if has_debug(&original) {
        // `debug = 1` in the release profile.
        assert!(kernel.len() < original.len() / 2, "{} bytes of {}", kernel.len(), original.len());
    }
}
