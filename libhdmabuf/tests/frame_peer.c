/* SPDX-License-Identifier: MIT */
/*
 * The C end of the frame-header interop tests: a producer or a consumer of frames that
 * follow frame_pattern.h, the same pattern as the Java FrameHeaderStream and the Python
 * frame_consumer.py --verify, ending with an end-of-stream frame.
 * usage: frame_peer produce TARGET_VM STREAM FRAMES FRAME_BYTES   prints SENT n
 *        frame_peer consume STREAM                                prints READY consumer, VERIFIED frames=n eos
 */
#include "check.h"
#include "frame_pattern.h"

#include <errno.h>

static int produce(uint32_t target, const char *stream, uint64_t frames, uint64_t cap)
{
    struct hdmabuf_metadata md = { .version = 1, .content_type = "video/x-frame-headers" };
    static struct hdmabuf_frame_header h;
    hdmabuf_conn *conn;
    hdmabuf_frame_producer *p;
    uint64_t pts0 = realtime_ns();
    void *data;
    int e;
    REQUIRE_OK(hdmabuf_connect_role("sink", &conn));
    REQUIRE_OK(hdmabuf_frame_producer_create(conn, target, stream, 3, cap, &md, HDMABUF_ACCESS_READ_WRITE,
        HDMABUF_WAIT_ADAPTIVE, &p));
    for (uint64_t n = 0; n < frames; n++) {
        if ((e = hdmabuf_frame_producer_begin(p, 30000, &data)) != 0) {
            printf("FAILED frame %llu: %s\n", (unsigned long long)n, hdmabuf_strerror(e));
            return 1;
        }
        pattern_header(n, frames, cap, pts0, &h);
        pattern_fill(n, data, h.payload_length);
        REQUIRE_OK(hdmabuf_frame_producer_end_info(p, &h, 0));
    }
    CHECK_RC(hdmabuf_frame_producer_begin(p, 0, &data), -EINVAL);
    REQUIRE_OK(hdmabuf_frame_producer_drain(p, 30000));
    CHECK_RC(hdmabuf_frame_producer_destroy(p), 0);
    hdmabuf_close(conn);
    printf("SENT %llu\n", (unsigned long long)frames);
    return check_report("frame_peer produce");
}

static int consume(const char *stream)
{
    hdmabuf_conn *conn;
    hdmabuf_frame_consumer *c;
    uint64_t n = 0, pts0 = 0, total = UINT64_MAX, length;
    const struct hdmabuf_frame_header *info;
    const void *data;
    int e;
    printf("READY consumer\n");
    fflush(stdout);
    REQUIRE_OK(hdmabuf_connect_role("source", &conn));
    REQUIRE_OK(hdmabuf_frame_consumer_open(conn, stream, 60000, HDMABUF_WAIT_ADAPTIVE, &c));
    if (!hdmabuf_frame_consumer_has_headers(c)) {
        printf("FAILED the stream has no frame headers\n");
        return 1;
    }
    while ((e = hdmabuf_frame_consumer_begin_info(c, 30000, &data, &info)) == 0) {
        if ((info->flags & HDMABUF_FRAME_FLAG_END_OF_STREAM) != 0) {
            total = n + 1;
        }
        if (pattern_check(n, total, hdmabuf_frame_consumer_frame_bytes(c), &pts0, info, data) != 0) {
            return 1;
        }
        REQUIRE_OK(hdmabuf_frame_consumer_end(c));
        n++;
    }
    if (e != -ENODATA || total != n) {
        printf("FAILED after %llu frames: %s\n", (unsigned long long)n, hdmabuf_strerror(e));
        return 1;
    }
    CHECK_RC(hdmabuf_frame_consumer_begin(c, 30000, &data, &length), -ENODATA);
    CHECK_RC(hdmabuf_frame_consumer_destroy(c), 0);
    hdmabuf_close(conn);
    printf("VERIFIED frames=%llu eos\n", (unsigned long long)n);
    return check_report("frame_peer consume");
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "produce") == 0) {
        return produce((uint32_t)strtoul(argv[2], NULL, 10), argv[3], strtoull(argv[4], NULL, 10),
            strtoull(argv[5], NULL, 10) & ~UINT64_C(7));
    }
    if (argc == 3 && strcmp(argv[1], "consume") == 0) {
        return consume(argv[2]);
    }
    fprintf(stderr, "usage: frame_peer produce TARGET_VM STREAM FRAMES FRAME_BYTES | consume STREAM\n");
    return 2;
}
