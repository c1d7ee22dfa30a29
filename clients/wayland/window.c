/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "window.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "presentation-time-client-protocol.h"
#include "xdg-shell-client-protocol.h"

static void shm_format(void *data, struct wl_shm *shm, uint32_t code)
{
    struct window *w = data;
    const struct format *f = format_from_wl_shm(code);
    (void)shm;
    if (f != NULL)
        w->formats |= 1u << format_index(f);
}

static const struct wl_shm_listener shm_listener = { .format = shm_format };

static void wm_base_ping(void *data, struct xdg_wm_base *wm_base, uint32_t serial)
{
    (void)data;
    xdg_wm_base_pong(wm_base, serial);
}

static const struct xdg_wm_base_listener wm_base_listener = { .ping = wm_base_ping };

static void presentation_clock_id(void *data, struct wp_presentation *p, uint32_t clk_id)
{
    struct window *w = data;
    (void)p;
    w->presentation_clock = (clockid_t)clk_id;
}

static const struct wp_presentation_listener presentation_listener = { .clock_id = presentation_clock_id };

static void registry_global(void *data, struct wl_registry *registry, uint32_t name, const char *interface,
    uint32_t version)
{
    struct window *w = data;
    if (strcmp(interface, wl_compositor_interface.name) == 0 && version >= 4) {
        w->compositor = wl_registry_bind(registry, name, &wl_compositor_interface, 4); /* damage_buffer */
    } else if (strcmp(interface, wl_shm_interface.name) == 0) {
        w->shm = wl_registry_bind(registry, name, &wl_shm_interface, 1);
        wl_shm_add_listener(w->shm, &shm_listener, w);
    } else if (strcmp(interface, xdg_wm_base_interface.name) == 0) {
        w->wm_base = wl_registry_bind(registry, name, &xdg_wm_base_interface, 1);
        xdg_wm_base_add_listener(w->wm_base, &wm_base_listener, w);
    } else if (strcmp(interface, wp_presentation_interface.name) == 0) {
        w->presentation = wl_registry_bind(registry, name, &wp_presentation_interface, 1);
        wp_presentation_add_listener(w->presentation, &presentation_listener, w);
    }
}

static void registry_global_remove(void *data, struct wl_registry *registry, uint32_t name)
{
    (void)data;
    (void)registry;
    (void)name;
}

static const struct wl_registry_listener registry_listener = {
    .global = registry_global,
    .global_remove = registry_global_remove,
};

static void xdg_surface_configure(void *data, struct xdg_surface *xdg_surface, uint32_t serial)
{
    struct window *w = data;
    xdg_surface_ack_configure(xdg_surface, serial);
    w->configured = true;
}

static const struct xdg_surface_listener xdg_surface_listener = { .configure = xdg_surface_configure };

/* The stream decides the size: a suggested one is ignored, as video players do. */
static void toplevel_configure(void *data, struct xdg_toplevel *toplevel, int32_t width, int32_t height,
    struct wl_array *states)
{
    (void)data;
    (void)toplevel;
    (void)width;
    (void)height;
    (void)states;
}

static void toplevel_close(void *data, struct xdg_toplevel *toplevel)
{
    struct window *w = data;
    (void)toplevel;
    w->closed = true;
}

static const struct xdg_toplevel_listener toplevel_listener = {
    .configure = toplevel_configure,
    .close = toplevel_close,
};

