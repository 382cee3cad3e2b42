//! `exocap-qemu`: boots an exocap image in QEMU with the console on this
//! terminal (what `make run` and `make gdb` call).
//!
//! ```text
//! exocap-qemu <image> [--data-disk <raw>] [--uefi] [--kvm] [--gdb] [--timeout <secs>] [--interactive]
//! ```
//! `--interactive` passes this terminal's keyboard to the serial console
//! (`make shell`); otherwise the guest reads no input.
//! Exits 0 when the kernel powers off reporting success, 1 when it reports
//! a failure, 2 on a triple fault, 124 on timeout.

use harness::{DATA_DISK_BYTES, Exit, Machine, fresh_disk};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut machine = None::<Machine>;
    let mut data_disk = None;
    let (mut uefi, mut kvm, mut gdb, mut timeout) = (false, false, false, None);
    let mut keyboard = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data-disk" => data_disk = args.next().map(PathBuf::from),
            "--uefi" => uefi = true,
            "--kvm" => kvm = true,
            "--gdb" => gdb = true,
            "--interactive" => keyboard = true,
            "--timeout" => timeout = args.next().and_then(|s| s.parse().ok()),
            _ if !arg.starts_with('-') && machine.is_none() => machine = Some(Machine::new(arg)),
            _ => {
                eprintln!(
                    "usage: exocap-qemu <image> [--data-disk <raw>] [--uefi] [--kvm] [--gdb] [--timeout <secs>] [--interactive]"
                );
                return ExitCode::from(64);
            }
        }
    }
    let Some(mut machine) = machine else {
        eprintln!("exocap-qemu: no image given");
        return ExitCode::from(64);
    };
    if let Some(disk) = data_disk.as_ref().filter(|d| !d.exists()) {
        if let Err(e) = fresh_disk(disk, DATA_DISK_BYTES) {
            eprintln!("exocap-qemu: cannot create {}: {e}", disk.display());
            return ExitCode::from(3);
        }
        eprintln!("exocap-qemu: created data disk {}", disk.display());
    }
    machine.data_disk = data_disk;
    (machine.uefi, machine.kvm, machine.gdb, machine.keyboard) = (uefi, kvm, gdb, keyboard);
    if gdb {
        eprintln!("exocap-qemu: waiting for GDB on localhost:1234 (see `make gdb`)");
    }
    let exit = if let Some(secs) = timeout {
        machine.timeout = Duration::from_secs(secs);
        let run = machine.run();
        print!("{}", run.console);
        run.exit
    } else {
        match machine.run_interactive() {
            Ok(exit) => exit,
            Err(e) => {
                eprintln!("exocap-qemu: cannot start qemu-system-x86_64: {e}");
                return ExitCode::from(3);
            }
        }
    };
    if keyboard && exit == Exit::TripleFault {
        // Ctrl-A X ends QEMU with status 0 too.
        eprintln!(
            "exocap-qemu: QEMU ended without the kernel's exit (Ctrl-A X, or a triple fault)"
        );
    } else if exit != Exit::Success {
        eprintln!("exocap-qemu: {}", exit.describe());
    }
    ExitCode::from(exit.shell_status() as u8)
}
