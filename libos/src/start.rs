//! What a program starts with: its handles, by role, and its arguments.

use caps::abi::kind::{Image, Kind};
use caps::abi::process::StartInfo;
use caps::abi::{ObjectKind, RawHandle};

use crate::handle::Handle;

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

    /// The handle with role `role`, untyped.
    pub fn raw(&self, role: &str) -> Option<RawHandle> {
        self.info.find(role).map(|h| RawHandle::from_raw(h.handle))
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
