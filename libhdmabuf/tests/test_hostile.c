/* SPDX-License-Identifier: MIT */
/*
 * A hostile daemon on the other end of a socketpair: malformed framing, frames that do not
 * parse, missing results, missing or extra fds, ranges beyond the fd, broken uevent records.
 * The library must answer each with an error (and leak no fd), never crash. Also a daemon that
 * answers FENCE_DOORBELL with ENOTSUP (a backend without doorbell fds for clients, or a peer that
 * polls): a signal that must wake a waiter parked in the daemon falls back to FENCE_SIGNAL, and
 * never asks for that doorbell again.
 */
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.pb-c.h"

static int open_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++) {
        n += fcntl(fd, F_GETFD) != -1;
    }
    return n;
}

/* Sends raw bytes, with one fd attached when fd >= 0. */
static void send_raw(int sock, const void *data, size_t len, int fd)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov = { (void *)data, len };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (fd >= 0) {
        struct cmsghdr *cm;
        memset(&control, 0, sizeof(control));
        mh.msg_control = control.buf;
        mh.msg_controllen = sizeof(control.buf);
        cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    }
    if (sendmsg(sock, &mh, MSG_NOSIGNAL) != (ssize_t)len) {
        perror("sendmsg");
        exit(1);
    }
}

/* Sends one ServerFrame, framed. */
static void send_frame(int sock, Hyperdmabuf__V1__ServerFrame *f, int fd)
{
    unsigned char buf[4096];
    size_t n = protobuf_c_message_get_packed_size(&f->base), pre = 0;
    for (size_t v = n;; v >>= 7) {
        buf[pre++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        if (v <= 0x7f) {
            break;
        }
    }
    protobuf_c_message_pack(&f->base, buf + pre);
    send_raw(sock, buf, pre + n, fd);
}

static void send_response(int sock, Hyperdmabuf__V1__Response *r, int fd)
{
    Hyperdmabuf__V1__ServerFrame f = HYPERDMABUF__V1__SERVER_FRAME__INIT;
    f.kind_case = HYPERDMABUF__V1__SERVER_FRAME__KIND_RESPONSE;
    f.response = r;
    send_frame(sock, &f, fd);
}

static hdmabuf_conn *pair(int *daemon)
{
    int sv[2];
    hdmabuf_conn *c;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        perror("socketpair");
        exit(1);
    }
    REQUIRE_OK(hdmabuf_connect_fd(sv[0], &c));
    hdmabuf_set_timeout(c, 2000);
    *daemon = sv[1];
    return c;
}

static int memfd_of(size_t size)
{
    int fd = memfd_create("hostile", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)size) != 0) {
        perror("memfd");
        exit(1);
    }
    return fd;
}

/* Reads the next Request the library sent (varint length prefix), or NULL. */
static Hyperdmabuf__V1__Request *next_request(int sock)
{
    unsigned char buf[4096];
    size_t len = 0;
    for (int shift = 0; shift < 35; shift += 7) {
        unsigned char b;
        if (read(sock, &b, 1) != 1) {
            return NULL;
        }
        len |= (size_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            break;
        }
    }
    if (len > sizeof(buf) || read(sock, buf, len) != (ssize_t)len) {
        return NULL;
    }
    return hyperdmabuf__v1__request__unpack(NULL, len, buf);
}

/* The next request is op (FENCE_SIGNAL: of value on the acquire timeline; FENCE_DOORBELL: of the fence vector). */
static void expect_request(int sock, Hyperdmabuf__V1__Request__OpCase op, uint64_t value)
{
    Hyperdmabuf__V1__Request *q = next_request(sock);
    CHECK(q != NULL && q->op_case == op);
    if (q != NULL && q->op_case == op && op == HYPERDMABUF__V1__REQUEST__OP_FENCE_SIGNAL) {
        CHECK(q->fence_signal->value == value && q->fence_signal->timeline == HYPERDMABUF__V1__TIMELINE__TIMELINE_ACQUIRE);
    }
    if (q != NULL && q->op_case == op && op == HYPERDMABUF__V1__REQUEST__OP_FENCE_DOORBELL) {
        CHECK(q->fence_doorbell->vector == HDMABUF_IVSHMEM_VECTOR_FENCE);
    }
    if (q != NULL) {
        hyperdmabuf__v1__request__free_unpacked(q, NULL);
    }
}

