//! Kernel self tests, in test builds only (`--features selftest`), chosen by
//! `selftest=<name>` in the boot settings.
//!
//! Some check that a kernel bug is reported clearly and ends the run with a
//! failure code (the harness expects the report and that exit code); the
//! others check a kernel facility and end with `selftest <name>: ok`.

use alloc::vec::Vec;
use x86_64::structures::paging::{Mapper, Page, PageTableFlags, PhysFrame, Size4KiB};
use x86_64::{PhysAddr, VirtAddr};

use crate::mem::{self, frame};
use crate::qemu;

/// Runs the self test `name`; unknown names fail the run.
pub fn run(name: &str) {
    log::info!("selftest {name}: start");
    match name {
        "breakpoint" => x86_64::instructions::interrupts::int3(),
        "divide" => divide_by_zero(),
        "invalid-opcode" => invalid_opcode(),
        "page-fault" => page_fault(),
        "general-protection" => general_protection(),
        "stack-overflow" => {
            stack_overflow(0);
        }
        "panic" => panic!("selftest panic"),
        "heap" => heap(),
        "frames" => frames(),
        "paging" => paging(),
        "block-checks" => block_checks(),
        "tlb-targets" => {
            if let Err(what) = crate::arch::smp::tlb::selftest_targets() {
                log::error!("selftest tlb-targets: wrong for {what}");
                qemu::exit(qemu::ExitCode::Failure)
            }
        }
        // Armed now, done when the APs are started.
        "absent-cpu" => crate::arch::smp::selftest_absent_cpu(),
        "stalled-ap" => crate::arch::smp::selftest_stalled_ap(),
        // Needs the local APIC: done by `after_timer`.
        "nmi-with-user-gs" => return,
        // Needs the kernel state: done by `after_state`.
        "reply-parked" => return,
        // Armed now, done after the first syscall of a process other than
        // init: the authority checks must then stop the machine.
        #[cfg(feature = "authority-checks")]
        name if crate::authority::sabotage::arm(name) => return,
        _ => {
            log::error!("selftest {name}: unknown self test");
            qemu::exit(qemu::ExitCode::Failure)
        }
    }
    log::info!("selftest {name}: ok");
}

fn divide_by_zero() {
    // SAFETY: deliberately raises #DE; the handler never returns here.
    unsafe {
        core::arch::asm!("xor edx, edx", "xor eax, eax", "xor ecx, ecx", "div ecx", out("eax") _, out("edx") _, out("ecx") _)
    }
}

fn invalid_opcode() {
    // SAFETY: deliberately raises #UD; the handler never returns here.
    unsafe { core::arch::asm!("ud2") }
}

/// An unmapped, canonical lower-half address (no user space exists yet).
const UNMAPPED: u64 = 0x0000_7000_dead_0000;

fn page_fault() {
    // SAFETY: deliberately raises #PF on an unmapped address; the handler
    // never returns here.
    unsafe { core::ptr::read_volatile(UNMAPPED as *const u64) };
}

fn general_protection() {
    // A non-canonical address: the load raises #GP.
    // SAFETY: deliberately raises #GP; the handler never returns here.
    unsafe {
        core::arch::asm!("mov rax, [{a}]", a = in(reg) 0x8000_0000_0000_0000u64, out("rax") _)
    }
}

/// Runs the self test `name` if it is one that needs the local APIC and
/// the clock (`time::init`), which `run` left for now.
pub fn after_timer(name: &str) {
    if name == "nmi-with-user-gs" {
        nmi_with_user_gs();
        log::info!("selftest {name}: ok");
    }
}

/// Runs the self test `name` if it is one that needs the kernel state
/// (`state::init`), which `run` left for now.
pub fn after_state(name: &str) {
    if name == "reply-parked" {
        reply_parked();
        log::info!("selftest {name}: ok");
    }
}

/// A call needs no new reply object when the receiver's table holds a
/// parked one (`ipc::reply`): with the table of reply objects full, a
/// table with a parked reply still gets its call's reply, one without
/// does not (`OutOfMemory`, nothing changed). Found by review: the
/// delivery's check refused the call whenever the reply table was full.
fn reply_parked() {
    use crate::ipc::objects::{Reply, ReplyState};
    use crate::ipc::reply;
    use caps::ObjectId;
    use caps::abi::Error;

    let mut k = crate::state::lock();
    let server = k.caps.create_table(8, 0x5e1f).expect("a table");
    let other = k.caps.create_table(8, 0x07e5).expect("a table");
    let caller = ObjectId(1);
    // A reply made, spent through its only capability: parked.
    let (id, handle) = reply::create(&mut k, caller, server).expect("a reply");
    reply::spend(&mut k, id, server, caps::abi::RawHandle::from_raw(handle));
    assert!(k.caps.parked(server).is_some(), "a spent reply is parked");
    // Fill the table of reply objects.
    let mut filler = alloc::vec::Vec::new();
    while let Some(r) = k.ipc.replies.insert(Reply { state: ReplyState::Spent, caps: 0 }) {
        filler.push(r);
    }
    assert!(reply::can_create(&k, server), "a parked reply needs no new object");
    assert!(!reply::can_create(&k, other), "no parked reply, no room");
    assert_eq!(reply::create(&mut k, caller, other).map(drop), Err(Error::OutOfMemory));
    let (again, h) = reply::create(&mut k, caller, server).expect("the parked reply");
    assert_eq!(again, id);
    assert_ne!(h, handle);
    // Leave nothing behind.
    for r in filler {
        k.ipc.replies.remove(r);
    }
    reply::discard(&mut k, again, server, caps::abi::RawHandle::from_raw(h));
    for t in [server, other] {
        k.caps.destroy_table(t, |_| {}).expect("the table");
    }
    assert!(k.caps.parked(server).is_none());
}

