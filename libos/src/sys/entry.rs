//! The start of every exocap program: `_start`, the start page, the
//! panic handler.

use caps::abi::layout::START_INFO_ADDR;
use caps::abi::process::{START_MAGIC, START_VERSION, StartInfo};
use core::sync::atomic::{AtomicBool, Ordering};

use crate::Start;

/// Exit code of a program that panicked.
pub const PANIC_EXIT_CODE: i32 = 101;

static STARTED: AtomicBool = AtomicBool::new(false);

unsafe extern "Rust" {
    /// The program's `main`, defined by `libos::main!`.
    fn __libos_main(start: &Start) -> i32;
}

/// The entry point: the kernel starts here with the start page's address
/// in `rdi` and the stack pointer at the top of the initial stack.
#[unsafe(naked)]
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    core::arch::naked_asm!(
        "and rsp, -16",
        "xor ebp, ebp",
        "call {start}",
        "ud2",
        start = sym rust_start,
    )
}

extern "C" fn rust_start(_info: u64) -> ! {
    STARTED.store(true, Ordering::Relaxed);
    let start = Start::from_info(start_info());
    crate::console::init(&start);
    super::heap::init(&start);
    // SAFETY: `main!` defines `__libos_main` with exactly this signature.
    let code = unsafe { __libos_main(&start) };
    super::exit(code)
}

/// The start page the kernel mapped for this process.
pub fn start_info() -> &'static StartInfo {
    // SAFETY: the kernel maps a `StartInfo` read-only at START_INFO_ADDR in
    // every process before it runs, for the process's whole life.
    let info = unsafe { &*(START_INFO_ADDR as *const StartInfo) };
    assert!(info.magic == START_MAGIC && info.version == START_VERSION, "bad start page");
    info
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    crate::eprintln!("panic: {info}");
    super::exit(PANIC_EXIT_CODE)
}
