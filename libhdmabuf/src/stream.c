/* SPDX-License-Identifier: MIT */
/*
 * Frame streams over K exported buffers (ABI.md "Frame streams"), wire-compatible with
 * the Java FrameProducer/FrameConsumer: the same tags, the same rounds, the same frame
 * header in each buffer (ABI.md "Frame headers").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "private.h"

#define MAX_STREAM_BUFFERS 1024

struct producer_slot {
    struct hdmabuf_allocation alloc;
    struct hdmabuf_exported exported;
    bool is_exported;
    hdmabuf_fence *fence;
};

struct hdmabuf_frame_producer {
    hdmabuf_conn *conn;
    enum hdmabuf_wait strategy;
    uint32_t target_vm;
    enum hdmabuf_access access;
    char *stream;
    uint32_t k;
    uint64_t frame;
    uint64_t frame_bytes;
    uint64_t header_offset; /* of the frame header in every buffer */
    bool in_frame;
    bool ended;             /* the end-of-stream frame is published */
    struct producer_slot *slots;
};

struct consumer_slot {
    struct hdmabuf_import *imp;
    hdmabuf_fence *fence;
    const volatile unsigned char *header; /* in the mapping; NULL: the stream has none */
    uint32_t revision;                    /* of the metadata imported (the add event's REVISION); 0: unknown */
};

struct hdmabuf_frame_consumer {
    hdmabuf_conn *conn;
    enum hdmabuf_wait strategy;
    uint32_t k;
    uint64_t frame;
    bool in_frame;
    bool has_headers;   /* the buffers carry frame headers (ABI.md "Frame headers") */
    bool eos_in_frame;  /* the frame begun carries END_OF_STREAM */
    bool ended;         /* ... and was handed back: no frame follows */
    struct consumer_slot *slots;
    struct hdmabuf_frame_header info; /* the current frame's header, a private copy */
};

