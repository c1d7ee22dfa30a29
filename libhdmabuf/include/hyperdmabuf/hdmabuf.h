/* SPDX-License-Identifier: MIT */
/*
 * hdmabuf.h - libhdmabuf, the C client of the hyperdmabuf ABI v1.
 *
 * A thin library over the client socket of a hyperdmabuf daemon (abi-spec/ABI.md
 * "Framing" and "Client API"): one function per operation, the fence timelines in
 * shared memory ("Fences", "Direct fence wake-ups") and the frame streams the Java
 * FrameProducer/FrameConsumer build on them ("Frame streams").
 *
 * Conventions, for every function below unless it says otherwise:
 *  - Return value: 0 (or a count) on success, a NEGATIVE error code on failure.
 *    Codes are the ABI's ErrorCode values (abi-spec/src/main/proto/hyperdmabuf_common.proto),
 *    which equal Linux errno values (-ENOENT, -EINVAL, ...) plus -HDMABUF_EPEERLOST and
 *    -HDMABUF_ENOPEER; a failing system call gives its -errno. -EPROTO means the daemon broke
 *    the framing or fd rules (or sent a frame that does not parse): the connection is then
 *    unusable, and so is every later call on it (which returns the same code).
 *    hdmabuf_strerror() names any of them.
 *  - When the daemon answered with an error, hdmabuf_error_message() gives its text.
 *  - Out-parameters are written only on success.
 *  - Objects returned through a pointer-to-pointer are owned by the caller and released
 *    with the matching _free, _close or _destroy function, never with free().
 *  - File descriptors are opened close-on-exec; those handed to the caller are the caller's.
 *  - Thread safety: a connection may be shared by threads; calls on it are serialized by a
 *    mutex it holds, so a call that blocks (FENCE_WAIT, hdmabuf_next_event() with a timeout)
 *    delays the others on that connection. Use a connection per thread that blocks.
 *    Fences, imports and frame streams are not thread-safe: one thread each (a fence may
 *    have one signalling and one waiting thread). A mapping (hdmabuf_map/_unmap) belongs
 *    to one thread too. Functions of no such object are thread-safe: hdmabuf_strerror,
 *    hdmabuf_socket_path, hdmabuf_id_format/_parse, and the readers of results the caller
 *    owns (hdmabuf_metadata_tag, hdmabuf_event_get), which any thread may call while no
 *    thread frees that result. hdmabuf_error_message() on a shared connection gives the
 *    latest error of any thread on it: call it from the thread whose call failed, before
 *    another thread's call can fail.
 *  - The library keeps no global state and never aborts on what a daemon sends: every
 *    length, count, fd and offset is checked, and a bad one is -EPROTO.
 *  - Timeouts are in milliseconds; a negative timeout waits without limit where allowed.
 */
#ifndef HYPERDMABUF_HDMABUF_H
#define HYPERDMABUF_HDMABUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The shared-memory layouts (fence slots, doorbell vectors); installed next to this file. */
#include "hyperdmabuf_shm.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define HDMABUF_EXPORT __attribute__((visibility("default")))
#else
#define HDMABUF_EXPORT
#endif

/* ------------------------------------------------------------------------- */
/* Errors                                                                    */
/* ------------------------------------------------------------------------- */

/* The ABI's codes that are no errno value (ErrorCode 1000 and 1001). */
#define HDMABUF_EPEERLOST 1000 /* the peer VM or its daemon died or restarted */
#define HDMABUF_ENOPEER   1001 /* the target VM is not reachable right now */

/*
 * A static description of code (negative or positive; 0 is "OK"): the ABI name and
 * meaning for ABI codes, the system's text for other errno values. Never NULL.
 * Thread-safe.
 */
HDMABUF_EXPORT const char *hdmabuf_strerror(int code);

/* ------------------------------------------------------------------------- */
/* Connections                                                               */
/* ------------------------------------------------------------------------- */

typedef struct hdmabuf_conn hdmabuf_conn;

/* Default daemon runtime directory, as the hdmabuf command line: $HDMABUF_RUNTIME_DIR if
 * set and not empty, else this. */
#define HDMABUF_DEFAULT_RUNTIME_DIR "/run/hyperdmabuf"

/*
 * Writes the socket path of a daemon role into buf: "<runtime dir>/<role>.sock", role
 * "sink", "source" or "daemon" (both roles). Returns the length, -EINVAL for another role,
 * -ENAMETOOLONG if buf (len bytes) is too small.
 */
HDMABUF_EXPORT int hdmabuf_socket_path(const char *role, char *buf, size_t len);

