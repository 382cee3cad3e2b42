//! A disk in RAM: the same `BlockDevice` as the virtio disk, for tests and
//! for machines without a data disk. Its contents are frames from the
//! frame allocator; requests complete at once (reported by the next poll).

use alloc::vec::Vec;
use caps::abi::Error;
use x86_64::structures::paging::PhysFrame;

use super::block::{BlockDevice, Op, RequestId, SECTOR_SIZE};
use crate::mem::copy::copy_bytes;
use crate::mem::{PAGE_SIZE, frame, phys_to_virt};

const SECTORS_PER_FRAME: u64 = PAGE_SIZE / SECTOR_SIZE as u64;
/// Requests reported done but not yet polled, at most.
const MAX_PENDING: usize = 64;

/// A RAM disk.
pub struct MemDisk {
    frames: Vec<PhysFrame>,
    /// Requests done, not yet reported (capacity `MAX_PENDING`, reserved
    /// at creation so a request never allocates).
    done: Vec<(RequestId, Result<(), Error>)>,
}

impl MemDisk {
    /// A zeroed disk of `sectors` sectors (rounded up to a page); `None`
    /// if memory runs out (what was taken is given back).
    pub fn new(sectors: u64) -> Option<Self> {
        let pages = sectors.div_ceil(SECTORS_PER_FRAME);
        let mut frames = Vec::with_capacity(pages as usize);
        for _ in 0..pages {
            match frame::alloc_zeroed() {
                Some(f) => frames.push(f),
                None => {
                    for f in frames {
                        // SAFETY: taken above, never shared.
                        unsafe { frame::free(f) };
                    }
                    return None;
                }
            }
        }
        Some(MemDisk { frames, done: Vec::with_capacity(MAX_PENDING) })
    }

    /// Copies between the disk at byte `pos` and `seg`, frame by frame.
    fn copy(&self, op: Op, mut pos: u64, seg: &[u8]) {
        let mut done = 0usize;
        while done < seg.len() {
            let frame = &self.frames[(pos / PAGE_SIZE) as usize];
            let within = pos % PAGE_SIZE;
            let n = ((PAGE_SIZE - within) as usize).min(seg.len() - done);
            let disk = phys_to_virt(frame.start_address() + within).as_mut_ptr::<u8>();
            let mem = seg[done..].as_ptr() as *mut u8;
            // SAFETY: `disk` is inside one of our frames, `mem` inside the
            // caller's segment (valid per `start`'s contract); `n` fits both.
            unsafe {
                match op {
                    Op::Read => copy_bytes(mem, disk, n),
                    _ => copy_bytes(disk, mem, n),
                }
            }
            done += n;
            pos += n as u64;
        }
    }
}

impl BlockDevice for MemDisk {
    fn name(&self) -> &'static str {
        "ram disk"
    }

    fn sector_count(&self) -> u64 {
        self.frames.len() as u64 * SECTORS_PER_FRAME
    }

    fn read_only(&self) -> bool {
        false
    }

    unsafe fn start(
        &mut self,
        id: RequestId,
        op: Op,
        sector: u64,
        segments: &[&mut [u8]],
    ) -> Result<(), Error> {
        if self.done.len() >= MAX_PENDING {
            return Err(Error::Busy);
        }
        // Range and shape: checked by `Devices::start`.
        if op != Op::Flush {
            let mut pos = sector * SECTOR_SIZE as u64;
            for s in segments {
                self.copy(op, pos, s);
                pos += s.len() as u64;
            }
        }
        self.done.push((id, Ok(())));
        Ok(())
    }

    fn poll(&mut self, done: &mut dyn FnMut(RequestId, Result<(), Error>)) {
        for (id, r) in self.done.drain(..) {
            done(id, r);
        }
    }

    fn in_flight(&self) -> usize {
        self.done.len()
    }
}
