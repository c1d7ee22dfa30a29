/* SPDX-License-Identifier: MIT */
/*
 * The client socket: framing, SCM_RIGHTS fds, request/response matching, event queue
 * (ABI.md "Framing"). One mutex per connection serializes calls; the calling thread
 * reads the socket itself, so there is no reader thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "private.h"

#define DEFAULT_TIMEOUT_MS 30000
/* After a failed send, how long to read on for the reason the daemon gave (e.g. EACCES). */
#define CLOSE_REASON_MS    2000
#define RBUF_INITIAL       (64 * 1024)

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- arena allocator: the per-frame path decodes without malloc ---- */

static void *arena_alloc(void *data, size_t size)
{
    struct arena *a = data;
    size_t aligned = (size + 15) & ~(size_t)15;
    if (aligned >= size && aligned <= sizeof(a->bytes) - a->used) {
        void *p = a->bytes + a->used;
        a->used += aligned;
        return p;
    }
    return malloc(size); /* large responses (LIST) */
}

static void arena_free(void *data, void *ptr)
{
    struct arena *a = data;
    unsigned char *p = ptr;
    if (p >= a->bytes && p < a->bytes + sizeof(a->bytes)) {
        return;
    }
    free(ptr);
}

/* ---- errors ---- */

bool code_is_abi(uint32_t code)
{
    /* The generated enum is the list: a code added to hyperdmabuf_common.proto is known here by the next build. */
    return code != 0 && code <= INT32_MAX &&
        protobuf_c_enum_descriptor_get_value(&hyperdmabuf__v1__error_code__descriptor, (int)code) != NULL;
}

int code_to_error(uint32_t code)
{
    if (code == 0) {
        return 0;
    }
    /* ABI.md "Versioning": an unknown code means "failed, cause unknown". */
    return code_is_abi(code) ? -(int)code : -EIO;
}

void conn_set_msg(hdmabuf_conn *conn, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(conn->msg, sizeof(conn->msg), fmt, ap);
    va_end(ap);
}

size_t hdmabuf_error_message(hdmabuf_conn *conn, char *buf, size_t len)
{
    size_t n;
    pthread_mutex_lock(&conn->lock);
    n = strlen(conn->msg);
    if (len > 0) {
        size_t c = n < len - 1 ? n : len - 1;
        memcpy(buf, conn->msg, c);
        buf[c] = '\0';
    }
    pthread_mutex_unlock(&conn->lock);
    return n;
}

/* Marks the connection unusable; every later call returns code. */
static int conn_fail(hdmabuf_conn *conn, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int conn_fail(hdmabuf_conn *conn, int code, const char *fmt, ...)
{
    if (conn->broken == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(conn->msg, sizeof(conn->msg), fmt, ap);
        va_end(ap);
        conn->broken = code;
    }
    return conn->broken;
}

/* ---- connect / close ---- */

int hdmabuf_socket_path(const char *role, char *buf, size_t len)
{
    const char *dir = getenv("HDMABUF_RUNTIME_DIR");
    int n;
    if (role == NULL || (strcmp(role, "sink") != 0 && strcmp(role, "source") != 0 && strcmp(role, "daemon") != 0)) {
        return -EINVAL;
    }
    if (dir == NULL || dir[0] == '\0') {
        dir = HDMABUF_DEFAULT_RUNTIME_DIR;
    }
    n = snprintf(buf, len, "%s/%s.sock", dir, role);
    if (n < 0 || (size_t)n >= len) {
        return -ENAMETOOLONG;
    }
    return n;
}

int hdmabuf_connect_fd(int fd, hdmabuf_conn **out)
{
    hdmabuf_conn *c;
    if (fd < 0) {
        return -EINVAL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return -ENOMEM;
    }
    c->rcap = RBUF_INITIAL;
    c->rbuf = malloc(c->rcap);
    if (c->rbuf == NULL || pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c->rbuf);
        free(c);
        close(fd);
        return -ENOMEM;
    }
    c->fd = fd;
    c->timeout_ms = DEFAULT_TIMEOUT_MS;
    c->epfd = -1;
    c->evfd = -1;
    c->arena_allocator.alloc = arena_alloc;
    c->arena_allocator.free = arena_free;
    c->arena_allocator.allocator_data = &c->arena;
    *out = c;
    return 0;
}

int hdmabuf_connect(const char *path, hdmabuf_conn **out)
{
    struct sockaddr_un addr;
    int fd;
    if (path == NULL) {
        return -EINVAL;
    }
    if (strlen(path) >= sizeof(addr.sun_path)) {
        return -ENAMETOOLONG;
    }
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return hdmabuf_connect_fd(fd, out);
}

