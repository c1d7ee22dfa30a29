/* SPDX-License-Identifier: MIT */
/*
 * What the libhdmabuf benchmarks share: the clock, sample statistics, the Markdown table they
 * print to stdout (columns figure, median, p99, baseline, ratio) and the daemons they use:
 * $HDMABUF_RUNTIME_DIR's sink.sock and source.sock, the source VM found with QUERY_TARGETS, and
 * the consumer in a process of its own.
 */
#ifndef HDMABUF_BENCH_H
#define HDMABUF_BENCH_H

/* REQUIRE_OK, await_known: as in the tests. */
#include "../tests/check.h"

#include <sys/wait.h>
#include <time.h>

static inline int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* What a spinning wait does between two polls, as libhdmabuf's. */
#if defined(__x86_64__) || defined(__i386__)
#define BENCH_CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define BENCH_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define BENCH_CPU_RELAX() ((void)0)
#endif

struct bench_samples {
    int64_t *ns;
    size_t n, cap;
};

static inline void bench_samples_init(struct bench_samples *s, size_t cap)
{
    s->ns = calloc(cap, sizeof(*s->ns));
    s->n = 0;
    s->cap = cap;
    if (s->ns == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
}

static inline void bench_samples_add(struct bench_samples *s, int64_t ns)
{
    if (s->n < s->cap) {
        s->ns[s->n++] = ns;
    }
}

static int bench_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (nearest rank) of the samples; sorts them. */
static inline int64_t bench_quantile(struct bench_samples *s, double q)
{
    size_t rank;
    if (s->n == 0) {
        return 0;
    }
    qsort(s->ns, s->n, sizeof(*s->ns), bench_cmp);
    rank = (size_t)(q * (double)s->n + 0.999999);
    return s->ns[rank == 0 ? 0 : rank > s->n ? s->n - 1 : rank - 1];
}

static inline void bench_table_header(void)
{
    printf("| figure | median | p99 | baseline | ratio |\n");
    printf("|---|---:|---:|---:|---:|\n");
}

/* A measured figure against its baseline's median (NULL: it has none); both in ns. */
static inline void bench_table_row(const char *figure, struct bench_samples *s, struct bench_samples *baseline)
{
    int64_t median = bench_quantile(s, 0.5), p99 = bench_quantile(s, 0.99);
    if (baseline == NULL) {
        printf("| %s | %lld ns | %lld ns | - | - |\n", figure, (long long)median, (long long)p99);
    } else {
        int64_t base = bench_quantile(baseline, 0.5);
        printf("| %s | %lld ns | %lld ns | %lld ns | %.2fx |\n", figure, (long long)median, (long long)p99,
            (long long)base, base > 0 ? (double)median / (double)base : 0.0);
    }
}

/* The VM of a source daemon the sink reaches, or exits: the daemons must be running. */
static inline uint32_t bench_source_vm(hdmabuf_conn *sink)
{
    struct hdmabuf_target targets[16];
    int n = hdmabuf_query_targets(sink, targets, 16);
    for (int i = 0; i < n && i < 16; i++) {
        if (targets[i].roles & HDMABUF_ROLE_SOURCE) {
            return targets[i].vm;
        }
    }
    fprintf(stderr, "the sink reaches no source daemon (QUERY_TARGETS: %d)\n", n);
    exit(1);
}

/* The consumer process of a benchmark: forks it with a pipe each way; it runs
 * body(down, up, arg) (down: what the producer sends, up: its answers) and exits with the
 * result. *down and *up get the producer's ends. */
static inline pid_t bench_fork_consumer(int (*body)(int down, int up, void *arg), void *arg, int *down, int *up)
{
    int d[2], u[2];
    pid_t child;
    if (pipe(d) != 0 || pipe(u) != 0) {
        perror("pipe");
        exit(1);
    }
    fflush(stdout);
    child = fork();
    if (child < 0) {
        perror("fork");
        exit(1);
    }
    if (child == 0) {
        close(d[1]);
        close(u[0]);
        _exit(body(d[0], u[1], arg));
    }
    close(d[0]);
    close(u[1]);
    *down = d[1];
    *up = u[0];
    return child;
}

/* Waits for the consumer process; exits unless it succeeded. */
static inline void bench_reap(pid_t child)
{
    int status;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "the consumer process failed\n");
        exit(1);
    }
}

#endif
