//! exocapfs: a crash-safe file system as a library, over any
//! [`BlockDevice`] (a disk-range capability in QEMU, a [`MemDisk`] on the
//! host).
//!
//! ```
//! use libos::block::MemDisk;
//! use libos::fs::{Fs, OpenOptions};
//!
//! let mut fs = Fs::format(MemDisk::new(4096)).unwrap();
//! fs.mkdir("/docs").unwrap();
//! let f = fs.create("/docs/hello.txt").unwrap();
//! fs.write(&f, b"hello").unwrap();
//! fs.fsync(&f).unwrap(); // data and name are durable now
//! fs.close(f).unwrap();
//! let dev = fs.unmount().unwrap();
//!
//! let mut fs = Fs::mount(dev).unwrap();
//! let f = fs.open("/docs/hello.txt", &OpenOptions::new().read(true)).unwrap();
//! let mut buf = [0u8; 16];
//! assert_eq!(fs.read(&f, &mut buf).unwrap(), 5);
//! ```
//!
//! # On-disk layout (4 KiB blocks; see [`layout`])
//! `[superblock][journal][block bitmap][inode bitmap][inode table][data]`.
//! The superblock (block 0) holds a magic number, the format version, the
//! geometry (all derived from the device size, and checked against it) and
//! the sequence number where journal replay starts. Inodes are 256 bytes:
//! type, size, and an extent list (8 extents inline, more in a chain of
//! overflow blocks), so files can be sparse and as large as the device.
//! Directories are inodes whose blocks hold 128-byte entries; names are 1 to
//! [`MAX_NAME_LEN`] (120) bytes of UTF-8 without `/` or NUL.
//!
//! # Crash safety
//! Metadata (bitmaps, inodes, directory and extent blocks) is changed only
//! in an in-memory cache and reaches the disk through a checksummed redo
//! journal ([`journal`]); file data is copy-on-write with respect to
//! committed state ([`file`]). A *commit* writes file data to fresh blocks,
//! then the whole transaction (descriptor plus metadata images) in one
//! journal write, then issues one flush; the descriptor carries checksums
//! of the data blocks, so a transaction whose data did not reach the disk is
//! ignored. Freed blocks are reused only after a checkpoint. After a crash
//! the file system is exactly as it was at one commit. Mounting only
//! reads; before its first write, a mount checkpoints what recovery
//! replayed and moves the journal's sequence numbers past the transaction
//! recovery stopped at, so a commit that a crash cut short and recovery
//! ignored can never come back after a later crash, whatever is written
//! after it.
//!
//! # Persistence contract
//! - A commit happens at [`Fs::fsync`], [`Fs::sync`] and [`Fs::unmount`],
//!   and also on its own between two operations when the running
//!   transaction grows large (a quarter of the journal), or every few MiB
//!   inside one very large [`Fs::write`].
//! - A commit makes durable **every** change made before it, to any file
//!   or directory: `fsync` of a file also makes its name, its parent
//!   directories, other files' writes and any `rename`/`remove` done
//!   earlier durable. No separate directory sync is needed.
//! - When `fsync`/`sync`/`unmount` returns `Ok`, its changes survive any
//!   later crash. After a crash, [`Fs::mount`] recovers the state of the
//!   last commit that reached the disk: a consistent tree in which every
//!   operation is either entirely present or entirely absent (so `rename`
//!   is atomic, and a file replaced by `rename` is either the old or the
//!   new one), and in which files show only bytes written to them (holes
//!   and extended regions read as zeroes). This holds for any sequence of
//!   crashes: a crash while running on a recovered file system recovers
//!   that file system's last commit, never anything the earlier recovery
//!   dropped.
//! - Changes after the last commit may be lost in a crash, as a whole,
//!   per operation (except the chunks of a very large write, which commit
//!   in order).
//! - If the device fails a write or a flush during a commit, the error is
//!   returned and the file system refuses every further operation
//!   (returning that error) until it is mounted again; it never reports
//!   success for data that was not made durable. The same holds for the
//!   checkpoint a mount makes before its first write, whichever operation
//!   issues that write. An error outside a commit leaves the file system
//!   unchanged.
//!
//! # Handles
//! [`Fs::open`] returns a [`File`]; a removed or replaced file's handles
//! return [`FsError::NotFound`]. There are no hard links, symlinks,
//! permissions or timestamps.
#![forbid(unsafe_code)]

mod alloc;
mod dir;
mod error;
pub mod extent;
mod file;
pub mod fsck;
mod handle;
mod inode;
pub mod journal;
pub mod layout;
mod namespace;
mod ops;
pub mod path;
mod volume;

pub use error::FsError;
pub use fsck::FsckReport;
pub use handle::File;
pub use layout::{BLOCK_SIZE, FileType, MAX_NAME_LEN};
pub use ops::{DirEntry, Fs, Metadata, OpenOptions, SeekFrom, StatFs};

#[cfg(doc)]
use crate::block::{BlockDevice, MemDisk};
