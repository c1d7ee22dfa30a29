/* SPDX-License-Identifier: MIT */
/*
 * Fences in every wait strategy, error words, timeouts, closed timelines, read-only imports
 * (release through the daemon) and wake leases. Run twice: with the server's 16 doorbell
 * vectors (leases, direct doorbells) and with 2 (FENCE_WAKE answers ENOTSUP: FENCE_WAIT).
 * Outside sanitizer builds it also counts the allocations of the signal and wait paths: none.
 * usage: test_fences leases|no-leases
 */
#include "check.h"
#include "alloc_count.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 300

static uint32_t source_vm;
static bool leases;

struct pair {
    hdmabuf_conn *sink, *source;
    struct hdmabuf_allocation alloc;
    struct hdmabuf_exported exported;
    struct hdmabuf_import *imp;
    hdmabuf_fence *producer, *consumer;
};

static void pair_open(struct pair *p, enum hdmabuf_access access)
{
    REQUIRE_OK(hdmabuf_alloc(p->sink, 4096, true, source_vm, access, &p->alloc));
    REQUIRE_OK(hdmabuf_export(p->sink, p->alloc.handle, source_vm, NULL, access, &p->exported));
    await_known(p->source, &p->exported.id);
    REQUIRE_OK(hdmabuf_import(p->source, &p->exported.id, &p->imp));
    REQUIRE_OK(hdmabuf_fence_open_export(p->sink, &p->alloc, &p->exported, &p->producer));
    REQUIRE_OK(hdmabuf_fence_open_import(p->source, p->imp, &p->consumer));
}

static void pair_close(struct pair *p)
{
    hdmabuf_fence_close(p->consumer);
    hdmabuf_fence_close(p->producer);
    CHECK_RC(hdmabuf_release(p->source, &p->exported.id), 0);
    hdmabuf_import_free(p->imp);
    hdmabuf_unexport(p->sink, &p->exported.id, 0); /* may be gone already */
    CHECK_RC(hdmabuf_free(p->sink, p->alloc.handle), 0);
    hdmabuf_unmap(&p->alloc.buffer);
}

struct ping {
    struct pair *p;
    enum hdmabuf_wait strategy;
    int failures;
};

/* The consumer: waits for acquire r, checks the error word, signals release r. */
static void *consumer_loop(void *arg)
{
    struct ping *pg = arg;
    for (uint64_t r = 1; r <= ROUNDS; r++) {
        uint64_t seen = 0;
        uint32_t err = 1;
        int e = hdmabuf_fence_await(pg->p->consumer, r, 10000, pg->strategy, &seen, &err);
        if (e != 0 || seen < r || err != (uint32_t)(r % 5)) {
            fprintf(stderr, "consumer round %llu: %s seen %llu err %u\n", (unsigned long long)r,
                hdmabuf_strerror(e), (unsigned long long)seen, err);
            pg->failures++;
            return NULL;
        }
        if ((e = hdmabuf_fence_post(pg->p->consumer, r, 0)) != 0) {
            fprintf(stderr, "consumer post %llu: %s\n", (unsigned long long)r, hdmabuf_strerror(e));
            pg->failures++;
            return NULL;
        }
    }
    return NULL;
}

static void ping_pong(struct pair *p, enum hdmabuf_wait strategy)
{
    struct ping pg = { p, strategy, 0 };
    pthread_t t;
    allocations = 0;
    pthread_create(&t, NULL, consumer_loop, &pg);
    COUNT_ALLOCATIONS(1);
    for (uint64_t r = 1; r <= ROUNDS; r++) {
        CHECK_RC(hdmabuf_fence_post(p->producer, r, (uint32_t)(r % 5)), 0);
        CHECK_RC(hdmabuf_fence_await(p->producer, r, 10000, strategy, NULL, NULL), 0);
    }
    COUNT_ALLOCATIONS(0);
    pthread_join(t, NULL);
    CHECK(pg.failures == 0);
    /* Leases, doorbells, FENCE_WAIT and FENCE_SIGNAL included: their answers decode in the arena. */
    CHECK(allocations == 0);
#if ALLOCATIONS_COUNTED
    {
        /* The counter sees the library's allocations: QUERY's result is on the heap. */
        struct hdmabuf_buffer_info *info;
        COUNT_ALLOCATIONS(1);
        CHECK_RC(hdmabuf_query(p->sink, &p->exported.id, &info), 0);
        COUNT_ALLOCATIONS(0);
        CHECK(allocations > 0);
        hdmabuf_buffer_info_free(info);
    }
#endif
    CHECK(hdmabuf_fence_acquire_value(p->producer) == ROUNDS && hdmabuf_fence_release_value(p->consumer) == ROUNDS);
}

struct closer {
    struct pair *p;
    int delay_ms;
};

