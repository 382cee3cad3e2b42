//! Memory objects: sharing between processes, revoke (the peer's mapping
//! gone before `revoke` returns, its next touch a page fault that kills it
//! alone), every bad input of `mo_create`/`mo_map`, exact quota
//! accounting, disk reads into shared memory, the bulk channel (with a
//! peer that dies and one that writes garbage), and leases
//! (`tests/programs/shm-suite`).

use harness::{Exit, Image, Run, fresh_disk, test_dir};

/// Boots init running one `shm-suite` case, with a virtio-blk data disk.
fn run(case: &str) -> Run {
    let dir = test_dir(&format!("shm-{case}"));
    let disk = dir.join("data.img");
    fresh_disk(&disk, 4 << 20).expect("a data disk");
    let mut machine = Image::new(&format!("examples=shm-suite:case={case}"))
        .program("init")
        .program("shm-suite")
        .program("shm-suite-peer")
        .build(&dir);
    machine.data_disk = Some(disk);
    machine.run()
}

fn suite_case(case: &str, also: &[&str]) -> Run {
    let ok = format!("shm-suite: {case} ok");
    let example = format!("example shm-suite:case={case}: ok");
    let mut needles = vec![ok.as_str(), example.as_str()];
    needles.extend_from_slice(also);
    let run = run(case);
    run.expect(Exit::Success, &needles)
        .expect_absent("shm-suite-peer: ")
        .expect_absent("KERNEL")
        .expect_absent("AUTHORITY");
    run
}

#[test]
fn shm_pages_written_by_one_process_are_read_by_another() {
    suite_case("share", &[]);
}

#[test]
fn shm_revoke_unmaps_the_peer_whose_next_touch_faults_alone() {
    let run = run("revoke");
    run.expect(
        Exit::Success,
        &[
            "shm-suite: revoke ok",
            "example shm-suite:case=revoke: ok",
            "shm-suite-peer: a read after the revoke: Revoked",
        ],
    )
    .expect_absent("KERNEL")
    .expect_absent("AUTHORITY");
    let killed =
        run.console.lines().find(|l| l.contains("(shm-suite-peer) killed: #PF page fault"));
    let killed = killed.unwrap_or_else(|| panic!("no fault report\n{}", run.tail(40)));
    assert!(
        killed.contains("a memory object's page, revoked"),
        "the report does not say why: {killed}"
    );
}

#[test]
fn shm_every_bad_input_gets_its_own_error() {
    suite_case("bad", &[]);
}

#[test]
fn shm_quota_accounting_is_exact_in_any_order() {
    suite_case("quota", &[]);
}

#[test]
fn shm_disk_reads_land_in_shared_memory() {
    suite_case("disk", &[]);
}

#[test]
fn shm_bulk_channel_moves_4_mib_and_reports_dead_and_garbage_peers() {
    suite_case("bulk", &[]);
}

#[test]
fn shm_leases_lend_a_buffer_for_one_call_and_moves_take_mappings_along() {
    suite_case("lease", &[]);
}

/// Found by a review: a channel whose notification could not be made kept
/// the ring's object (and the first notification), charged for good.
#[test]
fn shm_a_failed_bulk_channel_gives_back_what_it_made() {
    suite_case("channel-undo", &[]);
}

/// Found by a review: the ends of a channel never closed their handles,
/// so its pages stayed charged until the process ended.
#[test]
fn shm_dropping_both_ends_of_a_bulk_channel_frees_it() {
    suite_case("channel-drop", &[]);
}

/// Found by a review: a refused map of a huge range still moved the next
/// free address past the end of user space, and every later map failed.
#[test]
fn shm_a_refused_huge_map_leaves_later_maps_working() {
    suite_case("map-huge", &[]);
}

/// A peer blocked in a disk read into its mapping when the object is
/// revoked and freed: its read fails with `BadAddress`, nothing leaks.
#[test]
fn shm_a_revoke_during_a_disk_read_into_the_mapping_fails_the_read_cleanly() {
    run("disk-revoke")
        .expect(
            Exit::Success,
            &[
                "shm-suite: disk-revoke ok",
                "example shm-suite:case=disk-revoke: ok",
                "shm-suite-peer: disk-revoke: BadAddress after ",
            ],
        )
        .expect_absent("KERNEL")
        .expect_absent("AUTHORITY");
}

/// Found by a review: the kernel's mapping records (`MAX_MAPPINGS`, 4096
/// for the whole machine) are charged to no quota, so one process with a
/// 1-page object and a few page tables takes them all, and no other
/// process can map a memory object (nor cut a hole in one of its mappings)
/// until it ends.
/// Found by a review: one process could take every mapping record of the
/// machine (the records are the kernel's, charged to no quota); now each
/// process may hold `MAX_MAPPINGS_PER_PROCESS`.
#[test]
fn shm_one_process_cannot_take_every_mapping_record() {
    run("hog")
        .expect(
            Exit::Success,
            &["shm-suite: hog ok", "example shm-suite:case=hog: ok", "shm-suite-peer: hog: "],
        )
        .expect_absent("KERNEL")
        .expect_absent("AUTHORITY");
}

/// Found by a review: a process blocked receiving into a mapping that a
/// revoke takes meanwhile got `BadAddress`, and the message was lost with
/// the handles it carried, already in its table under names it never
/// learned (a call's reply among them: the caller would wait for ever).
#[test]
fn shm_a_receive_into_a_revoked_mapping_still_delivers_the_handles() {
    suite_case("recv-revoke", &[]);
}
