//! What a program starts with: its handles, by role, and its arguments.

use caps::abi::kind::{Image, Kind};
use caps::abi::process::StartInfo;
use caps::abi::{ObjectKind, RawHandle};

use crate::handle::Handle;
use alloc::string::String;
use core::fmt;

/// The start page, read: given to `main`.
pub struct Start {
    info: &'static StartInfo,
}

impl Start {
    /// Wraps the start page.
    pub fn from_info(info: &'static StartInfo) -> Start {
        Start { info }
    }

    /// This process's start page (also reachable from anywhere).
    pub fn current() -> Start {
        Start::from_info(crate::sys::start_info())
    }

    /// The program's name.
    pub fn name(&self) -> &str {
        self.info.name()
    }

    /// The arguments (for init: the boot settings the kernel passed on).
    pub fn args(&self) -> &str {
        self.info.args().unwrap_or("")
    }

    /// The value of `key=value` among the arguments.
    pub fn arg(&self, key: &str) -> Option<&str> {
        self.args().split_whitespace().find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
    }

    /// The handle with role `role`, if it has kind `K`.
    pub fn handle<K: Kind>(&self, role: &str) -> Option<Handle<K>> {
        let h = self.info.find(role)?;
        (ObjectKind::from_raw(h.kind as u64) == Some(K::KIND))
            .then(|| Handle::from_raw(RawHandle::from_raw(h.handle)))
    }

    /// The handle with role `role` and kind `K`, or an error that names
    /// the role and the kind and points at the system manifest, where the
    /// handles of an app are given (`exocap.toml`; a helper gets its
    /// handles from the program that spawns it). Prefer it to
    /// [`Start::handle`] for a handle the program cannot do without.
    pub fn require<K: Kind>(&self, role: &str) -> Result<Handle<K>, MissingHandle> {
        match self.info.find(role) {
            Some(h) => match ObjectKind::from_raw(h.kind as u64) {
                Some(k) if k == K::KIND => Ok(Handle::from_raw(RawHandle::from_raw(h.handle))),
                found => Err(MissingHandle { role: role.into(), wanted: K::KIND, found }),
            },
            None => Err(MissingHandle { role: role.into(), wanted: K::KIND, found: None }),
        }
    }

    /// The handle with role `role`, untyped.
    pub fn raw(&self, role: &str) -> Option<RawHandle> {
        self.info.find(role).map(|h| RawHandle::from_raw(h.handle))
    }

    /// Every handle this process started with: `(role, handle)`.
    pub fn roles(&self) -> impl Iterator<Item = (&str, RawHandle)> {
        self.info
            .handles()
            .iter()
            .filter_map(|h| Some((h.role.as_str()?, RawHandle::from_raw(h.handle))))
    }

    /// Every program image this process was given, by name.
    pub fn images(&self) -> impl Iterator<Item = (&str, Handle<Image>)> {
        self.info
            .handles()
            .iter()
            .filter(|h| ObjectKind::from_raw(h.kind as u64) == Some(ObjectKind::Image))
            .filter_map(|h| {
                Some((h.role.as_str()?, Handle::from_raw(RawHandle::from_raw(h.handle))))
            })
    }
}

/// [`Start::require`] found no handle of the wanted kind under a role.
/// Its message names the role and points at the manifest.
#[derive(Clone, PartialEq, Eq)]
pub struct MissingHandle {
    /// The role asked for.
    pub role: String,
    /// The kind asked for.
    pub wanted: ObjectKind,
    /// The kind of the handle under that role, if there is one (of
    /// another kind).
    pub found: Option<ObjectKind>,
}

impl fmt::Display for MissingHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (role, wanted) = (&self.role, self.wanted);
        match self.found {
            Some(found) => {
                write!(f, "the handle {role:?} this program was given is a {found}, not a {wanted}")
            }
            None => write!(
                f,
                "this program was given no handle {role:?} (a {wanted}): an app gets its \
                 handles from its entry in exocap.toml (e.g. `disk = <sectors>` for \
                 \"disk\", `timer = true`), a helper from the program that spawns it"
            ),
        }
    }
}

// `expect` prints the Debug form: make it the sentence.
impl fmt::Debug for MissingHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::boxed::Box;
    use caps::abi::kind::{Console, DiskRange};
    use caps::abi::process::{MAX_START_HANDLES, Role, START_MAGIC, START_VERSION, StartHandle};

    fn start_with(handles: &[(&str, ObjectKind)]) -> Start {
        let empty = StartHandle { handle: 0, kind: 0, rights: 0, role: Role([0; 24]) };
        let mut info = StartInfo {
            magic: START_MAGIC,
            version: START_VERSION,
            handle_count: handles.len() as u32,
            pid: 1,
            name: [0; caps::abi::process::NAME_LEN],
            handles: [empty; MAX_START_HANDLES],
            args_len: 0,
            args: [0; caps::abi::process::ARGS_LEN],
        };
        for (i, (role, kind)) in handles.iter().enumerate() {
            info.handles[i] = StartHandle {
                handle: 0x100 + i as u64,
                kind: kind.as_raw() as u32,
                rights: 0,
                role: Role::new(role).unwrap(),
            };
        }
        Start::from_info(Box::leak(Box::new(info)))
    }

    #[test]
    fn require_finds_a_handle_of_the_right_kind() {
        let start =
            start_with(&[("console", ObjectKind::Console), ("disk", ObjectKind::DiskRange)]);
        assert_eq!(start.require::<DiskRange>("disk").unwrap().raw().as_raw(), 0x101);
    }

    #[test]
    fn a_missing_handle_names_its_role_and_the_manifest() {
        let start = start_with(&[("console", ObjectKind::Console)]);
        let err = start.require::<DiskRange>("disk").unwrap_err();
        let text = alloc::format!("{err:?}");
        assert!(text.contains("\"disk\"") && text.contains("exocap.toml"), "{text}");
        assert_eq!(alloc::format!("{err}"), text);
    }

    #[test]
    fn a_handle_of_another_kind_says_which() {
        let start = start_with(&[("disk", ObjectKind::Console)]);
        let err = start.require::<DiskRange>("disk").unwrap_err();
        assert_eq!(err.found, Some(ObjectKind::Console));
        assert!(alloc::format!("{err}").contains("not a"), "{err}");
        assert!(start.require::<Console>("disk").is_ok());
    }
}
