//! Rights: what a capability allows its holder to do.

bitflags::bitflags! {
    /// The rights a capability carries. Rights only ever shrink: a derived
    /// or granted capability holds a subset of its parent's.
    ///
    /// | right | Console | DiskRange | Memory | Endpoint | Process | Reply | Timer | Image | Notification |
    /// |---|---|---|---|---|---|---|---|---|---|
    /// | `READ` | read input | `disk_read`, `disk_info` | map readable | | | | `clock` | read the image bytes | |
    /// | `WRITE` | `debug_write` | `disk_write`, `disk_flush` | map writable | | `proc_set_cpus` | | | | |
    /// | `EXEC` | | | map executable | | | | | `proc_spawn` | |
    /// | `MAP` | | | `mem_map` at all | | | | | | |
    /// | `SEND` | | | | `ipc_send`, `ipc_call` | | `ipc_reply` | | | `notify_signal`, be bound by `endpoint_bind` |
    /// | `RECV` | | | | `ipc_recv`, `endpoint_bind` | | | | | |
    /// | `WAIT` | | | | | `proc_wait`, `proc_state` | | `sleep` | | `notify_wait` |
    ///
    /// The generic rights apply to every kind (a `Reply` accepts only
    /// `GRANT`): `GRANT` lets the capability be copied or moved into another
    /// table (at spawn, over IPC); `DERIVE` lets the holder make a child in
    /// its own table with fewer rights, a sub-range or a badge; `REVOKE` lets
    /// the holder destroy every capability derived from this one.
    /// `cap_info` and `cap_drop` need no right: holding the handle is enough.
    /// Nor does `proc_yield_to`, which gives the named process nothing but
    /// the caller's own time.
    ///
    /// `disk_submit` needs `READ` or `WRITE` as the request says, and so
    /// does each entry of an I/O ring. `ring_enter` needs `WRITE` on the
    /// `IoRing`; `ring_create` needs `MAP | READ | WRITE` on the `Memory`.
    #[repr(transparent)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct Rights: u32 {
        /// Read the object's data.
        const READ = 1 << 0;
        /// Write the object's data.
        const WRITE = 1 << 1;
        /// Execute: map memory executable, spawn an image.
        const EXEC = 1 << 2;
        /// Map memory into the address space.
        const MAP = 1 << 3;
        /// Send on an endpoint, answer through a reply, signal a
        /// notification.
        const SEND = 1 << 4;
        /// Receive on an endpoint.
        const RECV = 1 << 5;
        /// Wait: for a child process to exit, for a timer to expire, for a
        /// notification's bits.
        const WAIT = 1 << 6;
        /// Copy or move the capability into another table.
        const GRANT = 1 << 8;
        /// Derive narrower children in the same table.
        const DERIVE = 1 << 9;
        /// Revoke every capability derived from this one.
        const REVOKE = 1 << 10;
    }
}

impl Rights {
    /// The rights that mean the same for every kind.
    pub const GENERIC: Rights = Rights::GRANT.union(Rights::DERIVE).union(Rights::REVOKE);

    /// Decodes rights from a syscall argument; `None` if an undefined bit
    /// is set (a request for a right that does not exist is refused, not
    /// silently truncated).
    pub const fn from_raw(raw: u64) -> Option<Rights> {
        if raw > u32::MAX as u64 {
            return None;
        }
        Rights::from_bits(raw as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_raw_accepts_defined_bits_only() {
        assert_eq!(Rights::from_raw(0b11), Some(Rights::READ | Rights::WRITE));
        assert_eq!(Rights::from_raw(u64::from(Rights::all().bits())), Some(Rights::all()));
        assert_eq!(Rights::from_raw(1 << 7), None);
        assert_eq!(Rights::from_raw(1 << 32), None);
        assert_eq!(Rights::from_raw(u64::MAX), None);
    }

    #[test]
    fn generic_rights_are_the_authority_ones() {
        assert!(Rights::GENERIC.contains(Rights::GRANT | Rights::DERIVE | Rights::REVOKE));
        assert!(!Rights::GENERIC.intersects(Rights::READ | Rights::WRITE | Rights::SEND));
    }
}