static void *unexport_later(void *arg)
{
    struct closer *c = arg;
    struct timespec ts = { 0, c->delay_ms * 1000000L };
    nanosleep(&ts, NULL);
    CHECK_RC(hdmabuf_unexport(c->p->sink, &c->p->exported.id, 0), 0);
    return NULL;
}

int main(int argc, char **argv)
{
    const enum hdmabuf_wait strategies[] = { HDMABUF_WAIT_SPIN, HDMABUF_WAIT_BLOCK, HDMABUF_WAIT_ADAPTIVE };
    struct pair p;

    source_vm = test_env_vm("HDMABUF_TEST_SOURCE_VM");
    leases = argc > 1 && strcmp(argv[1], "leases") == 0;
    memset(&p, 0, sizeof(p));
    REQUIRE_OK(hdmabuf_connect_role("sink", &p.sink));
    REQUIRE_OK(hdmabuf_connect_role("source", &p.source));

    for (int s = 0; s < 3; s++) {
        pair_open(&p, HDMABUF_ACCESS_READ_WRITE);
        /* Timeouts, whatever the strategy. */
        CHECK_RC(hdmabuf_fence_await(p.consumer, 1, 30, strategies[s], NULL, NULL), -ETIMEDOUT);
        CHECK_RC(hdmabuf_fence_await(p.producer, 1, 30, strategies[s], NULL, NULL), -ETIMEDOUT);
        ping_pong(&p, strategies[s]);
        /* Values never go backwards; an unchanged one is a no-op. */
        CHECK_RC(hdmabuf_fence_post(p.producer, ROUNDS - 1, 0), -EINVAL);
        CHECK_RC(hdmabuf_fence_post(p.producer, ROUNDS, 0), 0);
        CHECK_RC(hdmabuf_fence_post(p.producer, UINT64_C(1) << 63, 0), -EINVAL);
        {
            /* A second handle on the same timeline: each post starts from a value the other moved
             * on, so it must decide again on what the timeline holds (hyperdmabuf_shm.h's exchange). */
            hdmabuf_fence *other;
            REQUIRE_OK(hdmabuf_fence_open_export(p.sink, &p.alloc, &p.exported, &other));
            CHECK_RC(hdmabuf_fence_post(p.producer, ROUNDS + 1, 0), 0);
            CHECK_RC(hdmabuf_fence_post(other, ROUNDS + 2, 0), 0);
            CHECK(hdmabuf_fence_acquire_value(p.producer) == ROUNDS + 2);
            CHECK_RC(hdmabuf_fence_post(p.producer, ROUNDS + 2, 0), 0);
            CHECK_RC(hdmabuf_fence_post(other, ROUNDS + 1, 0), -EINVAL);
            CHECK_RC(hdmabuf_fence_post(p.producer, ROUNDS + 1, 0), -EINVAL);
            CHECK(hdmabuf_fence_acquire_value(other) == ROUNDS + 2);
            CHECK_RC(hdmabuf_fence_await(p.consumer, ROUNDS + 2, 1000, strategies[s], NULL, NULL), 0);
            hdmabuf_fence_close(other);
        }
        if (strategies[s] != HDMABUF_WAIT_SPIN) {
            /* Blocking waits slept on a leased wake vector, or in the daemon without one. */
            CHECK(leases ? hdmabuf_fence_wake_vector(p.consumer) >= HDMABUF_IVSHMEM_VECTOR_FIRST_WAKE :
                hdmabuf_fence_wake_vector(p.consumer) == -1);
            CHECK(leases ? hdmabuf_fence_wake_vector(p.producer) >= HDMABUF_IVSHMEM_VECTOR_FIRST_WAKE :
                hdmabuf_fence_wake_vector(p.producer) == -1);
        }
        /* Unexport while the consumer waits: the timeline is closed with ENOENT. */
        {
            struct closer c = { &p, 100 };
            pthread_t t;
            pthread_create(&t, NULL, unexport_later, &c);
            CHECK_RC(hdmabuf_fence_await(p.consumer, ROUNDS + 3, 10000, strategies[s], NULL, NULL), -ENOENT);
            pthread_join(t, NULL);
        }
        pair_close(&p);
    }

    if (!leases) {
        int fd;
        uint32_t vector;
        bool held;
        pair_open(&p, HDMABUF_ACCESS_READ_WRITE);
        CHECK_RC(hdmabuf_request_fence_wake(p.source, &p.exported.id, &fd, &vector, &held), -ENOTSUP);
        pair_close(&p);
    }

    /* A read-only import signals release through its daemon. */
    pair_open(&p, HDMABUF_ACCESS_READ_ONLY);
    CHECK(p.imp->buffer.read_only);
    ping_pong(&p, HDMABUF_WAIT_BLOCK);
    pair_close(&p);

    hdmabuf_close(p.source);
    hdmabuf_close(p.sink);
    return check_report(leases ? "test_fences leases" : "test_fences no-leases");
}
