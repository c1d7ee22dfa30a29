/* SPDX-License-Identifier: MIT */
/*
 * Fence timelines in shared memory (ABI.md "Fences", "Direct fence wake-ups"). The
 * signal and spin paths touch only the mapped slot; a blocked waiter sleeps on a leased
 * wake vector that the other VM's signaller rings itself, or in its daemon (FENCE_WAIT).
 * Nothing here allocates after the first sleep and the first ring of each vector.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "private.h"

#define NOT_ASKED     (-2) /* a doorbell or wake fd not asked for yet */
#define DAEMON_ONLY   (-1) /* no fd: the daemon rings (FENCE_SIGNAL kick) or waits (FENCE_WAIT) */
#define IGNORED       (-3) /* a wake bit for a vector the other VM lacks: not rung */
#define MASK_BITS     32
/* Longest single sleep on a wake vector: bounds what a wake-up taken by a stale
 * holder of the vector costs (ABI.md "Limits and trust"). */
#define WAKE_SLICE_MS 100

struct hdmabuf_fence {
    hdmabuf_conn *conn;
    struct hdmabuf_id id;
    bool can_store;
    void *map;
    size_t map_len;
    struct hdmabuf_fence_slot *slot;
    enum hdmabuf_timeline signal_timeline, wait_timeline;
    uint64_t *signal_value, *wait_value;
    uint32_t *signal_error, *wait_error;
    uint32_t *signal_waiters, *signal_wake, *wait_wake;
    uint64_t last_value; /* what we last stored or saw on the signal timeline */
    uint32_t last_error; /* the error word we last stored */
    int wake_fd;
    int wake_vector;
    uint32_t wake_bit; /* set around our sleeps; 0 when the daemon holds it */
    int doorbells[MASK_BITS];
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static int fence_open(hdmabuf_conn *conn, const struct hdmabuf_id *id, bool producer, int fd, uint64_t fence_offset,
    bool writable, hdmabuf_fence **out)
{
    long page = sysconf(_SC_PAGESIZE);
    uint64_t base, end;
    hdmabuf_fence *f;
    void *m;
    int e;

    if (page <= 0 || fence_offset > UINT64_MAX - HDMABUF_FENCE_SLOT_LENGTH - (uint64_t)page) {
        return -EPROTO;
    }
    if ((fence_offset & 7) != 0) {
        return -EPROTO; /* the slot's u64 words must be naturally aligned */
    }
    base = fence_offset & ~((uint64_t)page - 1);
    end = (fence_offset + HDMABUF_FENCE_SLOT_LENGTH + (uint64_t)page - 1) & ~((uint64_t)page - 1);
    if ((e = check_fd_range(fd, base, end - base)) != 0) {
        return e;
    }
    m = mmap(NULL, (size_t)(end - base), PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, (off_t)base);
    if (m == MAP_FAILED) {
        return -errno;
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        munmap(m, (size_t)(end - base));
        return -ENOMEM;
    }
    f->conn = conn;
    f->id = *id;
    f->can_store = writable;
    f->map = m;
    f->map_len = (size_t)(end - base);
    f->slot = (struct hdmabuf_fence_slot *)((unsigned char *)m + (fence_offset - base));
    f->signal_timeline = producer ? HDMABUF_TIMELINE_ACQUIRE : HDMABUF_TIMELINE_RELEASE;
    f->wait_timeline = producer ? HDMABUF_TIMELINE_RELEASE : HDMABUF_TIMELINE_ACQUIRE;
    f->signal_value = producer ? &f->slot->acquire_value : &f->slot->release_value;
    f->signal_error = producer ? &f->slot->acquire_error : &f->slot->release_error;
    f->signal_waiters = producer ? &f->slot->acquire_waiters : &f->slot->release_waiters;
    f->signal_wake = producer ? &f->slot->acquire_wake : &f->slot->release_wake;
    f->wait_value = producer ? &f->slot->release_value : &f->slot->acquire_value;
    f->wait_error = producer ? &f->slot->release_error : &f->slot->acquire_error;
    f->wait_wake = producer ? &f->slot->release_wake : &f->slot->acquire_wake;
    f->last_value = __atomic_load_n(f->signal_value, __ATOMIC_ACQUIRE);
    f->last_error = __atomic_load_n(f->signal_error, __ATOMIC_RELAXED);
    f->wake_fd = NOT_ASKED;
    f->wake_vector = -1;
    for (int i = 0; i < MASK_BITS; i++) {
        f->doorbells[i] = NOT_ASKED;
    }
    *out = f;
    return 0;
}

int hdmabuf_fence_open_export(hdmabuf_conn *conn, const struct hdmabuf_allocation *alloc,
    const struct hdmabuf_exported *exported, hdmabuf_fence **out)
{
    return fence_open(conn, &exported->id, true, alloc->buffer.fd, exported->fence_offset, true, out);
}

int hdmabuf_fence_open_import(hdmabuf_conn *conn, const struct hdmabuf_import *imp, hdmabuf_fence **out)
{
    return fence_open(conn, &imp->id, false, imp->buffer.fd, imp->fence_offset, !imp->buffer.read_only, out);
}

void hdmabuf_fence_close(hdmabuf_fence *f)
{
    if (f == NULL) {
        return;
    }
    if (f->wake_fd >= 0) {
        close(f->wake_fd);
    }
    for (int i = 0; i < MASK_BITS; i++) {
        if (f->doorbells[i] >= 0) {
            close(f->doorbells[i]);
        }
    }
    munmap(f->map, f->map_len);
    free(f);
}

uint64_t hdmabuf_fence_acquire_value(const hdmabuf_fence *f)
{
    return __atomic_load_n(&f->slot->acquire_value, __ATOMIC_ACQUIRE);
}

uint64_t hdmabuf_fence_release_value(const hdmabuf_fence *f)
{
    return __atomic_load_n(&f->slot->release_value, __ATOMIC_ACQUIRE);
}

int hdmabuf_fence_wake_vector(const hdmabuf_fence *f)
{
    return f->wake_fd >= 0 ? f->wake_vector : -1;
}

/* ---- signalling ---- */

/* Rings vector of the other VM with a FENCE_DOORBELL eventfd; false if only the daemon can. */
static bool ring(hdmabuf_fence *f, uint32_t vector)
{
    static const uint64_t one = 1;
    int fd = f->doorbells[vector];
    if (fd == NOT_ASKED) {
        int r = hdmabuf_request_fence_doorbell(f->conn, &f->id, vector, &fd);
        if (r != 0) {
            /* The fence doorbell: the daemon's FENCE_SIGNAL reports what is wrong. A wake
             * vector the other VM lacks (EINVAL): skipped. */
            fd = r == -ENOTSUP || vector == HDMABUF_IVSHMEM_VECTOR_FENCE ? DAEMON_ONLY : IGNORED;
        }
        f->doorbells[vector] = fd;
    }
    if (fd == IGNORED) {
        return true;
    }
    if (fd < 0) {
        return false;
    }
    if (write(fd, &one, sizeof(one)) != (ssize_t)sizeof(one)) {
        close(fd);
        f->doorbells[vector] = DAEMON_ONLY;
        return false;
    }
    return true;
}

int hdmabuf_fence_post(hdmabuf_fence *f, uint64_t value, uint32_t error)
{
    uint32_t rings = 0;
    bool via_daemon = false;

    if (!f->can_store) {
        return hdmabuf_request_fence_signal(f->conn, &f->id, f->signal_timeline, value, error);
    }
    if (value >= (UINT64_C(1) << 63)) {
        return -EINVAL;
    }
    /* One compare-and-exchange from the value we last stored (hyperdmabuf_shm.h): the
     * line the other VM spins on moves once per signal. It fails only when someone else
     * moved the timeline (the daemon closing it): then decide again on what it holds. */
    for (;;) {
        if (value < f->last_value) {
            return -EINVAL;
        }
        if (value == f->last_value) {
            uint64_t now = __atomic_load_n(f->signal_value, __ATOMIC_ACQUIRE);
            if (now == value) {
                return 0;
            }
            f->last_value = now;
            continue;
        }
        if (error != f->last_error) {
            /* Before the value, which publishes it. */
            __atomic_store_n(f->signal_error, error, __ATOMIC_RELAXED);
            f->last_error = error;
        }
        if (hdmabuf_fence_signal_exchange(f->signal_value, f->signal_waiters, f->signal_wake, &f->last_value, value,
                &rings)) {
            break;
        }
    }
    if (rings == 0) {
        return 0;
    }
    for (uint32_t m = rings; m != 0; m &= m - 1) {
        uint32_t v = (uint32_t)__builtin_ctz(m);
        if (v == HDMABUF_IVSHMEM_VECTOR_FENCE || v >= HDMABUF_IVSHMEM_VECTOR_FIRST_WAKE) {
            via_daemon |= !ring(f, v);
        }
    }
    if (via_daemon) {
        /* An unchanged value: the daemon only rings what the slot names. */
        return hdmabuf_request_fence_signal(f->conn, &f->id, f->signal_timeline, value, error);
    }
    return 0;
}

/* ---- waiting ---- */

static int closed_error(uint32_t word)
{
    return word != 0 && code_is_abi(word) ? -(int)word : -HDMABUF_EPEERLOST;
}

/* The awaited value arrived: report it with its error word, or the closed timeline. */
static int reached(hdmabuf_fence *f, uint64_t seen, uint64_t *seen_out, uint32_t *error_out)
{
    uint32_t err = __atomic_load_n(f->wait_error, __ATOMIC_ACQUIRE);
    if (seen == HDMABUF_FENCE_POISON) {
        return closed_error(err);
    }
    if (seen_out != NULL) {
        *seen_out = seen;
    }
    if (error_out != NULL) {
        *error_out = err;
    }
    return 0;
}

static void lease_wake(hdmabuf_fence *f)
{
    uint32_t vector;
    bool held;
    int fd;
    f->wake_fd = DAEMON_ONLY;
    if (hdmabuf_request_fence_wake(f->conn, &f->id, &fd, &vector, &held) != 0) {
        return; /* EBUSY, ENOTSUP: FENCE_WAIT reports anything else */
    }
    if (!held && (!f->can_store || vector < HDMABUF_IVSHMEM_VECTOR_FIRST_WAKE || vector >= MASK_BITS)) {
        close(fd); /* a bit we cannot set: the lease would never ring */
        return;
    }
    f->wake_fd = fd;
    f->wake_vector = (int)vector;
    f->wake_bit = held ? 0 : UINT32_C(1) << vector;
}

static int sleep_on_wake(hdmabuf_fence *f, uint64_t value, int64_t deadline, uint64_t *seen_out, uint32_t *error_out)
{
    for (;;) {
        struct pollfd p[2];
        uint64_t seen = __atomic_load_n(f->wait_value, __ATOMIC_ACQUIRE);
        int64_t left;
        if (seen >= value) {
            return reached(f, seen, seen_out, error_out);
        }
        left = deadline < 0 ? INT64_MAX : deadline - now_ns();
        if (left <= 0) {
            return -ETIMEDOUT;
        }
        p[0].fd = f->wake_fd;
        p[0].events = POLLIN;
        p[1].fd = conn_socket_fd(f->conn); /* only for POLLHUP: a daemon that died */
        p[1].events = 0;
        p[0].revents = p[1].revents = 0;
        if (poll(p, 2, left / 1000000 + 1 < WAKE_SLICE_MS ? (int)(left / 1000000 + 1) : WAKE_SLICE_MS) < 0 &&
            errno != EINTR) {
            return -errno;
        }
        if (p[1].revents & (POLLHUP | POLLERR | POLLNVAL)) {
            return -HDMABUF_EPEERLOST;
        }
        if (p[0].revents & POLLIN) {
            uint64_t count;
            seen = __atomic_load_n(f->wait_value, __ATOMIC_ACQUIRE);
            if (seen >= value) {
                return reached(f, seen, seen_out, error_out); /* the count is reset by the next sleep */
            }
            (void)!read(f->wake_fd, &count, sizeof(count)); /* before the re-check: a later ring is kept */
        }
    }
}

int hdmabuf_fence_await(hdmabuf_fence *f, uint64_t value, int timeout_ms, enum hdmabuf_wait strategy,
    uint64_t *seen_out, uint32_t *error_out)
{
    int64_t start = -1, deadline = -1;
    uint64_t seen;
    uint32_t err;
    int r;

    if (strategy != HDMABUF_WAIT_BLOCK) {
        /* The clock is read only once the value is 256 spins late, so a wait that a
         * busy peer ends soon costs no clock read; its bound starts that much later. */
        for (unsigned spins = 1;; spins++) {
            seen = __atomic_load_n(f->wait_value, __ATOMIC_ACQUIRE);
            if (seen >= value) {
                return reached(f, seen, seen_out, error_out);
            }
            if ((spins & 0xff) == 0) {
                int64_t now = now_ns(), spin_until;
                if (start < 0) {
                    start = now;
                    deadline = timeout_ms < 0 ? -1 : start + (int64_t)timeout_ms * 1000000;
                }
                spin_until = strategy == HDMABUF_WAIT_SPIN ? deadline :
                    (deadline >= 0 && deadline < start + HDMABUF_ADAPTIVE_SPIN_NS ? deadline :
                    start + HDMABUF_ADAPTIVE_SPIN_NS);
                if (spin_until >= 0 && now >= spin_until) {
                    break;
                }
            }
            cpu_relax();
        }
        if (strategy == HDMABUF_WAIT_SPIN) {
            return -ETIMEDOUT;
        }
    } else {
        start = now_ns();
        deadline = timeout_ms < 0 ? -1 : start + (int64_t)timeout_ms * 1000000;
    }
    if (f->wake_fd == NOT_ASKED) {
        lease_wake(f);
    }
    if (f->wake_fd >= 0) {
        if (f->wake_bit != 0) {
            __atomic_fetch_or(f->wait_wake, f->wake_bit, __ATOMIC_SEQ_CST); /* before the value check */
        }
        r = sleep_on_wake(f, value, deadline, seen_out, error_out);
        if (f->wake_bit != 0) {
            __atomic_fetch_and(f->wait_wake, ~f->wake_bit, __ATOMIC_SEQ_CST);
        }
        return r;
    }
    {
        int64_t left = deadline < 0 ? INT32_MAX : (deadline - now_ns()) / 1000000;
        r = hdmabuf_request_fence_wait(f->conn, &f->id, f->wait_timeline, value,
            (uint32_t)(left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : left), &seen, &err);
    }
    if (r != 0) {
        return r;
    }
    if (seen == HDMABUF_FENCE_POISON) {
        return closed_error(err);
    }
    if (seen_out != NULL) {
        *seen_out = seen;
    }
    if (error_out != NULL) {
        *error_out = err;
    }
    return 0;
}
