//! Shared support for the file-system tests: a reference model of the
//! namespace and file contents, the operations applied to both, reading a
//! whole tree back, and block-device wrappers that record or fail I/O.
//!
//! Other test files include this one with `#[path = "fs_support.rs"] mod
//! support;`; its own tests check the model and the wrappers.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use libos::block::{BlockDevice, BlockError, MemDisk, SECTOR_SIZE};
use libos::fs::{FileType, Fs, FsError, OpenOptions, SeekFrom};

/// A node of the model tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A directory.
    Dir,
    /// A file and its bytes.
    File(Vec<u8>),
}

/// Every path (without the root) and what is there.
pub type Tree = BTreeMap<String, Node>;

/// Reads the whole tree of a mounted file system.
pub fn read_tree<D: BlockDevice>(fs: &mut Fs<D>) -> Result<Tree, FsError> {
    let mut tree = Tree::new();
    let mut stack = vec![String::new()];
    while let Some(dir) = stack.pop() {
        let shown = if dir.is_empty() { "/" } else { dir.as_str() };
        for e in fs.read_dir(shown)? {
            let p = format!("{dir}/{}", e.name);
            match e.file_type {
                FileType::Dir => {
                    tree.insert(p.clone(), Node::Dir);
                    stack.push(p);
                }
                FileType::File => {
                    let data = fs.read_file(&p)?;
                    tree.insert(p, Node::File(data));
                }
            }
        }
    }
    Ok(tree)
}

/// Deterministic test bytes: depend on the seed and the position.
pub fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| seed.wrapping_mul(31).wrapping_add((i % 253) as u8) | 1).collect()
}

/// One operation, applied both to a file system and to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `create` (truncates an existing file).
    Create(String),
    /// Write `len` pattern bytes at `off`.
    Write { path: String, off: u64, len: usize, seed: u8 },
    /// Append `len` pattern bytes.
    Append { path: String, len: usize, seed: u8 },
    /// `set_len`.
    Truncate { path: String, len: u64 },
    /// `mkdir`.
    Mkdir(String),
    /// `remove_file`.
    RemoveFile(String),
    /// `remove_dir`.
    RemoveDir(String),
    /// `rename`.
    Rename(String, String),
    /// `fsync` through a read handle.
    Fsync(String),
    /// `sync`.
    Sync,
}

impl Op {
    /// Whether a successful run of this op promises durability.
    pub fn is_durability_point(&self) -> bool {
        matches!(self, Op::Fsync(_) | Op::Sync)
    }

    /// Runs the op on a file system. A write that ran out of space returns
    /// the bytes it wrote.
    pub fn run<D: BlockDevice>(&self, fs: &mut Fs<D>) -> Result<usize, FsError> {
        let writer = |fs: &mut Fs<D>, path: &str, append: bool| {
            let mut o = OpenOptions::new();
            if append {
                o.append(true)
            } else {
                o.write(true)
            };
            fs.open(path, &o)
        };
        match self {
            Op::Create(p) => {
                let f = fs.create(p)?;
                fs.close(f)?;
                Ok(0)
            }
            Op::Write { path, off, len, seed } => {
                let f = writer(fs, path, false)?;
                let r = fs
                    .seek(&f, SeekFrom::Start(*off))
                    .and_then(|_| fs.write(&f, &pattern(*seed, *len)));
                fs.close(f)?;
                r
            }
            Op::Append { path, len, seed } => {
                let f = writer(fs, path, true)?;
                let r = fs.write(&f, &pattern(*seed, *len));
                fs.close(f)?;
                r
            }
            Op::Truncate { path, len } => {
                let f = writer(fs, path, false)?;
                let r = fs.set_len(&f, *len);
                fs.close(f)?;
                r.map(|_| 0)
            }
            Op::Mkdir(p) => fs.mkdir(p).map(|_| 0),
            Op::RemoveFile(p) => fs.remove_file(p).map(|_| 0),
            Op::RemoveDir(p) => fs.remove_dir(p).map(|_| 0),
            Op::Rename(a, b) => fs.rename(a, b).map(|_| 0),
            Op::Fsync(p) => {
                let f = fs.open(p, OpenOptions::new().read(true))?;
                let r = fs.fsync(&f);
                fs.close(f)?;
                r.map(|_| 0)
            }
            Op::Sync => fs.sync().map(|_| 0),
        }
    }
}

/// The reference model: a map of paths to contents with the file
/// system's error rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Model {
    /// The tree.
    pub tree: Tree,
}