/// An NMI that arrives while kernel code runs with the user's GS base (as
/// between a `syscall` and its `swapgs`): its handler must find the
/// kernel's area all the same (the paranoid entry, `arch::trap`), and put
/// back the GS base it found when it returns.
fn nmi_with_user_gs() {
    use crate::arch::apic::{self, Ipi};
    use crate::arch::trap::nmi_counts;
    use x86_64::registers::model_specific::{GsBase, KernelGsBase};

    /// A user GS base no kernel code may use.
    const USER_GS: u64 = 0x0000_0000_1234_5000;
    const WAIT_NS: u64 = 100_000_000;
    let kernel = GsBase::read();
    KernelGsBase::write(VirtAddr::new(USER_GS));
    let (before, _) = nmi_counts();
    // SAFETY: swapgs exchanges the GS base with IA32_KERNEL_GS_BASE; until
    // the second one, nothing here uses GS (no `percpu::current`), just as
    // between a `syscall` and its `swapgs`; interrupts are off (boot).
    unsafe { core::arch::asm!("swapgs", options(nomem, nostack, preserves_flags)) };
    let sent = apic::send_ipi(apic::id(), Ipi::Nmi, WAIT_NS);
    crate::time::spin_until(WAIT_NS, || nmi_counts().0 != before);
    let found = GsBase::read().as_u64();
    // SAFETY: as above: back to the kernel's GS base.
    unsafe { core::arch::asm!("swapgs", options(nomem, nostack, preserves_flags)) };
    KernelGsBase::write(VirtAddr::zero());
    let (after, wrong) = nmi_counts();
    let failure = if !sent || after == before {
        Some(alloc::format!("no NMI taken (sent: {sent})"))
    } else if wrong != 0 {
        Some(alloc::format!("{wrong} NMI handler(s) ran without the kernel's GS base"))
    } else if found != USER_GS {
        Some(alloc::format!("the NMI left GS base {found:#x}, not the {USER_GS:#x} it found"))
    } else if GsBase::read() != kernel {
        Some(alloc::format!("GS base {:#x} after swapping back", GsBase::read().as_u64()))
    } else {
        None
    };
    if let Some(failure) = failure {
        log::error!("selftest nmi-with-user-gs: {failure}");
        qemu::exit(qemu::ExitCode::Failure);
    }
}

#[allow(unconditional_recursion)]
fn stack_overflow(depth: u64) -> u64 {
    // black_box keeps the frame and the recursion from being optimised away.
    let frame = core::hint::black_box([depth; 16]);
    stack_overflow(frame[3] + 1) + frame[7]
}

