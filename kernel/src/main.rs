//! # The exocap kernel
//!
//! exocap is a capability-secured exokernel: the kernel securely multiplexes
//! the CPU, physical memory and devices, and does nothing else. Files, names
//! and RPC are libraries (`libos`) linked into the applications.
//!
//! What this crate promises:
//! - every syscall names its objects by capability handles, checked against
//!   the caller's own table (the `caps` crate) before anything happens;
//! - a fault in user code kills that process alone; a fault in the kernel is
//!   a bug, reported on the serial console with its context, after which the
//!   machine powers off with a failure code (it never hangs or reboots);
//! - `unsafe` lives in small functions named for what they do, each with a
//!   `// SAFETY:` comment saying why it holds.
//!
//! Boot order: console and logging, boot settings from the ramdisk, GDT/TSS,
//! IDT, physical frames, kernel heap. `docs/architecture.md` describes how
//! the parts fit together.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

mod arch;
#[cfg(feature = "authority-checks")]
mod authority;
mod boot;
mod bootcfg;
mod conin;
mod console;
mod diskio;
mod drivers;
mod iowait;
mod ipc;
mod lifecycle;
mod mem;
mod memobj;
mod notify;
mod objtable;
mod panic;
mod proc;
mod qemu;
mod quota;
mod ramdisk;
mod ring;
#[cfg(feature = "selftest")]
mod selftest;
mod state;
mod sync;
mod syscall;
mod time;

use bootloader_api::config::{BootloaderConfig, Mapping};
use bootloader_api::{BootInfo, entry_point};

/// The kernel's version, printed in the banner.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where the kernel image is loaded: the top 2 GiB of the address space.
const KERNEL_BASE: u64 = 0xffff_ffff_8000_0000;
/// Everything the bootloader places on its own (the physical memory window,
/// boot info, ramdisk, kernel stack) goes in the upper half, so the lower
/// half is free for user address spaces.
const DYNAMIC_RANGE_START: u64 = 0xffff_8000_0000_0000;
/// The boot stack, which the kernel runs on until the first process starts.
const BOOT_STACK_SIZE: u64 = 128 * 1024;

/// How the bootloader must set the machine up for us.
pub static BOOTLOADER_CONFIG: BootloaderConfig = {
    let mut config = BootloaderConfig::new_default();
    config.mappings.physical_memory = Some(Mapping::Dynamic);
    config.mappings.kernel_base = Mapping::FixedAddress(KERNEL_BASE);
    config.mappings.dynamic_range_start = Some(DYNAMIC_RANGE_START);
    config.kernel_stack_size = BOOT_STACK_SIZE;
    config
};

entry_point!(kernel_main, config = &BOOTLOADER_CONFIG);

fn kernel_main(boot_info: &'static mut BootInfo) -> ! {
    console::init();
    let ramdisk = ramdisk::Ramdisk::from_boot_info(boot_info);
    let cfg = bootcfg::from_ramdisk(ramdisk.as_ref());
    console::init_logger(cfg.log_level);
    log::info!("exocap {VERSION} (x86_64 capability exokernel) booting");
    if let Some(err) = cfg.error {
        log::warn!("boot settings: {err}");
    }

    arch::init();
    let summary = mem::init(boot_info, drivers::dma::POOL_PAGES);
    arch::percpu::install(arch::percpu::allocate(arch::gdt::boot_tss()));
    drivers::dma::init(summary.dma.clone());
    assert!(proc::kstack::region_is_free(), "the kernel-stack region overlaps a boot mapping");
    mem::aspace::init();
    let features = arch::init_cpu();
    summary.log();
    log::info!("cpu: SMEP {}, SMAP {}, FPU/SIMD off", on_off(features.smep), on_off(features.smap));
    match &ramdisk {
        Some(rd) => log::info!("ramdisk: {} files, {} KiB", rd.file_count(), rd.len() / 1024),
        None => log::info!("ramdisk: none"),
    }

    #[cfg(feature = "selftest")]
    if let Some(name) = cfg.selftest {
        selftest::run(name);
    }

    time::init();
    #[cfg(feature = "selftest")]
    if let Some(name) = cfg.selftest {
        selftest::after_timer(name);
    }
    proc::switch::set_idle_poll(cfg.io_poll_us);
    proc::switch::set_halt_poll(cfg.halt_poll_us);
    arch::percpu::set_kernel_root();
    arch::smp::start(boot_info);
    // Every CPU that takes a lock has its per-CPU area from here on.
    sync::arm();
    let irq = cfg.disk_irq.then(|| disk_interrupt_cpu(cfg.irq_cpu));
    let devices = drivers::probe(cfg.ram_disk_mib * 2048, irq, cfg.boot_disk);
    state::init(boot::programs(ramdisk.as_ref()), devices, cfg.max_procs);
    #[cfg(feature = "selftest")]
    if let Some(name) = cfg.selftest {
        selftest::after_state(name);
    }
    boot::start_init(cfg.init, &cfg.init_args());
    log::info!("boot complete");
    arch::smp::release_aps();
    proc::switch::idle_loop()
}

/// The local APIC id of CPU `index` (`irqcpu=`), where the disks'
/// interrupts go (but NVMe's, which go to each queue pair's own CPU), if
/// it is up; else the boot CPU's, with a warning.
fn disk_interrupt_cpu(index: u32) -> u8 {
    let cpu = match arch::percpu::by_index(index as usize) {
        Some(cpu) => cpu,
        None => {
            log::warn!(
                "irqcpu={index}: no such CPU online; disk interrupts go to CPU 0 (but NVMe's)"
            );
            arch::percpu::current()
        }
    };
    if cpu.index != 0 {
        log::info!(
            "disk interrupts go to CPU {} (APIC id {}; NVMe's to each queue pair's CPU)",
            cpu.index,
            cpu.apic_id
        );
    }
    cpu.apic_id as u8
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}