/* An error word from the other side as a return value (ABI codes as themselves). */
static int word_error(uint32_t word)
{
    return code_is_abi(word) ? -(int)word : -EIO;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int frame_header_parse_offset(const char *text, uint64_t *out)
{
    uint64_t v = 0;
    if (text == NULL || *text == '\0' || (text[0] == '0' && text[1] != '\0')) {
        return -EPROTO;
    }
    for (; *text != '\0'; text++) {
        if (*text < '0' || *text > '9' || v > (UINT64_MAX - 9) / 10) {
            return -EPROTO;
        }
        v = v * 10 + (uint64_t)(*text - '0');
    }
    *out = v;
    return 0;
}

int frame_header_read(const volatile void *shm, uint64_t sequence, uint64_t content_size,
    struct hdmabuf_frame_header *out)
{
    struct hdmabuf_frame_header h;
    /* Read once into private memory: the producer's VM can change the shared bytes at any time. */
    memcpy(&h, (const void *)shm, HDMABUF_FRAME_DEFINED_LENGTH);
    if (!hdmabuf_frame_header_valid(&h, sequence, content_size)) {
        return -EPROTO;
    }
    memcpy(out, &h, HDMABUF_FRAME_DEFINED_LENGTH);
    /* What follows private_length is not the frame's: hand out zeros, not stale bytes. */
    memset(out->private_data + h.private_length, 0, HDMABUF_FRAME_PRIVATE_MAX - h.private_length);
    memset(out->reserved0, 0, sizeof(out->reserved0));
    return 0;
}

/*
 * The metadata of the export of slot (of slots): tmpl (may be NULL) plus the stream tags and
 * size = frame_bytes. tags holds tmpl's tags and 4 more.
 */
static struct hdmabuf_metadata slot_metadata(const hdmabuf_frame_producer *p, const struct hdmabuf_metadata *tmpl,
    uint32_t slot, uint32_t slots, struct hdmabuf_tag *tags, char texts[3][24])
{
    struct hdmabuf_metadata md = tmpl != NULL ? *tmpl : (struct hdmabuf_metadata){ .version = 1 };
    size_t base_tags = tmpl != NULL ? tmpl->n_tags : 0;

    for (size_t i = 0; i < base_tags; i++) {
        tags[i] = tmpl->tags[i];
    }
    snprintf(texts[0], 24, "%" PRIu32, slot);
    snprintf(texts[1], 24, "%" PRIu32, slots);
    snprintf(texts[2], 24, "%" PRIu64, p->header_offset);
    tags[base_tags] = (struct hdmabuf_tag){ "stream", p->stream };
    tags[base_tags + 1] = (struct hdmabuf_tag){ "slot", texts[0] };
    tags[base_tags + 2] = (struct hdmabuf_tag){ "slots", texts[1] };
    tags[base_tags + 3] = (struct hdmabuf_tag){ HDMABUF_FRAME_HEADER_TAG, texts[2] };
    md.tags = tags;
    md.n_tags = base_tags + 4;
    md.size = p->frame_bytes;
    return md;
}

int hdmabuf_frame_producer_create(hdmabuf_conn *conn, uint32_t target_vm, const char *stream, uint32_t buffers,
    uint64_t frame_bytes, const struct hdmabuf_metadata *tmpl, enum hdmabuf_access access,
    enum hdmabuf_wait strategy, hdmabuf_frame_producer **out)
{
    struct hdmabuf_tag *tags;
    size_t base_tags = tmpl != NULL ? tmpl->n_tags : 0;
    hdmabuf_frame_producer *p;
    char texts[3][24];
    int e = 0;

    if (stream == NULL || buffers < 1 || buffers > MAX_STREAM_BUFFERS || frame_bytes == 0 ||
        frame_bytes > (UINT64_C(1) << 62) || base_tags > 4096) {
        return -EINVAL;
    }
    p = calloc(1, sizeof(*p));
    tags = calloc(base_tags + 4, sizeof(*tags));
    if (p == NULL || tags == NULL || (p->slots = calloc(buffers, sizeof(*p->slots))) == NULL ||
        (p->stream = strdup(stream)) == NULL) {
        if (p != NULL) {
            free(p->slots);
        }
        free(p);
        free(tags);
        return -ENOMEM;
    }
    p->conn = conn;
    p->strategy = strategy;
    p->target_vm = target_vm;
    p->access = access;
    p->frame_bytes = frame_bytes;
    p->header_offset =
        (frame_bytes + HDMABUF_FRAME_HEADER_ALIGNMENT - 1) & ~(uint64_t)(HDMABUF_FRAME_HEADER_ALIGNMENT - 1);
    for (uint32_t i = 0; i < buffers; i++) {
        p->slots[i].alloc.buffer.fd = -1;
    }
    for (uint32_t i = 0; i < buffers && e == 0; i++) {
        struct producer_slot *s = &p->slots[i];
        struct hdmabuf_metadata md = slot_metadata(p, tmpl, i, buffers, tags, texts);
        /* The frame header follows the content, in the same allocation (ABI.md "Frame headers"). */
        e = hdmabuf_alloc(conn, p->header_offset + HDMABUF_FRAME_HEADER_LENGTH, true, target_vm, access, &s->alloc);
        p->k = i + 1;
        if (e == 0) {
            e = hdmabuf_map(&s->alloc.buffer);
        }
        if (e == 0) {
            e = hdmabuf_export(conn, s->alloc.handle, target_vm, &md, access, &s->exported);
            s->is_exported = e == 0;
        }
        if (e == 0) {
            e = hdmabuf_fence_open_export(conn, &s->alloc, &s->exported, &s->fence);
        }
    }
    free(tags);
    if (e != 0) {
        hdmabuf_frame_producer_destroy(p);
        return e;
    }
    *out = p;
    return 0;
}

int hdmabuf_frame_producer_set_metadata(hdmabuf_frame_producer *p, const struct hdmabuf_metadata *tmpl)
{
    size_t base_tags = tmpl != NULL ? tmpl->n_tags : 0;
    struct hdmabuf_tag *tags;
    char texts[3][24];
    int e = 0;

    if (p->in_frame || base_tags > 4096) {
        return -EINVAL;
    }
    if ((tags = calloc(base_tags + 4, sizeof(*tags))) == NULL) {
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < p->k && e == 0; i++) {
        struct hdmabuf_metadata md = slot_metadata(p, tmpl, i, p->k, tags, texts);
        struct hdmabuf_exported again;
        /* Same handle, same target: a re-export, same id and fence, the consumer gets "change". */
        e = hdmabuf_export(p->conn, p->slots[i].alloc.handle, p->target_vm, &md, p->access, &again);
        if (e == 0) {
            /* Frames from now on say so: a consumer holding the old metadata waits for its change. */
            p->slots[i].exported.revision = again.revision;
        }
    }
    free(tags);
    return e;
}

int hdmabuf_frame_producer_begin(hdmabuf_frame_producer *p, int timeout_ms, void **data)
{
    struct producer_slot *s = &p->slots[p->frame % p->k];
    uint32_t err = 0;
    int e;
    if (p->ended) {
        return -EINVAL; /* nothing follows the end of the stream */
    }
    e = hdmabuf_fence_await(s->fence, p->frame / p->k, timeout_ms, p->strategy, NULL, &err);
    if (e != 0) {
        return e;
    }
    if (err != 0) {
        return word_error(err);
    }
    p->in_frame = true;
    *data = s->alloc.buffer.data;
    return 0;
}

int hdmabuf_frame_producer_end_info(hdmabuf_frame_producer *p, const struct hdmabuf_frame_header *info,
    uint32_t error)
{
    struct producer_slot *s;
    volatile struct hdmabuf_frame_header *h;
    int e;
    if (!p->in_frame) {
        return -EINVAL;
    }
    if (info != NULL && (info->payload_length > p->frame_bytes || info->private_length > HDMABUF_FRAME_PRIVATE_MAX ||
            (info->flags & ~HDMABUF_FRAME_FLAGS_DEFINED) != 0)) {
        return -EINVAL;
    }
    s = &p->slots[p->frame % p->k];
    /* Written while this side owns the buffer; the acquire signal below publishes it. */
    h = (volatile struct hdmabuf_frame_header *)((unsigned char *)s->alloc.buffer.data + p->header_offset);
    h->sequence = p->frame;
    h->pts_ns = info != NULL ? info->pts_ns : 0;
    h->duration_ns = info != NULL ? info->duration_ns : 0;
    h->payload_length = info != NULL ? info->payload_length : p->frame_bytes;
    h->flags = info != NULL ? info->flags : 0;
    h->private_length = info != NULL ? info->private_length : 0;
    h->metadata_revision = s->exported.revision;
    if (info != NULL && info->private_length > 0) {
        memcpy((void *)h->private_data, info->private_data, info->private_length);
    }
    e = hdmabuf_fence_post(s->fence, p->frame / p->k + 1, error);
    if (e == 0) {
        p->in_frame = false;
        p->ended = info != NULL && (info->flags & HDMABUF_FRAME_FLAG_END_OF_STREAM) != 0;
        p->frame++;
    }
    return e;
}

int hdmabuf_frame_producer_end(hdmabuf_frame_producer *p, uint32_t error)
{
    return hdmabuf_frame_producer_end_info(p, NULL, error);
}

int hdmabuf_frame_producer_drain(hdmabuf_frame_producer *p, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    for (uint32_t i = 0; i < p->k; i++) {
        uint64_t rounds = p->frame > i ? (p->frame - i + p->k - 1) / p->k : 0;
        int64_t left = deadline < 0 ? -1 : deadline - now_ms();
        uint32_t err = 0;
        int e = hdmabuf_fence_await(p->slots[i].fence, rounds, left < 0 && deadline >= 0 ? 0 : (int)left,
            p->strategy, NULL, &err);
        if (e != 0) {
            return e;
        }
        if (err != 0) {
            return word_error(err);
        }
    }
    return 0;
}

uint64_t hdmabuf_frame_producer_frames(const hdmabuf_frame_producer *p)
{
    return p->frame;
}

int hdmabuf_frame_producer_destroy(hdmabuf_frame_producer *p)
{
    int first = 0;
    if (p == NULL) {
        return 0;
    }
    for (uint32_t i = 0; i < p->k; i++) {
        struct producer_slot *s = &p->slots[i];
        int e = 0;
        hdmabuf_fence_close(s->fence);
        if (s->is_exported) {
            e = hdmabuf_unexport(p->conn, &s->exported.id, 0);
        }
        if (s->alloc.buffer.fd >= 0) {
            int f = hdmabuf_free(p->conn, s->alloc.handle);
            e = e != 0 ? e : f;
        }
        hdmabuf_unmap(&s->alloc.buffer);
        first = first != 0 ? first : e;
    }
    free(p->slots);
    free(p->stream);
    free(p);
    return first;
}

/* Strict decimal below limit. */
static int parse_index(const char *s, uint32_t limit, uint32_t *out)
{
    uint64_t v = 0;
    if (s == NULL || *s == '\0') {
        return -EPROTO;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || (v = v * 10 + (uint64_t)(*s - '0')) >= limit) {
            return -EPROTO;
        }
    }
    *out = (uint32_t)v;
    return 0;
}