fn split(path: &str) -> (Vec<&str>, &str) {
    let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let (last, parents) = comps.split_last().expect("test paths are not the root");
    (parents.to_vec(), last)
}

impl Model {
    fn walk_parent(&self, path: &str) -> Result<String, FsError> {
        let (parents, _) = split(path);
        let mut cur = String::new();
        for name in parents {
            cur = format!("{cur}/{name}");
            match self.tree.get(&cur) {
                None => return Err(FsError::NotFound),
                Some(Node::File(_)) => return Err(FsError::NotADirectory),
                Some(Node::Dir) => {}
            }
        }
        Ok(cur)
    }

    fn full(&self, path: &str) -> Result<String, FsError> {
        let parent = self.walk_parent(path)?;
        Ok(format!("{parent}/{}", split(path).1))
    }

    fn file_mut(&mut self, path: &str) -> Result<&mut Vec<u8>, FsError> {
        let p = self.full(path)?;
        match self.tree.get_mut(&p) {
            None => Err(FsError::NotFound),
            Some(Node::Dir) => Err(FsError::IsADirectory),
            Some(Node::File(d)) => Ok(d),
        }
    }

    fn has_children(&self, p: &str) -> bool {
        let prefix = format!("{p}/");
        self.tree.range(prefix.clone()..).next().is_some_and(|(k, _)| k.starts_with(&prefix))
    }

    /// Applies `op` given what the file system returned; returns what the
    /// model expected. A `NoSpace` from the file system is accepted as is
    /// (the model cannot predict space) and changes nothing; a short write
    /// applies the bytes written.
    pub fn apply(&mut self, op: &Op, fs_result: &Result<usize, FsError>) -> Result<usize, FsError> {
        if *fs_result == Err(FsError::NoSpace) {
            return Err(FsError::NoSpace);
        }
        let written = fs_result.as_ref().copied().unwrap_or(0);
        match op {
            Op::Create(p) => {
                let full = self.full(p)?;
                match self.tree.get(&full) {
                    Some(Node::Dir) => return Err(FsError::IsADirectory),
                    _ => self.tree.insert(full, Node::File(Vec::new())),
                };
                Ok(0)
            }
            Op::Write { path, off, len, seed } => {
                let d = self.file_mut(path)?;
                let data = pattern(*seed, *len);
                let n = if *len == 0 { 0 } else { written.min(*len) };
                let end = *off as usize + n;
                if n > 0 {
                    if d.len() < end {
                        d.resize(end, 0);
                    }
                    d[*off as usize..end].copy_from_slice(&data[..n]);
                }
                Ok(n)
            }
            Op::Append { path, len, seed } => {
                let d = self.file_mut(path)?;
                let n = written.min(*len);
                d.extend_from_slice(&pattern(*seed, *len)[..n]);
                Ok(n)
            }
            Op::Truncate { path, len } => {
                self.file_mut(path)?.resize(*len as usize, 0);
                Ok(0)
            }
            Op::Mkdir(p) => {
                let full = self.full(p)?;
                if self.tree.contains_key(&full) {
                    return Err(FsError::AlreadyExists);
                }
                self.tree.insert(full, Node::Dir);
                Ok(0)
            }
            Op::RemoveFile(p) => {
                let full = self.full(p)?;
                match self.tree.get(&full) {
                    None => Err(FsError::NotFound),
                    Some(Node::Dir) => Err(FsError::IsADirectory),
                    Some(Node::File(_)) => {
                        self.tree.remove(&full);
                        Ok(0)
                    }
                }
            }
            Op::RemoveDir(p) => {
                let full = self.full(p)?;
                match self.tree.get(&full) {
                    None => Err(FsError::NotFound),
                    Some(Node::File(_)) => Err(FsError::NotADirectory),
                    Some(Node::Dir) if self.has_children(&full) => Err(FsError::DirectoryNotEmpty),
                    Some(Node::Dir) => {
                        self.tree.remove(&full);
                        Ok(0)
                    }
                }
            }
            Op::Rename(a, b) => self.rename(a, b).map(|_| 0),
            Op::Fsync(p) => self.file_mut(p).map(|_| 0),
            Op::Sync => Ok(0),
        }
    }

