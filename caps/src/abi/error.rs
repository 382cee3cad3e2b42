//! Numbered error codes and the `rax` result convention.
//!
//! A syscall returns one `u64` in `rax`. Values up to [`MAX_VALUE`] are
//! successful results; the top [`ERROR_BAND`] values are errors, encoded as
//! `-(code)` in two's complement, as Linux does. Code 0 is success and is
//! never an [`Error`].

/// How many values at the top of the `u64` range are reserved for errors.
pub const ERROR_BAND: u64 = 4095;

/// The largest successful result a syscall can return.
pub const MAX_VALUE: u64 = u64::MAX - ERROR_BAND;

/// A recoverable error, returned to the caller by number.
///
/// The numbering is part of the ABI: never renumber, only append.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Error {
    /// The handle names no live capability in the caller's table (never
    /// issued, dropped, moved away, revoked, or from another process).
    BadHandle = 1,
    /// The capability is of another object kind than the call needs.
    WrongKind = 2,
    /// The capability lacks a right the call needs, or a derivation asked
    /// for rights its parent does not hold.
    MissingRight = 3,
    /// A sector, frame or sub-range lies outside the capability's range.
    OutOfRange = 4,
    /// A user address range is not mapped, not accessible or not canonical.
    BadAddress = 5,
    /// The caller's capability table is at its quota.
    TableFull = 6,
    /// The kernel (or the caller's memory quota) has no memory left.
    OutOfMemory = 7,
    /// The call would block and the caller asked not to.
    WouldBlock = 8,
    /// The other side (process, endpoint peer, table) is gone.
    PeerGone = 9,
    /// The capability an operation in flight was using has been revoked;
    /// the operation was cancelled.
    Revoked = 10,
    /// The object or the kernel does not support this operation.
    NotSupported = 11,
    /// An argument is malformed (zero count, undefined flag, badge rules).
    InvalidArgument = 12,
    /// The syscall number names no syscall.
    BadSyscall = 13,
    /// The device reported an I/O error.
    IoError = 14,
    /// The call waited as long as it was allowed to.
    TimedOut = 15,
    /// The object is busy (e.g. a second receiver on a single-receiver
    /// endpoint, a full submission queue).
    Busy = 16,
    /// The kernel's process table is full: no process can be created until
    /// one ends (the caller's memory quota may still have room).
    ProcessTableFull = 17,
    /// Part of the address range to map is already mapped.
    AddressInUse = 18,
    /// A mapping would be both writable and executable, or a page would be
    /// writable in one mapping and executable in another (W^X).
    WriteExecute = 19,
}

impl Error {
    /// Every error, in numeric order.
    pub const ALL: [Error; 19] = [
        Error::BadHandle,
        Error::WrongKind,
        Error::MissingRight,
        Error::OutOfRange,
        Error::BadAddress,
        Error::TableFull,
        Error::OutOfMemory,
        Error::WouldBlock,
        Error::PeerGone,
        Error::Revoked,
        Error::NotSupported,
        Error::InvalidArgument,
        Error::BadSyscall,
        Error::IoError,
        Error::TimedOut,
        Error::Busy,
        Error::ProcessTableFull,
        Error::AddressInUse,
        Error::WriteExecute,
    ];

    /// Decodes an error number; `None` for 0 (success) and unknown numbers.
    pub const fn from_raw(code: u64) -> Option<Error> {
        Some(match code {
            1 => Error::BadHandle,
            2 => Error::WrongKind,
            3 => Error::MissingRight,
            4 => Error::OutOfRange,
            5 => Error::BadAddress,
            6 => Error::TableFull,
            7 => Error::OutOfMemory,
            8 => Error::WouldBlock,
            9 => Error::PeerGone,
            10 => Error::Revoked,
            11 => Error::NotSupported,
            12 => Error::InvalidArgument,
            13 => Error::BadSyscall,
            14 => Error::IoError,
            15 => Error::TimedOut,
            16 => Error::Busy,
            17 => Error::ProcessTableFull,
            18 => Error::AddressInUse,
            19 => Error::WriteExecute,
            _ => return None,
        })
    }

    /// The error's number (never 0).
    pub const fn code(self) -> u64 {
        self as u64
    }