/*
 * Connects to the daemon listening on the Unix socket path. Errors: the -errno of
 * socket()/connect() (-ENOENT, -ECONNREFUSED, -EACCES: is the daemon running?),
 * -ENAMETOOLONG, -ENOMEM.
 */
HDMABUF_EXPORT int hdmabuf_connect(const char *path, hdmabuf_conn **out);

/* hdmabuf_connect() to hdmabuf_socket_path(role). */
HDMABUF_EXPORT int hdmabuf_connect_role(const char *role, hdmabuf_conn **out);

/*
 * Wraps an already connected AF_UNIX stream socket; the connection owns fd from then
 * on, also on failure (-ENOMEM, -EINVAL for fd < 0).
 */
HDMABUF_EXPORT int hdmabuf_connect_fd(int fd, hdmabuf_conn **out);

/*
 * Closes the connection: the daemon then frees what it allocated for it, releases its
 * imports and drops its subscriptions (ABI.md "Client disconnect"). Fences, imports and
 * streams made on it must be closed before. NULL is ignored.
 */
HDMABUF_EXPORT void hdmabuf_close(hdmabuf_conn *conn);

/* How long each call waits for its response (default 30000 ms; < 0: no limit). Calls
 * that time out return -ETIMEDOUT; their late responses are dropped. */
HDMABUF_EXPORT void hdmabuf_set_timeout(hdmabuf_conn *conn, int timeout_ms);

/*
 * Copies into buf (len bytes, NUL-terminated, truncated to fit) the daemon's message for
 * the latest error answer on this connection, or the library's own explanation of the
 * latest local failure; "" if none. Returns the full message length.
 */
HDMABUF_EXPORT size_t hdmabuf_error_message(hdmabuf_conn *conn, char *buf, size_t len);

/* ------------------------------------------------------------------------- */
/* Identifiers and basic types                                               */
/* ------------------------------------------------------------------------- */

/* BufferId: 128 bits, opaque to clients. */
struct hdmabuf_id {
    uint32_t exporter_vm;
    uint32_t export_number;
    uint64_t nonce;
};

/* Text form "EEEEEEEE-NNNNNNNN-RRRRRRRRRRRRRRRR" plus the NUL. */
#define HDMABUF_ID_STRLEN 35

/* Writes the text form of id into buf (HDMABUF_ID_STRLEN bytes). Returns buf. */
HDMABUF_EXPORT char *hdmabuf_id_format(const struct hdmabuf_id *id, char buf[HDMABUF_ID_STRLEN]);
/* Parses the text form (lower- or upper-case hex). 0, or -EINVAL. */
HDMABUF_EXPORT int hdmabuf_id_parse(const char *text, struct hdmabuf_id *id);

enum hdmabuf_access {
    HDMABUF_ACCESS_READ_WRITE = 0,
    HDMABUF_ACCESS_READ_ONLY = 1,
};

enum hdmabuf_timeline {
    HDMABUF_TIMELINE_ACQUIRE = 0, /* producer -> consumer: content ready up to N */
    HDMABUF_TIMELINE_RELEASE = 1, /* consumer -> producer: done reading up to N */
};

#define HDMABUF_ROLE_SINK   (1u << 0)
#define HDMABUF_ROLE_SOURCE (1u << 1)

/* ------------------------------------------------------------------------- */
/* Metadata (ABI.md "Metadata limits"; the daemon enforces them: -EINVAL)    */
/* ------------------------------------------------------------------------- */

struct hdmabuf_tag {
    const char *key;   /* [A-Za-z0-9_.-]{1,64} */
    const char *value; /* UTF-8, at most 1024 bytes, no newline */
};

#define HDMABUF_MAX_PLANES 4

struct hdmabuf_plane {
    uint64_t offset;
    uint32_t stride;
};

struct hdmabuf_image {
    uint32_t width;
    uint32_t height;
    uint32_t fourcc; /* DRM fourcc, e.g. 0x34325241 'AR24' */
    uint64_t modifier;
    uint32_t n_planes; /* at most HDMABUF_MAX_PLANES */
    struct hdmabuf_plane planes[HDMABUF_MAX_PLANES];
};

struct hdmabuf_audio {
    uint32_t rate;
    uint32_t channels;
    const char *sample_format; /* ALSA name, e.g. "S16_LE"; NULL = "" */
    uint32_t frames;
};

/*
 * Buffer metadata. As input (hdmabuf_export()) every pointer may be NULL (absent).
 * As output (imports, hdmabuf_query(), hdmabuf_list()) the strings are NUL-terminated,
 * never NULL, and live as long as the object that holds the metadata.
 */
