/* SPDX-License-Identifier: MIT */
/*
 * Policy refusals as a C client sees them (ABI.md "Policy", "Error codes"), with the daemons
 * running tests/policy/sink.toml and source.toml: EDQUOT from the uid quota at ALLOC, EACCES
 * from the sink for a target, content type or access the policy forbids, and the source's
 * refusal on arrival (the export turns "rejected: EACCES ..."; the consumer never sees it).
 * Each error is the negative code, named by hdmabuf_strerror(), with the daemon's message.
 * usage: test_policy
 */
#include "check.h"

#include <errno.h>
#include <time.h>

#define QUOTA_BUFFERS 3
#define AWAIT_MS 10000
#define OTHER_VM 3 /* named nowhere in the policy: no share allows it */

static uint32_t source_vm;

/* The call failed with want, hdmabuf_strerror() names it and the daemon's message names what was
 * refused (ABI.md "Error codes": "naming the offending field or object"); both printed. */
#define CHECK_REFUSED(conn, call, want, name, object)                                       \
    do {                                                                                    \
        char msg_[512];                                                                     \
        CHECK_RC(call, want);                                                               \
        CHECK(strstr(hdmabuf_strerror(want), name) != NULL);                                \
        hdmabuf_error_message((conn), msg_, sizeof(msg_));                                  \
        CHECK(strstr(msg_, object) != NULL);                                                \
        printf("%s: %s (%s)\n", #call, hdmabuf_strerror(want), msg_);                       \
    } while (0)

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The uid usage line of STATS, with its quota. */
static bool uid_usage(hdmabuf_conn *sink, uint64_t *buffers, uint64_t *max_buffers)
{
    struct hdmabuf_stats *st;
    bool found = false;
    *buffers = 0; /* no line: nothing pinned */
    REQUIRE_OK(hdmabuf_stats(sink, &st));
    for (size_t i = 0; i < st->n_usage; i++) {
        if (strcmp(st->usage[i].scope, "uid") == 0 && st->usage[i].id == (uint32_t)getuid()) {
            *buffers = st->usage[i].buffers;
            *max_buffers = st->usage[i].max_buffers;
            found = true;
        }
    }
    hdmabuf_stats_free(st);
    return found;
}

static void test_quota(hdmabuf_conn *sink)
{
    struct hdmabuf_allocation a[QUOTA_BUFFERS + 1];
    uint64_t buffers = 0, max_buffers = 0;

    for (int i = 0; i < QUOTA_BUFFERS; i++) {
        REQUIRE_OK(hdmabuf_alloc(sink, 4096, false, 0, HDMABUF_ACCESS_READ_WRITE, &a[i]));
    }
    CHECK(uid_usage(sink, &buffers, &max_buffers));
    CHECK(buffers == QUOTA_BUFFERS && max_buffers == QUOTA_BUFFERS);
    CHECK_REFUSED(sink, hdmabuf_alloc(sink, 4096, false, 0, HDMABUF_ACCESS_READ_WRITE, &a[QUOTA_BUFFERS]), -EDQUOT,
        "EDQUOT", "quota");
    /* A refused ALLOC changed nothing; a freed allocation makes room. */
    CHECK(uid_usage(sink, &buffers, &max_buffers) && buffers == QUOTA_BUFFERS);
    CHECK_RC(hdmabuf_free(sink, a[0].handle), 0);
    hdmabuf_unmap(&a[0].buffer);
    CHECK_RC(hdmabuf_alloc(sink, 4096, false, 0, HDMABUF_ACCESS_READ_WRITE, &a[0]), 0);
    for (int i = 0; i < QUOTA_BUFFERS; i++) {
        CHECK_RC(hdmabuf_free(sink, a[i].handle), 0);
        hdmabuf_unmap(&a[i].buffer);
    }
    (void)uid_usage(sink, &buffers, &max_buffers);
    CHECK(buffers == 0);
}

static void test_sink_refusals(hdmabuf_conn *sink, hdmabuf_conn *source)
{
    struct hdmabuf_metadata video = { .content_type = "video/raw" };
    struct hdmabuf_metadata text = { .content_type = "text/plain" };
    struct hdmabuf_allocation a;
    struct hdmabuf_exported e;
    struct hdmabuf_import *imp;

    /* A declared target no share reaches. */
    CHECK_REFUSED(sink, hdmabuf_alloc(sink, 4096, true, OTHER_VM, HDMABUF_ACCESS_READ_ONLY, &a), -EACCES, "EACCES",
        "vm3");
    REQUIRE_OK(hdmabuf_alloc(sink, 4096, false, 0, HDMABUF_ACCESS_READ_WRITE, &a));
    /* Video only read-only; no other content type. */
    CHECK_REFUSED(sink, hdmabuf_export(sink, a.handle, source_vm, &video, HDMABUF_ACCESS_READ_WRITE, &e), -EACCES,
        "EACCES", "video/raw");
    CHECK_REFUSED(sink, hdmabuf_export(sink, a.handle, source_vm, &text, HDMABUF_ACCESS_READ_ONLY, &e), -EACCES,
        "EACCES", "text/plain");
    CHECK_REFUSED(sink, hdmabuf_export(sink, a.handle, OTHER_VM, &video, HDMABUF_ACCESS_READ_ONLY, &e), -EACCES,
        "EACCES", "vm3");
    /* What the policy allows goes through, and is imported read-only. */
    REQUIRE_OK(hdmabuf_export(sink, a.handle, source_vm, &video, HDMABUF_ACCESS_READ_ONLY, &e));
    await_known(source, &e.id);
    REQUIRE_OK(hdmabuf_import(source, &e.id, &imp));
    CHECK(imp->access == HDMABUF_ACCESS_READ_ONLY && imp->buffer.read_only);
    CHECK_RC(hdmabuf_release(source, &e.id), 0);
    hdmabuf_import_free(imp);
    CHECK_RC(hdmabuf_free(sink, a.handle), 0);
    hdmabuf_unmap(&a.buffer);
}

/* The sink lets audio/pcm go, the source's policy refuses it on arrival. */
static void test_source_refusal(hdmabuf_conn *sink, hdmabuf_conn *source)
{
    struct hdmabuf_metadata audio = { .content_type = "audio/pcm" };
    struct hdmabuf_allocation a;
    struct hdmabuf_exported e;
    struct hdmabuf_import *imp;
    char *state = NULL;
    int64_t deadline = now_ms() + AWAIT_MS;

    REQUIRE_OK(hdmabuf_alloc(sink, 4096, false, 0, HDMABUF_ACCESS_READ_WRITE, &a));
    REQUIRE_OK(hdmabuf_export(sink, a.handle, source_vm, &audio, HDMABUF_ACCESS_READ_WRITE, &e));
    for (;;) {
        struct hdmabuf_buffer_info *info;
        REQUIRE_OK(hdmabuf_query(sink, &e.id, &info));
        if (strncmp(info->state, "rejected", 8) == 0 || now_ms() > deadline) {
            state = strdup(info->state);
            hdmabuf_buffer_info_free(info);
            break;
        }
        hdmabuf_buffer_info_free(info);
        usleep(5000); /* polls a condition with a deadline */
    }
    printf("audio/pcm to the source: state \"%s\"\n", state);
    CHECK(state != NULL && strncmp(state, "rejected: EACCES ", 17) == 0 && state[17] != '\0');
    free(state);
    /* The consumer never learns of it. */
    CHECK_RC(hdmabuf_import(source, &e.id, &imp), -ENOENT);
    CHECK_RC(hdmabuf_free(sink, a.handle), 0);
    hdmabuf_unmap(&a.buffer);
}

int main(void)
{
    hdmabuf_conn *sink, *source;
    struct hdmabuf_stats *st;

    setvbuf(stdout, NULL, _IOLBF, 0); /* in order with stderr's check failures */
    source_vm = test_env_vm("HDMABUF_TEST_SOURCE_VM");
    if (test_env_vm("HDMABUF_TEST_SINK_VM") != 1 || source_vm != 2) {
        fprintf(stderr, "tests/policy/*.toml name VM 1 the sink and VM 2 the source\n");
        return 1;
    }
    REQUIRE_OK(hdmabuf_connect_role("sink", &sink));
    REQUIRE_OK(hdmabuf_connect_role("source", &source));
    REQUIRE_OK(hdmabuf_stats(sink, &st));
    CHECK(strstr(st->policy, "sink.toml") != NULL); /* the daemon runs the test's policy */
    hdmabuf_stats_free(st);

    test_quota(sink);
    test_sink_refusals(sink, source);
    test_source_refusal(sink, source);

    hdmabuf_close(source);
    hdmabuf_close(sink);
    return check_report("test_policy");
}
