//! A kernel panic is a bug: say what and where, then power off with a
//! failure code, never hang.

use crate::console::emergency_println;
use crate::qemu;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    x86_64::instructions::interrupts::disable();
    match info.location() {
        Some(loc) => emergency_println(format_args!(
            "KERNEL PANIC at {}:{}:{}: {}",
            loc.file(),
            loc.line(),
            loc.column(),
            info.message()
        )),
        None => emergency_println(format_args!("KERNEL PANIC: {}", info.message())),
    }
    qemu::exit(qemu::ExitCode::Failure)
}