struct hdmabuf_metadata {
    uint32_t version;         /* 0 or 1 */
    const char *content_type; /* printable ASCII, at most 127 bytes */
    uint64_t size;            /* meaningful bytes, <= the buffer length */
    size_t n_tags;
    const struct hdmabuf_tag *tags;
    const void *private_data; /* at most 4096 bytes */
    size_t private_size;
    const struct hdmabuf_image *image; /* NULL: no image info */
    const struct hdmabuf_audio *audio; /* NULL: no audio info */
};

/* The value of tag key in md, or NULL. */
HDMABUF_EXPORT const char *hdmabuf_metadata_tag(const struct hdmabuf_metadata *md, const char *key);

/* ------------------------------------------------------------------------- */
/* Mappings                                                                  */
/* ------------------------------------------------------------------------- */

/*
 * A buffer's fd and range: mmap(fd, offset, length) maps it (ABI.md "Mapping"). On
 * shared-region backends the fd reaches the whole region: map only the range.
 */
struct hdmabuf_mapping {
    int fd;          /* owned by the mapping; -1 once closed */
    uint64_t offset; /* multiple of the page size */
    uint64_t length;
    bool read_only;  /* the fd is O_RDONLY: map without PROT_WRITE */
    void *data;      /* NULL until hdmabuf_map() */
};

/* Maps [offset, offset + length) of m->fd, read-write unless read_only; sets m->data.
 * Idempotent. Errors: -errno of mmap(), -EINVAL for a range that does not fit. */
HDMABUF_EXPORT int hdmabuf_map(struct hdmabuf_mapping *m);
/* Unmaps it (if mapped) and closes the fd (if open). */
HDMABUF_EXPORT void hdmabuf_unmap(struct hdmabuf_mapping *m);

/* ------------------------------------------------------------------------- */
/* Any daemon                                                                */
/* ------------------------------------------------------------------------- */

struct hdmabuf_caps {
    char backend[64];
    uint32_t local_vm;
    uint32_t page_size;
    uint64_t max_buffer_size;
    char read_only_enforcement[32]; /* "hypervisor", "daemon" or "none" */
    char isolation[32];             /* "per-buffer" or "shared-region" */
    bool guest_to_guest;
    bool doorbell;
    uint32_t max_metadata_bytes;
    uint32_t max_private_bytes;
    uint32_t roles; /* HDMABUF_ROLE_* */
    uint64_t pool_bytes;
    uint64_t pool_free_bytes;
    uint32_t abi_version;
    char notification[32]; /* "eventfd" or "polling" */
};

/* QUERY_CAPS. Strings longer than their arrays are cut (they are short in v1). */
HDMABUF_EXPORT int hdmabuf_query_caps(hdmabuf_conn *conn, struct hdmabuf_caps *caps);

struct hdmabuf_target {
    uint32_t vm;
    char name[64];
    uint32_t roles; /* HDMABUF_ROLE_* */
};

/* QUERY_TARGETS: writes up to max targets; returns how many the daemon listed (may be
 * more than max). */
HDMABUF_EXPORT int hdmabuf_query_targets(hdmabuf_conn *conn, struct hdmabuf_target *targets, size_t max);

/* One buffer as QUERY and LIST describe it (BufferInfo). */
struct hdmabuf_buffer_info {
    struct hdmabuf_id id;
    uint32_t exporter_vm;
    uint32_t target_vm;
    uint64_t length;
    struct hdmabuf_metadata metadata;
    enum hdmabuf_access access;
    uint32_t import_count;
    uint64_t handle;   /* sink: the allocation handle (to its owner only) */
    const char *state; /* see ABI.md "Lifecycle" */
};

/* QUERY. Errors: -ENOENT (unknown, or another connection's export on a sink). */
HDMABUF_EXPORT int hdmabuf_query(hdmabuf_conn *conn, const struct hdmabuf_id *id, struct hdmabuf_buffer_info **out);
HDMABUF_EXPORT void hdmabuf_buffer_info_free(struct hdmabuf_buffer_info *info);

struct hdmabuf_alloc_info {
    uint64_t handle;
    uint64_t offset;
    uint64_t length;
};

struct hdmabuf_buffer_list {
    size_t n_buffers;
    struct hdmabuf_buffer_info *buffers;
    size_t n_allocations; /* sink: the caller's allocations not exported anywhere */
    struct hdmabuf_alloc_info *allocations;
};

