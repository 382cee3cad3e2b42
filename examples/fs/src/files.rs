//! The example's file set: which files a run leaves on the disk and the
//! exact bytes each holds, derived from the run's generation number so a
//! later boot can check every byte.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

/// The example's top directory.
pub const TOP: &str = "/example";
/// The marker: its presence means a complete run left its files here.
pub const MARKER: &str = "/example/MARKER";
/// The marker's text before the generation number.
pub const MARKER_PREFIX: &str = "exocap fs example, generation ";
/// Directories a run leaves (besides `TOP`).
pub const DIRS: [&str; 2] = ["/example/docs", "/example/data"];
/// Regular data files and their sizes: empty, under a block, one block
/// exactly, an odd size, and a few MiB.
pub const DATA_FILES: [(&str, usize); 5] = [
    ("/example/data/empty.bin", 0),
    ("/example/data/small.bin", 100),
    ("/example/data/block.bin", 4096),
    ("/example/data/odd.bin", 200_003),
    ("/example/data/large.bin", 3 * 1024 * 1024 + 17),
];
/// The large file gets `PATCH_LEN` bytes overwritten at `PATCH_AT` after
/// it was first written (copy-on-write of blocks a commit references).
pub const PATCHED: &str = "/example/data/large.bin";
/// Offset of the overwrite (not block-aligned).
pub const PATCH_AT: usize = 1_000_001;
/// Length of the overwrite (spans several blocks).
pub const PATCH_LEN: usize = 20_000;
/// Where the notes file is written first, before it is renamed.
pub const DRAFT: &str = "/example/tmp/draft.txt";
/// The notes file's final name.
pub const NOTES: &str = "/example/docs/notes.txt";
/// The readme.
pub const README: &str = "/example/docs/readme.txt";
/// A scratch directory the run removes again.
pub const TMP: &str = "/example/tmp";
/// A file the run creates and removes.
pub const SCRATCH: &str = "/example/tmp/scratch.bin";

/// A 64-bit hash of a path (FNV-1a), to seed its contents.
fn path_seed(path: &str) -> u64 {
    path.bytes()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// Fills `buf` with the pseudo-random stream of `seed` (xorshift64*).
pub fn fill(seed: u64, buf: &mut [u8]) {
    let mut x = seed | 1;
    for chunk in buf.chunks_mut(8) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let word = x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
}

/// The contents data file `path` of `len` bytes is first written with in
/// `generation`.
pub fn plain_contents(path: &str, len: usize, generation: u64) -> Vec<u8> {
    let mut v = vec![0u8; len];
    fill(path_seed(path) ^ generation.rotate_left(32), &mut v);
    v
}

/// The final contents of data file `path` of `len` bytes in `generation`
/// (the plain contents, patched for `PATCHED`).
pub fn data_contents(path: &str, len: usize, generation: u64) -> Vec<u8> {
    let mut v = plain_contents(path, len, generation);
    if path == PATCHED {
        fill(path_seed(path) ^ generation ^ 0x5eed, &mut v[PATCH_AT..PATCH_AT + PATCH_LEN]);
    }
    v
}

/// The patch written over `PATCHED` (the bytes at `PATCH_AT..`).
pub fn patch_bytes(generation: u64) -> Vec<u8> {
    let mut v = vec![0u8; PATCH_LEN];
    fill(path_seed(PATCHED) ^ generation ^ 0x5eed, &mut v);
    v
}

/// The marker's contents.
pub fn marker(generation: u64) -> String {
    format!("{MARKER_PREFIX}{generation}\n")
}

/// The generation a marker names, if it is well-formed.
pub fn parse_marker(bytes: &[u8]) -> Option<u64> {
    let text = core::str::from_utf8(bytes).ok()?;
    text.strip_prefix(MARKER_PREFIX)?.strip_suffix('\n')?.parse().ok()
}

/// The readme's contents.
pub fn readme(generation: u64) -> String {
    format!("exocapfs on a disk-range capability; written by generation {generation}.\n")
}

/// The notes file's contents.
pub fn notes(generation: u64) -> String {
    let mut s = String::new();
    for line in 0..200 {
        s.push_str(&format!(
            "note {line} of generation {generation}: written as a draft, renamed\n"
        ));
    }
    s
}
