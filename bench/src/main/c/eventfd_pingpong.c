/* Baseline for the fence round trip with the BLOCK strategy: two processes (fork) ping-pong through two
 * eventfds with blocking reads: the parent writes 1 to a, then blocks in read(b); the child blocks in
 * read(a), then writes 1 to b. One sample = one full round trip (two wake-ups).
 * Usage: eventfd_pingpong ROUNDS [WARMUP] */
#define _GNU_SOURCE
#include "bench_stats.h"
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

static void put(int fd)
{
    uint64_t one = 1;
    if (write(fd, &one, sizeof one) != sizeof one) DIE("write eventfd");
}

static void take(int fd)
{
    uint64_t v;
    if (read(fd, &v, sizeof v) != sizeof v) DIE("read eventfd");
}

int main(int argc, char **argv)
{
    long rounds, warmup;
    parse_rounds(argc, argv, &rounds, &warmup, 50000, 5000);
    int a = eventfd(0, EFD_CLOEXEC), b = eventfd(0, EFD_CLOEXEC);
    if (a < 0 || b < 0) DIE("eventfd");
    long total = rounds + warmup;
    pid_t child = fork();
    if (child < 0) DIE("fork");
    if (child == 0) {
        for (long i = 0; i < total; i++) {
            take(a);
            put(b);
        }
        _exit(0);
    }
    uint64_t *samples = malloc(sizeof(uint64_t) * (size_t)rounds);
    if (!samples) DIE("malloc");
    for (long i = 0; i < total; i++) {
        uint64_t t0 = now_ns();
        put(a);
        take(b);
        uint64_t t1 = now_ns();
        if (i >= warmup) samples[i - warmup] = t1 - t0;
    }
    int status;
    waitpid(child, &status, 0);
    print_latency("eventfd_block", samples, rounds);
    return 0;
}