/* LIST: a sink lists the caller's allocations and exports, a source every buffer known. */
HDMABUF_EXPORT int hdmabuf_list(hdmabuf_conn *conn, struct hdmabuf_buffer_list **out);
HDMABUF_EXPORT void hdmabuf_buffer_list_free(struct hdmabuf_buffer_list *list);

struct hdmabuf_usage {
    const char *scope; /* "vm" or "uid" */
    uint32_t id;
    uint64_t bytes;
    uint64_t buffers;
    uint64_t max_bytes; /* UINT64_MAX: unlimited */
    uint64_t max_buffers;
};

struct hdmabuf_stats {
    size_t n_usage;
    struct hdmabuf_usage *usage;
    const char *policy;
};

/* STATS: pinned memory per VM and per client uid against the policy's quotas. */
HDMABUF_EXPORT int hdmabuf_stats(hdmabuf_conn *conn, struct hdmabuf_stats **out);
HDMABUF_EXPORT void hdmabuf_stats_free(struct hdmabuf_stats *stats);

/* ------------------------------------------------------------------------- */
/* Sink: allocate and export                                                 */
/* ------------------------------------------------------------------------- */

struct hdmabuf_allocation {
    uint64_t handle;              /* valid on this connection only */
    struct hdmabuf_mapping buffer; /* read-write fd; not mapped yet */
};

/*
 * ALLOC of at least size bytes (rounded up to the page size). declare_target: also
 * declare the export to come, to target_vm with access (ABI.md "ALLOC"; the xen backend
 * grants the pages so, and the sink checks the policy now). Release with
 * hdmabuf_unmap(&out->buffer) and hdmabuf_free(). Errors: -EINVAL, -EACCES, -ENOPEER,
 * -EDQUOT, -ENOSPC, -ENOMEM, -ENOTSUP (not a sink).
 */
HDMABUF_EXPORT int hdmabuf_alloc(hdmabuf_conn *conn, uint64_t size, bool declare_target, uint32_t target_vm,
    enum hdmabuf_access access, struct hdmabuf_allocation *out);

struct hdmabuf_exported {
    struct hdmabuf_id id;
    bool reexport;         /* the metadata of an existing export was replaced */
    uint32_t revision;     /* the export's metadata revision now (1, +1 per re-export); 0: an older daemon */
    uint64_t fence_offset; /* region offset of the export's fence slot */
};

/*
 * EXPORT (or re-export: same handle, same target) an allocation to target_vm. md may
 * be NULL (no metadata). Errors: -ENOENT, -EINVAL (metadata limits, self target, access
 * changed), -EACCES, -HDMABUF_EPEERLOST, -HDMABUF_ENOPEER, -ENOSPC, -EAGAIN, -EMSGSIZE.
 */
HDMABUF_EXPORT int hdmabuf_export(hdmabuf_conn *conn, uint64_t handle, uint32_t target_vm,
    const struct hdmabuf_metadata *md, enum hdmabuf_access access, struct hdmabuf_exported *out);

/* UNEXPORT, at once (delay_ms 0) or after a reuse window of delay_ms (at most 600000).
 * Errors: -ENOENT, -EINVAL. */
HDMABUF_EXPORT int hdmabuf_unexport(hdmabuf_conn *conn, const struct hdmabuf_id *id, uint32_t delay_ms);

/* FREE an allocation (unexports it first). Errors: -ENOENT. */
HDMABUF_EXPORT int hdmabuf_free(hdmabuf_conn *conn, uint64_t handle);

/* ------------------------------------------------------------------------- */
/* Events                                                                    */
/* ------------------------------------------------------------------------- */

/* One condition: property key matches the udev-style glob (negate: does not). */
struct hdmabuf_match {
    const char *key;
    const char *glob;
    bool negate;
};

/* All matches of a rule must hold; the rules of a subscription are ORed. */
struct hdmabuf_rule {
    size_t n_matches;
    const struct hdmabuf_match *matches;
};

/*
 * SUBSCRIBE to events matching any of rules (n_rules 0: all). replay: also an "add" now
 * for each matching buffer already present. Errors: -EINVAL, -ENOSPC.
 */
HDMABUF_EXPORT int hdmabuf_subscribe(hdmabuf_conn *conn, const struct hdmabuf_rule *rules, size_t n_rules,
    bool replay, uint64_t *subscription_id);
/* UNSUBSCRIBE. Errors: -ENOENT. */
HDMABUF_EXPORT int hdmabuf_unsubscribe(hdmabuf_conn *conn, uint64_t subscription_id);

