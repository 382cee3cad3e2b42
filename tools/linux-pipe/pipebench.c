/*
 * Linux's pipe round trip, the yardstick issue 14 sets exocap's IPC
 * against ("the round trip <= 0.1x Linux's pipe round trip, compared in
 * one sitting"). Two processes pass one byte back and forth through two
 * pipes; the figure is the median of RUNS runs of CALLS round trips.
 *
 * Runs as /init of an initramfs under a Debian Linux kernel in the same
 * QEMU machine as exocap's benchmarks (`make bench`, which builds it with
 * `gcc -static`), prints `BENCH linux_pipe_roundtrip_ns <ns> ns` on the
 * serial console, and ends the run through QEMU's isa-debug-exit device
 * (port 0xf4), as exocap does: 0x10 for success (QEMU exits with 33),
 * 0x11 for a failure (35).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/io.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { CALLS = 20000, RUNS = 5 };

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int by_value(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static void finish(int status) {
    fflush(stdout);
    if (ioperm(0xf4, 1, 1) == 0)
        outb(status ? 0x11 : 0x10, 0xf4);
    _exit(status);
}

int main(void) {
    int to_peer[2], from_peer[2];
    char byte = 'x';
    long long runs[RUNS];
    if (pipe(to_peer) || pipe(from_peer)) {
        puts("pipebench: pipe failed");
        finish(1);
    }
    pid_t peer = fork();
    if (peer == 0) {
        /* The echo side: until the pipe closes. */
        close(to_peer[1]);
        close(from_peer[0]);
        while (read(to_peer[0], &byte, 1) == 1)
            if (write(from_peer[1], &byte, 1) != 1)
                _exit(1);
        _exit(0);
    }
    close(to_peer[0]);
    close(from_peer[1]);
    for (int r = 0; r < RUNS; r++) {
        long long t0 = now_ns();
        for (int i = 0; i < CALLS; i++)
            if (write(to_peer[1], &byte, 1) != 1 || read(from_peer[0], &byte, 1) != 1) {
                puts("pipebench: round trip failed");
                finish(1);
            }
        runs[r] = (now_ns() - t0) / CALLS;
    }
    qsort(runs, RUNS, sizeof runs[0], by_value);
    printf("BENCH linux_pipe_roundtrip_ns %lld ns\n", runs[RUNS / 2]);
    close(to_peer[1]);
    waitpid(peer, NULL, 0);
    finish(0);
}
