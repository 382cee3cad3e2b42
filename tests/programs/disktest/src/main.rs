//! Disk-range checks in QEMU: range edges, rights, revocation during a
//! stream of writes, delegation to a child that derives and revokes,
//! many requests in flight, unaligned and large buffers; or, with
//! `mode=ioerror`, errors injected by the host on sector `ERROR_SECTOR`.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use libos::abi::disk::MAX_ASYNC_REQUESTS;
use libos::abi::{RawHandle, Syscall};
use libos::kind::DiskRange;
use libos::process::Spawn;
use libos::sys::raw::syscall;
use libos::{Error, Handle, Rights, Start, println};

libos::main!(main);

/// The sector the I/O-error test's host config fails (see the harness).
const ERROR_SECTOR: u64 = 4096;

fn fill(sector: u64, seed: u8) -> [u8; 512] {
    let mut b = [0u8; 512];
    for (i, x) in b.iter_mut().enumerate() {
        *x = (sector as u8).wrapping_mul(13) ^ (i as u8).wrapping_mul(7) ^ seed;
    }
    b
}

macro_rules! ensure {
    ($cond:expr, $($msg:tt)*) => {
        if !$cond {
            println!("disktest: {}", format_args!($($msg)*));
            return Err(());
        }
    };
}

fn raw_read(range: Handle<DiskRange>, sector: u64, count: u64, buf: u64) -> Result<u64, Error> {
    // SAFETY: callers pass a buffer they own of `count` sectors, or one the
    // kernel must refuse before writing.
    unsafe { syscall(Syscall::DiskRead, [range.raw().as_raw(), sector, count, buf, 0, 0]) }
}

fn edges(disk: Handle<DiskRange>) -> Result<(), ()> {
    let all = Rights::READ | Rights::WRITE | Rights::DERIVE | Rights::REVOKE | Rights::GRANT;
    let r = disk.derive_range(1000, 64, all).map_err(|_| ())?;
    let mut buf = vec![0u8; 1024];
    ensure!(r.read(63, &mut buf[..512]).is_ok(), "the last sector must be readable");
    ensure!(r.read(64, &mut buf[..512]) == Err(Error::OutOfRange), "one past the end");
    ensure!(r.read(63, &mut buf) == Err(Error::OutOfRange), "a request running past the end");
    let b = buf.as_mut_ptr() as u64;
    ensure!(raw_read(r, 0, 0, b) == Err(Error::InvalidArgument), "count 0");
    ensure!(raw_read(r, u64::MAX, 2, b) == Err(Error::OutOfRange), "sector + count overflowing");
    ensure!(raw_read(r, 1, u64::MAX, b) == Err(Error::InvalidArgument), "a huge count");
    ensure!(raw_read(r, 0, 1, 0) == Err(Error::BadAddress), "a null buffer");
    ensure!(raw_read(r, 0, 1, 0xffff_8000_0000_0000) == Err(Error::BadAddress), "a kernel buffer");
    ensure!(
        disk.derive_range(u64::MAX, 2, all) == Err(Error::OutOfRange),
        "deriving past u64::MAX"
    );
    ensure!(r.derive_range(60, 5, all) == Err(Error::OutOfRange), "deriving past the parent");
    ensure!(r.derive_range(0, 0, all) == Err(Error::InvalidArgument), "deriving an empty range");
    // Rights.
    let ro = r.derive_range(0, 64, Rights::READ).map_err(|_| ())?;
    let wo = r.derive_range(0, 64, Rights::WRITE).map_err(|_| ())?;
    ensure!(ro.write(0, &buf[..512]) == Err(Error::MissingRight), "write through read-only");
    ensure!(wo.read(0, &mut buf[..512]) == Err(Error::MissingRight), "read through write-only");
    ensure!(wo.write(0, &fill(0, 1)).is_ok(), "write through write-only");
    ensure!(
        ro.read(0, &mut buf[..512]).is_ok() && buf[..512] == fill(0, 1),
        "read back through read-only"
    );
    ensure!(
        ro.derive_range(0, 1, Rights::READ | Rights::WRITE) == Err(Error::MissingRight),
        "rights only shrink"
    );
    ensure!(ro.flush() == Err(Error::MissingRight), "flush needs WRITE");
    r.revoke().map_err(|_| ())?;
    r.close().map_err(|_| ())?;
    println!("disktest: range edges and rights ok");
    Ok(())
}