/*
 * Finds the slot's frame header from its tag (ABI.md "Frame headers"); every buffer of a
 * stream has one or none does. first: the first buffer imported, which decides.
 */
static int locate_header(struct consumer_slot *s, bool first, hdmabuf_frame_consumer *c)
{
    const char *tag = hdmabuf_metadata_tag(&s->imp->metadata, HDMABUF_FRAME_HEADER_TAG);
    uint64_t offset;
    bool stream_has = first ? tag != NULL : c->has_headers;
    if (first) {
        c->has_headers = tag != NULL;
    }
    if ((tag != NULL) != stream_has) {
        return -EPROTO;
    }
    if (tag == NULL) {
        return 0;
    }
    if (frame_header_parse_offset(tag, &offset) != 0 ||
        !hdmabuf_frame_header_placement_valid(offset, s->imp->metadata.size, s->imp->buffer.length)) {
        return -EPROTO;
    }
    s->header = (const volatile unsigned char *)s->imp->buffer.data + offset;
    return 0;
}

/* The REVISION of an add or change event; 0 if absent or malformed (an older daemon). */
static uint32_t event_revision(const struct hdmabuf_event *ev)
{
    uint32_t r;
    return parse_index(hdmabuf_event_get(ev, "REVISION"), UINT32_MAX, &r) == 0 ? r : 0;
}