    /// A short description.
    pub const fn as_str(self) -> &'static str {
        match self {
            Error::BadHandle => "bad handle",
            Error::WrongKind => "wrong object kind",
            Error::MissingRight => "missing right",
            Error::OutOfRange => "out of range",
            Error::BadAddress => "bad address",
            Error::TableFull => "capability table full",
            Error::OutOfMemory => "out of memory",
            Error::WouldBlock => "would block",
            Error::PeerGone => "peer gone",
            Error::Revoked => "revoked",
            Error::NotSupported => "not supported",
            Error::InvalidArgument => "invalid argument",
            Error::BadSyscall => "bad syscall number",
            Error::IoError => "I/O error",
            Error::TimedOut => "timed out",
            Error::Busy => "busy",
            Error::ProcessTableFull => "process table full",
            Error::AddressInUse => "address already mapped",
            Error::WriteExecute => "writable and executable (W^X)",
        }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::error::Error for Error {}

/// Encodes an error for `rax`: `-(code)` as a `u64`.
#[inline]
pub const fn encode_error(error: Error) -> u64 {
    error.code().wrapping_neg()
}

/// Encodes a syscall result for `rax`.
///
/// A successful value above [`MAX_VALUE`] cannot be told apart from an
/// error; it is a kernel bug, caught by a debug assertion, and encoded as
/// [`Error::OutOfRange`] in release builds rather than as a false error code.
#[inline]
pub const fn encode_result(result: Result<u64, Error>) -> u64 {
    match result {
        Ok(value) if value <= MAX_VALUE => value,
        Ok(_) => {
            debug_assert!(false, "syscall value collides with the error band");
            encode_error(Error::OutOfRange)
        }
        Err(error) => encode_error(error),
    }
}

/// The error number carried by `rax`, or `None` if it holds a value.
pub const fn raw_error_code(raw: u64) -> Option<u64> {
    if raw > MAX_VALUE { Some(raw.wrapping_neg()) } else { None }
}

/// Decodes `rax` after a syscall. An error number this ABI version does not
/// know (a newer kernel) decodes as [`Error::NotSupported`]; use
/// [`raw_error_code`] to see the number itself.
#[inline]
pub const fn decode_result(raw: u64) -> Result<u64, Error> {
    match raw_error_code(raw) {
        None => Ok(raw),
        Some(code) => match Error::from_raw(code) {
            Some(error) => Err(error),
            None => Err(Error::NotSupported),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_dense_from_one_and_round_trip() {
        for (i, error) in Error::ALL.iter().enumerate() {
            assert_eq!(error.code(), i as u64 + 1);
            assert_eq!(Error::from_raw(error.code()), Some(*error));
            assert!(!error.as_str().is_empty());
        }
        assert_eq!(Error::from_raw(0), None);
        assert_eq!(Error::from_raw(Error::ALL.len() as u64 + 1), None);
    }

    #[test]
    fn errors_encode_as_negated_codes() {
        assert_eq!(encode_error(Error::BadHandle), u64::MAX);
        assert_eq!(encode_error(Error::WrongKind), u64::MAX - 1);
        for error in Error::ALL {
            let raw = encode_result(Err(error));
            assert!(raw > MAX_VALUE);
            assert_eq!(decode_result(raw), Err(error));
            assert_eq!(raw_error_code(raw), Some(error.code()));
        }
    }

    #[test]
    fn values_up_to_max_value_pass_through() {
        for value in [0, 1, 4096, 1 << 63, MAX_VALUE] {
            assert_eq!(encode_result(Ok(value)), value);
            assert_eq!(decode_result(value), Ok(value));
            assert_eq!(raw_error_code(value), None);
        }
    }

    #[test]
    fn unknown_error_codes_decode_as_not_supported() {
        let raw = (ERROR_BAND).wrapping_neg();
        assert_eq!(raw, MAX_VALUE + 1);
        assert_eq!(decode_result(raw), Err(Error::NotSupported));
        assert_eq!(raw_error_code(raw), Some(ERROR_BAND));
    }

    #[test]
    fn display_uses_the_description() {
        extern crate std;
        use std::string::ToString;
        assert_eq!(Error::TableFull.to_string(), "capability table full");
    }
}