/* A received event with its uevent record parsed (ABI.md "Events"). */
struct hdmabuf_event {
    uint64_t subscription_id;
    uint64_t overflow_dropped; /* > 0: an overflow marker; no properties then */
    const char *action;        /* "add", "change", "remove"; "" for a marker */
    const char *devpath;
    size_t n_properties;
    const char *const *keys;   /* n_properties NUL-terminated keys, in record order */
    const char *const *values; /* and their values */
    const char *record;        /* the raw uevent record, record_len bytes */
    size_t record_len;
};

/*
 * Waits up to timeout_ms (0: only what already arrived; < 0: no limit) for the next
 * event. Returns 0 and *out, or -ETIMEDOUT. Events that arrive while other calls wait for
 * their response are queued (up to 16384). Records that are no well-formed uevent, and
 * events past that queue, are counted instead and reported as an overflow marker with
 * subscription_id 0 (the daemon's own markers name their subscription).
 */
HDMABUF_EXPORT int hdmabuf_next_event(hdmabuf_conn *conn, int timeout_ms, struct hdmabuf_event **out);
/* The value of property key, or NULL. */
HDMABUF_EXPORT const char *hdmabuf_event_get(const struct hdmabuf_event *ev, const char *key);
HDMABUF_EXPORT void hdmabuf_event_free(struct hdmabuf_event *ev);

/*
 * An fd to poll() for POLLIN: readable while events are queued in the library or the
 * daemon has sent something. Then call hdmabuf_next_event(conn, 0, ...) until it returns
 * -ETIMEDOUT. Owned by the connection.
 */
HDMABUF_EXPORT int hdmabuf_event_fd(hdmabuf_conn *conn);

/* ------------------------------------------------------------------------- */
/* Source: import                                                            */
/* ------------------------------------------------------------------------- */

struct hdmabuf_import {
    struct hdmabuf_id id;
    struct hdmabuf_mapping buffer; /* mapped (read-only for a read-only import) */
    enum hdmabuf_access access;
    struct hdmabuf_metadata metadata;
    uint64_t fence_offset; /* region offset of the fence slot, in buffer.fd (not in a dma-buf) */
    /* buffer.fd is a dma-buf of exactly the buffer, offset 0 (hdmabuf_import_dmabuf) */
    bool dma_buf;
};

/*
 * IMPORT a buffer exported to this VM and map it. Keep it until hdmabuf_release() and
 * hdmabuf_import_free(). Errors: -ENOENT, -EINVAL, -EAGAIN, -HDMABUF_ENOPEER,
 * -HDMABUF_EPEERLOST, -ENOMEM, and mmap()'s -errno.
 */
HDMABUF_EXPORT int hdmabuf_import(hdmabuf_conn *conn, const struct hdmabuf_id *id, struct hdmabuf_import **out);
/*
 * IMPORT a buffer as a dma-buf of exactly its pages (ABI.md "Dma-buf imports") and map it
 * read-write: buffer.fd is the dma-buf (offset 0), to hand to a GPU, V4L2 or a compositor; it
 * does not reach the fence slot (use the daemon's FENCE_SIGNAL/FENCE_WAIT). Refused, never
 * replaced by a region fd: -ENOTSUP where unavailable (hdmabuf_query_dmabuf says why; import
 * with hdmabuf_import instead), -EACCES for a read-only export (udmabuf is always writable),
 * -E2BIG over the kernel's udmabuf size_limit_mb; else as hdmabuf_import.
 */
HDMABUF_EXPORT int hdmabuf_import_dmabuf(hdmabuf_conn *conn, const struct hdmabuf_id *id,
    struct hdmabuf_import **out);
/*
 * Whether this daemon can hand out dma-buf imports (Caps.dma_buf): 1 yes, 0 no (then why, cut to
 * len bytes with its NUL, when why is not NULL), or -errno.
 */
HDMABUF_EXPORT int hdmabuf_query_dmabuf(hdmabuf_conn *conn, char *why, size_t len);
/* Unmaps and frees an import (does not RELEASE it). */
HDMABUF_EXPORT void hdmabuf_import_free(struct hdmabuf_import *imp);
/* RELEASE one import of the buffer. Errors: -ENOENT (no import held). */
HDMABUF_EXPORT int hdmabuf_release(hdmabuf_conn *conn, const struct hdmabuf_id *id);

/* ------------------------------------------------------------------------- */
/* Fence requests through the daemon (ABI.md "Client API")                   */
/* ------------------------------------------------------------------------- */

/* FENCE_SIGNAL: the daemon stores value (and error) on the timeline and rings the
 * waiters; an unchanged value only rings. */
