//! Typed views of user memory: the only way a syscall handler touches it.
//!
//! A [`UserSlice`] is a range checked to lie inside user space with no
//! overflow. Copying through it first checks, page by page in the caller's
//! page tables, that every page is mapped user-accessible (and writable,
//! for output), then copies with user access opened (`stac`) only for the
//! copy itself. The copy runs under the kernel lock, which every unmap
//! takes (on any CPU), so nothing can unmap a page between the check and
//! the copy, and the copy cannot fault. Handlers copy arguments in once and use the kernel copy
//! (no double fetch).

use caps::abi::Error;
use caps::abi::layout::PAGE_SIZE;
use zerocopy::{FromBytes, Immutable, IntoBytes};

use super::aspace::{AddressSpace, is_user_range};
use super::copy::copy_bytes;
use crate::arch::cpu;

/// A checked range of the current process's user memory.
#[derive(Clone, Copy, Debug)]
pub struct UserSlice {
    addr: u64,
    len: u64,
}

impl UserSlice {
    /// The range `[addr, addr + len)`; `BadAddress` unless it lies inside
    /// user space. An empty range is always valid and copies nothing.
    pub fn new(addr: u64, len: u64) -> Result<Self, Error> {
        if len == 0 {
            return Ok(UserSlice { addr: 0, len: 0 });
        }
        if !is_user_range(addr, len) {
            return Err(Error::BadAddress);
        }
        Ok(UserSlice { addr, len })
    }

    /// The part `[offset, offset + len)` of this range.
    pub fn sub(&self, offset: u64, len: u64) -> Result<Self, Error> {
        let end = offset.checked_add(len).ok_or(Error::BadAddress)?;
        if end > self.len {
            return Err(Error::BadAddress);
        }
        Self::new(self.addr + offset, len)
    }

    /// Checks that every page of the range is mapped user-readable, so a
    /// handler can fail before it acts rather than half-way through.
    pub fn check_readable(&self, aspace: &AddressSpace) -> Result<(), Error> {
        self.check_pages(aspace, false).map(drop)
    }

    /// Checks that every page of the range is mapped user-writable.
    pub fn check_writable(&self, aspace: &AddressSpace) -> Result<(), Error> {
        self.check_pages(aspace, true).map(drop)
    }

    /// Checks every page as [`check_writable`](Self::check_writable) (if
    /// `write`) or [`check_readable`](Self::check_readable) do, and says
    /// whether a device may be handed the frames for a transfer the caller
    /// waits on: none of them is lent (a page another process may unmap
    /// meanwhile: a memory object's, a ring's).
    pub fn check_for_device(&self, aspace: &AddressSpace, write: bool) -> Result<bool, Error> {
        self.check_pages(aspace, write)
    }

    /// Every page mapped with the access; `Ok(true)` if none is lent.
    fn check_pages(&self, aspace: &AddressSpace, write: bool) -> Result<bool, Error> {
        if self.len == 0 {
            return Ok(true);
        }
        let first = self.addr & !(PAGE_SIZE - 1);
        let last = (self.addr + self.len - 1) & !(PAGE_SIZE - 1);
        let mut page = first;
        let mut private = true;
        loop {
            let (_, lent) = aspace.user_page(page, write).ok_or(Error::BadAddress)?;
            private &= !lent;
            if page == last {
                return Ok(private);
            }
            page += PAGE_SIZE;
        }
    }

    /// Copies the whole range into `dst` (whose length must match).
    /// `aspace` must be the active address space (the caller's).
    pub fn read(&self, aspace: &AddressSpace, dst: &mut [u8]) -> Result<(), Error> {
        if dst.len() as u64 != self.len {
            return Err(Error::InvalidArgument);
        }
        self.check_pages(aspace, false)?;
        // SAFETY: every page of the range is mapped user-readable in the
        // active address space (checked above, and nothing can change that
        // before the copy ends); `dst` is kernel memory of the same length.
        unsafe {
            with_user_access(|| copy_bytes(dst.as_mut_ptr(), self.addr as *const u8, dst.len()))
        };
        Ok(())
    }

    /// Copies `src` (whose length must match) into the range.
    pub fn write(&self, aspace: &AddressSpace, src: &[u8]) -> Result<(), Error> {
        if src.len() as u64 != self.len {
            return Err(Error::InvalidArgument);
        }
        self.check_pages(aspace, true)?;
        // SAFETY: as in `read`, with every page writable.
        unsafe { with_user_access(|| copy_bytes(self.addr as *mut u8, src.as_ptr(), src.len())) };
        Ok(())
    }
}

/// Reads one `T` from user address `addr`.
///
/// `T: FromBytes` means any bytes user space left there make a valid `T`;
/// the zerocopy derives check that at compile time (no padding, no enums
/// or references), so no claim of ours is needed.
pub fn read_value<T: FromBytes + IntoBytes>(aspace: &AddressSpace, addr: u64) -> Result<T, Error> {
    let slice = UserSlice::new(addr, size_of::<T>() as u64)?;
    let mut value = T::new_zeroed();
    slice.read(aspace, value.as_mut_bytes())?;
    Ok(value)
}

/// Writes `value` to user address `addr`.
///
/// `T: IntoBytes` means `T` has no padding, so every byte written is one
/// of `value`'s fields and no stale kernel memory leaks to user space.
pub fn write_value<T: IntoBytes + Immutable>(
    aspace: &AddressSpace,
    addr: u64,
    value: &T,
) -> Result<(), Error> {
    UserSlice::new(addr, size_of::<T>() as u64)?.write(aspace, value.as_bytes())
}

/// Runs `f` with supervisor access to user pages allowed (SMAP's AC flag).
///
/// # Safety
/// `f` must touch only user memory that the caller checked.
unsafe fn with_user_access<R>(f: impl FnOnce() -> R) -> R {
    let smap = cpu::smap();
    if smap {
        // SAFETY: stac only sets RFLAGS.AC; SMAP is on, so it exists.
        unsafe { core::arch::asm!("stac", options(nostack)) };
    }
    let r = f();
    if smap {
        // SAFETY: clears RFLAGS.AC again.
        unsafe { core::arch::asm!("clac", options(nostack)) };
    }
    r
}