int window_open(struct window *w, const char *title, bool fullscreen)
{
    memset(w, 0, sizeof(*w));
    wl_list_init(&w->feedbacks);
    w->presentation_clock = CLOCK_MONOTONIC;
    w->display = wl_display_connect(NULL);
    if (w->display == NULL) {
        int e = errno != 0 ? errno : ENOENT;
        fprintf(stderr, "hdmabuf-wayland: cannot connect to the Wayland compositor (WAYLAND_DISPLAY=%s): %s\n",
            getenv("WAYLAND_DISPLAY") != NULL ? getenv("WAYLAND_DISPLAY") : "unset", strerror(e));
        return -e;
    }
    w->registry = wl_display_get_registry(w->display);
    wl_registry_add_listener(w->registry, &registry_listener, w);
    if (wl_display_roundtrip(w->display) < 0 || wl_display_roundtrip(w->display) < 0) {
        window_print_error(w, "hdmabuf-wayland: compositor");
        return -EPROTO;
    }
    if (w->compositor == NULL || w->shm == NULL || w->wm_base == NULL) {
        fprintf(stderr, "hdmabuf-wayland: the compositor lacks %s\n",
            w->compositor == NULL ? "wl_compositor v4" : w->shm == NULL ? "wl_shm" : "xdg_wm_base (xdg-shell)");
        return -ENOTSUP;
    }
    w->surface = wl_compositor_create_surface(w->compositor);
    w->xdg_surface = xdg_wm_base_get_xdg_surface(w->wm_base, w->surface);
    xdg_surface_add_listener(w->xdg_surface, &xdg_surface_listener, w);
    w->toplevel = xdg_surface_get_toplevel(w->xdg_surface);
    xdg_toplevel_add_listener(w->toplevel, &toplevel_listener, w);
    xdg_toplevel_set_title(w->toplevel, title);
    xdg_toplevel_set_app_id(w->toplevel, "hdmabuf-wayland");
    if (fullscreen)
        xdg_toplevel_set_fullscreen(w->toplevel, NULL);
    wl_surface_commit(w->surface); /* no buffer: asks for the first configure */
    while (!w->configured) {
        if (wl_display_dispatch(w->display) < 0) {
            window_print_error(w, "hdmabuf-wayland: compositor");
            return -EPROTO;
        }
    }
    return 0;
}

struct feedback {
    struct wl_list link; /* in window.feedbacks */
    struct wp_presentation_feedback *fb;
    struct window *w;
    uint64_t frame;
    int64_t committed; /* CLOCK_MONOTONIC ns */
};

static void feedback_free(struct feedback *f)
{
    wl_list_remove(&f->link);
    wp_presentation_feedback_destroy(f->fb);
    free(f);
}

void window_close(struct window *w)
{
    if (w->frame_callback != NULL)
        wl_callback_destroy(w->frame_callback);
    if (w->toplevel != NULL)
        xdg_toplevel_destroy(w->toplevel);
    if (w->xdg_surface != NULL)
        xdg_surface_destroy(w->xdg_surface);
    if (w->surface != NULL)
        wl_surface_destroy(w->surface);
    /* Presentation feedback still pending ends with "discarded", which frees it; what the compositor has not
     * answered by then is freed here. */
    if (w->display != NULL && wl_display_get_error(w->display) == 0)
        wl_display_roundtrip(w->display);
    if (w->feedbacks.next != NULL) {
        struct feedback *f, *next;
        wl_list_for_each_safe(f, next, &w->feedbacks, link)
            feedback_free(f);
    }
    if (w->presentation != NULL)
        wp_presentation_destroy(w->presentation);
    if (w->wm_base != NULL)
        xdg_wm_base_destroy(w->wm_base);
    if (w->shm != NULL)
        wl_shm_destroy(w->shm);
    if (w->compositor != NULL)
        wl_compositor_destroy(w->compositor);
    if (w->registry != NULL)
        wl_registry_destroy(w->registry);
    if (w->display != NULL) {
        wl_display_flush(w->display);
        wl_display_disconnect(w->display);
    }
    memset(w, 0, sizeof(*w));
}

bool window_has_format(const struct window *w, const struct format *f)
{
    return (w->formats >> format_index(f)) & 1u;
}

void window_print_error(struct window *w, const char *prefix)
{
    const struct wl_interface *iface = NULL;
    uint32_t id = 0;
    int e = wl_display_get_error(w->display);
    if (e == EPROTO) {
        uint32_t code = wl_display_get_protocol_error(w->display, &iface, &id);
        fprintf(stderr, "%s: protocol error %u on %s@%u\n", prefix, code, iface != NULL ? iface->name : "?", id);
    } else {
        fprintf(stderr, "%s: connection lost: %s\n", prefix, strerror(e != 0 ? e : EPIPE));
    }
}

int window_dispatch(struct window *w, int extra_fd, int timeout_ms, bool *extra_ready)
{
    struct pollfd fds[2] = {
        { .fd = wl_display_get_fd(w->display), .events = POLLIN },
        { .fd = extra_fd, .events = POLLIN },
    };
    int n;

    *extra_ready = false;
    while (wl_display_prepare_read(w->display) != 0) {
        if (wl_display_dispatch_pending(w->display) < 0)
            return -errno;
    }
    if (wl_display_flush(w->display) < 0 && errno != EAGAIN) {
        int e = errno;
        wl_display_cancel_read(w->display);
        return -e;
    }
    n = poll(fds, extra_fd >= 0 ? 2 : 1, timeout_ms);
    if (n < 0) {
        int e = errno;
        wl_display_cancel_read(w->display);
        return e == EINTR ? 0 : -e;
    }
    if (fds[0].revents != 0) {
        if (wl_display_read_events(w->display) < 0)
            return -errno;
    } else {
        wl_display_cancel_read(w->display);
    }
    if (wl_display_dispatch_pending(w->display) < 0)
        return -errno;
    *extra_ready = extra_fd >= 0 && (fds[1].revents & POLLIN) != 0;
    return 0;
}

