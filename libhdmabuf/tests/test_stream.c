/* SPDX-License-Identifier: MIT */
/*
 * A frame stream of 10 000 frames through 3 buffers, every per-frame field (sequence,
 * timestamps, flags, payload length, private data) and every payload word of every frame
 * checked, ending with an end-of-stream frame: a producer thread on the sink, the consumer
 * on the source (two connections, as two VMs). The pattern is frame_pattern.h's. Then a
 * stream's buffers re-exported with new metadata: a "change" per buffer, the tags kept.
 * Outside sanitizer builds it counts the allocations of both ends while the stream runs (from
 * frame 100, past both ends' set-up, to 10 frames before the end, before the drain): none, as
 * the header promises for the per-frame path.
 * usage: test_stream [FRAMES [FRAME_BYTES [spin|block|adaptive]]]
 */
#include "check.h"
#include "frame_pattern.h"
#include "alloc_count.h"

#include <errno.h>
#include <pthread.h>

static uint64_t frames = 10000, frame_bytes = 12288 + 40; /* not a page multiple: the header shares a page */
static enum hdmabuf_wait strategy = HDMABUF_WAIT_ADAPTIVE;
static uint32_t source_vm;
/* The frames over which allocations are counted: [COUNT_FROM, frames - COUNT_UNTIL_END). */
#define COUNT_FROM 100
#define COUNT_UNTIL_END 10

static void *produce(void *arg)
{
    hdmabuf_conn *sink = arg;
    hdmabuf_frame_producer *p;
    const struct hdmabuf_tag tags[] = { { "purpose", "c-stream-test" } };
    const struct hdmabuf_metadata md = { 1, "application/x-test", 0, 1, tags, NULL, 0, NULL, NULL };
    static struct hdmabuf_frame_header h; /* reused: nothing per frame */
    uint64_t pts0 = realtime_ns();
    int e = hdmabuf_frame_producer_create(sink, source_vm, "c-stream", 3, frame_bytes, &md, HDMABUF_ACCESS_READ_WRITE,
        strategy, &p);
    if (e != 0) {
        fprintf(stderr, "producer create: %s\n", hdmabuf_strerror(e));
        return (void *)1;
    }
    for (uint64_t seq = 0; seq < frames && e == 0; seq++) {
        unsigned char *data;
        if ((e = hdmabuf_frame_producer_begin(p, 20000, (void **)&data)) == 0) {
            pattern_header(seq, frames, frame_bytes, pts0, &h);
            pattern_fill(seq, data, h.payload_length);
            if (seq == 1) {
                /* Refused headers publish nothing: the frame is still ours. */
                struct hdmabuf_frame_header bad = h;
                bad.payload_length = frame_bytes + 1;
                CHECK_RC(hdmabuf_frame_producer_end_info(p, &bad, 0), -EINVAL);
                bad = h;
                bad.private_length = HDMABUF_FRAME_PRIVATE_MAX + 1;
                CHECK_RC(hdmabuf_frame_producer_end_info(p, &bad, 0), -EINVAL);
                bad = h;
                bad.flags |= 1u << 3;
                CHECK_RC(hdmabuf_frame_producer_end_info(p, &bad, 0), -EINVAL);
            }
            h.sequence = 12345; /* ignored: the library numbers the frames */
            e = hdmabuf_frame_producer_end_info(p, &h, 0);
        }
    }
    if (e == 0) {
        void *data;
        CHECK_RC(hdmabuf_frame_producer_end(p, 0), -EINVAL);              /* no begin */
        CHECK_RC(hdmabuf_frame_producer_begin(p, 0, &data), -EINVAL);     /* nothing after the end */
        e = hdmabuf_frame_producer_drain(p, 20000);
    }
    if (e != 0) {
        fprintf(stderr, "producer: %s\n", hdmabuf_strerror(e));
    }
    CHECK(hdmabuf_frame_producer_frames(p) == frames);
    CHECK_RC(hdmabuf_frame_producer_destroy(p), 0);
    return e == 0 ? NULL : (void *)1;
}

/* The value of key in ev, "" when absent. */
static const char *prop(const struct hdmabuf_event *ev, const char *key)
{
    const char *v = hdmabuf_event_get(ev, key);
    return v != NULL ? v : "";
}

