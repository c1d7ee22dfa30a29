/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "stream.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BUFFERS 1024 /* as libhdmabuf's frame streams */

void stream_init(struct stream *s, hdmabuf_conn *conn, const char *name, const struct hdmabuf_match *matches,
    size_t n_matches)
{
    memset(s, 0, sizeof(*s));
    s->conn = conn;
    memcpy(s->matches, matches, n_matches * sizeof(*matches));
    s->n_matches = n_matches;
    if (name != NULL)
        snprintf(s->name, sizeof(s->name), "%s", name);
}

int stream_watch(struct stream *s)
{
    struct hdmabuf_match m[MAX_MATCHES + 2];
    struct hdmabuf_rule rule = { 0, m };

    if (s->subscribed)
        hdmabuf_unsubscribe(s->conn, s->subscription);
    memcpy(m, s->matches, s->n_matches * sizeof(*m));
    rule.n_matches = s->n_matches;
    /* change: a re-export of the stream's buffers with new metadata, followed while it is shown. */
    m[rule.n_matches++] = (struct hdmabuf_match){ "ACTION", "add|change|remove", false };
    /* Once chosen, the stream is followed by name: its next generation may differ in anything else. */
    m[rule.n_matches++] = (struct hdmabuf_match){ "TAG_STREAM", s->name[0] != '\0' ? s->name : "?*", false };
    s->subscribed = hdmabuf_subscribe(s->conn, &rule, 1, true, &s->subscription) == 0;
    return s->subscribed ? 0 : -EIO;
}

static bool is_stale(const struct stream *s, const struct hdmabuf_id *id)
{
    for (size_t i = 0; i < s->n_stale; i++) {
        if (memcmp(&s->stale[i], id, sizeof(*id)) == 0)
            return true;
    }
    return false;
}

static void mark_stale(struct stream *s, const struct hdmabuf_id *id)
{
    if (s->n_stale == s->cap_stale) {
        size_t cap = s->cap_stale != 0 ? 2 * s->cap_stale : 16;
        struct hdmabuf_id *n = realloc(s->stale, cap * sizeof(*n));
        if (n == NULL)
            return; /* at worst an IMPORT of a removed buffer, which answers ENOENT */
        s->stale = n;
        s->cap_stale = cap;
    }
    s->stale[s->n_stale++] = *id;
}

static void drop_slot(struct stream *s, struct slot *slot)
{
    if (slot->imp == NULL)
        return;
    hdmabuf_fence_close(slot->fence);
    hdmabuf_release(s->conn, &slot->imp->id);
    mark_stale(s, &slot->imp->id);
    hdmabuf_import_free(slot->imp);
    slot->imp = NULL;
    slot->fence = NULL;
    s->found--;
}

static bool parse_index(const char *text, uint32_t limit, uint32_t *out);

/* The REVISION of an add or change event; 0 if absent (an older daemon). */
static uint32_t event_revision(const struct hdmabuf_event *ev)
{
    uint32_t r;
    return parse_index(hdmabuf_event_get(ev, "REVISION"), UINT32_MAX, &r) ? r : 0;
}

/* The frame header of slot's import, from its "frame_header" tag (ABI.md "Frame headers"); NULL: none or invalid. */
static const volatile uint8_t *locate_header(const struct hdmabuf_import *imp)
{
    const char *tag = hdmabuf_metadata_tag(&imp->metadata, HDMABUF_FRAME_HEADER_TAG);
    char *end;
    unsigned long long offset;
    if (tag == NULL || *tag < '0' || *tag > '9')
        return NULL;
    errno = 0;
    offset = strtoull(tag, &end, 10);
    if (errno != 0 || *end != '\0' ||
        !hdmabuf_frame_header_placement_valid(offset, imp->metadata.size, imp->buffer.length))
        return NULL;
    return (const volatile uint8_t *)imp->buffer.data + offset;
}

