/* SPDX-License-Identifier: MIT */
/*
 * A real peer loss poisons the waits on its buffers (ABI.md "When the other side goes away",
 * "Failure cases"): three buffers are exported and imported, and a C client waits on each
 * with another strategy (SPIN, BLOCK, ADAPTIVE) until every wait is parked; then one daemon
 * is killed with SIGKILL, as the Java LifecycleTest does:
 *  - "sink": the exporter's daemon; the consumer's acquire waits end with -HDMABUF_EPEERLOST;
 *  - "source": the importer's daemon; the producer's release waits end with -HDMABUF_EPEERLOST;
 * each within the liveness bound, never as a success or a timeout. Later waits fail at once.
 * With 16 vectors the blocked waits sleep on leased wake vectors, with 2 in FENCE_WAIT.
 * usage: test_peer_lost sink|source leases|no-leases
 */
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>

#define WAITERS 3
/* The detection bound (1500 + 100 + 10 ms with the daemons' defaults, ABI.md "Liveness") plus
 * the observer's scheduling delay on a loaded machine: the Java LifecycleTest's DEATH_BOUND. */
#define DEATH_BOUND_MS 3000
/* Longer than any bound here: a wait that ends with -ETIMEDOUT was never woken. */
#define WAIT_TIMEOUT_MS 20000
#define PARK_TIMEOUT_MS 10000

static const enum hdmabuf_wait strategies[WAITERS] = { HDMABUF_WAIT_SPIN, HDMABUF_WAIT_BLOCK, HDMABUF_WAIT_ADAPTIVE };
static const char *const strategy_names[WAITERS] = { "SPIN", "BLOCK", "ADAPTIVE" };

struct shared {
    /* A connection per side and buffer: a wait blocked in FENCE_WAIT holds its connection. */
    hdmabuf_conn *sink, *source;
    struct hdmabuf_allocation alloc;
    struct hdmabuf_exported exported;
    struct hdmabuf_import *imp;
    hdmabuf_fence *producer, *consumer;
    /* The waiting side's fence slot, mapped read-only to see the wait park. */
    const struct hdmabuf_fence_slot *slot;
    void *slot_map;
    size_t slot_map_len;
};

