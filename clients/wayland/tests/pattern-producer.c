/* SPDX-License-Identifier: MIT */
/*
 * pattern-producer: a frame stream of the test pattern (pattern.h), the frame number as its
 * counter, through libhdmabuf's frame producer, as fast as the consumer releases frames.
 * usage: pattern-producer TARGET_VM STREAM WIDTHxHEIGHT FOURCC [ro] [fps=N] [log=FILE] [buffers=K]
 *                         [resize=N:WIDTHxHEIGHT:FOURCC] [reexport=N:WIDTHxHEIGHT:FOURCC:STRIDE]
 *   ro: export read-only; fps: at most N frames a second, as a camera would;
 *   log: a file getting "FRAME CLOCK_MONOTONIC-ns" per frame published; buffers: K (default 3);
 *   resize: after N frames, drain and withdraw the buffers and go on (the counter too) in new ones
 *   of that size and format under the same stream name (prints "RESIZED frame=N");
 *   reexport: after N frames, drain and re-export the same buffers with that image (it must fit
 *   the first size's bytes), the consumer getting "change" events (prints "REEXPORTED frame=N").
 * Prints READY once exported; on SIGTERM it drains (waits until every frame is released) and
 * prints "SENT frames=N max_wait_ms=M" (the longest wait for a free buffer once the consumer
 * runs, i.e. after the first rounds).
 * Exit 4 (STALLED) when a buffer is not released within 5 s: the consumer kept it.
 */
#define _GNU_SOURCE
#include <hyperdmabuf/hdmabuf.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pattern.h"

#define BUFFERS 3 /* default K */
#define STALL_MS 5000

static volatile sig_atomic_t quit;

static void on_signal(int sig)
{
    (void)sig;
    quit = 1;
}

