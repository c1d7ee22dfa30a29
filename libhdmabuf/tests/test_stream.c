/* SPDX-License-Identifier: MIT */
/*
 * A frame stream of 10 000 frames through 3 buffers, every byte of every frame checked:
 * a producer thread on the sink, the consumer on the source (two connections, as two VMs).
 * usage: test_stream [FRAMES [FRAME_BYTES [spin|block|adaptive]]]
 */
#include "check.h"

#include <errno.h>
#include <pthread.h>

static uint64_t frames = 10000, frame_bytes = 12288 + 40; /* not a page multiple: the tail is checked too */
static enum hdmabuf_wait strategy = HDMABUF_WAIT_ADAPTIVE;
static uint32_t source_vm;

static unsigned char pattern(uint64_t seq, uint64_t i)
{
    return (unsigned char)(seq * 131 + i * 7 + (i >> 8) + (seq >> 8));
}

static void *produce(void *arg)
{
    hdmabuf_conn *sink = arg;
    hdmabuf_frame_producer *p;
    const struct hdmabuf_tag tags[] = { { "purpose", "c-stream-test" } };
    const struct hdmabuf_metadata md = { 1, "application/x-test", 0, 1, tags, NULL, 0, NULL, NULL };
    int e = hdmabuf_frame_producer_create(sink, source_vm, "c-stream", 3, frame_bytes, &md, HDMABUF_ACCESS_READ_WRITE,
        strategy, &p);
    if (e != 0) {
        fprintf(stderr, "producer create: %s\n", hdmabuf_strerror(e));
        return (void *)1;
    }
    for (uint64_t seq = 0; seq < frames && e == 0; seq++) {
        unsigned char *data;
        if ((e = hdmabuf_frame_producer_begin(p, 20000, (void **)&data)) == 0) {
            for (uint64_t i = 0; i < frame_bytes; i++) {
                data[i] = pattern(seq, i);
            }
            e = hdmabuf_frame_producer_end(p, 0);
        }
    }
    if (e == 0) {
        CHECK_RC(hdmabuf_frame_producer_end(p, 0), -EINVAL); /* no begin */
        e = hdmabuf_frame_producer_drain(p, 20000);
    }
    if (e != 0) {
        fprintf(stderr, "producer: %s\n", hdmabuf_strerror(e));
    }
    CHECK(hdmabuf_frame_producer_frames(p) == frames);
    CHECK_RC(hdmabuf_frame_producer_destroy(p), 0);
    return e == 0 ? NULL : (void *)1;
}

int main(int argc, char **argv)
{
    hdmabuf_conn *sink, *source;
    hdmabuf_frame_consumer *c;
    pthread_t producer;
    void *producer_result;
    uint64_t seq, bad = 0;
    int e;

    if (argc > 1) {
        frames = strtoull(argv[1], NULL, 10);
    }
    if (argc > 2) {
        frame_bytes = strtoull(argv[2], NULL, 10);
    }
    if (argc > 3) {
        strategy = strcmp(argv[3], "spin") == 0 ? HDMABUF_WAIT_SPIN :
            strcmp(argv[3], "block") == 0 ? HDMABUF_WAIT_BLOCK : HDMABUF_WAIT_ADAPTIVE;
    }
    source_vm = test_env_vm("HDMABUF_TEST_SOURCE_VM");
    REQUIRE_OK(hdmabuf_connect_role("sink", &sink));
    REQUIRE_OK(hdmabuf_connect_role("source", &source));
    pthread_create(&producer, NULL, produce, sink);

    REQUIRE_OK(hdmabuf_frame_consumer_open(source, "c-stream", 30000, strategy, &c));
    CHECK(hdmabuf_frame_consumer_buffers(c) == 3);
    for (seq = 0; seq < frames; seq++) {
        const unsigned char *data;
        uint64_t length = 0;
        if ((e = hdmabuf_frame_consumer_begin(c, 20000, (const void **)&data, &length)) != 0) {
            fprintf(stderr, "consumer frame %llu: %s\n", (unsigned long long)seq, hdmabuf_strerror(e));
            check_failures++;
            break;
        }
        CHECK(length == frame_bytes);
        for (uint64_t i = 0; i < length; i++) {
            if (data[i] != pattern(seq, i)) {
                if (bad++ < 5) {
                    fprintf(stderr, "frame %llu byte %llu: %u, expected %u\n", (unsigned long long)seq,
                        (unsigned long long)i, data[i], pattern(seq, i));
                }
            }
        }
        CHECK_RC(hdmabuf_frame_consumer_end(c), 0);
    }
    CHECK(bad == 0);
    CHECK(hdmabuf_frame_consumer_frames(c) == frames);
    CHECK_RC(hdmabuf_frame_consumer_end(c), -EINVAL);
    pthread_join(producer, &producer_result);
    CHECK(producer_result == NULL);
    CHECK_RC(hdmabuf_frame_consumer_destroy(c), 0);
    hdmabuf_close(source);
    hdmabuf_close(sink);
    printf("%llu frames of %llu bytes, %llu bad bytes\n", (unsigned long long)frames,
        (unsigned long long)frame_bytes, (unsigned long long)bad);
    return check_report("test_stream");
}