static bool parse_index(const char *text, uint32_t limit, uint32_t *out)
{
    char *end;
    unsigned long v;
    if (text == NULL || *text < '0' || *text > '9')
        return false;
    errno = 0;
    v = strtoul(text, &end, 10);
    if (errno != 0 || *end != '\0' || v >= limit)
        return false;
    *out = (uint32_t)v;
    return true;
}

/*
 * A re-export of slot's buffer: imports it again for its new metadata, then releases the
 * earlier import. The fence stays: a re-export keeps the export's fence slot.
 */
static int reimport_slot(struct stream *s, struct slot *slot, uint32_t revision)
{
    struct hdmabuf_import *imp;
    int e = hdmabuf_import(s->conn, &slot->imp->id, &imp);

    if (e == -ENOENT) {
        drop_slot(s, slot); /* removed meanwhile; its remove event follows */
        return 0;
    }
    if (e != 0)
        return e;
    hdmabuf_release(s->conn, &slot->imp->id);
    hdmabuf_import_free(slot->imp);
    slot->imp = imp;
    slot->fresh = true;
    slot->revision = revision;
    slot->header = locate_header(imp);
    return 0;
}

/* One add, change or remove event of the subscription. */
static int handle_event(struct stream *s, const struct hdmabuf_event *ev)
{
    const char *name = hdmabuf_event_get(ev, "TAG_STREAM");
    struct hdmabuf_id id;
    uint32_t count, index;
    struct slot *slot;
    int e;

    if (hdmabuf_id_parse(hdmabuf_event_get(ev, "BUFFER") != NULL ? hdmabuf_event_get(ev, "BUFFER") : "", &id) != 0)
        return 0;
    if (strcmp(ev->action, "remove") == 0) {
        for (uint32_t i = 0; i < s->k; i++) {
            if (s->slots[i].imp != NULL && memcmp(&s->slots[i].imp->id, &id, sizeof(id)) == 0)
                drop_slot(s, &s->slots[i]);
        }
        return 0;
    }
    if (name == NULL || is_stale(s, &id) || (s->name[0] != '\0' && strcmp(name, s->name) != 0))
        return 0;
    if (!parse_index(hdmabuf_event_get(ev, "TAG_SLOTS"), MAX_BUFFERS + 1, &count) || count == 0 ||
        !parse_index(hdmabuf_event_get(ev, "TAG_SLOT"), count, &index)) {
        fprintf(stderr, "hdmabuf-wayland: buffer %s of stream '%s' has no valid slot/slots tags: ignored\n",
            hdmabuf_event_get(ev, "BUFFER"), name);
        return 0;
    }
    if (s->slots != NULL && count != s->k) {
        /* A newer generation with another K while this one was incomplete: start over with it. */
        stream_drop(s);
    }
    if (s->slots == NULL) {
        if ((s->slots = calloc(count, sizeof(*s->slots))) == NULL)
            return -ENOMEM;
        s->k = count;
        snprintf(s->name, sizeof(s->name), "%s", name);
    }
    slot = &s->slots[index];
    if (slot->imp != NULL) {
        if (memcmp(&slot->imp->id, &id, sizeof(id)) == 0)
            return strcmp(ev->action, "change") == 0 ? reimport_slot(s, slot, event_revision(ev)) : 0;
        drop_slot(s, slot); /* a later export for the same slot replaces the earlier one */
    }
    e = hdmabuf_import(s->conn, &id, &slot->imp);
    if (e == -ENOENT)
        return 0; /* removed meanwhile; its remove event follows */
    if (e != 0)
        return e;
    s->found++;
    slot->fresh = true;
    slot->revision = event_revision(ev);
    slot->header = locate_header(slot->imp);
    if ((e = hdmabuf_fence_open_import(s->conn, slot->imp, &slot->fence)) != 0) {
        drop_slot(s, slot);
        return e;
    }
    return 0;
}

