//! Notifications: signal and wait, badges ORed, rights and kinds, a waiter
//! in another process woken by a signal or by the revoke of its
//! capability, endpoints bound to a notification, and the quota
//! (`tests/programs/notify-suite`).

use harness::{Exit, Image, Run, test_dir};

/// Boots init running one `notify-suite` case.
fn run(case: &str) -> Run {
    let dir = test_dir(&format!("notify-{case}"));
    Image::new(&format!("examples=notify-suite:case={case}"))
        .program("init")
        .program("notify-suite")
        .program("notify-suite-peer")
        .build(&dir)
        .run()
}

/// Runs one case and expects it to pass (and print `also`), with no
/// complaint from the peer and no kernel or authority-check failure.
fn suite_case(case: &str, also: &[&str]) {
    let ok = format!("notify-suite: {case} ok");
    let example = format!("example notify-suite:case={case}: ok");
    let mut needles = vec![ok.as_str(), example.as_str()];
    needles.extend_from_slice(also);
    run(case)
        .expect(Exit::Success, &needles)
        .expect_absent("notify-suite-peer:")
        .expect_absent("KERNEL")
        .expect_absent("AUTHORITY");
}

#[test]
fn notify_signal_then_wait_returns_the_ored_badges_and_clears() {
    suite_case("signal", &[]);
}

#[test]
fn notify_refuses_missing_rights_wrong_kinds_and_bad_flags() {
    suite_case("rights", &[]);
}

#[test]
fn notify_a_waiter_in_another_process_wakes_on_a_signal() {
    suite_case("cross", &[]);
}

#[test]
fn notify_waiters_wake_one_per_signal_first_come_first_served() {
    suite_case("queue", &[]);
}

#[test]
fn notify_a_waiter_whose_capability_is_revoked_hears_revoked() {
    suite_case("revoke", &[]);
}

#[test]
fn notify_a_bound_endpoint_signals_when_a_sender_queues() {
    suite_case("bind", &[]);
}

#[test]
fn notify_waiters_hear_peer_gone_once_nothing_can_signal() {
    suite_case("gone", &[]);
}

#[test]
fn notify_create_and_drop_leaks_no_quota() {
    suite_case("quota", &["notify quota: "]);
}