int hdmabuf_connect_role(const char *role, hdmabuf_conn **out)
{
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int r = hdmabuf_socket_path(role, path, sizeof(path));
    return r < 0 ? r : hdmabuf_connect(path, out);
}

void hdmabuf_close(hdmabuf_conn *conn)
{
    struct queued_event *q;
    if (conn == NULL) {
        return;
    }
    close(conn->fd);
    while (conn->fdq_len > 0) {
        close(conn->fdq[conn->fdq_head]);
        conn->fdq_head = (conn->fdq_head + 1) % FD_QUEUE_CAP;
        conn->fdq_len--;
    }
    while ((q = conn->ev_head) != NULL) {
        conn->ev_head = q->next;
        hdmabuf_event_free(q->event);
        free(q);
    }
    if (conn->epfd >= 0) {
        close(conn->epfd);
    }
    if (conn->evfd >= 0) {
        close(conn->evfd);
    }
    pthread_mutex_destroy(&conn->lock);
    free(conn->rbuf);
    free(conn);
}

void hdmabuf_set_timeout(hdmabuf_conn *conn, int timeout_ms)
{
    pthread_mutex_lock(&conn->lock);
    conn->timeout_ms = timeout_ms;
    pthread_mutex_unlock(&conn->lock);
}

int conn_socket_fd(const hdmabuf_conn *conn)
{
    return conn->fd;
}

/* ---- event queue ---- */

static void evfd_set(hdmabuf_conn *conn, bool readable)
{
    uint64_t v = 1;
    if (conn->evfd < 0) {
        return;
    }
    if (readable) {
        (void)!write(conn->evfd, &v, sizeof(v));
    } else {
        (void)!read(conn->evfd, &v, sizeof(v));
    }
}

static void enqueue_event(hdmabuf_conn *conn, struct hdmabuf_event *ev)
{
    struct queued_event *q;
    if (conn->ev_count >= EVENT_QUEUE_CAP || (q = malloc(sizeof(*q))) == NULL) {
        conn->ev_dropped++;
        hdmabuf_event_free(ev);
        return;
    }
    q->next = NULL;
    q->event = ev;
    if (conn->ev_tail != NULL) {
        conn->ev_tail->next = q;
    } else {
        conn->ev_head = q;
        evfd_set(conn, true);
    }
    conn->ev_tail = q;
    conn->ev_count++;
}

static struct hdmabuf_event *dequeue_event(hdmabuf_conn *conn)
{
    struct queued_event *q = conn->ev_head;
    struct hdmabuf_event *ev;
    if (q == NULL) {
        return NULL;
    }
    conn->ev_head = q->next;
    if (conn->ev_head == NULL) {
        conn->ev_tail = NULL;
        evfd_set(conn, false);
    }
    conn->ev_count--;
    ev = q->event;
    free(q);
    return ev;
}

int hdmabuf_event_fd(hdmabuf_conn *conn)
{
    int r;
    pthread_mutex_lock(&conn->lock);
    if (conn->epfd < 0) {
        struct epoll_event e;
        int ep = epoll_create1(EPOLL_CLOEXEC);
        int ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        memset(&e, 0, sizeof(e));
        e.events = EPOLLIN;
        if (ep < 0 || ev < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, conn->fd, &e) != 0 ||
            epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e) != 0) {
            r = -errno;
            if (ep >= 0) {
                close(ep);
            }
            if (ev >= 0) {
                close(ev);
            }
            pthread_mutex_unlock(&conn->lock);
            return r;
        }
        conn->epfd = ep;
        conn->evfd = ev;
        if (conn->ev_head != NULL) {
            evfd_set(conn, true);
        }
    }
    r = conn->epfd;
    pthread_mutex_unlock(&conn->lock);
    return r;
}

/* ---- reading ---- */

static void close_fds(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
            fds[i] = -1;
        }
    }
}

/*
 * One recvmsg into rbuf, its fds into the FIFO (ABI.md "File descriptors"). Returns
 * bytes read (> 0) or a negative code after failing the connection.
 */