/// The block layer's refusals (`Devices::start`), made before any device
/// sees a request, so the same on every controller: a write to a
/// read-only disk, a flush with data, no data, a segment that is not
/// whole sectors or breaks the run-of-pages shape, more than
/// `MAX_SECTORS`, and a range past the end; then requests that pass.
fn block_checks() {
    use crate::drivers::block::{BlockDevice, Devices, Op, ReadOnly};
    use crate::drivers::{dma, memdisk::MemDisk};
    use alloc::boxed::Box;
    use caps::abi::Error;

    let ram = || -> Box<dyn BlockDevice> {
        Box::new(MemDisk::new(16).expect("a RAM disk of 16 sectors"))
    };
    let mut devices = Devices::new();
    let disk = devices.add(ram());
    let read_only = devices.add(Box::new(ReadOnly(ram())));
    let big = 2048 * 512 / 4096 + 1;
    let phys = dma::alloc(big).expect("DMA pages for the self test");
    let base = mem::phys_to_virt(PhysAddr::new(phys)).as_mut_ptr::<u8>();
    // (device, op, first sector, segments as (offset, length) in the pages,
    // expected result)
    type Case = (u32, Op, u64, &'static [(usize, usize)], Result<(), Error>);
    const TOO_BIG: usize = 2048 * 512 + 512;
    let cases: [Case; 11] = [
        (read_only, Op::Write, 0, &[(0, 512)], Err(Error::MissingRight)),
        (disk, Op::Flush, 0, &[(0, 512)], Err(Error::InvalidArgument)),
        (disk, Op::Read, 0, &[], Err(Error::InvalidArgument)),
        (disk, Op::Read, 0, &[(0, 100)], Err(Error::InvalidArgument)),
        (disk, Op::Read, 0, &[(0, 0)], Err(Error::InvalidArgument)),
        (disk, Op::Read, 0, &[(0, 512), (4096, 512)], Err(Error::InvalidArgument)),
        (disk, Op::Read, 0, &[(0, TOO_BIG)], Err(Error::InvalidArgument)),
        (disk, Op::Read, 15, &[(0, 1024)], Err(Error::OutOfRange)),
        (disk, Op::Read, u64::MAX, &[(0, 512)], Err(Error::OutOfRange)),
        (disk, Op::Write, 8, &[(3584, 512), (4096, 3584)], Ok(())),
        (read_only, Op::Read, 15, &[(0, 512)], Ok(())),
    ];
    for (i, &(n, op, sector, segs, expected)) in cases.iter().enumerate() {
        let segments: Vec<&mut [u8]> = segs
            .iter()
            // SAFETY: DMA pages this test owns; each case's slices are
            // dropped before the next case makes its own, and the device
            // is done with them when `settle` returns.
            .map(|&(off, len)| unsafe { core::slice::from_raw_parts_mut(base.add(off), len) })
            .collect();
        // SAFETY: as above; the pages outlive the request (settled below).
        let got = match unsafe { devices.start(n, op, sector, &segments) } {
            Ok(id) => {
                devices.settle(id);
                devices.take(id).unwrap_or(Err(Error::BadHandle))
            }
            Err(e) => Err(e),
        };
        if got != expected {
            log::error!("selftest block-checks: case {i}: {got:?}, expected {expected:?}");
            qemu::exit(qemu::ExitCode::Failure);
        }
    }
    dma::free(phys, big);
}

fn heap() {
    let mut v: Vec<u64> = Vec::new();
    for i in 0..100_000 {
        v.push(i);
    }
    let sum: u64 = v.iter().sum();
    assert_eq!(sum, 100_000 * 99_999 / 2);
    let boxes: Vec<Vec<u8>> = (0..1000).map(|i| alloc::vec![i as u8; 1000]).collect();
    assert!(boxes.iter().enumerate().all(|(i, b)| b.iter().all(|&x| x == i as u8)));
}

fn frames() {
    let before = frame::free_frames();
    let taken: Vec<_> = (0..1000).map(|_| frame::alloc().expect("frames available")).collect();
    assert_eq!(frame::free_frames(), before - 1000);
    let mut addrs: Vec<u64> = taken.iter().map(|f| f.start_address().as_u64()).collect();
    addrs.sort_unstable();
    addrs.dedup();
    assert_eq!(addrs.len(), 1000, "a frame was handed out twice");
    for f in taken.into_iter().rev() {
        // SAFETY: each frame came from `alloc` above and nothing uses it.
        unsafe { frame::free(f) };
    }
    assert_eq!(frame::free_frames(), before);
    // Issue 13: frames freed in reverse order came back in reverse, so a
    // later program's buffers were one DMA segment per page. Now a run of
    // allocations ascends (but for one wrap of the next-fit cursor) and is
    // mostly adjacent, whatever order frames were freed in.
    let again: Vec<u64> =
        (0..1000).map(|_| frame::alloc().expect("frame").start_address().as_u64()).collect();
    let descents = again.windows(2).filter(|w| w[1] < w[0]).count();
    assert!(descents <= 1, "{descents} descents in a run of allocations");
    let adjacent = again.windows(2).filter(|w| w[1] == w[0] + mem::PAGE_SIZE).count();
    assert!(adjacent >= 900, "only {adjacent} of 999 steps to the adjacent frame");
    for &a in &again {
        // SAFETY: each frame came from `alloc` above and nothing uses it.
        unsafe { frame::free(PhysFrame::containing_address(PhysAddr::new(a))) };
    }
    // A double free is refused (and logged): the count does not move.
    // SAFETY: deliberately breaks obligation (1), which `free` detects;
    // nothing uses the frame.
    unsafe { frame::free(PhysFrame::containing_address(PhysAddr::new(again[0]))) };
    assert_eq!(frame::free_frames(), before);
}

fn paging() {
    let page: Page<Size4KiB> = Page::containing_address(VirtAddr::new(UNMAPPED));
    let frame = frame::alloc_zeroed().expect("frame");
    // SAFETY: only this test touches page tables now; the page is unused.
    let mut table = unsafe { mem::paging::active() };
    let flags = PageTableFlags::PRESENT | PageTableFlags::WRITABLE;
    // SAFETY: maps a fresh zeroed frame at an address nothing else uses.
    unsafe { table.map_to(page, frame, flags, &mut frame::GlobalFrames) }.expect("map").flush();
    let ptr = UNMAPPED as *mut u64;
    // SAFETY: the page was just mapped writable.
    unsafe {
        assert_eq!(ptr.read_volatile(), 0);
        ptr.write_volatile(0x1234_5678);
        assert_eq!(ptr.read_volatile(), 0x1234_5678);
    }
    let (unmapped, flush) = table.unmap(page).expect("unmap");
    flush.flush();
    assert_eq!(unmapped, frame);
    // SAFETY: unmapped above; nothing else refers to the frame.
    unsafe { frame::free(frame) };
}
