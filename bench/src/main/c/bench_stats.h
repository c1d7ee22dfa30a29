/* Shared helpers of the C baselines: argument parsing, a monotonic clock and the RESULT line.
 * Every baseline prints exactly one line per run:
 *   RESULT name=NAME n=SAMPLES p50_ns=.. p99_ns=.. p999_ns=..        (latency baselines)
 *   RESULT name=NAME frames=N seconds=S frames_per_s=F              (throughput baselines)
 * The harness (org.hyperdmabuf.bench.Harness) parses these lines. */
#ifndef BENCH_STATS_H
#define BENCH_STATS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Same rule as the Java side (Stats.percentile): the sample at floor(p * n), clamped. */
static inline uint64_t pct(const uint64_t *sorted, long n, double p)
{
    long i = (long)(p * (double)n);
    return sorted[i >= n ? n - 1 : i];
}

/* Reads every byte of a frame as 64-bit words, four accumulators (the loop both frame baselines and the
 * Java consumer use); the sum is returned so the compiler keeps the loads. */
static inline uint64_t read_frame(const uint64_t *p, size_t words)
{
    uint64_t a = 0, b = 0, c = 0, d = 0;
    size_t i = 0;
    for (; i + 4 <= words; i += 4) {
        a += p[i];
        b += p[i + 1];
        c += p[i + 2];
        d += p[i + 3];
    }
    for (; i < words; i++) a += p[i];
    return a + b + c + d;
}

static inline void print_latency(const char *name, uint64_t *samples, long n)
{
    qsort(samples, (size_t)n, sizeof(uint64_t), cmp_u64);
    printf("RESULT name=%s n=%ld p50_ns=%llu p99_ns=%llu p999_ns=%llu\n", name, n,
           (unsigned long long)pct(samples, n, 0.50), (unsigned long long)pct(samples, n, 0.99),
           (unsigned long long)pct(samples, n, 0.999));
    fflush(stdout);
}

/* argv: ROUNDS [WARMUP] */
static inline void parse_rounds(int argc, char **argv, long *rounds, long *warmup, long def_rounds, long def_warmup)
{
    *rounds = argc > 1 ? atol(argv[1]) : def_rounds;
    *warmup = argc > 2 ? atol(argv[2]) : def_warmup;
    if (*rounds < 1 || *warmup < 0) {
        fprintf(stderr, "usage: %s ROUNDS [WARMUP]\n", argv[0]);
        exit(2);
    }
}

#define DIE(what) do { perror(what); exit(1); } while (0)

#endif
