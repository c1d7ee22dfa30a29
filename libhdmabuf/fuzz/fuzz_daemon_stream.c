/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: what a daemon sends, as bytes on the client socket. A socketpair
 * stands in for the daemon: the input (after two control bytes) is written to it as one
 * stream, with memfds attached as SCM_RIGHTS, then its write side is shut; one client
 * operation then reads it all: framing (length prefixes), ServerFrame parsing, response
 * matching and result decoding, fd accounting, events and their uevent records, and the
 * frame-stream import path (tags, frame header placement).
 * Input: op (byte 0), fd spec (byte 1: low 2 bits = memfds, bits 2-4 = their size as
 * 4096 << n), then the stream. Any outcome is fine except a crash, a sanitizer report or a leak.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hyperdmabuf/hdmabuf.h"

#define MAX_INPUT 100000 /* below the socket buffer: the write never blocks */

static void send_stream(int sock, const uint8_t *data, size_t len, int nfds, size_t fd_size)
{
    union {
        char buf[CMSG_SPACE(3 * sizeof(int))];
        struct cmsghdr align;
    } control;
    int fds[3];
    struct iovec iov = { (void *)data, len };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    int made = 0;
    for (int i = 0; i < nfds; i++) {
        int fd = memfd_create("fuzz", MFD_CLOEXEC);
        if (fd < 0) {
            break;
        }
        if (ftruncate(fd, (off_t)fd_size) != 0) {
            close(fd);
            break;
        }
        fds[made++] = fd;
    }
    if (made > 0 && len > 0) {
        struct cmsghdr *cm;
        memset(&control, 0, sizeof(control));
        mh.msg_control = control.buf;
        mh.msg_controllen = CMSG_SPACE(made * sizeof(int));
        cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(made * sizeof(int));
        memcpy(CMSG_DATA(cm), fds, made * sizeof(int));
    }
    if (len > 0) {
        (void)!sendmsg(sock, &mh, MSG_NOSIGNAL);
    }
    for (int i = 0; i < made; i++) {
        close(fds[i]); /* the client holds its own references now */
    }
    shutdown(sock, SHUT_WR);
}

static void run_op(hdmabuf_conn *c, uint8_t op)
{
    static const struct hdmabuf_id id = { 1, 2, 3 };
    union {
        struct hdmabuf_caps caps;
        struct hdmabuf_target targets[4];
        struct hdmabuf_allocation alloc;
        struct hdmabuf_exported exported;
    } u;
    struct hdmabuf_buffer_list *list;
    struct hdmabuf_buffer_info *info;
    struct hdmabuf_stats *stats;
    struct hdmabuf_import *imp;
    struct hdmabuf_event *ev;
    hdmabuf_frame_consumer *fc;
    uint64_t value, sub;
    uint32_t error, vector;
    bool held;
    int fd;

    switch (op % 14) {
    case 0:
        hdmabuf_query_caps(c, &u.caps);
        break;
    case 1:
        hdmabuf_query_targets(c, u.targets, 4);
        break;
    case 2:
        if (hdmabuf_list(c, &list) == 0) {
            hdmabuf_buffer_list_free(list);
        }
        break;
    case 3:
        if (hdmabuf_query(c, &id, &info) == 0) {
            hdmabuf_buffer_info_free(info);
        }
        break;
    case 4:
        if (hdmabuf_stats(c, &stats) == 0) {
            hdmabuf_stats_free(stats);
        }
        break;
    case 5:
        if (hdmabuf_import(c, &id, &imp) == 0) {
            hdmabuf_import_free(imp);
        }
        break;
    case 6:
        if (hdmabuf_alloc(c, 4096, false, 0, HDMABUF_ACCESS_READ_WRITE, &u.alloc) == 0) {
            hdmabuf_map(&u.alloc.buffer);
            hdmabuf_unmap(&u.alloc.buffer);
        }
        break;
    case 7:
        hdmabuf_subscribe(c, NULL, 0, true, &sub);
        break;
    case 8:
        for (int i = 0; i < 64 && hdmabuf_next_event(c, 0, &ev) == 0; i++) {
            for (size_t p = 0; p < ev->n_properties; p++) {
                (void)hdmabuf_event_get(ev, ev->keys[p]);
            }
            hdmabuf_event_free(ev);
        }
        break;
    case 9:
        hdmabuf_request_fence_wait(c, &id, HDMABUF_TIMELINE_ACQUIRE, 1, 0, &value, &error);
        break;
    case 10:
        if (hdmabuf_request_fence_wake(c, &id, &fd, &vector, &held) == 0) {
            close(fd);
        }
        break;
    case 11:
        if (hdmabuf_request_fence_doorbell(c, &id, 2, &fd) == 0) {
            close(fd);
        }
        break;
    case 12:
        hdmabuf_export(c, 1, 2, NULL, HDMABUF_ACCESS_READ_ONLY, &u.exported);
        break;
    case 13:
        if (hdmabuf_frame_consumer_open(c, "s", 50, HDMABUF_WAIT_SPIN, &fc) == 0) {
            hdmabuf_frame_consumer_destroy(fc);
        }
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int sv[2];
    hdmabuf_conn *c;
    char msg[64];
    if (size < 2 || size > MAX_INPUT || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        return 0;
    }
    send_stream(sv[1], data + 2, size - 2, data[1] & 3, (size_t)4096 << ((data[1] >> 2) & 7));
    if (hdmabuf_connect_fd(sv[0], &c) != 0) {
        close(sv[1]);
        return 0;
    }
    hdmabuf_set_timeout(c, 50);
    run_op(c, data[0]);
    hdmabuf_error_message(c, msg, sizeof(msg));
    hdmabuf_close(c);
    close(sv[1]);
    return 0;
}
