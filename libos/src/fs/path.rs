//! Path parsing. Paths are absolute, `/`-separated UTF-8 strings; empty
//! components (`//`, a trailing `/`) are ignored; `.` and `..` are not
//! supported and give [`FsError::InvalidArgument`].

use alloc::vec::Vec;

use super::FsError;
use super::layout::MAX_NAME_LEN;

/// Checks one name: 1 to [`MAX_NAME_LEN`] bytes, no `/` or NUL, not `.` or
/// `..`.
pub fn check_name_bytes(name: &[u8]) -> Result<(), FsError> {
    if name.is_empty() || name == b"." || name == b".." || name.contains(&0) {
        return Err(FsError::InvalidArgument);
    }
    if name.contains(&b'/') {
        return Err(FsError::InvalidArgument);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(FsError::NameTooLong);
    }
    if core::str::from_utf8(name).is_err() {
        return Err(FsError::InvalidArgument);
    }
    Ok(())
}

/// Splits an absolute path into its checked components (empty for `/`).
pub fn components(path: &str) -> Result<Vec<&str>, FsError> {
    let rest = path.strip_prefix('/').ok_or(FsError::InvalidArgument)?;
    let mut out = Vec::new();
    for c in rest.split('/').filter(|c| !c.is_empty()) {
        check_name_bytes(c.as_bytes())?;
        out.push(c);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    #[test]
    fn splits_and_normalizes() {
        assert_eq!(components("/").unwrap(), Vec::<&str>::new());
        assert_eq!(components("//a///b/").unwrap(), ["a", "b"]);
    }

    #[test]
    fn rejects_bad_paths() {
        assert_eq!(components("a/b"), Err(FsError::InvalidArgument));
        assert_eq!(components("/a/../b"), Err(FsError::InvalidArgument));
        assert_eq!(components("/./b"), Err(FsError::InvalidArgument));
        assert_eq!(components("/a\0"), Err(FsError::InvalidArgument));
        let long: String = core::iter::repeat_n('x', MAX_NAME_LEN + 1).collect();
        assert_eq!(components(&alloc::format!("/{long}")), Err(FsError::NameTooLong));
        let ok: String = core::iter::repeat_n('x', MAX_NAME_LEN).collect();
        assert!(components(&alloc::format!("/{ok}")).is_ok());
    }
}
