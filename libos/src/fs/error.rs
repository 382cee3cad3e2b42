//! The file-system error type.

use core::fmt;

use crate::block::BlockError;

/// Why a file-system operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsError {
    /// A path component does not exist.
    NotFound,
    /// The target already exists.
    AlreadyExists,
    /// A directory was needed (as a path component or for `read_dir`).
    NotADirectory,
    /// A file was needed but this is a directory.
    IsADirectory,
    /// The directory still has entries.
    DirectoryNotEmpty,
    /// No free block or inode (or the transaction does not fit the journal).
    NoSpace,
    /// A name is longer than [`MAX_NAME_LEN`](super::MAX_NAME_LEN) bytes.
    NameTooLong,
    /// The image violates the format; the text says what was found.
    Corrupt(&'static str),
    /// The device failed.
    Io(BlockError),
    /// A bad path, option combination, offset or size.
    InvalidArgument,
    /// The handle is closed, or not open for this kind of access.
    BadHandle,
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsError::NotFound => f.write_str("not found"),
            FsError::AlreadyExists => f.write_str("already exists"),
            FsError::NotADirectory => f.write_str("not a directory"),
            FsError::IsADirectory => f.write_str("is a directory"),
            FsError::DirectoryNotEmpty => f.write_str("directory not empty"),
            FsError::NoSpace => f.write_str("no space left"),
            FsError::NameTooLong => f.write_str("name too long"),
            FsError::Corrupt(why) => write!(f, "corrupt file system: {why}"),
            FsError::Io(e) => write!(f, "I/O error: {e}"),
            FsError::InvalidArgument => f.write_str("invalid argument"),
            FsError::BadHandle => f.write_str("bad file handle"),
        }
    }
}

impl From<BlockError> for FsError {
    fn from(e: BlockError) -> Self {
        FsError::Io(e)
    }
}