/* Whether two buffers' image metadata describe the same image (NULL: none). */
static bool same_image(const struct hdmabuf_image *a, const struct hdmabuf_image *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return a->width == b->width && a->height == b->height && a->fourcc == b->fourcc && a->n_planes == b->n_planes &&
           a->modifier == b->modifier &&
           (a->n_planes == 0 || (a->planes[0].offset == b->planes[0].offset &&
                                 a->planes[0].stride == b->planes[0].stride));
}

/* After a change: whether the stream can be shown again (a producer re-exports its buffers one by one). */
static bool change_complete(const struct stream *s)
{
    bool all_fresh = true, agree = true;
    for (uint32_t i = 0; i < s->k; i++) {
        all_fresh = all_fresh && s->slots[i].fresh;
        agree = agree && same_image(s->slots[i].imp->metadata.image, s->slots[0].imp->metadata.image);
    }
    return agree || all_fresh;
}

int stream_collect(struct stream *s)
{
    struct hdmabuf_event *ev;
    int e;

    while ((e = hdmabuf_next_event(s->conn, 0, &ev)) == 0) {
        if (ev->overflow_dropped == 0 && ev->subscription_id == s->subscription)
            e = handle_event(s, ev);
        hdmabuf_event_free(ev);
        if (e != 0)
            return e;
    }
    if (e != -ETIMEDOUT)
        return e;
    if (s->slots == NULL || s->found < s->k || (s->changing && !change_complete(s)))
        return 0;
    s->changing = false;
    /*
     * Start at the first frame not released yet, so that a consumer that joins a running
     * stream (or replaces one that exited) neither shows stale slots nor signals release
     * backwards: frame n uses slot n % K in round n / K.
     */
    s->next = UINT64_MAX;
    for (uint32_t i = 0; i < s->k; i++) {
        uint64_t n = hdmabuf_fence_release_value(s->slots[i].fence) * s->k + i;
        s->next = n < s->next ? n : s->next;
        s->slots[i].fresh = false;
    }
    return 1;
}

int stream_follow(struct stream *s)
{
    struct pollfd pfd = { .fd = hdmabuf_event_fd(s->conn), .events = POLLIN };
    struct hdmabuf_event *ev;
    int e;

    if (poll(&pfd, 1, 0) <= 0)
        return 0; /* nothing came: no daemon round trip per frame */
    while ((e = hdmabuf_next_event(s->conn, 0, &ev)) == 0) {
        const char *buffer = hdmabuf_event_get(ev, "BUFFER");
        struct hdmabuf_id id;
        bool ours = false;
        uint32_t revision = 0;
        if (ev->overflow_dropped == 0 && ev->subscription_id == s->subscription && strcmp(ev->action, "change") == 0 &&
            hdmabuf_id_parse(buffer != NULL ? buffer : "", &id) == 0) {
            for (uint32_t i = 0; i < s->k && !ours; i++)
                ours = s->slots[i].imp != NULL && memcmp(&s->slots[i].imp->id, &id, sizeof(id)) == 0;
            revision = event_revision(ev);
        }
        hdmabuf_event_free(ev);
        if (ours) {
            s->changed = id;
            s->changed_revision = revision;
            return 1;
        }
    }
    return e == -ETIMEDOUT ? 0 : e;
}

int stream_pause(struct stream *s)
{
    s->changing = true;
    for (uint32_t i = 0; i < s->k; i++) {
        if (s->slots[i].imp != NULL && memcmp(&s->slots[i].imp->id, &s->changed, sizeof(s->changed)) == 0)
            return reimport_slot(s, &s->slots[i], s->changed_revision);
    }
    return 0;
}

