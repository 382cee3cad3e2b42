#!/usr/bin/env python3
"""Finds the kernel's hot functions, for kernel/hot.ld.

Boots IMAGE (a `make bench`-style image, e.g. one with bench-ipc alone) in
QEMU (TCG), turns on `-d exec,nochain` through the monitor for WINDOW
seconds after DELAY seconds, counts how often each kernel function was
entered or continued (one count per translated block run), and prints the
hottest as kernel/hot.ld lines (symbol names without their hash, so the
list survives code changes). Review the list before pasting it: keep the
order the round trip takes where it matters (syscall_entry, the
dispatcher and the handlers first).

usage: tools/hot-path.py KERNEL_ELF IMAGE [DELAY WINDOW]
"""

import bisect
import collections
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

KERNEL_BASE = 0xFFFFFFFF80000000


def monitor(path, command):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    time.sleep(0.2)
    s.recv(4096)
    s.sendall((command + "\n").encode())
    time.sleep(0.2)
    s.close()


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    kernel, image = sys.argv[1], sys.argv[2]
    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 4.0
    window = float(sys.argv[4]) if len(sys.argv) > 4 else 3.0
    tmp = tempfile.mkdtemp()
    log, sock = os.path.join(tmp, "exec.log"), os.path.join(tmp, "mon.sock")
    qemu = subprocess.Popen(
        ["qemu-system-x86_64", "-machine", "q35", "-cpu", "max", "-m", "512M", "-accel", "tcg",
         "-display", "none", "-serial", "null", "-no-reboot",
         "-monitor", f"unix:{sock},server,nowait", "-D", log,
         "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
         "-drive", f"format=raw,file={image}"])
    time.sleep(delay)
    monitor(sock, "log exec,nochain")
    time.sleep(window)
    monitor(sock, "log none")
    qemu.kill()
    qemu.wait()

    symbols = []
    nm = subprocess.run(["nm", "-n", "--defined-only", kernel], capture_output=True, text=True)
    for line in nm.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwW":
            symbols.append((int(parts[0], 16), parts[2]))
    starts = [a for a, _ in symbols]
    counts = collections.Counter()
    pc_field = re.compile(r"\[[0-9a-f]+/([0-9a-f]+)/")
    with open(log, errors="replace") as f:
        for line in f:
            m = pc_field.search(line)
            if not m:
                continue
            pc = int(m.group(1), 16)
            if pc < KERNEL_BASE:
                continue
            i = bisect.bisect_right(starts, pc - KERNEL_BASE) - 1
            if i >= 0:
                counts[symbols[i][1]] += 1
    os.remove(log)
    top = counts.most_common(1)[0][1] if counts else 0
    for name, n in counts.most_common():
        if n < top / 400:
            break
        m = re.match(r"(.*17h)[0-9a-f]{16}E$", name)
        print("    *(.text.%s)" % ((m.group(1) + "*") if m else name))


if __name__ == "__main__":
    main()