HDMABUF_EXPORT int hdmabuf_request_fence_signal(hdmabuf_conn *conn, const struct hdmabuf_id *id,
    enum hdmabuf_timeline timeline, uint64_t value, uint32_t error);
/* FENCE_WAIT: blocks in the daemon until the timeline reaches value, up to timeout_ms
 * (0: poll). value_out and error_out (may be NULL): what the daemon saw. Errors: -ETIMEDOUT,
 * -ENOENT, -EINVAL, -HDMABUF_EPEERLOST, -EAGAIN, or a closed timeline's error word. */
HDMABUF_EXPORT int hdmabuf_request_fence_wait(hdmabuf_conn *conn, const struct hdmabuf_id *id,
    enum hdmabuf_timeline timeline, uint64_t value, uint32_t timeout_ms, uint64_t *value_out, uint32_t *error_out);
/* FENCE_DOORBELL: an eventfd ringing vector of the buffer's other VM (write an 8-byte 1).
 * Errors: -ENOTSUP (use FENCE_SIGNAL), -EINVAL, -ENOENT, -HDMABUF_EPEERLOST, -HDMABUF_ENOPEER. */
HDMABUF_EXPORT int hdmabuf_request_fence_doorbell(hdmabuf_conn *conn, const struct hdmabuf_id *id, uint32_t vector,
    int *fd);
/* FENCE_WAKE: leases a wake vector for the timeline this client waits on: *fd to poll,
 * *vector, and whether the daemon holds its bit in the wake word. Errors: -EBUSY,
 * -ENOTSUP (use FENCE_WAIT), -ENOENT, -HDMABUF_EPEERLOST. */
HDMABUF_EXPORT int hdmabuf_request_fence_wake(hdmabuf_conn *conn, const struct hdmabuf_id *id, int *fd,
    uint32_t *vector, bool *bit_held_by_daemon);

/* ------------------------------------------------------------------------- */
/* Fences in shared memory (ABI.md "Fences")                                 */
/* ------------------------------------------------------------------------- */

typedef struct hdmabuf_fence hdmabuf_fence;

enum hdmabuf_wait {
    HDMABUF_WAIT_SPIN,     /* poll the shared value: lowest latency, burns a core */
    HDMABUF_WAIT_BLOCK,    /* sleep: on a leased wake vector, else in the daemon (FENCE_WAIT) */
    HDMABUF_WAIT_ADAPTIVE, /* spin HDMABUF_ADAPTIVE_SPIN_NS, then block */
};

#define HDMABUF_ADAPTIVE_SPIN_NS 50000
/* The value a daemon stores when it closes a timeline. */
#define HDMABUF_FENCE_POISON HDMABUF_FENCE_POISON_VALUE /* hyperdmabuf_shm.h */

/*
 * The producer's side of an export's fence: signals acquire, waits on release. Maps the
 * pages holding the slot from alloc->buffer.fd (the fd may be closed afterwards).
 */
HDMABUF_EXPORT int hdmabuf_fence_open_export(hdmabuf_conn *conn, const struct hdmabuf_allocation *alloc,
    const struct hdmabuf_exported *exported, hdmabuf_fence **out);
/* The consumer's side of an import's fence: waits on acquire, signals release (through
 * the daemon for a read-only import). */
HDMABUF_EXPORT int hdmabuf_fence_open_import(hdmabuf_conn *conn, const struct hdmabuf_import *imp,
    hdmabuf_fence **out);

/*
 * Signals this side's timeline: stores error (0: none; an ABI code or the application's)
 * then value, then rings whoever sleeps on it (the other VM's leased wake vectors and its
 * daemon, through FENCE_DOORBELL eventfds asked for once, or a FENCE_SIGNAL kick where the
 * daemon answers ENOTSUP). value must not go backwards and is below 2^63 (-EINVAL); an
 * unchanged value does nothing. Allocates nothing after the first ring of each vector.
 */
HDMABUF_EXPORT int hdmabuf_fence_post(hdmabuf_fence *fence, uint64_t value, uint32_t error);

/*
 * Waits until the other side's timeline reaches value, up to timeout_ms (< 0: no limit),
 * with strategy. Returns 0 with *seen (the value observed) and *error (the error word that
 * came with it), both may be NULL. Errors: -ETIMEDOUT; a closed timeline's error
 * (-HDMABUF_EPEERLOST: the other VM died; -ENOENT: unexported), whatever the strategy.
 * BLOCK and ADAPTIVE lease a wake vector on their first sleep (FENCE_WAKE) and use
 * FENCE_WAIT where none can be had.
 */