/* hdmabuf_frame_producer_set_metadata: every buffer re-exported, same ids, new image, stream tags kept. */
static void check_set_metadata(hdmabuf_conn *sink, hdmabuf_conn *source)
{
    struct hdmabuf_image image = { .width = 64, .height = 32, .fourcc = 0x34325241, .n_planes = 1 }; /* AR24 */
    struct hdmabuf_metadata md = { .version = 1, .content_type = "video/x-raw", .image = &image };
    const struct hdmabuf_match matches[] = { { "ACTION", "change", false }, { "TAG_STREAM", "c-meta", false } };
    const struct hdmabuf_rule rule = { 2, matches };
    hdmabuf_frame_producer *p;
    hdmabuf_frame_consumer *c;
    const struct hdmabuf_frame_header *info;
    const void *frame;
    uint64_t sub;
    bool seen[2] = { false, false };
    void *data;

    image.planes[0].stride = 256;
    REQUIRE_OK(hdmabuf_frame_producer_create(sink, source_vm, "c-meta", 2, 256 * 32, &md, HDMABUF_ACCESS_READ_WRITE,
        strategy, &p));
    /* Before the change subscription: the consumer reads (and drops) the connection's other events. */
    REQUIRE_OK(hdmabuf_frame_consumer_open(source, "c-meta", 20000, strategy, &c));
    REQUIRE_OK(hdmabuf_subscribe(source, &rule, 1, false, &sub));
    REQUIRE_OK(hdmabuf_frame_producer_begin(p, 20000, &data));
    CHECK_RC(hdmabuf_frame_producer_set_metadata(p, &md), -EINVAL); /* inside a frame */
    REQUIRE_OK(hdmabuf_frame_producer_end(p, 0));
    /* Frame 0: written for the first export's metadata, the one the consumer imported. */
    REQUIRE_OK(hdmabuf_frame_consumer_begin_info(c, 20000, &frame, &info));
    CHECK(info->metadata_revision == 1 && hdmabuf_frame_consumer_revision(c) == 1);
    CHECK(!hdmabuf_frame_consumer_metadata_stale(c));
    CHECK_RC(hdmabuf_frame_consumer_end(c), 0);
    image.width = 32;
    image.height = 16;
    image.fourcc = 0x34324258; /* XB24 */
    image.planes[0].stride = 192;
    CHECK_RC(hdmabuf_frame_producer_set_metadata(p, &md), 0);
    /* Frame 1: written for revision 2 while the consumer still holds revision 1's metadata. */
    REQUIRE_OK(hdmabuf_frame_producer_begin(p, 20000, &data));
    REQUIRE_OK(hdmabuf_frame_producer_end(p, 0));
    REQUIRE_OK(hdmabuf_frame_consumer_begin_info(c, 20000, &frame, &info));
    CHECK(info->metadata_revision == 2 && hdmabuf_frame_consumer_revision(c) == 1);
    CHECK(hdmabuf_frame_consumer_metadata_stale(c));
    CHECK_RC(hdmabuf_frame_consumer_end(c), 0);
    for (int i = 0; i < 2; i++) {
        struct hdmabuf_event *ev;
        struct hdmabuf_id id;
        struct hdmabuf_import *imp;
        if (hdmabuf_next_event(source, 20000, &ev) != 0) {
            CHECK(!"a change event per buffer");
            break;
        }
        CHECK(strcmp(ev->action, "change") == 0 && strcmp(prop(ev, "REVISION"), "2") == 0);
        CHECK(strcmp(prop(ev, "IMAGE_WIDTH"), "32") == 0 && strcmp(prop(ev, "IMAGE_FOURCC"), "XB24") == 0);
        CHECK(strcmp(prop(ev, "TAG_SLOTS"), "2") == 0 && hdmabuf_event_get(ev, "TAG_FRAME_HEADER") != NULL);
        seen[prop(ev, "TAG_SLOT")[0] == '1'] = true;
        if (hdmabuf_id_parse(prop(ev, "BUFFER"), &id) == 0 && hdmabuf_import(source, &id, &imp) == 0) {
            CHECK(imp->metadata.image != NULL && imp->metadata.image->height == 16 &&
                  imp->metadata.image->planes[0].stride == 192 && imp->metadata.size == 256 * 32);
            CHECK_RC(hdmabuf_release(source, &id), 0);
            hdmabuf_import_free(imp);
        } else {
            CHECK(!"the re-exported buffer imports");
        }
        hdmabuf_event_free(ev);
    }
    CHECK(seen[0] && seen[1]);
    CHECK_RC(hdmabuf_unsubscribe(source, sub), 0);
    CHECK_RC(hdmabuf_frame_consumer_destroy(c), 0);
    CHECK_RC(hdmabuf_frame_producer_destroy(p), 0);
}