int hdmabuf_frame_consumer_open(hdmabuf_conn *conn, const char *stream, int timeout_ms, enum hdmabuf_wait strategy,
    hdmabuf_frame_consumer **out)
{
    const struct hdmabuf_match matches[] = {
        { "ACTION", "add", false },
        { "TAG_STREAM", stream, false },
    };
    const struct hdmabuf_rule rule = { 2, matches };
    int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    hdmabuf_frame_consumer *c;
    uint64_t sub;
    uint32_t found = 0;
    int e;

    if (stream == NULL) {
        return -EINVAL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return -ENOMEM;
    }
    c->conn = conn;
    c->strategy = strategy;
    if ((e = hdmabuf_subscribe(conn, &rule, 1, true, &sub)) != 0) {
        free(c);
        return e;
    }
    while (e == 0 && (c->slots == NULL || found < c->k)) {
        struct hdmabuf_event *ev;
        struct hdmabuf_id id;
        uint32_t count, slot;
        int64_t left = deadline < 0 ? -1 : deadline - now_ms();
        if (deadline >= 0 && left <= 0) {
            e = -ETIMEDOUT;
            break;
        }
        e = hdmabuf_next_event(conn, left > INT32_MAX ? INT32_MAX : (int)left, &ev);
        if (e != 0) {
            break;
        }
        if (ev->overflow_dropped > 0 || ev->subscription_id != sub) {
            hdmabuf_event_free(ev);
            continue;
        }
        if (parse_index(hdmabuf_event_get(ev, "TAG_SLOTS"), MAX_STREAM_BUFFERS + 1, &count) != 0 || count == 0 ||
            parse_index(hdmabuf_event_get(ev, "TAG_SLOT"), count, &slot) != 0 ||
            hdmabuf_id_parse(hdmabuf_event_get(ev, "BUFFER"), &id) != 0 ||
            (c->slots != NULL && (count != c->k || c->slots[slot].imp != NULL))) {
            e = -EPROTO; /* announced inconsistently */
        } else if (c->slots == NULL && (c->slots = calloc(count, sizeof(*c->slots))) == NULL) {
            e = -ENOMEM;
        } else {
            c->k = count;
            e = hdmabuf_import(conn, &id, &c->slots[slot].imp);
            if (e == 0) {
                c->slots[slot].revision = event_revision(ev);
                found++;
                e = locate_header(&c->slots[slot], found == 1, c);
            }
            if (e == 0) {
                e = hdmabuf_fence_open_import(conn, c->slots[slot].imp, &c->slots[slot].fence);
            }
        }
        hdmabuf_event_free(ev);
    }
    if (e == 0) {
        e = hdmabuf_unsubscribe(conn, sub);
    } else {
        hdmabuf_unsubscribe(conn, sub);
    }
    if (e != 0) {
        hdmabuf_frame_consumer_destroy(c);
        return e;
    }
    *out = c;
    return 0;
}