int stream_check_image(struct stream *s, char *why, size_t len)
{
    const struct hdmabuf_image *first = s->slots[0].imp->metadata.image;
    struct image im = { 0 };
    char name[11];

    for (uint32_t i = 0; i < s->k; i++) {
        const struct hdmabuf_image *img = s->slots[i].imp->metadata.image;
        if (img == NULL) {
            snprintf(why, len, "buffer %u of stream '%s' has no image metadata", i, s->name);
            return -EINVAL;
        }
        if (!same_image(img, first)) {
            snprintf(why, len, "the buffers of stream '%s' disagree on their image metadata", s->name);
            return -EINVAL;
        }
    }
    im.width = first->width;
    im.height = first->height;
    im.fourcc = first->fourcc;
    im.format = format_from_fourcc(first->fourcc);
    if (im.format == NULL) {
        snprintf(why, len, "pixel format %s of stream '%s' has no wl_shm equivalent here (supported: %s)",
            fourcc_name(first->fourcc, name), s->name, format_names());
        return -EINVAL;
    }
    if (first->modifier != 0 || first->n_planes > 1) {
        snprintf(why, len, "stream '%s' is %s with modifier 0x%llx in %u planes: wl_shm takes linear single-plane "
            "images only", s->name, fourcc_name(first->fourcc, name), (unsigned long long)first->modifier,
            first->n_planes);
        return -EINVAL;
    }
    im.stride = first->n_planes > 0 && first->planes[0].stride != 0 ? first->planes[0].stride
                                                                      : first->width * im.format->bpp;
    im.offset = first->n_planes > 0 ? first->planes[0].offset : 0;
    if (im.width == 0 || im.height == 0 || im.width > INT32_MAX / im.format->bpp ||
        im.stride < im.width * im.format->bpp || im.stride > INT32_MAX || im.height > INT32_MAX) {
        snprintf(why, len, "stream '%s' declares a %ux%u image with stride %u", s->name, im.width, im.height,
            im.stride);
        return -EINVAL;
    }
    for (uint32_t i = 0; i < s->k; i++) {
        const struct hdmabuf_import *imp = s->slots[i].imp;
        uint64_t size = imp->metadata.size != 0 && imp->metadata.size < imp->buffer.length ? imp->metadata.size
                                                                                              : imp->buffer.length;
        if (im.offset > size || (uint64_t)im.stride * im.height > size - im.offset) {
            snprintf(why, len, "stream '%s': a %ux%u image with stride %u at offset %llu does not fit its %llu bytes",
                s->name, im.width, im.height, im.stride, (unsigned long long)im.offset, (unsigned long long)size);
            return -EINVAL;
        }
    }
    s->image = im;
    return 0;
}

int stream_await(struct stream *s, int timeout_ms, struct slot **slot, uint32_t *error)
{
    struct slot *sl = &s->slots[s->next % s->k];
    int e = hdmabuf_fence_await(sl->fence, s->next / s->k + 1, timeout_ms, HDMABUF_WAIT_ADAPTIVE, NULL, error);
    if (e == 0)
        *slot = sl;
    return e;
}

uint32_t stream_frame_revision(const struct slot *slot)
{
    /* Read after the acquire wait, like the rest of the header: the producer wrote it before signalling. */
    return slot->header != NULL
               ? *(const volatile uint32_t *)(slot->header + HDMABUF_FRAME_METADATA_REVISION_OFFSET)
               : 0;
}

bool stream_frame_stale(const struct slot *slot)
{
    return slot->revision != 0 && stream_frame_revision(slot) > slot->revision;
}

bool stream_newer_ready(const struct stream *s)
{
    uint64_t n = s->next + 1, v = hdmabuf_fence_acquire_value(s->slots[n % s->k].fence);
    return v >= n / s->k + 1 && v != HDMABUF_FENCE_POISON;
}

int stream_release(struct stream *s, struct slot *slot, uint64_t round)
{
    (void)s;
    return hdmabuf_fence_post(slot->fence, round + 1, 0);
}

void stream_drop(struct stream *s)
{
    for (uint32_t i = 0; s->slots != NULL && i < s->k; i++)
        drop_slot(s, &s->slots[i]);
    free(s->slots);
    s->slots = NULL;
    s->k = 0;
    s->found = 0;
}

void stream_fini(struct stream *s)
{
    stream_drop(s);
    if (s->subscribed)
        hdmabuf_unsubscribe(s->conn, s->subscription);
    free(s->stale);
    memset(s, 0, sizeof(*s));
}