static int recv_some(hdmabuf_conn *conn)
{
    union {
        char buf[CMSG_SPACE(MAX_FDS_PER_MSG * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov;
    struct msghdr mh;
    struct cmsghdr *cm;
    ssize_t n;
    bool overflow = false;

    if (conn->rpos > 0) {
        memmove(conn->rbuf, conn->rbuf + conn->rpos, conn->rlen - conn->rpos);
        conn->rlen -= conn->rpos;
        conn->rpos = 0;
    }
    if (conn->rlen == conn->rcap) {
        return conn_fail(conn, -EPROTO, "receive buffer full"); /* not reached: frames are bounded */
    }
    iov.iov_base = conn->rbuf + conn->rlen;
    iov.iov_len = conn->rcap - conn->rlen;
    memset(&mh, 0, sizeof(mh));
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control.buf;
    mh.msg_controllen = sizeof(control.buf);
    do {
        n = recvmsg(conn->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return 0;
        }
        return conn_fail(conn, -HDMABUF_EPEERLOST, "reading from the daemon failed: %s", strerror(errno));
    }
    for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS && cm->cmsg_len >= CMSG_LEN(0)) {
            size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < count; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                if (conn->fdq_len == FD_QUEUE_CAP) {
                    close(fd);
                    overflow = true;
                    continue;
                }
                conn->fdq[(conn->fdq_head + conn->fdq_len) % FD_QUEUE_CAP] = fd;
                conn->fdq_len++;
            }
        }
    }
    if (mh.msg_flags & MSG_CTRUNC) {
        return conn_fail(conn, -EPROTO, "file descriptors from the daemon were truncated (MSG_CTRUNC)");
    }
    if (overflow) {
        return conn_fail(conn, -EPROTO, "the daemon sent more file descriptors than its frames claim");
    }
    if (n == 0) {
        return conn_fail(conn, -HDMABUF_EPEERLOST, "the daemon closed the connection");
    }
    conn->rlen += (size_t)n;
    return (int)n;
}

/*
 * Finds the next complete frame in rbuf. Returns 1 with the frame in data and len (and consumes it),
 * 0 if incomplete (rbuf grown so it fits), or a negative code.
 */
static int next_frame(hdmabuf_conn *conn, const unsigned char **data, size_t *len)
{
    size_t avail = conn->rlen - conn->rpos;
    const unsigned char *p = conn->rbuf + conn->rpos;
    uint64_t length = 0;
    size_t i;
    for (i = 0; i < avail && i < 5; i++) {
        length |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if ((p[i] & 0x80) == 0) {
            break;
        }
    }
    if (i == 5) {
        return conn_fail(conn, -EPROTO, "malformed length prefix from the daemon");
    }
    if (i == avail) {
        return 0;
    }
    if (length > SERVER_MAX_FRAME) {
        return conn_fail(conn, -EPROTO, "the daemon sent a frame of %llu bytes, limit %u",
            (unsigned long long)length, SERVER_MAX_FRAME);
    }
    if (avail < i + 1 + length) {
        size_t need = i + 1 + (size_t)length;
        if (need > conn->rcap) {
            unsigned char *nb;
            if (conn->rpos > 0) {
                memmove(conn->rbuf, conn->rbuf + conn->rpos, avail);
                conn->rlen = avail;
                conn->rpos = 0;
            }
            nb = realloc(conn->rbuf, need);
            if (nb == NULL) {
                return conn_fail(conn, -ENOMEM, "no memory for a frame of %zu bytes", need);
            }
            conn->rbuf = nb;
            conn->rcap = need;
        }
        return 0;
    }
    *data = p + i + 1;
    *len = (size_t)length;
    conn->rpos += i + 1 + (size_t)length;
    return 1;
}

static size_t take_fds(hdmabuf_conn *conn, int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fds[i] = conn->fdq[conn->fdq_head];
        conn->fdq_head = (conn->fdq_head + 1) % FD_QUEUE_CAP;
        conn->fdq_len--;
    }
    return n;
}

/*
 * Handles one frame. Returns 1 if it is the response to want_id (stored in *r), 0 if
 * handled otherwise, or a negative code.
 */
