/* SPDX-License-Identifier: MIT */
/* The uevent record of an Event: "ACTION@DEVPATH\0KEY=VALUE\0..." (ABI.md "Record details"). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"

/* One allocation: this header, the key and value pointer arrays, then the split copy
 * (each '=' and '@' separator replaced by NUL) and the raw record. */
struct event_block {
    struct hdmabuf_event pub;
};

int event_from_pb(const Hyperdmabuf__V1__Event *pb, struct hdmabuf_event **out)
{
    const unsigned char *rec = pb->uevent.data;
    size_t len = pb->uevent.data != NULL ? pb->uevent.len : 0;
    size_t fields = 0, n_props, size;
    struct event_block *b;
    const char **keys, **values;
    char *split, *raw, *p, *end, *at;

    if (len > SERVER_MAX_FRAME) {
        return -EPROTO;
    }
    if (len == 0 && pb->overflow_dropped == 0) {
        return -EPROTO;
    }
    if (len > 0 && rec[len - 1] != '\0') {
        return -EPROTO; /* every field ends with a NUL */
    }
    for (size_t i = 0; i < len; i++) {
        if (rec[i] == '\0') {
            if (i == 0 || rec[i - 1] == '\0') {
                return -EPROTO; /* no empty fields */
            }
            fields++;
        }
    }
    n_props = fields > 0 ? fields - 1 : 0;
    size = sizeof(*b) + 2 * n_props * sizeof(char *) + 2 * (len + 1);
    b = calloc(1, size);
    if (b == NULL) {
        return -ENOMEM;
    }
    keys = (const char **)(b + 1);
    values = keys + n_props;
    split = (char *)(values + n_props);
    raw = split + len + 1;
    if (len > 0) {
        memcpy(split, rec, len);
        memcpy(raw, rec, len);
    }
    b->pub.subscription_id = pb->subscription_id;
    b->pub.overflow_dropped = pb->overflow_dropped;
    b->pub.record = raw;
    b->pub.record_len = len;
    b->pub.keys = keys;
    b->pub.values = values;
    b->pub.n_properties = n_props;
    b->pub.action = "";
    b->pub.devpath = "";
    if (len == 0) {
        *out = &b->pub;
        return 0;
    }
    /* Header: ACTION@DEVPATH. */
    at = memchr(split, '@', strlen(split));
    if (at == NULL) {
        free(b);
        return -EPROTO;
    }
    *at = '\0';
    b->pub.action = split;
    b->pub.devpath = at + 1;
    p = at + 1 + strlen(at + 1) + 1;
    end = split + len;
    for (size_t i = 0; i < n_props; i++) {
        size_t flen = strlen(p);
        char *eq = memchr(p, '=', flen);
        if (eq == NULL || eq == p) {
            free(b);
            return -EPROTO;
        }
        *eq = '\0';
        keys[i] = p;
        values[i] = eq + 1;
        p += flen + 1;
    }
    if (p != end) {
        free(b);
        return -EPROTO;
    }
    *out = &b->pub;
    return 0;
}

const char *hdmabuf_event_get(const struct hdmabuf_event *ev, const char *key)
{
    for (size_t i = 0; i < ev->n_properties; i++) {
        if (strcmp(ev->keys[i], key) == 0) {
            return ev->values[i];
        }
    }
    return NULL;
}

void hdmabuf_event_free(struct hdmabuf_event *ev)
{
    free(ev); /* the public struct is the start of its block */
}