int hdmabuf_frame_consumer_begin_info(hdmabuf_frame_consumer *c, int timeout_ms, const void **data,
    const struct hdmabuf_frame_header **info)
{
    struct consumer_slot *s = &c->slots[c->frame % c->k];
    uint64_t size = s->imp->metadata.size < s->imp->buffer.length ? s->imp->metadata.size : s->imp->buffer.length;
    uint32_t err = 0;
    int e;
    if (c->ended) {
        return -ENODATA;
    }
    e = hdmabuf_fence_await(s->fence, c->frame / c->k + 1, timeout_ms, c->strategy, NULL, &err);
    if (e != 0) {
        return e;
    }
    if (err != 0) {
        return word_error(err);
    }
    if (s->header != NULL) {
        /* After the acquire wait: the header is the producer's for this frame. */
        if (frame_header_read(s->header, c->frame, size, &c->info) != 0) {
            conn_set_msg(c->conn, "the producer's header of frame %" PRIu64 " is invalid", c->frame);
            return -EPROTO;
        }
    } else {
        memset(&c->info, 0, sizeof(c->info));
        c->info.sequence = c->frame;
        c->info.payload_length = size;
    }
    c->in_frame = true;
    c->eos_in_frame = (c->info.flags & HDMABUF_FRAME_FLAG_END_OF_STREAM) != 0;
    *data = s->imp->buffer.data;
    if (info != NULL) {
        *info = &c->info;
    }
    return 0;
}

int hdmabuf_frame_consumer_begin(hdmabuf_frame_consumer *c, int timeout_ms, const void **data, uint64_t *length)
{
    const struct hdmabuf_frame_header *info;
    int e = hdmabuf_frame_consumer_begin_info(c, timeout_ms, data, &info);
    if (e == 0 && length != NULL) {
        *length = info->payload_length;
    }
    return e;
}

int hdmabuf_frame_consumer_end(hdmabuf_frame_consumer *c)
{
    int e;
    if (!c->in_frame) {
        return -EINVAL;
    }
    e = hdmabuf_fence_post(c->slots[c->frame % c->k].fence, c->frame / c->k + 1, 0);
    if (e == 0) {
        c->in_frame = false;
        c->ended = c->eos_in_frame;
        c->frame++;
    }
    return e;
}

uint32_t hdmabuf_frame_consumer_revision(const hdmabuf_frame_consumer *c)
{
    return c->slots[c->frame % c->k].revision;
}

bool hdmabuf_frame_consumer_metadata_stale(const hdmabuf_frame_consumer *c)
{
    const struct consumer_slot *s = &c->slots[c->frame % c->k];
    return c->in_frame && s->revision != 0 && c->info.metadata_revision > s->revision;
}

uint64_t hdmabuf_frame_consumer_frame_bytes(const hdmabuf_frame_consumer *c)
{
    const struct hdmabuf_import *imp = c->slots[0].imp;
    return imp->metadata.size < imp->buffer.length ? imp->metadata.size : imp->buffer.length;
}

bool hdmabuf_frame_consumer_has_headers(const hdmabuf_frame_consumer *c)
{
    return c->has_headers;
}

uint32_t hdmabuf_frame_consumer_buffers(const hdmabuf_frame_consumer *c)
{
    return c->k;
}

uint64_t hdmabuf_frame_consumer_frames(const hdmabuf_frame_consumer *c)
{
    return c->frame;
}

int hdmabuf_frame_consumer_destroy(hdmabuf_frame_consumer *c)
{
    int first = 0;
    if (c == NULL) {
        return 0;
    }
    for (uint32_t i = 0; c->slots != NULL && i < c->k; i++) {
        struct consumer_slot *s = &c->slots[i];
        hdmabuf_fence_close(s->fence);
        if (s->imp != NULL) {
            int e = hdmabuf_release(c->conn, &s->imp->id);
            first = first != 0 ? first : e;
            hdmabuf_import_free(s->imp);
        }
    }
    free(c->slots);
    free(c);
    return first;
}