static void set_image(struct hdmabuf_image *image, const char *fourcc, bool *bgr)
{
    image->fourcc = (uint32_t)fourcc[0] | (uint32_t)fourcc[1] << 8 | (uint32_t)fourcc[2] << 16 |
                    (uint32_t)fourcc[3] << 24;
    image->planes[0].stride = image->width * 4;
    *bgr = fourcc[0] == 'A' || fourcc[0] == 'X' ? fourcc[1] == 'B' : false;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    struct sigaction sa = { .sa_handler = on_signal };
    struct hdmabuf_image image = { .n_planes = 1 };
    struct hdmabuf_metadata md = { .version = 1, .content_type = "video/x-raw", .image = &image };
    bool read_only = false;
    const char *log_path = NULL;
    double fps = 0;
    int64_t next_at = 0;
    FILE *log = NULL;
    hdmabuf_conn *conn = NULL;
    hdmabuf_frame_producer *out = NULL;
    int64_t max_wait = 0;
    uint64_t n = 0, resize_at = UINT64_MAX, reexport_at = UINT64_MAX;
    struct hdmabuf_image resized = { .n_planes = 1 }, reexported = { .n_planes = 1 };
    char resized_fourcc[5] = "", reexported_fourcc[5] = "";
    uint32_t k = BUFFERS;
    bool bgr;
    int e;

    if (argc < 5 || sscanf(argv[3], "%ux%u", &image.width, &image.height) != 2 || strlen(argv[4]) != 4) {
        fprintf(stderr, "usage: pattern-producer TARGET_VM STREAM WIDTHxHEIGHT FOURCC [ro] [fps=N] [log=FILE] "
            "[buffers=K] [resize=N:WIDTHxHEIGHT:FOURCC] [reexport=N:WIDTHxHEIGHT:FOURCC:STRIDE]\n");
        return 1;
    }
    for (int i = 5; i < argc; i++) {
        if (strcmp(argv[i], "ro") == 0)
            read_only = true;
        else if (strncmp(argv[i], "fps=", 4) == 0)
            fps = strtod(argv[i] + 4, NULL);
        else if (strncmp(argv[i], "log=", 4) == 0)
            log_path = argv[i] + 4;
        else if (strncmp(argv[i], "buffers=", 8) == 0)
            k = (uint32_t)strtoul(argv[i] + 8, NULL, 10);
        else if (strncmp(argv[i], "resize=", 7) == 0 &&
                 sscanf(argv[i] + 7, "%" SCNu64 ":%ux%u:%4s", &resize_at, &resized.width, &resized.height,
                     resized_fourcc) != 4) {
            fprintf(stderr, "pattern-producer: resize=N:WIDTHxHEIGHT:FOURCC\n");
            return 1;
        } else if (strncmp(argv[i], "reexport=", 9) == 0 &&
                   sscanf(argv[i] + 9, "%" SCNu64 ":%ux%u:%4[^:]:%u", &reexport_at, &reexported.width,
                       &reexported.height, reexported_fourcc, &reexported.planes[0].stride) != 5) {
            fprintf(stderr, "pattern-producer: reexport=N:WIDTHxHEIGHT:FOURCC:STRIDE\n");
            return 1;
        }
    }
    set_image(&image, argv[4], &bgr);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if (log_path != NULL && (log = fopen(log_path, "w")) == NULL) {
        perror(log_path);
        return 1;
    }
    e = hdmabuf_connect_role("sink", &conn);
    if (e == 0)
        e = hdmabuf_frame_producer_create(conn, (uint32_t)strtoul(argv[1], NULL, 0), argv[2], k,
            (uint64_t)image.planes[0].stride * image.height, &md,
            read_only ? HDMABUF_ACCESS_READ_ONLY : HDMABUF_ACCESS_READ_WRITE, HDMABUF_WAIT_ADAPTIVE, &out);
    if (e == 0) {
        printf("READY producer stream=%s\n", argv[2]);
        fflush(stdout);
    }
    int status = 0;
    while (e == 0 && !quit) {
        void *frame;
        int64_t t0 = now_ns(), waited, published;
        if (n == resize_at) {
            /* Every frame back, then new buffers of the new size: the consumer re-imports. */
            if ((e = hdmabuf_frame_producer_drain(out, STALL_MS)) != 0)
                break;
            hdmabuf_frame_producer_destroy(out);
            out = NULL;
            image.width = resized.width;
            image.height = resized.height;
            set_image(&image, resized_fourcc, &bgr);
            e = hdmabuf_frame_producer_create(conn, (uint32_t)strtoul(argv[1], NULL, 0), argv[2], k,
                (uint64_t)image.planes[0].stride * image.height, &md,
                read_only ? HDMABUF_ACCESS_READ_ONLY : HDMABUF_ACCESS_READ_WRITE, HDMABUF_WAIT_ADAPTIVE, &out);
            if (e != 0)
                break;
            printf("RESIZED frame=%llu size=%ux%u format=%s\n", (unsigned long long)n, image.width, image.height,
                resized_fourcc);
            fflush(stdout);
            t0 = now_ns();
        }
        if (n == reexport_at) {
            /* Every frame back, then the same buffers with new metadata: the consumer gets "change". */
            if ((e = hdmabuf_frame_producer_drain(out, STALL_MS)) != 0)
                break;
            image.width = reexported.width;
            image.height = reexported.height;
            set_image(&image, reexported_fourcc, &bgr);
            image.planes[0].stride = reexported.planes[0].stride;
            if ((e = hdmabuf_frame_producer_set_metadata(out, &md)) != 0)
                break;
            printf("REEXPORTED frame=%llu size=%ux%u stride=%u format=%s\n", (unsigned long long)n, image.width,
                image.height, image.planes[0].stride, reexported_fourcc);
            fflush(stdout);
            t0 = now_ns();
        }
        e = hdmabuf_frame_producer_begin(out, STALL_MS, &frame);
        if (e == -ETIMEDOUT) {
            printf("STALLED frame=%llu: no buffer released within %d ms\n", (unsigned long long)n, STALL_MS);
            status = 4;
            break;
        }
        if (e != 0 && (e == -EINTR || quit)) {
            e = 0;
            break;
        }
        if (e != 0)
            break;
        waited = now_ns() - t0;
        /* The first rounds, and those after a new export, wait for the consumer to import. */
        if (n >= 2 * k && (n < resize_at || n >= resize_at + 2 * k) && (n < reexport_at || n >= reexport_at + 2 * k))
            max_wait = waited > max_wait ? waited : max_wait;
        if (fps > 0) {
            struct timespec until;
            next_at = next_at == 0 ? now_ns() : next_at + (int64_t)(1e9 / fps);
            until.tv_sec = (time_t)(next_at / 1000000000);
            until.tv_nsec = (long)(next_at % 1000000000);
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
        }
        pattern_render(frame, image.width, image.height, image.planes[0].stride, bgr, (uint32_t)n);
        published = now_ns(); /* before the signal: the consumer may run first */
        e = hdmabuf_frame_producer_end(out, 0);
        if (e == 0 && log != NULL) {
            fprintf(log, "%llu %lld\n", (unsigned long long)n, (long long)published);
            fflush(log); /* read while the stream runs */
        }
        n++;
    }
    if (log != NULL)
        fclose(log);
    /* Every frame released, the one on screen too: the consumer must not keep a buffer. */
    if (status == 0 && e == 0 && (e = hdmabuf_frame_producer_drain(out, STALL_MS)) == -ETIMEDOUT) {
        printf("STALLED drain: the consumer kept a buffer for %d ms\n", STALL_MS);
        status = 4;
    } else if (status == 0 && e != 0) {
        fprintf(stderr, "pattern-producer: %s\n", hdmabuf_strerror(e));
        status = 1;
    }
    /* Freed on every path, so a sanitizer build reports real leaks only. */
    hdmabuf_frame_producer_destroy(out);
    hdmabuf_close(conn);
    if (status != 0)
        return status;
    printf("SENT frames=%llu max_wait_ms=%.1f\n", (unsigned long long)n, (double)max_wait / 1e6);
    return 0;
}
