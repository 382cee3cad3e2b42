//! `cap_graph`: the part of the derivation tree the caller can reach.
//!
//! The walk itself is `caps` ([`caps::CapSpace::reachable`]): the caller's
//! own capabilities and what was derived or granted from them, nothing
//! else. Here it is turned into [`GraphNode`] records. Kernel numbers
//! (tree indices, process and object ids) are passed through a per-boot
//! keyed permutation first, so the answer shows which records name the
//! same process or object without revealing the kernel's counters.

use core::sync::atomic::{AtomicU64, Ordering};

use alloc::vec::Vec;
use caps::abi::syscall::calls;
use caps::abi::{Error, GraphNode, ObjectKind};
use caps::{Object, ObjectId, Reached, TableId};

use super::Caller;
use crate::arch::cpu;
use crate::mem::user::{UserSlice, write_value};
use crate::state::Kernel;

/// The alignment `cap_graph` asks of its buffer (the record's).
const RECORD_ALIGN: u64 = align_of::<GraphNode>() as u64;

/// The per-boot key of the id permutations; 0 until the first call.
static KEY: AtomicU64 = AtomicU64::new(0);

fn key() -> u64 {
    match KEY.load(Ordering::Relaxed) {
        0 => {
            // Never 0. `cap_graph` runs under the read side, so two CPUs
            // may draw at once: the first to store wins, and both use its
            // key (each once used its own, and one caller's ids matched
            // no later call's).
            let fresh = cpu::random_u64() | 1;
            match KEY.compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => fresh,
                Err(first) => first,
            }
        }
        key => key,
    }
}

/// A process or object id as user space sees it: the kernel's id mixed
/// with the key, then with the kind (each kind's ids come from its own
/// table, so a quota and a process may share a number: the kind keeps them
/// apart). Equal `(kind, id)` give equal values.
fn opaque_id(kind: ObjectKind, id: ObjectId, key: u64) -> u64 {
    mix(mix(id.0 ^ key) ^ u64::from(kind.as_raw()))
}

/// An invertible 64-bit mixer (splitmix64's finaliser).
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A tree index as user space sees it: a bijection of `u32` that keeps
/// `u32::MAX` (never a live index) in place, so it cannot collide with
/// [`GraphNode::NO_PARENT`].
fn opaque_node(index: u32, key: u64) -> u32 {
    let odd = (key >> 32) as u32 | 1;
    (!(!index).wrapping_mul(odd)).rotate_left(key as u32 % 32)
}

/// `cap_graph(buf, len)`: writes the caller's reachable capabilities as
/// [`GraphNode`] records into `buf` until it is full, and returns how many
/// there are. `len` must be a multiple of the record size and `buf`
/// aligned to 8 (`InvalidArgument`); the whole buffer is checked writable
/// before anything is written (`BadAddress`).
pub fn cap_graph(k: &Kernel, c: Caller, a: calls::CapGraph) -> Result<u64, Error> {
    let (buf, len) = (a.buf, a.len);
    if !len.is_multiple_of(GraphNode::SIZE as u64)
        || (len != 0 && !buf.is_multiple_of(RECORD_ALIGN))
    {
        return Err(Error::InvalidArgument);
    }
    let room = len / GraphNode::SIZE as u64;
    let slice = UserSlice::new(buf, len)?;
    let aspace = c.aspace(&k.procs);
    slice.check_writable(aspace)?;
    let key = key();
    // Which process holds each table, for the `holder` field.
    let mut holders: Vec<(TableId, ObjectId)> =
        k.procs.iter().filter_map(|(pid, p)| Some((p.table?, pid))).collect();
    holders.sort_unstable();
    let mut written = 0u64;
    let mut failed = None;
    let count = k.caps.reachable(c.table, |r: Reached<'_>| {
        if written >= room || failed.is_some() {
            return;
        }
        let record = record(&r, c.table, &holders, key);
        match write_value(aspace, buf + written * GraphNode::SIZE as u64, &record) {
            Ok(()) => written += 1,
            Err(e) => failed = Some(e),
        }
    })?;
    // The pages were checked above and nothing unmaps them during the
    // call, so a failed write is a kernel bug, not the caller's.
    debug_assert!(failed.is_none());
    if let Some(e) = failed {
        return Err(e);
    }
    Ok(count as u64)
}

fn record(
    r: &Reached<'_>,
    caller: TableId,
    holders: &[(TableId, ObjectId)],
    key: u64,
) -> GraphNode {
    let cap = r.capability;
    let holder = match holders.binary_search_by_key(&r.table, |&(table, _)| table) {
        Ok(i) => opaque_id(ObjectKind::Process, holders[i].1, key),
        Err(_) => 0,
    };
    let info = cap.info();
    GraphNode {
        node: opaque_node(r.node, key),
        parent: r.parent.map_or(GraphNode::NO_PARENT, |p| opaque_node(p, key)),
        kind: info.kind,
        rights: info.rights,
        holder,
        object: match cap.object {
            Object::DiskRange(_) => 0,
            other => other.id().map_or(0, |id| opaque_id(other.kind(), id, key)),
        },
        badge: info.badge,
        device: info.device,
        first: info.first,
        count: info.count,
        handle: if r.table == caller { r.handle.as_raw() } else { 0 },
    }
}
