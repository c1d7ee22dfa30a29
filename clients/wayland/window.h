/* SPDX-License-Identifier: MIT */
/* The Wayland side: one xdg-shell toplevel showing wl_shm buffers. */
#ifndef HDMABUF_WAYLAND_WINDOW_H
#define HDMABUF_WAYLAND_WINDOW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <wayland-client.h>

#include "formats.h"

/* A wl_buffer and whether the compositor holds it (attached, no wl_buffer.release yet). */
struct shm_buffer {
    struct wl_buffer *wl;
    bool busy;
    void (*released)(struct shm_buffer *b, void *data); /* may be NULL */
    void *data;
};

struct window {
    struct wl_display *display;
    struct wl_registry *registry;
    struct wl_compositor *compositor;
    struct wl_shm *shm;
    struct xdg_wm_base *wm_base;
    struct wp_presentation *presentation; /* NULL when the compositor has none */
    clockid_t presentation_clock;
    struct wl_surface *surface;
    struct xdg_surface *xdg_surface;
    struct xdg_toplevel *toplevel;
    struct wl_callback *frame_callback; /* set from a commit until the compositor wants the next */
    uint32_t formats;                   /* 1 << format_index(): advertised by wl_shm */
    bool configured;
    bool closed;                        /* the compositor asked to close the window */
    uint64_t presented;                 /* frames the compositor reported on screen */
    FILE *presentation_log;             /* "FRAME PRESENTED COMMITTED" (CLOCK_MONOTONIC ns) per frame */
    struct wl_list feedbacks;           /* presentation feedback not yet answered, freed on close */
};

/* Connects to $WAYLAND_DISPLAY and maps a toplevel. -errno with a message printed. */
int window_open(struct window *w, const char *title, bool fullscreen);
void window_close(struct window *w);
bool window_has_format(const struct window *w, const struct format *f);
/*
 * Flushes, waits up to timeout_ms for the compositor or extra_fd (-1: none), dispatches.
 * *extra_ready: extra_fd is readable. -errno once the connection failed.
 */
int window_dispatch(struct window *w, int extra_fd, int timeout_ms, bool *extra_ready);
/* Why the connection failed, for messages. */
void window_print_error(struct window *w, const char *prefix);
/* b->wl on [offset, offset + stride * height) of pool; b->busy false. */
int shm_buffer_init(struct shm_buffer *b, struct wl_shm_pool *pool, int32_t offset, int32_t width, int32_t height,
    int32_t stride, const struct format *f);
void shm_buffer_fini(struct shm_buffer *b);
/* Attaches b, damages it whole, asks for the frame callback, commits. */
void window_show(struct window *w, struct shm_buffer *b, int32_t width, int32_t height, uint64_t frame);

#endif