static int handle_frame(hdmabuf_conn *conn, const unsigned char *data, size_t len, uint64_t want_id,
    struct reply *r)
{
    Hyperdmabuf__V1__ServerFrame *f;
    conn->arena.used = 0;
    f = (Hyperdmabuf__V1__ServerFrame *)protobuf_c_message_unpack(&hyperdmabuf__v1__server_frame__descriptor,
        &conn->arena_allocator, len, data);
    if (f == NULL) {
        return conn_fail(conn, -EPROTO, "a frame from the daemon does not parse as a ServerFrame");
    }
    if (f->kind_case == HYPERDMABUF__V1__SERVER_FRAME__KIND_EVENT && f->event != NULL) {
        struct hdmabuf_event *ev;
        if (event_from_pb(f->event, &ev) == 0) {
            enqueue_event(conn, ev);
        } else {
            conn->ev_dropped++; /* malformed record: reported like an overflow */
        }
    } else if (f->kind_case == HYPERDMABUF__V1__SERVER_FRAME__KIND_RESPONSE && f->response != NULL) {
        Hyperdmabuf__V1__Response *resp = f->response;
        int fds[MAX_FDS_PER_MSG];
        size_t nfds;
        if (resp->fd_count > MAX_FDS_PER_MSG || resp->fd_count > conn->fdq_len) {
            protobuf_c_message_free_unpacked(&f->base, &conn->arena_allocator);
            return conn_fail(conn, -EPROTO, "a response announces %u fds, %zu arrived", resp->fd_count,
                conn->fdq_len);
        }
        nfds = take_fds(conn, fds, resp->fd_count);
        if (resp->request_id != 0 && resp->request_id == want_id) {
            r->frame = f;
            r->resp = resp;
            r->bytes = data;
            r->len = len;
            memcpy(r->fds, fds, nfds * sizeof(int));
            r->nfds = nfds;
            return 1;
        }
        close_fds(fds, nfds); /* a response nobody waits for any more */
        if (resp->request_id == 0 && resp->error != HYPERDMABUF__V1__ERROR_CODE__EBADMSG) {
            /* ABI.md "Framing": unattributable errors other than EBADMSG end the connection. */
            int code = code_to_error((uint32_t)resp->error);
            conn_fail(conn, code != 0 ? code : -EPROTO, "the daemon refused the connection: %s",
                resp->message != NULL ? resp->message : "");
            protobuf_c_message_free_unpacked(&f->base, &conn->arena_allocator);
            return conn->broken;
        }
        if (resp->request_id == 0) {
            conn_set_msg(conn, "the daemon could not parse a frame: %s", resp->message != NULL ? resp->message : "");
        }
    }
    protobuf_c_message_free_unpacked(&f->base, &conn->arena_allocator);
    return 0;
}

/*
 * Reads frames until the response to want_id arrives (1), or, with want_id 0, until an
 * event is queued (1); 0 on deadline; negative code on failure.
 */
static int pump(hdmabuf_conn *conn, uint64_t want_id, int64_t deadline, struct reply *r)
{
    for (;;) {
        const unsigned char *data = NULL;
        size_t len = 0;
        int got;
        while ((got = next_frame(conn, &data, &len)) == 1) {
            int h = handle_frame(conn, data, len, want_id, r);
            if (h != 0) {
                return h;
            }
            if (want_id == 0 && conn->ev_head != NULL) {
                return 1;
            }
        }
        if (got < 0) {
            return got;
        }
        if (conn->broken) {
            return conn->broken;
        }
        for (;;) {
            struct pollfd p = { .fd = conn->fd, .events = POLLIN };
            int64_t left = deadline < 0 ? -1 : deadline - now_ms();
            int pr;
            if (deadline >= 0 && left < 0) {
                left = 0;
            }
            pr = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
            if (pr < 0 && errno == EINTR) {
                continue;
            }
            if (pr < 0) {
                return conn_fail(conn, -errno, "poll on the daemon socket failed: %s", strerror(errno));
            }
            if (pr == 0) {
                if (deadline >= 0 && now_ms() >= deadline) {
                    return 0;
                }
                continue;
            }
            break;
        }
        got = recv_some(conn);
        if (got < 0) {
            return got;
        }
    }
}

/* ---- sending ---- */