HDMABUF_EXPORT int hdmabuf_fence_await(hdmabuf_fence *fence, uint64_t value, int timeout_ms,
    enum hdmabuf_wait strategy, uint64_t *seen, uint32_t *error);

/* Current values of the two timelines (acquire-loads). */
HDMABUF_EXPORT uint64_t hdmabuf_fence_acquire_value(const hdmabuf_fence *fence);
HDMABUF_EXPORT uint64_t hdmabuf_fence_release_value(const hdmabuf_fence *fence);
/* The wake vector leased for this fence, or -1 (none yet, or none could be had). */
HDMABUF_EXPORT int hdmabuf_fence_wake_vector(const hdmabuf_fence *fence);
/* Unmaps the slot and closes the doorbell and wake fds. NULL is ignored. */
HDMABUF_EXPORT void hdmabuf_fence_close(hdmabuf_fence *fence);

/* ------------------------------------------------------------------------- */
/* Frame streams: a K-buffer ring (ABI.md "Frame streams", "Frame headers")  */
/* ------------------------------------------------------------------------- */

/*
 * Interoperable with the Java FrameProducer/FrameConsumer: K buffers exported once with
 * tags "stream", "slot", "slots" and "frame_header"; frame n uses slot n % K in round
 * r = n / K; the producer waits for release >= r, writes the frame and its header,
 * signals acquire = r + 1; the consumer waits for acquire >= r + 1, copies and checks the
 * header, reads, signals release = r + 1.
 *
 * Per-frame data travels in a struct hdmabuf_frame_header (hyperdmabuf_shm.h): sequence
 * (set by the library: the frame's number n), pts_ns (CLOCK_REALTIME nanoseconds, 0 =
 * none), duration_ns, payload_length (bytes of the frame used, <= frame_bytes), flags
 * (HDMABUF_FRAME_FLAG_KEY_FRAME, _DISCONTINUITY, _END_OF_STREAM) and up to
 * HDMABUF_FRAME_PRIVATE_MAX bytes of private_data. Nothing is allocated per frame.
 * metadata_revision is set by the library too: the revision of the export's metadata the
 * frame was written for (EXPORT's answer; +1 per hdmabuf_frame_producer_set_metadata()).
 */
typedef struct hdmabuf_frame_producer hdmabuf_frame_producer;
typedef struct hdmabuf_frame_consumer hdmabuf_frame_consumer;

/*
 * Allocates buffers buffers of frame_bytes plus the frame header (declared for target_vm
 * and access), exports each to target_vm with tmpl (may be NULL) plus the stream tags and
 * size = frame_bytes.
 */
HDMABUF_EXPORT int hdmabuf_frame_producer_create(hdmabuf_conn *conn, uint32_t target_vm, const char *stream,
    uint32_t buffers, uint64_t frame_bytes, const struct hdmabuf_metadata *tmpl, enum hdmabuf_access access,
    enum hdmabuf_wait strategy, hdmabuf_frame_producer **out);
/* Waits until the next frame's buffer is free; *data: its mapping (frame_bytes long).
 * Errors: -ETIMEDOUT, the consumer's release error word as a negative code (-EIO if it
 * is no ABI code), a closed timeline's error, -EINVAL after the end of the stream. */
HDMABUF_EXPORT int hdmabuf_frame_producer_begin(hdmabuf_frame_producer *p, int timeout_ms, void **data);
/*
 * Publishes the frame begun last with its header and an error word (0: none): writes
 * info (NULL: no timestamps, no flags, payload_length = frame_bytes; its sequence is
 * ignored) into the buffer, then signals acquire. A frame with
 * HDMABUF_FRAME_FLAG_END_OF_STREAM is the last one. -EINVAL without begin, for a
 * payload_length above frame_bytes, a private_length above HDMABUF_FRAME_PRIVATE_MAX or an
 * undefined flag (nothing is published then).
 */
HDMABUF_EXPORT int hdmabuf_frame_producer_end_info(hdmabuf_frame_producer *p, const struct hdmabuf_frame_header *info,
    uint32_t error);
/* hdmabuf_frame_producer_end_info(p, NULL, error). */
HDMABUF_EXPORT int hdmabuf_frame_producer_end(hdmabuf_frame_producer *p, uint32_t error);
/*
 * Re-exports every buffer with tmpl (may be NULL) plus the stream tags, e.g. a new image size,
 * stride or format that fits frame_bytes: the same buffers, ids and fences, and a "change"
 * event per buffer for the consumer (ABI.md "Frame streams"). Call it between frames, after
 * hdmabuf_frame_producer_drain(), so that no frame is read with metadata it was not written
 * for. Errors: -EINVAL (inside a frame, or as hdmabuf_export()), hdmabuf_export()'s; buffers
 * before the failing one carry tmpl already.
 */