int main(void)
{
    struct hdmabuf_caps caps;
    struct hdmabuf_allocation a;
    struct hdmabuf_import *imp;
    struct hdmabuf_event *ev;
    struct hdmabuf_id id = { 1, 1, 1 };
    hdmabuf_conn *c;
    int d, baseline = open_fds();

    /* A length prefix above 16 MiB. */
    c = pair(&d);
    send_raw(d, "\xff\xff\xff\xff\x0f", 5, -1);
    CHECK_RC(hdmabuf_query_caps(c, &caps), -EPROTO);
    CHECK_RC(hdmabuf_query_caps(c, &caps), -EPROTO); /* failed for good */
    hdmabuf_close(c);
    close(d);

    /* A varint longer than 5 bytes. */
    c = pair(&d);
    send_raw(d, "\x80\x80\x80\x80\x80\x01", 6, -1);
    CHECK_RC(hdmabuf_query_caps(c, &caps), -EPROTO);
    hdmabuf_close(c);
    close(d);

    /* A frame that is no ServerFrame. */
    c = pair(&d);
    send_raw(d, "\x03\xff\xff\xff", 4, -1);
    CHECK_RC(hdmabuf_query_caps(c, &caps), -EPROTO);
    hdmabuf_close(c);
    close(d);

    /* OK without the result; then an fd promised but not sent. */
    c = pair(&d);
    {
        Hyperdmabuf__V1__Response r = HYPERDMABUF__V1__RESPONSE__INIT;
        r.request_id = 1;
        send_response(d, &r, -1);
        CHECK_RC(hdmabuf_query_caps(c, &caps), -EPROTO);
        r.request_id = 2;
        r.fd_count = 1;
        send_response(d, &r, -1);
        CHECK_RC(hdmabuf_alloc(c, 4096, false, 0, HDMABUF_ACCESS_READ_WRITE, &a), -EPROTO);
    }
    hdmabuf_close(c);
    close(d);

    /* ALLOC answers: a range beyond the fd, two fds, no fd. Every fd is closed. */
    c = pair(&d);
    {
        Hyperdmabuf__V1__Response r = HYPERDMABUF__V1__RESPONSE__INIT;
        Hyperdmabuf__V1__Allocated al = HYPERDMABUF__V1__ALLOCATED__INIT;
        int fd = memfd_of(4096);
        r.result_case = HYPERDMABUF__V1__RESPONSE__RESULT_ALLOCATED;
        r.allocated = &al;
        al.handle = 1;
        al.offset = 1 << 30;
        al.length = 4096;
        r.request_id = 1;
        r.fd_count = 1;
        send_response(d, &r, fd);
        CHECK_RC(hdmabuf_alloc(c, 4096, false, 0, HDMABUF_ACCESS_READ_WRITE, &a), -EPROTO);
        al.offset = 0;
        al.length = UINT64_MAX;
        r.request_id = 2;
        send_response(d, &r, fd);
        CHECK_RC(hdmabuf_alloc(c, 4096, false, 0, HDMABUF_ACCESS_READ_WRITE, &a), -EPROTO);
        r.request_id = 3;
        r.fd_count = 0;
        al.length = 4096;
        send_response(d, &r, -1);
        CHECK_RC(hdmabuf_alloc(c, 4096, false, 0, HDMABUF_ACCESS_READ_WRITE, &a), -EPROTO);
        /* A sane answer still works, and its fence offset beyond the fd is refused. */
        r.request_id = 4;
        r.fd_count = 1;
        send_response(d, &r, fd);
        REQUIRE_OK(hdmabuf_alloc(c, 4096, false, 0, HDMABUF_ACCESS_READ_WRITE, &a));
        {
            struct hdmabuf_exported x = { .id = id, .fence_offset = UINT64_C(1) << 40 };
            hdmabuf_fence *f;
            CHECK_RC(hdmabuf_fence_open_export(c, &a, &x, &f), -EPROTO);
            x.fence_offset = UINT64_MAX - 10;
            CHECK_RC(hdmabuf_fence_open_export(c, &a, &x, &f), -EPROTO);
            x.fence_offset = 3; /* misaligned */
            CHECK_RC(hdmabuf_fence_open_export(c, &a, &x, &f), -EPROTO);
        }
        hdmabuf_unmap(&a.buffer);
        close(fd);
    }
    hdmabuf_close(c);
    close(d);

    /* IMPORT answers: a length past the fd, too many planes. */
    c = pair(&d);
    {
        Hyperdmabuf__V1__Response r = HYPERDMABUF__V1__RESPONSE__INIT;
        Hyperdmabuf__V1__Imported im = HYPERDMABUF__V1__IMPORTED__INIT;
        Hyperdmabuf__V1__Metadata md = HYPERDMABUF__V1__METADATA__INIT;
        Hyperdmabuf__V1__ImageInfo image = HYPERDMABUF__V1__IMAGE_INFO__INIT;
        Hyperdmabuf__V1__Plane plane = HYPERDMABUF__V1__PLANE__INIT, *planes[5];
        int fd = memfd_of(8192);
        r.result_case = HYPERDMABUF__V1__RESPONSE__RESULT_IMPORTED;
        r.imported = &im;
        r.fd_count = 1;
        r.request_id = 1;
        im.length = 1 << 20;
        send_response(d, &r, fd);
        CHECK_RC(hdmabuf_import(c, &id, &imp), -EPROTO);
        for (int i = 0; i < 5; i++) {
            planes[i] = &plane;
        }
        image.n_planes = 5;
        image.planes = planes;
        md.image = &image;
        im.metadata = &md;
        im.length = 4096;
        r.request_id = 2;
        send_response(d, &r, fd);
        CHECK_RC(hdmabuf_import(c, &id, &imp), -EPROTO);
        image.n_planes = 1;
        r.request_id = 3;
        send_response(d, &r, fd);
        REQUIRE_OK(hdmabuf_import(c, &id, &imp));
        CHECK(imp->metadata.image != NULL && imp->metadata.image->n_planes == 1);
        hdmabuf_import_free(imp);
        close(fd);
    }
    hdmabuf_close(c);
    close(d);

    /* Broken uevent records become an overflow marker; good ones come through. */
    c = pair(&d);
    {
        static const char *const records[] = { "add\0ACTION=add\0", "add@/x\0\0A=b\0", "add@/x\0NOEQUALS\0",
            "add@/x\0A=b", "add@/x\0=b\0" };
        static const size_t lens[] = { 15, 12, 16, 10, 10 };
        Hyperdmabuf__V1__ServerFrame f = HYPERDMABUF__V1__SERVER_FRAME__INIT;
        Hyperdmabuf__V1__Event e = HYPERDMABUF__V1__EVENT__INIT;
        f.kind_case = HYPERDMABUF__V1__SERVER_FRAME__KIND_EVENT;
        f.event = &e;
        e.subscription_id = 9;
        for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
            e.uevent.data = (uint8_t *)records[i];
            e.uevent.len = lens[i];
            send_frame(d, &f, -1);
        }
        e.uevent.data = (uint8_t *)"add@/hyperdmabuf/vm1/x\0ACTION=add\0K=v=w\0E=\0";
        e.uevent.len = 43;
        send_frame(d, &f, -1);
        REQUIRE_OK(hdmabuf_next_event(c, 2000, &ev));
        CHECK(ev->subscription_id == 9 && strcmp(ev->action, "add") == 0 && strcmp(ev->devpath, "/hyperdmabuf/vm1/x") == 0);
        CHECK(ev->n_properties == 3 && strcmp(hdmabuf_event_get(ev, "K"), "v=w") == 0 &&
            strcmp(hdmabuf_event_get(ev, "E"), "") == 0);
        hdmabuf_event_free(ev);
        REQUIRE_OK(hdmabuf_next_event(c, 0, &ev));
        CHECK(ev->overflow_dropped == 5 && ev->n_properties == 0 && ev->action[0] == '\0');
        hdmabuf_event_free(ev);
        CHECK_RC(hdmabuf_next_event(c, 0, &ev), -ETIMEDOUT);
    }
    hdmabuf_close(c);
    close(d);

    /* An unattributable error (request id 0) ends the connection; so does the daemon leaving. */
    c = pair(&d);
    {
        Hyperdmabuf__V1__Response r = HYPERDMABUF__V1__RESPONSE__INIT;
        char msg[128];
        r.error = HYPERDMABUF__V1__ERROR_CODE__EACCES;
        r.message = "uid 1000 may not use this daemon";
        send_response(d, &r, -1);
        CHECK_RC(hdmabuf_query_caps(c, &caps), -EACCES);
        CHECK(hdmabuf_error_message(c, msg, sizeof(msg)) > 0 && strstr(msg, "uid 1000") != NULL);
        CHECK_RC(hdmabuf_next_event(c, 0, &ev), -EACCES);
    }
    hdmabuf_close(c);
    close(d);
    c = pair(&d);
    close(d);
    CHECK_RC(hdmabuf_query_caps(c, &caps), -HDMABUF_EPEERLOST);
    hdmabuf_close(c);

    /* An error code from a newer ABI is "failed, cause unknown". */
    c = pair(&d);
    {
        Hyperdmabuf__V1__Response r = HYPERDMABUF__V1__RESPONSE__INIT;
        r.request_id = 1;
        r.error = (Hyperdmabuf__V1__ErrorCode)4242;
        send_response(d, &r, -1);
        CHECK_RC(hdmabuf_query_caps(c, &caps), -EIO);
    }
    hdmabuf_close(c);
    close(d);

    /* Every code of the ABI's list comes through as itself and is named, the errno-valued ones included. */
    for (unsigned i = 0; i < hyperdmabuf__v1__error_code__descriptor.n_values; i++) {
        const ProtobufCEnumValue *v = &hyperdmabuf__v1__error_code__descriptor.values[i];
        CHECK(strncmp(hdmabuf_strerror(-v->value), v->name, strlen(v->name)) == 0);
        if (v->value == 0) {
            continue;
        }
        c = pair(&d);
        {
            Hyperdmabuf__V1__Response r = HYPERDMABUF__V1__RESPONSE__INIT;
            r.request_id = 1;
            r.error = (Hyperdmabuf__V1__ErrorCode)v->value;
            send_response(d, &r, -1);
            CHECK_RC(hdmabuf_query_caps(c, &caps), -v->value);
        }
        hdmabuf_close(c);
        close(d);
    }

    /* FENCE_DOORBELL answered ENOTSUP: the producer's signal, with a wait parked in the daemon
     * (acquire_waiters), goes through FENCE_SIGNAL, then and on every later signal. */
    c = pair(&d);
    {
        Hyperdmabuf__V1__Response r = HYPERDMABUF__V1__RESPONSE__INIT;
        struct hdmabuf_allocation al = { .buffer = { .fd = memfd_of(8192), .length = 8192 } };
        struct hdmabuf_exported x = { .id = id, .fence_offset = 4096 };
        struct hdmabuf_fence_slot *slot = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, al.buffer.fd, 4096);
        hdmabuf_fence *f;
        REQUIRE_OK(slot == MAP_FAILED ? -errno : 0);
        slot->acquire_waiters = 1;
        r.request_id = 1;
        r.error = HYPERDMABUF__V1__ERROR_CODE__ENOTSUP;
        send_response(d, &r, -1);
        r.error = HYPERDMABUF__V1__ERROR_CODE__OK;
        for (r.request_id = 2; r.request_id <= 3; r.request_id++) {
            send_response(d, &r, -1);
        }
        REQUIRE_OK(hdmabuf_fence_open_export(c, &al, &x, &f));
        CHECK_RC(hdmabuf_fence_post(f, 1, 0), 0);
        CHECK_RC(hdmabuf_fence_post(f, 2, 0), 0);
        slot->acquire_waiters = 0;
        CHECK_RC(hdmabuf_fence_post(f, 3, 0), 0); /* nobody parked: no request */
        CHECK(slot->acquire_value == 3);
        hdmabuf_fence_close(f);
        hdmabuf_close(c);
        expect_request(d, HYPERDMABUF__V1__REQUEST__OP_FENCE_DOORBELL, 0);
        expect_request(d, HYPERDMABUF__V1__REQUEST__OP_FENCE_SIGNAL, 1);
        expect_request(d, HYPERDMABUF__V1__REQUEST__OP_FENCE_SIGNAL, 2);
        CHECK(next_request(d) == NULL); /* the connection closed: nothing more */
        munmap(slot, 4096);
        close(al.buffer.fd);
    }
    close(d);

    CHECK(open_fds() == baseline);
    return check_report("test_hostile");
}
