//! The file system on a real disk range: the `fs` example on a fresh
//! data disk, then a second boot on the same disk that finds the first
//! boot's files intact (every byte, and a clean `fsck`).

use harness::{DATA_DISK_BYTES, Exit, Image, fresh_disk, test_dir};

#[test]
fn fs_example_files_survive_a_reboot() {
    let dir = test_dir("fs-example");
    let disk = dir.join("data.img");
    fresh_disk(&disk, DATA_DISK_BYTES).unwrap();
    let mut machine = Image::new("examples=fs").program("init").program("fs").build(&dir);
    machine.data_disk = Some(disk);

    let first = machine.run();
    first
        .expect(
            Exit::Success,
            &[
                "fs: no file system on the range",
                "fs: /example/docs holds notes.txt, readme.txt",
                "fs: generation 1: 8 files in 4 directories",
                "fsck clean",
                "example fs: ok",
            ],
        )
        .expect_absent("previous boot");

    let second = machine.run();
    second.expect(
        Exit::Success,
        &[
            "fs: found the files of a previous boot, intact (generation 1)",
            "fs: generation 2: 8 files in 4 directories",
            "example fs: ok",
        ],
    );
}
