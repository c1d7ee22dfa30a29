/* SPDX-License-Identifier: MIT */
/*
 * The consumer's side of one frame stream (abi-spec/ABI.md "Frame streams"), by hand
 * rather than with hdmabuf_frame_consumer: the compositor gives frames back out of
 * order with the next ones (wl_buffer.release comes after the next attach), so this side
 * holds several frames at once and needs each import's fd and offset for wl_shm.
 */
#ifndef HDMABUF_WAYLAND_STREAM_H
#define HDMABUF_WAYLAND_STREAM_H

#include <hyperdmabuf/hdmabuf.h>

#include "window.h"

#define MAX_MATCHES 30 /* the daemon allows 32 per rule; two are this client's */

struct image {
    uint32_t width, height, stride;
    uint64_t offset; /* of the first pixel in the buffer (plane 0) */
    uint32_t fourcc;
    const struct format *format;
};

struct slot {
    struct hdmabuf_import *imp;
    hdmabuf_fence *fence;
    struct wl_shm_pool *pool;  /* zero copy: the import's own fd, up to the buffer's end, or the dma-buf */
    struct hdmabuf_import *dmabuf; /* --dma-buf: a second import, a dma-buf of exactly the buffer (the pool's fd) */
    struct shm_buffer buffer;
    uint64_t held_round;       /* the round the compositor holds while buffer.busy */
    bool fresh;                /* imported (or re-imported) since the stream last started */
    uint32_t revision;         /* of the metadata imported: its add or change event's REVISION; 0: unknown */
    const volatile uint8_t *header; /* the frame header in the mapping (tag "frame_header"); NULL: none */
};

struct stream {
    hdmabuf_conn *conn;
    struct hdmabuf_match matches[MAX_MATCHES + 2];
    size_t n_matches;
    char name[1025];           /* the "stream" tag; "" until the first buffer chose it */
    bool subscribed;
    uint64_t subscription;
    uint32_t k, found;         /* buffers in the stream, imported so far */
    struct slot *slots;
    struct hdmabuf_id *stale;  /* buffers of earlier generations: never imported again */
    size_t n_stale, cap_stale;
    struct image image;
    uint64_t next;             /* frame number to show next */
    bool changing;             /* paused for a re-export ("change"): waits for the other buffers' */
    struct hdmabuf_id changed; /* the buffer whose "change" paused the stream */
    uint32_t changed_revision; /* ... and the REVISION that change carried */
};

/* name may be NULL (any stream the matches select; n_matches <= MAX_MATCHES). */
void stream_init(struct stream *s, hdmabuf_conn *conn, const char *name, const struct hdmabuf_match *matches,
    size_t n_matches);
/* Subscribes to the stream's add, change and remove events, with a replay of what is there
 * (ending an earlier subscription). */
int stream_watch(struct stream *s);
/*
 * Handles the events received: imports announced buffers, re-imports re-exported ones. 1 once
 * all K are imported (after a change: once they agree on their image again, or all K were
 * re-exported), else 0, or a negative error.
 */
int stream_collect(struct stream *s);
/*
 * While the stream is shown: reads the events received. 1 when one of its buffers was
 * re-exported with new metadata (a "change" event): the caller stops showing it, gives the
 * compositor's buffers up, and calls stream_pause. Else 0. Add and remove events are left to
 * the next stream_watch's replay and to the fences.
 */
int stream_follow(struct stream *s);
/* Re-imports the buffer whose change stream_follow saw; stream_collect then goes on. */
int stream_pause(struct stream *s);
/* Checks the image metadata of a complete stream and fills s->image; on refusal -EINVAL
 * with why. */
int stream_check_image(struct stream *s, char *why, size_t len);
/* Waits for the next frame's acquire fence: 0 and its slot (*error: the producer's word),
 * -ETIMEDOUT, or a closed timeline's error (the producer is gone). */
int stream_await(struct stream *s, int timeout_ms, struct slot **slot, uint32_t *error);
/*
 * After stream_await: the metadata revision the next frame (in slot) was written for, from its
 * frame header; 0 if the producer does not say.
 */
uint32_t stream_frame_revision(const struct slot *slot);
/*
 * Whether the next frame (in slot) was written for newer metadata than the slot's import holds:
 * a re-export whose "change" has not arrived yet. Such a frame must not be shown with the old
 * image; the caller keeps it (unreleased) until stream_follow reports the change.
 */
bool stream_frame_stale(const struct slot *slot);
/* Whether the frame after the next one is ready already (a newer frame to skip to). */
bool stream_newer_ready(const struct stream *s);
/* Signals the release fence of the frame a slot held. */
int stream_release(struct stream *s, struct slot *slot, uint64_t round);
/* Releases every import (the Wayland objects must be gone) and forgets them for good. */
void stream_drop(struct stream *s);
void stream_fini(struct stream *s);

#endif
