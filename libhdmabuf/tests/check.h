/* SPDX-License-Identifier: MIT */
/* Tiny assertion helpers for the libhdmabuf tests (run by with-daemons.py). */
#ifndef HDMABUF_TEST_CHECK_H
#define HDMABUF_TEST_CHECK_H

#define _GNU_SOURCE
#include <hyperdmabuf/hdmabuf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int check_failures;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);    \
            check_failures++;                                                           \
        }                                                                               \
    } while (0)

/* A call's result must be want (0 or a negative code). */
#define CHECK_RC(call, want)                                                            \
    do {                                                                                \
        int rc_ = (call);                                                               \
        if (rc_ != (want)) {                                                            \
            fprintf(stderr, "%s:%d: %s = %d (%s), expected %d (%s)\n", __FILE__, __LINE__, \
                #call, rc_, hdmabuf_strerror(rc_), (want), hdmabuf_strerror(want));     \
            check_failures++;                                                           \
        }                                                                               \
    } while (0)

/* Setup that later checks depend on: stop at once. */
#define REQUIRE_OK(call)                                                                \
    do {                                                                                \
        int rc_ = (call);                                                               \
        if (rc_ != 0) {                                                                 \
            fprintf(stderr, "%s:%d: %s = %d (%s)\n", __FILE__, __LINE__, #call, rc_,     \
                hdmabuf_strerror(rc_));                                                 \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

static inline uint32_t test_env_vm(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL) {
        fprintf(stderr, "%s not set: run me through with-daemons.py\n", name);
        exit(1);
    }
    return (uint32_t)strtoul(v, NULL, 10);
}

/* An export reaches the source asynchronously: wait until the source knows id. */
static inline void await_known(hdmabuf_conn *source, const struct hdmabuf_id *id)
{
    for (int i = 0; i < 1000; i++) {
        struct hdmabuf_buffer_info *info;
        if (hdmabuf_query(source, id, &info) == 0) {
            hdmabuf_buffer_info_free(info);
            return;
        }
        usleep(10000);
    }
    fprintf(stderr, "the source never learned of the export\n");
    exit(1);
}

static inline int check_report(const char *name)
{
    if (check_failures != 0) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, check_failures);
        return 1;
    }
    printf("%s: OK\n", name);
    return 0;
}

#endif