fn revoke_while_writing(disk: Handle<DiskRange>) -> Result<(), ()> {
    let all = Rights::READ | Rights::WRITE | Rights::DERIVE | Rights::REVOKE;
    let parent = disk.derive_range(2000, 100, all).map_err(|_| ())?;
    let child = parent.derive_range(0, 100, Rights::READ | Rights::WRITE).map_err(|_| ())?;
    for i in 0..50 {
        ensure!(child.write(i, &fill(i, 2)).is_ok(), "stream write {i}");
        if i == 25 {
            ensure!(parent.revoke() == Ok(1), "revoke");
        }
        if i >= 25 {
            ensure!(child.write(i, &fill(i, 2)) == Err(Error::BadHandle), "write after revoke");
            break;
        }
    }
    ensure!(child.info() == Err(Error::BadHandle), "the revoked handle is dead");
    parent.close().map_err(|_| ())?;
    println!("disktest: revoke during a stream of writes ok");
    Ok(())
}

fn delegate_to_child(start: &Start, disk: Handle<DiskRange>) -> Result<(), ()> {
    let (_, image) = start.images().find(|&(n, _)| n == "disktest-sub").ok_or(())?;
    let all = Rights::READ | Rights::WRITE | Rights::DERIVE | Rights::REVOKE;
    let r = disk.derive_range(3000, 64, all | Rights::GRANT).map_err(|_| ())?;
    let child = Spawn::new(image)
        .quota_pages(256)
        .without_console()
        .grant(r, all, "disk")
        .and_then(Spawn::spawn)
        .map_err(|_| ())?;
    let status = child.wait().map_err(|_| ())?;
    ensure!(status.success(), "the child derived, wrote, revoked: {status:?}");
    let mut buf = [0u8; 512];
    ensure!(r.read(8, &mut buf).is_ok() && buf == [7u8; 512], "the child's write is visible");
    r.close().map_err(|_| ())?;
    println!("disktest: delegation to a child that derives and revokes ok");
    Ok(())
}