static int send_all(hdmabuf_conn *conn, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(conn->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0) {
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int conn_call(hdmabuf_conn *conn, Hyperdmabuf__V1__Request *req, int timeout_ms, struct reply *r)
{
    size_t size, pre;
    uint64_t id;
    int64_t deadline;
    int sent, got;

    memset(r, 0, sizeof(*r));
    pthread_mutex_lock(&conn->lock);
    if (conn->broken) {
        int b = conn->broken;
        pthread_mutex_unlock(&conn->lock);
        return b;
    }
    id = ++conn->last_id;
    req->request_id = id;
    size = protobuf_c_message_get_packed_size(&req->base);
    if (size > CLIENT_MAX_FRAME) {
        conn_set_msg(conn, "request of %zu bytes exceeds the frame limit of %d", size, CLIENT_MAX_FRAME);
        pthread_mutex_unlock(&conn->lock);
        return -EMSGSIZE;
    }
    pre = 0;
    for (size_t v = size; ; v >>= 7) {
        conn->sbuf[pre++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        if (v <= 0x7f) {
            break;
        }
    }
    protobuf_c_message_pack(&req->base, conn->sbuf + pre);
    if (timeout_ms < 0) {
        timeout_ms = conn->timeout_ms;
    }
    deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    sent = send_all(conn, conn->sbuf, pre + size);
    if (sent < 0) {
        /* The daemon closed on us; it usually said why first (EACCES, EAGAIN). */
        conn_set_msg(conn, "sending to the daemon failed: %s", strerror(-sent));
        deadline = now_ms() + (timeout_ms >= 0 && timeout_ms < CLOSE_REASON_MS ? timeout_ms : CLOSE_REASON_MS);
    }
    got = pump(conn, id, deadline, r);
    if (got == 1) {
        int code = code_to_error((uint32_t)r->resp->error);
        if (code == 0) {
            return 0; /* locked, for the caller */
        }
        conn_set_msg(conn, "%s", r->resp->message != NULL ? r->resp->message : "");
        protobuf_c_message_free_unpacked(&r->frame->base, &conn->arena_allocator);
        close_fds(r->fds, r->nfds);
        memset(r, 0, sizeof(*r));
        pthread_mutex_unlock(&conn->lock);
        return code;
    }
    if (got == 0) {
        if (sent < 0) {
            got = conn_fail(conn, -HDMABUF_EPEERLOST, "the daemon closed the connection (%s)", strerror(-sent));
        } else {
            conn_set_msg(conn, "no response within %d ms", timeout_ms);
            got = -ETIMEDOUT;
        }
    }
    pthread_mutex_unlock(&conn->lock);
    return got;
}

void reply_done(hdmabuf_conn *conn, struct reply *r)
{
    if (r->frame != NULL) {
        protobuf_c_message_free_unpacked(&r->frame->base, &conn->arena_allocator);
    }
    close_fds(r->fds, r->nfds);
    memset(r, 0, sizeof(*r));
    pthread_mutex_unlock(&conn->lock);
}

int reply_take_fd(hdmabuf_conn *conn, struct reply *r, int *fd)
{
    if (r->nfds != 1) {
        conn_set_msg(conn, "expected 1 fd with the response, got %zu", r->nfds);
        return -EPROTO;
    }
    *fd = r->fds[0];
    r->fds[0] = -1;
    return 0;
}

Hyperdmabuf__V1__ServerFrame *reply_keep(struct reply *r)
{
    return (Hyperdmabuf__V1__ServerFrame *)protobuf_c_message_unpack(&hyperdmabuf__v1__server_frame__descriptor,
        NULL, r->len, r->bytes);
}

int hdmabuf_next_event(hdmabuf_conn *conn, int timeout_ms, struct hdmabuf_event **out)
{
    struct hdmabuf_event *ev;
    int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    int got = 0;
    pthread_mutex_lock(&conn->lock);
    if (conn->ev_dropped > 0 && conn->ev_head == NULL) {
        goto marker;
    }
    if (conn->ev_head == NULL && conn->broken == 0) {
        struct reply unused;
        got = pump(conn, 0, deadline, &unused);
    }
    ev = dequeue_event(conn);
    if (ev != NULL) {
        *out = ev;
        pthread_mutex_unlock(&conn->lock);
        return 0;
    }
    if (conn->ev_dropped > 0) {
        goto marker;
    }
    if (got == 0 && conn->broken == 0) {
        got = -ETIMEDOUT;
    } else if (got >= 0) {
        got = conn->broken;
    }
    pthread_mutex_unlock(&conn->lock);
    return got;

marker: {
        /* Events the library itself could not keep: reported as an overflow marker. */
        Hyperdmabuf__V1__Event pb = HYPERDMABUF__V1__EVENT__INIT;
        pb.overflow_dropped = conn->ev_dropped;
        got = event_from_pb(&pb, &ev);
        if (got == 0) {
            conn->ev_dropped = 0;
            *out = ev;
        }
        pthread_mutex_unlock(&conn->lock);
        return got;
    }
}

int check_fd_range(int fd, uint64_t offset, uint64_t length)
{
    struct stat st;
    if (length == 0 || offset > UINT64_MAX - length || length > SIZE_MAX || offset + length > (uint64_t)INT64_MAX) {
        return -EPROTO;
    }
    if (fstat(fd, &st) != 0) {
        return -errno;
    }
    /* A range past the end of a file would SIGBUS on first touch. Devices report no size. */
    if (S_ISREG(st.st_mode) && offset + length > (uint64_t)st.st_size) {
        return -EPROTO;
    }
    return 0;
}