HDMABUF_EXPORT int hdmabuf_frame_producer_set_metadata(hdmabuf_frame_producer *p, const struct hdmabuf_metadata *tmpl);
/* Waits until the consumer released every frame published (before destroying). */
HDMABUF_EXPORT int hdmabuf_frame_producer_drain(hdmabuf_frame_producer *p, int timeout_ms);
/* Frames published so far. */
HDMABUF_EXPORT uint64_t hdmabuf_frame_producer_frames(const hdmabuf_frame_producer *p);
/* Unexports and frees every buffer. Returns the first error. NULL is ignored. */
HDMABUF_EXPORT int hdmabuf_frame_producer_destroy(hdmabuf_frame_producer *p);

/*
 * Waits up to timeout_ms for all buffers of stream (their "add" events) and imports them.
 * -EPROTO if their "frame_header" tags are inconsistent or place the header outside the
 * buffer or over the content.
 */
HDMABUF_EXPORT int hdmabuf_frame_consumer_open(hdmabuf_conn *conn, const char *stream, int timeout_ms,
    enum hdmabuf_wait strategy, hdmabuf_frame_consumer **out);
/*
 * Waits for the next frame; *data: its mapping, *info: a private, validated copy of its
 * header, valid until hdmabuf_frame_consumer_end() (a stream without headers, from an
 * older producer, gets sequence n and payload_length = metadata.size, the rest 0).
 * Errors as hdmabuf_frame_producer_begin() with the producer's error; -EPROTO for a header
 * whose sequence is not n, whose payload_length exceeds metadata.size or whose
 * private_length exceeds HDMABUF_FRAME_PRIVATE_MAX; -ENODATA once the frame carrying
 * HDMABUF_FRAME_FLAG_END_OF_STREAM was handed back (the stream ended).
 */
HDMABUF_EXPORT int hdmabuf_frame_consumer_begin_info(hdmabuf_frame_consumer *c, int timeout_ms, const void **data,
    const struct hdmabuf_frame_header **info);
/* As hdmabuf_frame_consumer_begin_info(), with *length: the frame's payload_length. */
HDMABUF_EXPORT int hdmabuf_frame_consumer_begin(hdmabuf_frame_consumer *c, int timeout_ms, const void **data,
    uint64_t *length);
/* Hands the frame back to the producer. -EINVAL without begin. */
HDMABUF_EXPORT int hdmabuf_frame_consumer_end(hdmabuf_frame_consumer *c);
HDMABUF_EXPORT uint32_t hdmabuf_frame_consumer_buffers(const hdmabuf_frame_consumer *c);
HDMABUF_EXPORT uint64_t hdmabuf_frame_consumer_frames(const hdmabuf_frame_consumer *c);
/*
 * The revision of the metadata this consumer imported for the buffer of the next (or the
 * current) frame: the REVISION of its "add" event; 0 if the daemon did not say.
 */
HDMABUF_EXPORT uint32_t hdmabuf_frame_consumer_revision(const hdmabuf_frame_consumer *c);
/*
 * Inside a frame: whether it was written for newer metadata than this consumer imported
 * (info->metadata_revision > hdmabuf_frame_consumer_revision(), both known), i.e. after a
 * re-export. Its payload must not be interpreted with the imported metadata: wait for the
 * buffer's "change" event and import it again (ABI.md "Frame headers"). The library uses
 * metadata.size only, which a frame stream's re-export keeps.
 */
HDMABUF_EXPORT bool hdmabuf_frame_consumer_metadata_stale(const hdmabuf_frame_consumer *c);
/* The stream's frame size (its exports' metadata.size): the most a payload_length can be. */
HDMABUF_EXPORT uint64_t hdmabuf_frame_consumer_frame_bytes(const hdmabuf_frame_consumer *c);
/* Whether the stream's buffers carry frame headers (a producer of this ABI's streams). */
HDMABUF_EXPORT bool hdmabuf_frame_consumer_has_headers(const hdmabuf_frame_consumer *c);
/* Releases every import. Returns the first error. NULL is ignored. */
HDMABUF_EXPORT int hdmabuf_frame_consumer_destroy(hdmabuf_frame_consumer *c);

#ifdef __cplusplus
}
#endif

#endif /* HYPERDMABUF_HDMABUF_H */
