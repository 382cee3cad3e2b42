//! I/O rings bound to disk-range capabilities, on a real virtio-blk disk:
//! round trips, batches, every bad entry, garbage indices, full queues,
//! revocation in flight, teardown without leaks, several rings, and a
//! ring granted to another process (which may not enter it).

use harness::{DATA_DISK_BYTES, Exit, Image, fresh_disk, test_dir};

#[test]
fn io_rings_behave() {
    let dir = test_dir("ringtest");
    let disk = dir.join("data.img");
    fresh_disk(&disk, DATA_DISK_BYTES).unwrap();
    let mut machine = Image::new("examples=ringtest")
        .program("init")
        .program("ringtest")
        .program("ringtest-child")
        .build(&dir);
    machine.data_disk = Some(disk);
    machine
        .run()
        .expect(
            Exit::Success,
            &[
                "ringtest: reads and writes round trip and agree with disk_read",
                "ringtest: a batch of 32 reads in one ring_enter",
                "ringtest: every bad entry completed with its own error; the ring went on",
                "ringtest: garbage indices refused; full submission and completion queues",
                "ringtest: requests in flight complete Revoked after a revoke or drop, copy nothing",
                "ringtest: three rings in one process",
                "ringtest: ring_create refusals, each with its own error",
                "ringtest: teardown (drop, unmap, owner death) with requests in flight leaks nothing",
                "example ringtest: ok",
            ],
        )
        .expect_absent("KERNEL")
        .expect_absent("unknown request")
        .expect_absent("DMA pool");
}
