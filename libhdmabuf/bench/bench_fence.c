/* SPDX-License-Identifier: MIT */
/*
 * Fence round trip through libhdmabuf against plain shared memory, two processes each: the
 * producer signals acquire r, the consumer waits for it and signals release r, the producer
 * waits for that; one sample is the producer's time from its signal to the end of its wait.
 *  - SPIN: libhdmabuf's fences (an export and its import, HDMABUF_WAIT_SPIN) against two
 *    atomic words in a memfd mapping, stored with release and polled with acquire loads;
 *  - BLOCK: libhdmabuf's fences (HDMABUF_WAIT_BLOCK: leased wake vectors, the eventfds the
 *    other side rings) against an eventfd ping-pong (poll, read, write) with the same words.
 * Library and baseline rounds alternate in blocks, so that a change of the machine's load
 * falls on both. Prints a Markdown table (stdout): median and p99 of each, and the library's
 * median over the baseline's. Needs a sink and a source daemon in $HDMABUF_RUNTIME_DIR.
 * usage: bench_fence [ROUNDS]   (per strategy and side; default 20000)
 */
#include "bench.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#define BLOCKS 100
#define WARMUP 1000
#define WAIT_MS 10000

/* The baseline's two timelines, a cache line each as in a fence slot: the value and a waiters
 * word that the fenced variant reads after its store, as a signaller must for sleeping waiters. */
struct plain_slot {
    uint64_t acquire;
    uint64_t acquire_waiters;
    uint8_t pad0[48];
    uint64_t release;
    uint64_t release_waiters;
    uint8_t pad1[48];
};

/* How a baseline round signals and waits. */
enum plain_mode {
    PLAIN_SPIN,        /* release store; spin */
    PLAIN_SPIN_FENCED, /* release store, full fence, load of the waiters word; spin */
    PLAIN_BLOCK,       /* release store and an eventfd write; sleep in read() */
};

static unsigned plain_waiters_seen;

struct plain {
    struct plain_slot *slot;
    int to_consumer, to_producer; /* eventfds */
};

static void die(const char *what)
{
    fprintf(stderr, "bench_fence: %s\n", what);
    exit(1);
}

/* Polls word until it reaches value; a side that stopped answering ends the run. */
static void plain_spin(const uint64_t *word, uint64_t value)
{
    int64_t deadline = bench_now_ns() + (int64_t)WAIT_MS * 1000000;
    for (unsigned spins = 1; __atomic_load_n(word, __ATOMIC_ACQUIRE) < value; spins++) {
        if ((spins & 0xfff) == 0 && bench_now_ns() > deadline) {
            die("the other side stopped (plain spin)");
        }
        BENCH_CPU_RELAX();
    }
}

/* Checks word, sleeps on the eventfd until it rings, resets it, checks again. */
static void plain_block(const uint64_t *word, uint64_t value, int efd)
{
    while (__atomic_load_n(word, __ATOMIC_ACQUIRE) < value) {
        struct pollfd p = { efd, POLLIN, 0 };
        uint64_t count;
        int n = poll(&p, 1, WAIT_MS);
        if (n == 0) {
            die("the other side stopped (plain block)");
        }
        if (n > 0 && read(efd, &count, sizeof(count)) < 0 && errno != EAGAIN) {
            die("eventfd read failed");
        }
    }
}

static void plain_signal(uint64_t *word, uint64_t value, int efd, enum plain_mode mode)
{
    static const uint64_t one = 1;
    __atomic_store_n(word, value, __ATOMIC_RELEASE);
    if (mode == PLAIN_SPIN_FENCED) {
        /* Store-load ordering against a waiter that sets its bit and re-checks the value. */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        plain_waiters_seen += __atomic_load_n(word + 1, __ATOMIC_RELAXED) != 0;
    }
    if (mode == PLAIN_BLOCK && write(efd, &one, sizeof(one)) != sizeof(one)) {
        die("eventfd write failed");
    }
}

/* The run, as both processes follow it: per strategy a warm-up, then BLOCKS blocks of the
 * library's rounds and the baseline's, alternating. Values count on across blocks. */
struct side {
    bool producer;
    hdmabuf_fence *fence;
    struct plain plain;
    uint64_t lib_value, plain_value;
};