    fn rename(&mut self, a: &str, b: &str) -> Result<(), FsError> {
        let from = self.full(a)?;
        let src = self.tree.get(&from).cloned().ok_or(FsError::NotFound)?;
        let to = self.full(b)?;
        if from == to {
            return Ok(());
        }
        if src == Node::Dir && to.starts_with(&format!("{from}/")) {
            return Err(FsError::InvalidArgument);
        }
        match (&src, self.tree.get(&to)) {
            (Node::File(_), Some(Node::Dir)) => return Err(FsError::IsADirectory),
            (Node::Dir, Some(Node::File(_))) => return Err(FsError::NotADirectory),
            (Node::Dir, Some(Node::Dir)) if self.has_children(&to) => {
                return Err(FsError::DirectoryNotEmpty);
            }
            _ => {}
        }
        self.tree.remove(&to);
        let prefix = format!("{from}/");
        let moved: Vec<String> =
            self.tree.keys().filter(|k| **k == from || k.starts_with(&prefix)).cloned().collect();
        for k in moved {
            let v = self.tree.remove(&k).expect("key listed");
            self.tree.insert(format!("{to}{}", &k[from.len()..]), v);
        }
        Ok(())
    }
}

/// One recorded device event.
#[derive(Debug, Clone)]
pub enum Event {
    /// A write of whole sectors, tagged with the op that issued it.
    Write { sector: u64, data: Vec<u8>, op: usize },
    /// A flush, tagged with the op that issued it.
    Flush { op: usize },
}

/// A device that records every write and flush. The log and the op tag
/// are shared so a test can read them while a file system owns the device.
#[derive(Debug)]
pub struct RecordingDisk {
    /// The live contents.
    pub disk: MemDisk,
    /// Everything written, in order.
    pub log: Rc<RefCell<Vec<Event>>>,
    /// Tag for new events (set by the test before each op).
    pub op: Rc<Cell<usize>>,
}

impl RecordingDisk {
    /// Records on top of `disk`.
    pub fn new(disk: MemDisk) -> Self {
        RecordingDisk { disk, log: Rc::default(), op: Rc::default() }
    }
}

impl BlockDevice for RecordingDisk {
    fn sector_count(&self) -> u64 {
        self.disk.sector_count()
    }
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.disk.read(sector, buf)
    }
    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), BlockError> {
        self.disk.write(sector, buf)?;
        self.log.borrow_mut().push(Event::Write { sector, data: buf.to_vec(), op: self.op.get() });
        Ok(())
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        self.log.borrow_mut().push(Event::Flush { op: self.op.get() });
        Ok(())
    }
}

/// A crashed image: a base plus sectors written over it.
#[derive(Debug)]
pub struct OverlayDisk<'a> {
    base: &'a [u8],
    over: HashMap<u64, [u8; SECTOR_SIZE]>,
}

impl<'a> OverlayDisk<'a> {
    /// The image `base` with nothing over it.
    pub fn new(base: &'a [u8]) -> Self {
        OverlayDisk { base, over: HashMap::new() }
    }

    /// Puts one sector over the base.
    pub fn put(&mut self, sector: u64, data: &[u8]) {
        let mut s = [0u8; SECTOR_SIZE];
        s.copy_from_slice(data);
        self.over.insert(sector, s);
    }

    /// The whole image as it reads now (base with the sectors over it),
    /// to mount again later as a crashed disk.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut img = self.base.to_vec();
        for (&sector, data) in &self.over {
            let at = sector as usize * SECTOR_SIZE;
            img[at..at + SECTOR_SIZE].copy_from_slice(data);
        }
        img
    }
}

impl BlockDevice for OverlayDisk<'_> {
    fn sector_count(&self) -> u64 {
        (self.base.len() / SECTOR_SIZE) as u64
    }
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        let range = libos::block::check_request(self.sector_count(), sector, buf.len())?;
        buf.copy_from_slice(&self.base[range]);
        for (i, chunk) in buf.chunks_mut(SECTOR_SIZE).enumerate() {
            if let Some(s) = self.over.get(&(sector + i as u64)) {
                chunk.copy_from_slice(s);
            }
        }
        Ok(())
    }
    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), BlockError> {
        libos::block::check_request(self.sector_count(), sector, buf.len())?;
        for (i, chunk) in buf.chunks(SECTOR_SIZE).enumerate() {
            self.put(sector + i as u64, chunk);
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        Ok(())
    }
}

/// Which call of a kind to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Never fail.
    None,
    /// Fail the n-th call (0-based) of this kind, and every later one.
    From(u64),
    /// Fail only the n-th call.
    Once(u64),
}

impl Fault {
    fn hits(self, n: u64) -> bool {
        match self {
            Fault::None => false,
            Fault::From(k) => n >= k,
            Fault::Once(k) => n == k,
        }
    }
}

