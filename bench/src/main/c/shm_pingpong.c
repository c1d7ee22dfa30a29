/* Baseline for the fence round trip with the SPIN strategy: two processes (fork) ping-pong a 64-bit
 * counter through a MAP_SHARED memfd page, busy-spinning with acquire loads and release stores.
 * The two counters sit at offsets 64 and 128, on their own cache lines, like the acquire and release
 * timelines of a fence slot (hyperdmabuf_shm.h). One sample = parent stores ping=i, then spins until
 * pong==i. Usage: shm_pingpong ROUNDS [WARMUP] */
#define _GNU_SOURCE
#include "bench_stats.h"
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

int main(int argc, char **argv)
{
    long rounds, warmup;
    parse_rounds(argc, argv, &rounds, &warmup, 200000, 20000);
    int fd = memfd_create("shm_pingpong", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, 4096) < 0) DIE("memfd");
    char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (page == MAP_FAILED) DIE("mmap");
    uint64_t *ping = (uint64_t *)(page + 64);
    uint64_t *pong = (uint64_t *)(page + 128);
    long total = rounds + warmup;
    pid_t child = fork();
    if (child < 0) DIE("fork");
    if (child == 0) {
        for (uint64_t i = 1; i <= (uint64_t)total; i++) {
            while (__atomic_load_n(ping, __ATOMIC_ACQUIRE) < i) cpu_relax();
            __atomic_store_n(pong, i, __ATOMIC_RELEASE);
        }
        _exit(0);
    }
    uint64_t *samples = malloc(sizeof(uint64_t) * (size_t)rounds);
    if (!samples) DIE("malloc");
    for (uint64_t i = 1; i <= (uint64_t)total; i++) {
        uint64_t t0 = now_ns();
        __atomic_store_n(ping, i, __ATOMIC_RELEASE);
        while (__atomic_load_n(pong, __ATOMIC_ACQUIRE) < i) cpu_relax();
        uint64_t t1 = now_ns();
        if (i > (uint64_t)warmup) samples[i - 1 - warmup] = t1 - t0;
    }
    int status;
    waitpid(child, &status, 0);
    print_latency("shm_spin", samples, rounds);
    return 0;
}
