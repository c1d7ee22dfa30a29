/* SPDX-License-Identifier: MIT */
/*
 * EXPORT to "add" event latency: a C producer (sink) exports a buffer, a C consumer in
 * another process (source, subscribed to the benchmark's "add" events) receives its event;
 * one sample is the time from just before the producer's hdmabuf_export() call to the
 * consumer's hdmabuf_next_event() return (CLOCK_MONOTONIC, one machine; the start travels
 * in a tag). Also the EXPORT call itself (to its response). One export at a time: the
 * producer waits for the consumer's word before it unexports and exports again. Prints a
 * Markdown table (stdout). Needs a sink and a source daemon in $HDMABUF_RUNTIME_DIR.
 * usage: bench_events [EXPORTS [WARMUP]]   (default 1000 and 2000: the unmeasured exports first, so
 * that both daemons run JIT-compiled code, as the Java harness's event figure does)
 */
#include "bench.h"

#include <inttypes.h>

static size_t warmup = 2000; /* set before the consumer is forked: both sides loop alike */
#define WAIT_MS 10000

static void die(const char *what)
{
    fprintf(stderr, "bench_events: %s\n", what);
    exit(1);
}

/* The consumer process: subscribes, says so, then for each add event sends back its latency. */
static int consumer(int down, int up, void *arg)
{
    size_t exports = *(const size_t *)arg;
    static const struct hdmabuf_match matches[] = { { "ACTION", "add", false }, { "TAG_BENCH_T0", "*", false } };
    static const struct hdmabuf_rule rule = { 2, matches };
    hdmabuf_conn *source;
    uint64_t sub;
    char ok = 1;

    REQUIRE_OK(hdmabuf_connect_role("source", &source));
    REQUIRE_OK(hdmabuf_subscribe(source, &rule, 1, false, &sub));
    (void)down;
    if (write(up, &ok, 1) != 1) {
        die("the producer went away");
    }
    for (size_t i = 0; i < exports + warmup; i++) {
        struct hdmabuf_event *ev;
        const char *t0;
        int64_t latency;
        REQUIRE_OK(hdmabuf_next_event(source, WAIT_MS, &ev));
        latency = bench_now_ns();
        if (ev->overflow_dropped != 0 || (t0 = hdmabuf_event_get(ev, "TAG_BENCH_T0")) == NULL) {
            die("an overflow marker or an event without the start tag");
        }
        latency -= strtoll(t0, NULL, 10);
        hdmabuf_event_free(ev);
        if (write(up, &latency, sizeof(latency)) != sizeof(latency)) {
            die("the producer went away");
        }
    }
    hdmabuf_close(source);
    return 0;
}

int main(int argc, char **argv)
{
    size_t exports = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
    struct bench_samples add, call;
    struct hdmabuf_allocation alloc;
    hdmabuf_conn *sink;
    uint32_t target;
    int down, up;
    pid_t child;
    char ok;

    if (argc > 2) {
        warmup = strtoul(argv[2], NULL, 10);
    }
    if (exports == 0) {
        die("usage: bench_events [EXPORTS > 0 [WARMUP]]");
    }
    child = bench_fork_consumer(consumer, &exports, &down, &up);
    close(down); /* nothing goes down: the consumer's subscription finds the exports */
    if (read(up, &ok, 1) != 1) {
        die("the consumer process failed to subscribe");
    }

    REQUIRE_OK(hdmabuf_connect_role("sink", &sink));
    target = bench_source_vm(sink);
    REQUIRE_OK(hdmabuf_alloc(sink, 4096, true, target, HDMABUF_ACCESS_READ_WRITE, &alloc));
    bench_samples_init(&add, exports);
    bench_samples_init(&call, exports);
    for (size_t i = 0; i < exports + warmup; i++) {
        char t0_text[24];
        struct hdmabuf_tag tag = { "bench_t0", t0_text };
        struct hdmabuf_metadata md = { .content_type = "application/octet-stream", .n_tags = 1, .tags = &tag };
        struct hdmabuf_exported exp;
        int64_t latency, t0, t1;

        t0 = bench_now_ns();
        snprintf(t0_text, sizeof(t0_text), "%" PRId64, t0);
        REQUIRE_OK(hdmabuf_export(sink, alloc.handle, target, &md, HDMABUF_ACCESS_READ_WRITE, &exp));
        t1 = bench_now_ns();
        if (read(up, &latency, sizeof(latency)) != sizeof(latency)) {
            die("the consumer process stopped");
        }
        if (i >= warmup) {
            bench_samples_add(&add, latency);
            bench_samples_add(&call, t1 - t0);
        }
        REQUIRE_OK(hdmabuf_unexport(sink, &exp.id, 0));
    }
    bench_reap(child);

    printf("EXPORT to the consumer's add event, C producer and C consumer in two processes (%zu exports after %zu unmeasured):\n\n",
        exports, warmup);
    bench_table_header();
    bench_table_row("EXPORT to add event at the consumer", &add, NULL);
    bench_table_row("EXPORT call (request to response)", &call, NULL);

    REQUIRE_OK(hdmabuf_free(sink, alloc.handle));
    hdmabuf_unmap(&alloc.buffer);
    hdmabuf_close(sink);
    free(add.ns);
    free(call.ns);
    return 0;
}