/// A device that fails chosen reads, writes or flushes. A failed write
/// writes its first half (a partial write).
#[derive(Debug)]
pub struct FaultyDisk {
    /// The contents.
    pub disk: MemDisk,
    /// Read fault.
    pub reads: Fault,
    /// Write fault.
    pub writes: Fault,
    /// Flush fault.
    pub flushes: Fault,
    /// Calls so far: reads, writes, flushes.
    pub counts: [u64; 3],
}

impl FaultyDisk {
    /// No faults yet.
    pub fn new(disk: MemDisk) -> Self {
        FaultyDisk {
            disk,
            reads: Fault::None,
            writes: Fault::None,
            flushes: Fault::None,
            counts: [0; 3],
        }
    }
}

impl BlockDevice for FaultyDisk {
    fn sector_count(&self) -> u64 {
        self.disk.sector_count()
    }
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.counts[0] += 1;
        if self.reads.hits(self.counts[0] - 1) {
            return Err(BlockError::Io);
        }
        self.disk.read(sector, buf)
    }
    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), BlockError> {
        self.counts[1] += 1;
        if self.writes.hits(self.counts[1] - 1) {
            let sectors = buf.len() / SECTOR_SIZE;
            let half = sectors / 2 * SECTOR_SIZE;
            if half > 0 {
                self.disk.write(sector, &buf[..half])?;
            }
            return Err(BlockError::Io);
        }
        self.disk.write(sector, buf)
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        self.counts[2] += 1;
        if self.flushes.hits(self.counts[2] - 1) {
            return Err(BlockError::Io);
        }
        Ok(())
    }
}

/// A small deterministic random generator (xorshift*), for tests that
/// must not depend on a crate.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A value in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

#[test]
fn model_rename_moves_subtrees_and_checks_rules() {
    let mut m = Model::default();
    for op in [Op::Mkdir("/a".into()), Op::Mkdir("/a/b".into()), Op::Create("/a/b/f".into())] {
        assert_eq!(m.apply(&op, &Ok(0)), Ok(0));
    }
    assert_eq!(
        m.apply(&Op::Rename("/a".into(), "/a/b/c".into()), &Ok(0)),
        Err(FsError::InvalidArgument)
    );
    assert_eq!(m.apply(&Op::Rename("/a".into(), "/z".into()), &Ok(0)), Ok(0));
    assert!(m.tree.contains_key("/z/b/f"));
    assert!(!m.tree.contains_key("/a"));
    assert_eq!(m.apply(&Op::RemoveDir("/z".into()), &Ok(0)), Err(FsError::DirectoryNotEmpty));
    assert_eq!(m.apply(&Op::Create("/q/x".into()), &Ok(0)), Err(FsError::NotFound));
    assert_eq!(m.apply(&Op::Create("/z/b/f/x".into()), &Ok(0)), Err(FsError::NotADirectory));
}

#[test]
fn model_short_write_applies_prefix() {
    let mut m = Model::default();
    m.apply(&Op::Create("/f".into()), &Ok(0)).unwrap();
    let op = Op::Write { path: "/f".into(), off: 2, len: 10, seed: 1 };
    assert_eq!(m.apply(&op, &Ok(4)), Ok(4));
    assert_eq!(m.tree["/f"], Node::File([&[0, 0][..], &pattern(1, 4)].concat()));
}

#[test]
fn wrappers_record_overlay_and_fail() {
    let mut r = RecordingDisk::new(MemDisk::new(4));
    r.write(1, &[7u8; SECTOR_SIZE]).unwrap();
    r.flush().unwrap();
    assert_eq!(r.log.borrow().len(), 2);

    let base = vec![0u8; 4 * SECTOR_SIZE];
    let mut o = OverlayDisk::new(&base);
    o.put(2, &[9u8; SECTOR_SIZE]);
    let mut buf = vec![0u8; 2 * SECTOR_SIZE];
    o.read(1, &mut buf).unwrap();
    assert!(
        buf[..SECTOR_SIZE].iter().all(|&b| b == 0) && buf[SECTOR_SIZE..].iter().all(|&b| b == 9)
    );
    let img = o.to_vec();
    assert!(img[2 * SECTOR_SIZE..3 * SECTOR_SIZE].iter().all(|&b| b == 9));
    assert!(img[..2 * SECTOR_SIZE].iter().chain(&img[3 * SECTOR_SIZE..]).all(|&b| b == 0));

    let mut f = FaultyDisk::new(MemDisk::new(4));
    f.writes = Fault::Once(1);
    assert!(f.write(0, &[1u8; SECTOR_SIZE]).is_ok());
    assert_eq!(f.write(0, &[1u8; SECTOR_SIZE]), Err(BlockError::Io));
    assert!(f.write(0, &[1u8; SECTOR_SIZE]).is_ok());
}
