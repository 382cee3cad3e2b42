//! Property test: random operation sequences agree with the reference model
//! after every step and after every unmount + mount, and fsck stays clean.

#[path = "fs_support.rs"]
mod support;

use libos::block::MemDisk;
use libos::fs::Fs;
use proptest::prelude::*;
use support::{Model, Op, read_tree};

/// 8 MiB: big enough that the model never meets `NoSpace`.
const DISK_SECTORS: u64 = 16 * 1024;
const PATHS: &[&str] = &["/a", "/b", "/d", "/d/a", "/d/e", "/d/e/b", "/e", "/a/x"];

#[derive(Debug, Clone)]
enum Step {
    Op(Op),
    Remount,
}

fn path() -> impl Strategy<Value = String> {
    proptest::sample::select(PATHS).prop_map(String::from)
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => path().prop_map(|p| Step::Op(Op::Create(p))),
        4 => (path(), 0u64..20_000, 0usize..12_000, any::<u8>())
            .prop_map(|(path, off, len, seed)| Step::Op(Op::Write { path, off, len, seed })),
        2 => (path(), 0usize..6000, any::<u8>())
            .prop_map(|(path, len, seed)| Step::Op(Op::Append { path, len, seed })),
        2 => (path(), 0u64..30_000).prop_map(|(path, len)| Step::Op(Op::Truncate { path, len })),
        3 => path().prop_map(|p| Step::Op(Op::Mkdir(p))),
        2 => path().prop_map(|p| Step::Op(Op::RemoveFile(p))),
        2 => path().prop_map(|p| Step::Op(Op::RemoveDir(p))),
        3 => (path(), path()).prop_map(|(a, b)| Step::Op(Op::Rename(a, b))),
        1 => path().prop_map(|p| Step::Op(Op::Fsync(p))),
        1 => Just(Step::Op(Op::Sync)),
        1 => Just(Step::Remount),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn fs_agrees_with_model(steps in proptest::collection::vec(step(), 1..60)) {
        let mut fs = Fs::format(MemDisk::new(DISK_SECTORS)).unwrap();
        let mut model = Model::default();
        for (i, s) in steps.iter().enumerate() {
            match s {
                Step::Op(op) => {
                    let got = op.run(&mut fs);
                    let want = model.apply(op, &got);
                    prop_assert_eq!(got, want, "step {} {:?}", i, op);
                }
                Step::Remount => {
                    fs = Fs::mount(fs.unmount().unwrap()).unwrap();
                    let r = fs.fsck().unwrap();
                    prop_assert!(r.is_clean(), "fsck after remount: {:?}", r.problems);
                }
            }
            prop_assert_eq!(&read_tree(&mut fs).unwrap(), &model.tree, "after step {}", i);
        }
        let r = fs.fsck().unwrap();
        prop_assert!(r.is_clean(), "fsck: {:?}", r.problems);
        let mut fs = Fs::mount(fs.unmount().unwrap()).unwrap();
        prop_assert_eq!(&read_tree(&mut fs).unwrap(), &model.tree);
        let r = fs.fsck().unwrap();
        prop_assert!(r.is_clean(), "fsck after final remount: {:?}", r.problems);
    }
}
