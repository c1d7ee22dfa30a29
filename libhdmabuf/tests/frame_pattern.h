/* SPDX-License-Identifier: MIT */
/*
 * The per-frame test pattern the frame-header tests share across languages (C here,
 * tests/.../support/FrameHeaderStream.java, examples/python/frame_consumer.py --verify).
 * Frame n of a stream of `total` frames of capacity `cap` bytes (a multiple of 16):
 *   payload_length = cap - 8 * ((n * 7919) % (cap / 16 + 1))
 *   pts_ns         = pts0 + n * FRAME_NS (pts0: the first frame's, near CLOCK_REALTIME)
 *   duration_ns    = FRAME_NS
 *   flags          = KEY_FRAME if n % 30 == 0, DISCONTINUITY if n % 97 == 50,
 *                    END_OF_STREAM if n == total - 1
 *   private_length = n % 257; private byte i = (n * 31 + i * 7) & 0xff
 *   payload        = little-endian u64 words: word w = n * GOLDEN + w
 */
#ifndef HDMABUF_TEST_FRAME_PATTERN_H
#define HDMABUF_TEST_FRAME_PATTERN_H

#define _GNU_SOURCE
#include <hyperdmabuf/hdmabuf.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define FRAME_NS UINT64_C(16666667)
#define GOLDEN UINT64_C(0x9E3779B97F4A7C15)
/* How far pts0 may be from this side's CLOCK_REALTIME (both VMs keep it synchronized). */
#define PTS_SLACK_NS (UINT64_C(600) * 1000000000u)

static inline uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The header of frame n (sequence included). */
static inline void pattern_header(uint64_t n, uint64_t total, uint64_t cap, uint64_t pts0,
    struct hdmabuf_frame_header *h)
{
    memset(h, 0, sizeof(*h));
    h->sequence = n;
    h->payload_length = cap - 8 * ((n * 7919) % (cap / 16 + 1));
    h->pts_ns = pts0 + n * FRAME_NS;
    h->duration_ns = FRAME_NS;
    h->flags = (n % 30 == 0 ? HDMABUF_FRAME_FLAG_KEY_FRAME : 0) | (n % 97 == 50 ? HDMABUF_FRAME_FLAG_DISCONTINUITY : 0) |
        (n + 1 == total ? HDMABUF_FRAME_FLAG_END_OF_STREAM : 0);
    h->private_length = (uint32_t)(n % 257);
    h->metadata_revision = 1; /* set by the producer's library: the stream is exported once */
    for (uint32_t i = 0; i < h->private_length; i++) {
        h->private_data[i] = (uint8_t)(n * 31 + i * 7);
    }
}

static inline void pattern_fill(uint64_t n, void *data, uint64_t payload_length)
{
    uint64_t *w = data;
    for (uint64_t i = 0; i < payload_length / 8; i++) {
        w[i] = n * GOLDEN + i;
    }
}

/*
 * Checks frame n as a consumer got it (*pts0 is learnt from frame 0). Prints the first
 * difference and returns 1, or 0 when every field and payload word is as produced.
 */
static inline int pattern_check(uint64_t n, uint64_t total, uint64_t cap, uint64_t *pts0,
    const struct hdmabuf_frame_header *got, const void *data)
{
    struct hdmabuf_frame_header want;
    const uint64_t *w = data;
    if (n == 0) {
        uint64_t now = realtime_ns();
        *pts0 = got->pts_ns;
        if (got->pts_ns + PTS_SLACK_NS < now || got->pts_ns > now + PTS_SLACK_NS) {
            printf("FAILED frame 0: pts %llu is not near CLOCK_REALTIME %llu\n", (unsigned long long)got->pts_ns,
                (unsigned long long)now);
            return 1;
        }
    }
    pattern_header(n, total, cap, *pts0, &want);
#define FIELD(f)                                                                                             \
    if (got->f != want.f) {                                                                                  \
        printf("FAILED frame %llu: " #f " %llu, expected %llu\n", (unsigned long long)n,                     \
            (unsigned long long)got->f, (unsigned long long)want.f);                                         \
        return 1;                                                                                            \
    }
    FIELD(sequence) FIELD(pts_ns) FIELD(duration_ns) FIELD(payload_length) FIELD(flags) FIELD(private_length)
    FIELD(metadata_revision)
#undef FIELD
    if (memcmp(got->private_data, want.private_data, HDMABUF_FRAME_PRIVATE_MAX) != 0) {
        printf("FAILED frame %llu: private data differs\n", (unsigned long long)n);
        return 1;
    }
    for (uint64_t i = 0; i < want.payload_length / 8; i++) {
        if (w[i] != n * GOLDEN + i) {
            printf("FAILED frame %llu differs at byte %llu\n", (unsigned long long)n, (unsigned long long)(8 * i));
            return 1;
        }
    }
    return 0;
}

#endif
