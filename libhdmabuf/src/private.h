/* SPDX-License-Identifier: MIT */
/* libhdmabuf internals: the connection, its reply handling and the protobuf glue. */
#ifndef HDMABUF_PRIVATE_H
#define HDMABUF_PRIVATE_H

#include <pthread.h>
#include <stdarg.h>

#include "hyperdmabuf/hdmabuf.h"
#include "client.pb-c.h"

/* ABI.md "Framing": frame limits, fds per recvmsg. */
#define CLIENT_MAX_FRAME   65536
#define SERVER_MAX_FRAME   (16u << 20)
#define MAX_FDS_PER_MSG    16
/* fds received but not yet claimed by a frame; a v1 frame carries at most one. */
#define FD_QUEUE_CAP       64
/* Events queued in the library while calls read the socket; past it they are counted. */
#define EVENT_QUEUE_CAP    16384
/* Responses of the per-frame path (FENCE_WAIT, FENCE_SIGNAL) decode into this arena. */
#define ARENA_BYTES        16384

struct arena {
    size_t used;
    _Alignas(16) unsigned char bytes[ARENA_BYTES];
};

struct queued_event;

struct hdmabuf_conn {
    pthread_mutex_t lock;
    int fd;
    int broken; /* 0, or the negative code every call now returns */
    int timeout_ms;
    uint64_t last_id;

    unsigned char *rbuf; /* received bytes: [rpos, rlen) not consumed yet */
    size_t rcap, rpos, rlen;

    int fdq[FD_QUEUE_CAP];
    size_t fdq_head, fdq_len;

    struct queued_event *ev_head, *ev_tail;
    size_t ev_count;
    uint64_t ev_dropped;
    int epfd, evfd; /* hdmabuf_event_fd(): made on first use */

    struct arena arena;
    ProtobufCAllocator arena_allocator;

    char msg[512];
    unsigned char sbuf[CLIENT_MAX_FRAME + 5];
};

/* A response the caller waits for. The connection stays locked until reply_done(). */
struct reply {
    Hyperdmabuf__V1__ServerFrame *frame; /* in the arena (or heap past it) */
    Hyperdmabuf__V1__Response *resp;
    const unsigned char *bytes; /* the frame's encoding, valid until reply_done() */
    size_t len;
    int fds[MAX_FDS_PER_MSG];
    size_t nfds;
};

/*
 * Sends req (request_id assigned) and waits for its response, up to timeout_ms (< 0: the
 * connection's timeout). On 0 the connection is LOCKED and *r holds an OK response:
 * call reply_done(). On error it is unlocked and nothing is held.
 */
int conn_call(hdmabuf_conn *conn, Hyperdmabuf__V1__Request *req, int timeout_ms, struct reply *r);
/* Frees the response, closes fds the caller did not take (set to -1), unlocks. */
void reply_done(hdmabuf_conn *conn, struct reply *r);
/* Exactly one fd or -EPROTO; the fd is the caller's. */
int reply_take_fd(hdmabuf_conn *conn, struct reply *r, int *fd);
/* Decodes the reply again onto the heap for results that outlive the call. */
Hyperdmabuf__V1__ServerFrame *reply_keep(struct reply *r);

void conn_set_msg(hdmabuf_conn *conn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int conn_socket_fd(const hdmabuf_conn *conn);

/* ABI code (positive, as on the wire) -> negative return value. */
int code_to_error(uint32_t code);
bool code_is_abi(uint32_t code);

/* Protobuf glue (types.c). */
void id_to_pb(const struct hdmabuf_id *id, Hyperdmabuf__V1__BufferId *pb);
int id_from_pb(const Hyperdmabuf__V1__BufferId *pb, struct hdmabuf_id *id);

/* Metadata the library hands out: the pb message stays alive, this holds the arrays. */
struct md_store {
    struct hdmabuf_tag *tags;
    struct hdmabuf_image image;
    struct hdmabuf_audio audio;
};
int md_from_pb(const Hyperdmabuf__V1__Metadata *pb, struct md_store *store, struct hdmabuf_metadata *out);
void md_store_clear(struct md_store *store);

/* Metadata to send: pb points into store; md_pb_clear() frees it. */
struct md_pb {
    Hyperdmabuf__V1__Metadata md;
    Hyperdmabuf__V1__Metadata__TagsEntry *entries;
    Hyperdmabuf__V1__Metadata__TagsEntry **entry_ptrs;
    Hyperdmabuf__V1__ImageInfo image;
    Hyperdmabuf__V1__Plane planes[HDMABUF_MAX_PLANES];
    Hyperdmabuf__V1__Plane *plane_ptrs[HDMABUF_MAX_PLANES];
    Hyperdmabuf__V1__AudioInfo audio;
};
int md_to_pb(const struct hdmabuf_metadata *in, struct md_pb *out);
void md_pb_clear(struct md_pb *p);

/* uevent.c: parses an Event into a caller-owned hdmabuf_event. */
int event_from_pb(const Hyperdmabuf__V1__Event *pb, struct hdmabuf_event **out);
/* The queue link of an event (events are allocated with room for it). */
struct queued_event {
    struct queued_event *next;
    struct hdmabuf_event *event;
};

/* stream.c: the frame header's tag (strict decimal) and its validated private copy. */
int frame_header_parse_offset(const char *text, uint64_t *out);
int frame_header_read(const volatile void *shm, uint64_t sequence, uint64_t content_size,
    struct hdmabuf_frame_header *out);

/* Checks [offset, offset + length) fits the fd (regular files) and mmap()'s types. */
int check_fd_range(int fd, uint64_t offset, uint64_t length);

#endif