fn queue_depth(disk: Handle<DiskRange>) -> Result<(), ()> {
    const N: usize = MAX_ASYNC_REQUESTS;
    const BASE: u64 = 10_000;
    let mut bufs: Vec<[u8; 4096]> = (0..N)
        .map(|i| {
            let mut b = [0u8; 4096];
            for s in 0..8 {
                b[s * 512..(s + 1) * 512].copy_from_slice(&fill(BASE + (i * 8 + s) as u64, 3));
            }
            b
        })
        .collect();
    {
        let pending: Vec<_> = bufs
            .iter_mut()
            .enumerate()
            .map(|(i, b)| disk.submit_write(BASE + i as u64 * 8, b))
            .collect::<Result<_, _>>()
            .map_err(|e| println!("disktest: submit write: {e:?}"))?;
        for p in pending {
            ensure!(p.wait() == Ok(8), "async write completion");
        }
    }
    let mut back: Vec<[u8; 4096]> = vec![[0u8; 4096]; N];
    {
        let pending: Vec<_> = back
            .iter_mut()
            .enumerate()
            .map(|(i, b)| disk.submit_read(BASE + i as u64 * 8, b))
            .collect::<Result<_, _>>()
            .map_err(|e| println!("disktest: submit read: {e:?}"))?;
        ensure!(pending.len() == N, "{N} requests in flight");
        for p in pending.into_iter().rev() {
            ensure!(p.wait() == Ok(8), "async read completion");
        }
    }
    ensure!(back == bufs, "data read back asynchronously matches");
    // One more than allowed in flight is refused, not queued without bound.
    let mut extra: Vec<[u8; 512]> = vec![[0u8; 512]; N + 1];
    let mut pending = Vec::new();
    let mut refused = None;
    for b in extra.iter_mut() {
        match disk.submit_read(BASE, b) {
            Ok(p) => pending.push(p),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    ensure!(
        refused == Some(Error::Busy) && pending.len() == N,
        "request {} refused with Busy ({refused:?})",
        N + 1
    );
    drop(pending);
    ensure!(libos::sys::disk_info(RawHandle::from_raw(disk.raw().as_raw())).is_ok(), "info");
    println!("disktest: {N} requests in flight, all complete with correct data; one more refused");
    Ok(())
}

fn buffers(disk: Handle<DiskRange>) -> Result<(), ()> {
    // Large: 1 MiB and more, split by libos into kernel-sized requests.
    let big: Vec<u8> =
        (0..(3 << 19)).map(|i: u32| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    ensure!(disk.write(20_000, &big).is_ok(), "1.5 MiB write");
    let mut back = vec![0u8; big.len()];
    ensure!(disk.read(20_000, &mut back).is_ok() && back == big, "1.5 MiB read back");
    // Unaligned buffers take the bounce path.
    let mut storage = vec![0u8; 4096 + 3];
    let unaligned = &mut storage[3..3 + 2048];
    ensure!(disk.read(20_000, unaligned).is_ok() && unaligned[..] == big[..2048], "unaligned read");
    unaligned.copy_from_slice(&big[4096..6144]);
    ensure!(disk.write(30_000, unaligned).is_ok(), "unaligned write");
    let mut check = vec![0u8; 2048];
    ensure!(
        disk.read(30_000, &mut check).is_ok() && check[..] == big[4096..6144],
        "unaligned write read back"
    );
    ensure!(disk.flush().is_ok(), "flush");
    println!("disktest: large and unaligned buffers ok");
    Ok(())
}

fn io_errors(disk: Handle<DiskRange>) -> Result<(), ()> {
    let around = [ERROR_SECTOR - 1, ERROR_SECTOR + 1];
    for s in around {
        ensure!(disk.write(s, &fill(s, 9)).is_ok(), "write next to the bad sector");
    }
    let mut buf = [0u8; 512];
    ensure!(disk.read(ERROR_SECTOR, &mut buf) == Err(Error::IoError), "read of the bad sector");
    ensure!(disk.write(ERROR_SECTOR, &buf) == Err(Error::IoError), "write of the bad sector");
    let mut big = vec![0u8; 4096];
    ensure!(
        disk.read(ERROR_SECTOR - 2, &mut big) == Err(Error::IoError),
        "a read spanning the bad sector"
    );
    for s in around {
        ensure!(disk.read(s, &mut buf).is_ok() && buf == fill(s, 9), "neighbours intact");
    }
    let mut one = [0u8; 512];
    let p = disk.submit_read(ERROR_SECTOR, &mut one).map_err(|_| ())?;
    ensure!(p.wait() == Err(Error::IoError), "async read of the bad sector");
    println!("disktest: I/O errors reach the program; other sectors intact");
    Ok(())
}

fn main(start: &Start) -> i32 {
    let Some(disk) = start.handle::<DiskRange>("disk") else {
        println!("disktest: no disk");
        return 2;
    };
    let result = if start.arg("mode") == Some("ioerror") {
        io_errors(disk)
    } else {
        edges(disk)
            .and_then(|()| revoke_while_writing(disk))
            .and_then(|()| delegate_to_child(start, disk))
            .and_then(|()| queue_depth(disk))
            .and_then(|()| buffers(disk))
    };
    match result {
        Ok(()) => {
            println!("disktest: all ok");
            0
        }
        Err(()) => 1,
    }
}