static void buffer_release(void *data, struct wl_buffer *wl)
{
    struct shm_buffer *b = data;
    (void)wl;
    b->busy = false;
    if (b->released != NULL)
        b->released(b, b->data);
}

static const struct wl_buffer_listener buffer_listener = { .release = buffer_release };

int shm_buffer_init(struct shm_buffer *b, struct wl_shm_pool *pool, int32_t offset, int32_t width, int32_t height,
    int32_t stride, const struct format *f)
{
    b->busy = false;
    b->wl = wl_shm_pool_create_buffer(pool, offset, width, height, stride, f->wl_shm);
    if (b->wl == NULL)
        return -ENOMEM;
    wl_buffer_add_listener(b->wl, &buffer_listener, b);
    return 0;
}

void shm_buffer_fini(struct shm_buffer *b)
{
    if (b->wl != NULL)
        wl_buffer_destroy(b->wl);
    b->wl = NULL;
    b->busy = false;
}

static void frame_done(void *data, struct wl_callback *cb, uint32_t time)
{
    struct window *w = data;
    (void)time;
    wl_callback_destroy(cb);
    w->frame_callback = NULL;
}

static const struct wl_callback_listener frame_listener = { .done = frame_done };



static void feedback_sync_output(void *data, struct wp_presentation_feedback *fb, struct wl_output *output)
{
    (void)data;
    (void)fb;
    (void)output;
}

static int64_t clock_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void feedback_presented(void *data, struct wp_presentation_feedback *fb, uint32_t tv_sec_hi,
    uint32_t tv_sec_lo, uint32_t tv_nsec, uint32_t refresh, uint32_t seq_hi, uint32_t seq_lo, uint32_t flags)
{
    struct feedback *f = data;
    (void)refresh;
    (void)seq_hi;
    (void)seq_lo;
    (void)flags;
    f->w->presented++;
    if (f->w->presentation_log != NULL && f->frame != UINT64_MAX) {
        /* On CLOCK_MONOTONIC, whatever clock the compositor uses, to compare with the producer's. */
        int64_t t = (int64_t)(((uint64_t)tv_sec_hi << 32 | tv_sec_lo) * 1000000000u + tv_nsec);
        if (f->w->presentation_clock != CLOCK_MONOTONIC)
            t += clock_ns(CLOCK_MONOTONIC) - clock_ns(f->w->presentation_clock);
        fprintf(f->w->presentation_log, "%llu %lld %lld\n", (unsigned long long)f->frame, (long long)t,
            (long long)f->committed);
        fflush(f->w->presentation_log); /* read while the stream runs */
    }
    feedback_free(f);
    (void)fb;
}

static void feedback_discarded(void *data, struct wp_presentation_feedback *fb)
{
    (void)fb;
    feedback_free(data);
}

static const struct wp_presentation_feedback_listener feedback_listener = {
    .sync_output = feedback_sync_output,
    .presented = feedback_presented,
    .discarded = feedback_discarded,
};

void window_show(struct window *w, struct shm_buffer *b, int32_t width, int32_t height, uint64_t frame)
{
    struct feedback *f;
    wl_surface_attach(w->surface, b->wl, 0, 0);
    wl_surface_damage_buffer(w->surface, 0, 0, width, height);
    if (w->frame_callback == NULL) {
        w->frame_callback = wl_surface_frame(w->surface);
        wl_callback_add_listener(w->frame_callback, &frame_listener, w);
    }
    if (w->presentation != NULL && (f = malloc(sizeof(*f))) != NULL) {
        f->w = w;
        f->frame = frame;
        f->committed = clock_ns(CLOCK_MONOTONIC);
        f->fb = wp_presentation_feedback(w->presentation, w->surface);
        wl_list_insert(&w->feedbacks, &f->link);
        wp_presentation_feedback_add_listener(f->fb, &feedback_listener, f);
    }
    wl_surface_commit(w->surface);
    b->busy = true;
}
