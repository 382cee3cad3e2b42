//! Hostile programs fail cleanly while the others carry on.

use harness::{DATA_DISK_BYTES, Exit, Image, fresh_disk, test_dir};

#[test]
fn hostile_programs_fail_cleanly_and_others_carry_on() {
    let dir = test_dir("hostile");
    let disk = dir.join("data.img");
    fresh_disk(&disk, DATA_DISK_BYTES).unwrap();
    let mut machine = Image::new("examples=hostile,hello")
        .program("init")
        .program("hostile")
        .program("hostile-crasher")
        .program("hostile-deep")
        .program("hello")
        .build(&dir);
    machine.data_disk = Some(disk);
    machine
        .run()
        .expect(
            Exit::Success,
            &[
                "hostile: overlapping buffers refused or handled",
                "levels deep until the kernel refused; all unwound",
                "(hostile-crasher) killed: #PF page fault",
                "hostile: a child crashed holding a delegated range; it was released, ours works",
                "example hostile: ok",
                "example hello: ok",
            ],
        )
        .expect_absent("KERNEL")
        .expect_absent("AUTHORITY");
}