int main(int argc, char **argv)
{
    hdmabuf_conn *sink, *source;
    hdmabuf_frame_consumer *c;
    pthread_t producer;
    void *producer_result;
    uint64_t seq, bad = 0, pts0 = 0, keys = 0, discontinuities = 0;
    const void *data;
    uint64_t length;
    int e;

    if (argc > 1) {
        frames = strtoull(argv[1], NULL, 10);
    }
    if (argc > 2) {
        frame_bytes = strtoull(argv[2], NULL, 10) & ~UINT64_C(7);
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
    CHECK(hdmabuf_frame_consumer_has_headers(c));
    for (seq = 0; seq < frames; seq++) {
        const struct hdmabuf_frame_header *info;
        /* The producer is at most 3 frames ahead: the window holds neither end's set-up nor drain. */
        if (seq == COUNT_FROM && frames > COUNT_FROM + COUNT_UNTIL_END) {
            allocations = 0;
            COUNT_ALLOCATIONS(1);
        }
        if (seq + COUNT_UNTIL_END == frames) {
            COUNT_ALLOCATIONS(0);
        }
        if ((e = hdmabuf_frame_consumer_begin_info(c, 20000, &data, &info)) != 0) {
            fprintf(stderr, "consumer frame %llu: %s\n", (unsigned long long)seq, hdmabuf_strerror(e));
            check_failures++;
            break;
        }
        if (pattern_check(seq, frames, frame_bytes, &pts0, info, data) != 0 && bad++ < 5) {
            fprintf(stderr, "frame %llu is not as produced\n", (unsigned long long)seq);
        }
        keys += (info->flags & HDMABUF_FRAME_FLAG_KEY_FRAME) != 0;
        discontinuities += (info->flags & HDMABUF_FRAME_FLAG_DISCONTINUITY) != 0;
        CHECK(((info->flags & HDMABUF_FRAME_FLAG_END_OF_STREAM) != 0) == (seq + 1 == frames));
        CHECK_RC(hdmabuf_frame_consumer_end(c), 0);
    }
    COUNT_ALLOCATIONS(0);
    CHECK(bad == 0);
    if (ALLOCATIONS_COUNTED && frames > COUNT_FROM + COUNT_UNTIL_END && allocations != 0) {
        fprintf(stderr, "%d allocations on the per-frame path (frames %d to %llu)\n", allocations, COUNT_FROM,
            (unsigned long long)(frames - COUNT_UNTIL_END));
        check_failures++;
    }
    CHECK(keys == (frames + 29) / 30);
    CHECK(hdmabuf_frame_consumer_frames(c) == frames);
    CHECK_RC(hdmabuf_frame_consumer_end(c), -EINVAL);
    /* The end of the stream, at once and for good: no wait. */
    CHECK_RC(hdmabuf_frame_consumer_begin(c, 20000, &data, &length), -ENODATA);
    CHECK_RC(hdmabuf_frame_consumer_begin(c, -1, &data, &length), -ENODATA);
    pthread_join(producer, &producer_result);
    CHECK(producer_result == NULL);
    CHECK_RC(hdmabuf_frame_consumer_destroy(c), 0);
    check_set_metadata(sink, source);
    hdmabuf_close(source);
    hdmabuf_close(sink);
    printf("%llu frames of up to %llu bytes, %llu key frames, %llu discontinuities, end of stream seen, "
        "%llu bad frames\n", (unsigned long long)frames, (unsigned long long)frame_bytes, (unsigned long long)keys,
        (unsigned long long)discontinuities, (unsigned long long)bad);
    return check_report("test_stream");
}