static void lib_round(struct side *s, enum hdmabuf_wait w, struct bench_samples *out)
{
    uint64_t v = ++s->lib_value;
    if (s->producer) {
        int64_t t0 = bench_now_ns();
        REQUIRE_OK(hdmabuf_fence_post(s->fence, v, 0));
        REQUIRE_OK(hdmabuf_fence_await(s->fence, v, WAIT_MS, w, NULL, NULL));
        if (out != NULL) {
            bench_samples_add(out, bench_now_ns() - t0);
        }
    } else {
        REQUIRE_OK(hdmabuf_fence_await(s->fence, v, WAIT_MS, w, NULL, NULL));
        REQUIRE_OK(hdmabuf_fence_post(s->fence, v, 0));
    }
}

static void plain_round(struct side *s, enum plain_mode mode, struct bench_samples *out)
{
    uint64_t v = ++s->plain_value;
    struct plain *p = &s->plain;
    bool block = mode == PLAIN_BLOCK;
    if (s->producer) {
        int64_t t0 = bench_now_ns();
        plain_signal(&p->slot->acquire, v, p->to_consumer, mode);
        if (block) {
            plain_block(&p->slot->release, v, p->to_producer);
        } else {
            plain_spin(&p->slot->release, v);
        }
        if (out != NULL) {
            bench_samples_add(out, bench_now_ns() - t0);
        }
    } else {
        if (block) {
            plain_block(&p->slot->acquire, v, p->to_consumer);
        } else {
            plain_spin(&p->slot->acquire, v);
        }
        plain_signal(&p->slot->release, v, p->to_producer, mode);
    }
}

/* SPIN also runs the SPIN_FENCED baseline (into fenced; NULL in the consumer). */
static void run(struct side *s, enum hdmabuf_wait w, size_t rounds, struct bench_samples *lib,
    struct bench_samples *plain, struct bench_samples *fenced)
{
    enum plain_mode mode = w == HDMABUF_WAIT_BLOCK ? PLAIN_BLOCK : PLAIN_SPIN;
    bool with_fenced = mode == PLAIN_SPIN;
    for (int i = 0; i < WARMUP; i++) {
        lib_round(s, w, NULL);
        plain_round(s, mode, NULL);
        if (with_fenced) {
            plain_round(s, PLAIN_SPIN_FENCED, NULL);
        }
    }
    for (int b = 0; b < BLOCKS; b++) {
        for (size_t i = 0; i < rounds / BLOCKS; i++) {
            lib_round(s, w, lib);
        }
        for (size_t i = 0; i < rounds / BLOCKS; i++) {
            plain_round(s, mode, plain);
        }
        for (size_t i = 0; with_fenced && i < rounds / BLOCKS; i++) {
            plain_round(s, PLAIN_SPIN_FENCED, fenced);
        }
    }
}

struct consumer_args {
    struct plain plain;
    size_t rounds;
};

/* The consumer process: imports the export whose id comes down, says so, runs its side. */
static int consumer(int id_pipe, int ready_pipe, void *arg)
{
    const struct consumer_args *a = arg;
    struct side s = { .producer = false, .plain = a->plain };
    struct hdmabuf_import *imp;
    struct hdmabuf_id id;
    hdmabuf_conn *source;
    char ok = 1;

    if (read(id_pipe, &id, sizeof(id)) != sizeof(id)) {
        die("no buffer id from the producer");
    }
    REQUIRE_OK(hdmabuf_connect_role("source", &source));
    await_known(source, &id);
    REQUIRE_OK(hdmabuf_import(source, &id, &imp));
    REQUIRE_OK(hdmabuf_fence_open_import(source, imp, &s.fence));
    if (write(ready_pipe, &ok, 1) != 1) {
        die("the producer went away");
    }
    run(&s, HDMABUF_WAIT_SPIN, a->rounds, NULL, NULL, NULL);
    run(&s, HDMABUF_WAIT_BLOCK, a->rounds, NULL, NULL, NULL);
    hdmabuf_fence_close(s.fence);
    REQUIRE_OK(hdmabuf_release(source, &id));
    hdmabuf_import_free(imp);
    hdmabuf_close(source);
    return 0;
}

