/*
 * producer: streams frames through a ring of 3 shared buffers to a consumer in another VM.
 * usage: producer TARGET_VM [FRAMES [FRAME_BYTES [STREAM]]]
 * Each frame is the demo's test pattern (little-endian u64 words: the sequence number, a
 * CLOCK_MONOTONIC timestamp, then seq * 0x9E3779B97F4A7C15 + i), so the Java consumer
 * (`hdmabuf stream-consumer`) and examples/c/consumer.c can check every byte. Each frame's
 * header (ABI.md "Frame headers") carries its presentation time (CLOCK_REALTIME, 60 frames/s),
 * a key-frame flag every 30 frames and, on the last frame, END_OF_STREAM.
 */
#define _POSIX_C_SOURCE 200809L
#include <hyperdmabuf/hdmabuf.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
    uint32_t target = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 0) : 2;
    uint64_t frames = argc > 2 ? strtoull(argv[2], NULL, 0) : 300;
    uint64_t bytes = argc > 3 ? strtoull(argv[3], NULL, 0) & ~7ull : 1 << 20;
    const char *stream = argc > 4 ? argv[4] : "demo";
    struct hdmabuf_metadata md = { .version = 1, .content_type = "video/raw" };
    hdmabuf_conn *conn;
    hdmabuf_frame_producer *out;
    int e = hdmabuf_connect_role("sink", &conn); /* $HDMABUF_RUNTIME_DIR/sink.sock */
    if (e == 0 && (e = hdmabuf_frame_producer_create(conn, target, stream, 3, bytes, &md,
                       HDMABUF_ACCESS_READ_WRITE, HDMABUF_WAIT_ADAPTIVE, &out)) == 0) {
        struct hdmabuf_frame_header info = { .duration_ns = 16666667, .payload_length = bytes };
        struct timespec start;
        clock_gettime(CLOCK_REALTIME, &start);
        for (uint64_t seq = 0; seq < frames && e == 0; seq++) {
            uint64_t *w;
            struct timespec ts;
            if ((e = hdmabuf_frame_producer_begin(out, 30000, (void **)&w)) != 0)
                break;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            w[0] = seq;
            w[1] = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
            for (uint64_t i = 2; i < bytes / 8; i++)
                w[i] = seq * 0x9E3779B97F4A7C15ull + i;
            info.pts_ns = (uint64_t)start.tv_sec * 1000000000u + (uint64_t)start.tv_nsec + seq * info.duration_ns;
            info.flags = (seq % 30 == 0 ? HDMABUF_FRAME_FLAG_KEY_FRAME : 0) |
                (seq + 1 == frames ? HDMABUF_FRAME_FLAG_END_OF_STREAM : 0);
            e = hdmabuf_frame_producer_end_info(out, &info, 0); /* the header, then acquire := round + 1 */
        }
        if (e == 0)
            e = hdmabuf_frame_producer_drain(out, 30000); /* every frame read before unexport */
        int d = hdmabuf_frame_producer_destroy(out);
        e = e != 0 ? e : d;
    }
    if (e != 0) {
        fprintf(stderr, "producer: %s\n", hdmabuf_strerror(e));
        return 1;
    }
    printf("SENT frames=%llu bytes=%llu\n", (unsigned long long)frames, (unsigned long long)bytes);
    hdmabuf_close(conn);
    return 0;
}