struct waiter {
    hdmabuf_fence *fence;
    enum hdmabuf_wait strategy;
    int started;   /* atomic: the wait was entered */
    int done;      /* atomic: it returned */
    int rc;
    int64_t ended_ns;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *wait_loop(void *arg)
{
    struct waiter *w = arg;
    __atomic_store_n(&w->started, 1, __ATOMIC_RELEASE);
    w->rc = hdmabuf_fence_await(w->fence, 2, WAIT_TIMEOUT_MS, w->strategy, NULL, NULL);
    w->ended_ns = now_ns();
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* Maps the pages holding the fence slot at fence_offset of fd, read-only. */
static void map_slot(struct shared *s, int fd, uint64_t fence_offset)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t base = fence_offset & ~(page - 1);
    uint64_t end = (fence_offset + HDMABUF_FENCE_SLOT_LENGTH + page - 1) & ~(page - 1);
    s->slot_map_len = (size_t)(end - base);
    s->slot_map = mmap(NULL, s->slot_map_len, PROT_READ, MAP_SHARED, fd, (off_t)base);
    if (s->slot_map == MAP_FAILED) {
        perror("mmap of the fence slot");
        exit(1);
    }
    s->slot = (const struct hdmabuf_fence_slot *)((const unsigned char *)s->slot_map + (fence_offset - base));
}

/* A wait is parked once its wake bit is set (a leased vector) or its daemon counts it (FENCE_WAIT);
 * a spinning one once it started. */
static bool parked(const struct waiter *w, const struct shared *s, bool on_acquire)
{
    if (!__atomic_load_n(&w->started, __ATOMIC_ACQUIRE)) {
        return false;
    }
    if (w->strategy == HDMABUF_WAIT_SPIN) {
        return true;
    }
    return on_acquire ?
        __atomic_load_n(&s->slot->acquire_wake, __ATOMIC_ACQUIRE) != 0 ||
            __atomic_load_n(&s->slot->acquire_waiters, __ATOMIC_ACQUIRE) != 0 :
        __atomic_load_n(&s->slot->release_wake, __ATOMIC_ACQUIRE) != 0 ||
            __atomic_load_n(&s->slot->release_waiters, __ATOMIC_ACQUIRE) != 0;
}

static bool await_poison(const hdmabuf_fence *fence, bool acquire, int64_t deadline)
{
    while ((acquire ? hdmabuf_fence_acquire_value(fence) : hdmabuf_fence_release_value(fence)) !=
        HDMABUF_FENCE_POISON) {
        if (now_ns() > deadline) {
            return false;
        }
        usleep(1000); /* polls a condition with a deadline */
    }
    return true;
}

int main(int argc, char **argv)
{
    struct shared s[WAITERS];
    struct waiter w[WAITERS];
    pthread_t threads[WAITERS];
    uint32_t source_vm;
    pid_t victim;
    bool kill_sink, leases;
    int64_t killed_ns, deadline;

    if (argc != 3 || (strcmp(argv[1], "sink") != 0 && strcmp(argv[1], "source") != 0)) {
        fprintf(stderr, "usage: test_peer_lost sink|source leases|no-leases\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* in order with stderr's check failures */
    kill_sink = strcmp(argv[1], "sink") == 0;
    leases = strcmp(argv[2], "leases") == 0;
    source_vm = test_env_vm("HDMABUF_TEST_SOURCE_VM");
    victim = (pid_t)test_env_vm(kill_sink ? "HDMABUF_TEST_SINK_PID" : "HDMABUF_TEST_SOURCE_PID");
    memset(s, 0, sizeof(s));
    memset(w, 0, sizeof(w));
    for (int i = 0; i < WAITERS; i++) {
        hdmabuf_conn *sink, *source;
        REQUIRE_OK(hdmabuf_connect_role("sink", &s[i].sink));
        REQUIRE_OK(hdmabuf_connect_role("source", &s[i].source));
        sink = s[i].sink;
        source = s[i].source;
        REQUIRE_OK(hdmabuf_alloc(sink, 4096, true, source_vm, HDMABUF_ACCESS_READ_WRITE, &s[i].alloc));
        REQUIRE_OK(hdmabuf_export(sink, s[i].alloc.handle, source_vm, NULL, HDMABUF_ACCESS_READ_WRITE, &s[i].exported));
        await_known(source, &s[i].exported.id);
        REQUIRE_OK(hdmabuf_import(source, &s[i].exported.id, &s[i].imp));
        REQUIRE_OK(hdmabuf_fence_open_export(sink, &s[i].alloc, &s[i].exported, &s[i].producer));
        REQUIRE_OK(hdmabuf_fence_open_import(source, s[i].imp, &s[i].consumer));
        /* One working round first: the timelines are live before the loss. */
        REQUIRE_OK(hdmabuf_fence_post(s[i].producer, 1, 0));
        REQUIRE_OK(hdmabuf_fence_await(s[i].consumer, 1, 5000, strategies[i], NULL, NULL));
        REQUIRE_OK(hdmabuf_fence_post(s[i].consumer, 1, 0));
        REQUIRE_OK(hdmabuf_fence_await(s[i].producer, 1, 5000, strategies[i], NULL, NULL));
        if (kill_sink) {
            map_slot(&s[i], s[i].imp->buffer.fd, s[i].imp->fence_offset);
        } else {
            map_slot(&s[i], s[i].alloc.buffer.fd, s[i].exported.fence_offset);
        }
        w[i].fence = kill_sink ? s[i].consumer : s[i].producer;
        w[i].strategy = strategies[i];
        if (pthread_create(&threads[i], NULL, wait_loop, &w[i]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    }

    deadline = now_ns() + (int64_t)PARK_TIMEOUT_MS * 1000000;
    for (int i = 0; i < WAITERS; i++) {
        while (!parked(&w[i], &s[i], kill_sink)) {
            if (now_ns() > deadline) {
                fprintf(stderr, "the %s wait never parked\n", strategy_names[i]);
                return 1;
            }
            usleep(1000); /* polls a condition with a deadline */
        }
        CHECK(!__atomic_load_n(&w[i].done, __ATOMIC_ACQUIRE)); /* nothing was signalled yet */
    }

    killed_ns = now_ns();
    if (kill(victim, SIGKILL) != 0) {
        perror("kill");
        return 1;
    }
    for (int i = 0; i < WAITERS; i++) {
        int64_t ms;
        pthread_join(threads[i], NULL);
        ms = (w[i].ended_ns - killed_ns) / 1000000;
        printf("%s daemon killed: the %s %s wait ended with %s after %lld ms\n", kill_sink ? "sink" : "source",
            strategy_names[i], kill_sink ? "acquire" : "release", hdmabuf_strerror(w[i].rc), (long long)ms);
        CHECK_RC(w[i].rc, -HDMABUF_EPEERLOST);
        CHECK(ms < DEATH_BOUND_MS);
        /* The survivor closes the timeline with the poison value (a FENCE_WAIT may be answered first). */
        CHECK(await_poison(w[i].fence, kill_sink, killed_ns + (int64_t)DEATH_BOUND_MS * 1000000));
        /* A blocked wait slept on a leased wake vector, or in the daemon without one. */
        if (strategies[i] != HDMABUF_WAIT_SPIN) {
            CHECK(leases ? hdmabuf_fence_wake_vector(w[i].fence) >= HDMABUF_IVSHMEM_VECTOR_FIRST_WAKE :
                hdmabuf_fence_wake_vector(w[i].fence) == -1);
        }
    }
    /* The timeline stays closed: every later wait fails at once, whatever the strategy. */
    for (int i = 0; i < WAITERS; i++) {
        int64_t start = now_ns();
        CHECK_RC(hdmabuf_fence_await(w[i].fence, 3, WAIT_TIMEOUT_MS, strategies[i], NULL, NULL), -HDMABUF_EPEERLOST);
        CHECK(now_ns() - start < (int64_t)DEATH_BOUND_MS * 1000000);
    }

    for (int i = 0; i < WAITERS; i++) {
        munmap(s[i].slot_map, s[i].slot_map_len);
        hdmabuf_fence_close(s[i].consumer);
        hdmabuf_fence_close(s[i].producer);
        if (kill_sink) {
            /* The consumer keeps its import until it releases it (ABI.md "Failure cases"). */
            CHECK_RC(hdmabuf_release(s[i].source, &s[i].exported.id), 0);
        } else {
            /* The producer unexports or frees what went to the lost VM. */
            CHECK_RC(hdmabuf_free(s[i].sink, s[i].alloc.handle), 0);
        }
        hdmabuf_import_free(s[i].imp);
        hdmabuf_unmap(&s[i].alloc.buffer);
        hdmabuf_close(s[i].source);
        hdmabuf_close(s[i].sink);
    }
    return check_report(kill_sink ? "test_peer_lost sink" : "test_peer_lost source");
}