int main(int argc, char **argv)
{
    size_t rounds = argc > 1 ? strtoul(argv[1], NULL, 10) : 20000;
    struct bench_samples lib_spin, plain_spin_s, fenced_spin_s, lib_block, plain_block_s;
    struct hdmabuf_allocation alloc;
    struct hdmabuf_exported exp;
    struct side s = { .producer = true };
    struct consumer_args args;
    hdmabuf_conn *sink;
    int id_pipe, ready_pipe, memfd;
    pid_t child;
    char ok;

    if (rounds < BLOCKS) {
        die("usage: bench_fence [ROUNDS >= 100]");
    }
    memfd = memfd_create("bench_fence", MFD_CLOEXEC);
    if (memfd < 0 || ftruncate(memfd, sizeof(struct plain_slot)) != 0) {
        die("memfd failed");
    }
    s.plain.slot = mmap(NULL, sizeof(struct plain_slot), PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    s.plain.to_consumer = eventfd(0, EFD_CLOEXEC);
    s.plain.to_producer = eventfd(0, EFD_CLOEXEC);
    if (s.plain.slot == MAP_FAILED || s.plain.to_consumer < 0 || s.plain.to_producer < 0) {
        die("baseline setup failed");
    }
    close(memfd);
    args.plain = s.plain;
    args.rounds = rounds;
    child = bench_fork_consumer(consumer, &args, &id_pipe, &ready_pipe);

    REQUIRE_OK(hdmabuf_connect_role("sink", &sink));
    {
        uint32_t target = bench_source_vm(sink);
        REQUIRE_OK(hdmabuf_alloc(sink, 4096, true, target, HDMABUF_ACCESS_READ_WRITE, &alloc));
        REQUIRE_OK(hdmabuf_export(sink, alloc.handle, target, NULL, HDMABUF_ACCESS_READ_WRITE, &exp));
    }
    REQUIRE_OK(hdmabuf_fence_open_export(sink, &alloc, &exp, &s.fence));
    if (write(id_pipe, &exp.id, sizeof(exp.id)) != sizeof(exp.id) || read(ready_pipe, &ok, 1) != 1) {
        die("the consumer process failed to import");
    }
    bench_samples_init(&lib_spin, rounds);
    bench_samples_init(&plain_spin_s, rounds);
    bench_samples_init(&fenced_spin_s, rounds);
    bench_samples_init(&lib_block, rounds);
    bench_samples_init(&plain_block_s, rounds);
    run(&s, HDMABUF_WAIT_SPIN, rounds, &lib_spin, &plain_spin_s, &fenced_spin_s);
    run(&s, HDMABUF_WAIT_BLOCK, rounds, &lib_block, &plain_block_s, NULL);
    bench_reap(child);

    printf("Fence round trip, producer and consumer in two processes (%zu rounds each):\n\n", rounds / BLOCKS * BLOCKS);
    bench_table_header();
    bench_table_row("fence round trip SPIN, libhdmabuf", &lib_spin, &plain_spin_s);
    bench_table_row("fence round trip SPIN, baseline: atomics on a memfd mapping", &plain_spin_s, NULL);
    bench_table_row("fence round trip SPIN, libhdmabuf against the fenced baseline", &lib_spin, &fenced_spin_s);
    bench_table_row("fence round trip SPIN, baseline: atomics, full fence and a waiters load (the ordering "
        "sleeping waiters need)", &fenced_spin_s, NULL);
    bench_table_row("fence round trip BLOCK, libhdmabuf (wake vectors)", &lib_block, &plain_block_s);
    bench_table_row("fence round trip BLOCK, baseline: eventfd ping-pong", &plain_block_s, NULL);
    fprintf(stderr, "bench_fence: BLOCK slept on wake vectors %d (producer)\n", hdmabuf_fence_wake_vector(s.fence));

    hdmabuf_fence_close(s.fence);
    REQUIRE_OK(hdmabuf_free(sink, alloc.handle));
    hdmabuf_unmap(&alloc.buffer);
    hdmabuf_close(sink);
    free(lib_spin.ns);
    free(plain_spin_s.ns);
    free(fenced_spin_s.ns);
    free(lib_block.ns);
    free(plain_block_s.ns);
    return 0;
}
