/* Baseline for control-plane round trips: a 64-byte message over an AF_UNIX SOCK_STREAM socketpair,
 * echoed by a child process; blocking send/recv. One sample = send + receive of the echo.
 * GAP_US > 0 idles that long before each round (the pacing of the export -> event figure), so both
 * sides block in the kernel and every round trip pays for waking them.
 * Usage: unix_pingpong ROUNDS [WARMUP [GAP_US]] */
#define _GNU_SOURCE
#include "bench_stats.h"
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MSG 64

static void full_read(int fd, char *buf, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, buf, n);
        if (r <= 0) DIE("read socket");
        buf += r;
        n -= (size_t)r;
    }
}

static void full_write(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w <= 0) DIE("write socket");
        buf += w;
        n -= (size_t)w;
    }
}

int main(int argc, char **argv)
{
    long rounds, warmup;
    parse_rounds(argc, argv, &rounds, &warmup, 50000, 5000);
    long gap_us = argc > 3 ? atol(argv[3]) : 0;
    struct timespec gap = {gap_us / 1000000, (gap_us % 1000000) * 1000};
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) DIE("socketpair");
    long total = rounds + warmup;
    pid_t child = fork();
    if (child < 0) DIE("fork");
    char buf[MSG];
    memset(buf, 0x5a, sizeof buf);
    if (child == 0) {
        close(sv[0]);
        for (long i = 0; i < total; i++) {
            full_read(sv[1], buf, MSG);
            full_write(sv[1], buf, MSG);
        }
        _exit(0);
    }
    close(sv[1]);
    uint64_t *samples = malloc(sizeof(uint64_t) * (size_t)rounds);
    if (!samples) DIE("malloc");
    for (long i = 0; i < total; i++) {
        if (gap_us > 0) nanosleep(&gap, NULL);
        uint64_t t0 = now_ns();
        full_write(sv[0], buf, MSG);
        full_read(sv[0], buf, MSG);
        uint64_t t1 = now_ns();
        if (i >= warmup) samples[i - warmup] = t1 - t0;
    }
    int status;
    waitpid(child, &status, 0);
    print_latency("unix_rtt", samples, rounds);
    return 0;
}
