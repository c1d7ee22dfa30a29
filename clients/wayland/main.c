/* SPDX-License-Identifier: MIT */
/*
 * hdmabuf-wayland: shows a hyperdmabuf frame stream from another VM in a Wayland window,
 * lending the stream's buffers to the compositor as wl_shm pools (no copy) where it can.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "copy-pool.h"
#include "copy-reason.h"
#include "stream.h"

enum status {
    STATUS_OK = 0,       /* window closed, signal, or --frames shown */
    STATUS_ERROR = 1,    /* daemon or compositor failed, bad usage */
    STATUS_REFUSED = 2,  /* the stream's image cannot be shown; --dma-buf where no dma-buf can be had */
    STATUS_ENDED = 3,    /* --exit-on-end: the producer went away; --wait-ms: no stream came */
};

#define AWAIT_SLICE_MS 100 /* how long a fence wait may keep the compositor's events waiting */

static const char usage[] =
    "usage: hdmabuf-wayland [OPTION]...\n"
    "Shows a hyperdmabuf frame stream exported to this VM in a Wayland window (xdg-shell, wl_shm).\n"
    "\n"
    "  -s, --stream NAME       the stream whose buffers carry the tag stream=NAME\n"
    "  -m, --match KEY=GLOB    only buffers whose event property KEY matches the udev-style GLOB\n"
    "                          (KEY!=GLOB: does not), e.g. CONTENT_TYPE='video/*'; repeatable.\n"
    "                          Without --stream the first frame stream matching is shown, and\n"
    "                          followed by its name from then on\n"
    "  -f, --fullscreen        ask for a fullscreen window\n"
    "  -S, --socket PATH       the source daemon's socket (default $HDMABUF_RUNTIME_DIR/source.sock,\n"
    "                          $HDMABUF_RUNTIME_DIR defaulting to /run/hyperdmabuf)\n"
    "  -c, --copy              copy every frame, even where the buffers could be lent\n"
    "  -d, --dma-buf           lend each buffer as a dma-buf of exactly its pages (the source daemon\n"
    "                          makes it with udmabuf), not as the region's fd: the compositor gets\n"
    "                          no other buffer of the region (below)\n"
    "  -n, --frames N          exit after showing N frames\n"
    "  -a, --every-frame       show every frame, even when newer ones are ready (the producer\n"
    "                          then runs at the compositor's pace, frames queue up in its buffers)\n"
    "  -w, --wait-ms MS        exit with status 3 if no stream is there within MS\n"
    "  -e, --exit-on-end       exit with status 3 when the producer goes away\n"
    "  -p, --presentation-log FILE\n"
    "                          write \"FRAME PRESENTED COMMITTED\" per frame on screen: when the\n"
    "                          compositor showed it (wp_presentation) and when this client\n"
    "                          committed it, in CLOCK_MONOTONIC nanoseconds\n"
    "  -h, --help              this text\n"
    "\n"
    "Each import becomes one wl_shm pool made from the import's own fd, with the frame at its\n"
    "offset: the compositor reads the producer's pages. At each repaint the newest frame whose\n"
    "acquire fence is signalled is shown and older ready ones are released unseen, so latency\n"
    "stays one frame (without frame callbacks for 100 ms, e.g. in a hidden window, ready frames\n"
    "but the newest are released too). A frame's release fence is signalled when the compositor\n"
    "sends wl_buffer.release. Where that cannot work, each frame is copied into a memfd pool of this\n"
    "client's and released at once (said once on stderr):\n"
    "  - read-only imports: compositors map wl_shm pools read-write;\n"
    "  - a buffer ending beyond 2^31-1 bytes into its fd: wl_shm sizes and offsets are int32;\n"
    "  - the xen backend: a gntdev fd cannot be mapped by another process at a buffer's offset;\n"
    "  - streams of fewer than 3 buffers: the compositor holds a buffer until the next one is\n"
    "    attached, so the producer would wait for every repaint;\n"
    "  - --copy.\n"
    "With --dma-buf each buffer is imported a second time as a dma-buf of exactly its pages, and its\n"
    "wl_shm pool is made from that dma-buf from offset 0 instead of from the region's fd: the compositor\n"
    "maps the buffer and nothing else of the region (copies, above, never expose it either). It needs\n"
    "a source daemon that makes dma-bufs (ivshmem host mode on a kernel with /dev/udmabuf); where it\n"
    "cannot, the client exits with status 2 at once, naming the daemon's reason; a buffer over\n"
    "udmabuf's size_limit_mb is refused with status 2 too.\n"
    "Formats (IMAGE_FOURCC, linear, one plane), when the compositor advertises them:\n"
    "  AR24 (ARGB8888), XR24 (XRGB8888), AB24 (ABGR8888), XB24 (XBGR8888); others are refused.\n"
    "\n"
    "When no new frame came for 100 ms, the frame on screen is replaced by a copy of it, so the\n"
    "producer gets every buffer back (a producer that pauses or drains does not wait for the\n"
    "next repaint). When the producer goes away (unexported, or its VM lost) the last frame\n"
    "stays on screen, in that copy, every import is released, and the client waits for the\n"
    "stream to come back; one that comes back with another size or format is shown as it now is.\n"
    "When the producer re-exports the stream's buffers with new metadata (\"change\" events, e.g. a new\n"
    "size, stride or format), the client imports them again and shows the new image once every\n"
    "buffer carries it.\n"
    "\n"
    "Exit status: 0 the window was closed, SIGINT/SIGTERM, or --frames shown; 1 an error (the\n"
    "daemon or the compositor failed); 2 the stream's format is refused, or --dma-buf where no\n"
    "dma-buf can be had; 3 the producer went away with --exit-on-end, or no stream came within\n"
    "--wait-ms.\n";

struct viewer {
    hdmabuf_conn *conn;
    char backend[64];               /* the daemon's backend ("xen" cannot lend its fds) */
    bool dma_buf;                   /* --dma-buf: lent buffers' pools are dma-bufs of exactly the buffer */
    struct window w;
    struct stream s;
    bool streaming;
    const char *copy_reason;        /* NULL: zero copy */
    const char *said_reason;        /* the last reason printed */
    struct copy_pool frames;        /* copy mode */
    struct copy_pool still;         /* the last frame of a stream that went away */
    const uint8_t *shown;           /* pixels on screen, in an import or in frames */
    uint32_t shown_stride;
    uint64_t shown_count;
    uint64_t skipped;               /* ready frames replaced by newer ones before a repaint */
    uint64_t held;                  /* frames kept back until their newer metadata's "change" came */
    uint64_t held_frame;            /* 1 + the frame number counted in held last (0: none) */
    uint64_t last_shown;            /* 1 + the frame number shown last (0: none) */
    uint32_t shown_revision;        /* the metadata revision of the frames shown (their headers') */
    int64_t committed_ms;           /* when the last frame was committed */
};

static volatile sig_atomic_t quit;

static void on_signal(int sig)
{
    (void)sig;
    quit = 1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* wl_buffer.release of a lent slot: the compositor is done with the frame. */
static void slot_released(struct shm_buffer *b, void *data)
{
    struct viewer *v = data;
    struct slot *slot = (struct slot *)((char *)b - offsetof(struct slot, buffer));
    int e = stream_release(&v->s, slot, slot->held_round);
    if (e != 0 && e != -ENOENT && e != -HDMABUF_EPEERLOST)
        fprintf(stderr, "hdmabuf-wayland: release fence: %s\n", hdmabuf_strerror(e));
}

static const char *lend_or_copy(struct viewer *v, bool forced)
{
    struct hdmabuf_mapping *buffers = calloc(v->s.k, sizeof(*buffers));
    const char *why;

    if (buffers == NULL)
        return "out of memory";
    for (uint32_t i = 0; i < v->s.k; i++)
        buffers[i] = v->s.slots[i].imp->buffer;
    why = copy_reason(forced, v->backend, buffers, v->s.k);
    free(buffers);
    return why;
}

static void lent_fini(struct viewer *v)
{
    for (uint32_t i = 0; v->s.slots != NULL && i < v->s.k; i++) {
        struct slot *slot = &v->s.slots[i];
        shm_buffer_fini(&slot->buffer);
        if (slot->pool != NULL)
            wl_shm_pool_destroy(slot->pool);
        slot->pool = NULL;
        if (slot->dmabuf != NULL) {
            /* ENOENT when the producer withdrew the buffer: nothing to release then. */
            hdmabuf_release(v->conn, &slot->dmabuf->id);
            hdmabuf_import_free(slot->dmabuf);
            slot->dmabuf = NULL;
        }
    }
}

/* --dma-buf: imports slot's buffer as a dma-buf; STATUS_REFUSED (said why) where it is refused. */
static enum status import_dmabuf(struct viewer *v, uint32_t index)
{
    struct slot *slot = &v->s.slots[index];
    char said[256] = "";
    int e = hdmabuf_import_dmabuf(v->conn, &slot->imp->id, &slot->dmabuf);

    if (e == 0)
        return STATUS_OK;
    slot->dmabuf = NULL;
    hdmabuf_error_message(v->conn, said, sizeof(said));
    if (e == -E2BIG)
        fprintf(stderr, "hdmabuf-wayland: refused: --dma-buf: buffer %u of stream '%s' is larger than the kernel "
            "makes one dma-buf (udmabuf's size_limit_mb, /sys/module/udmabuf/parameters/size_limit_mb): %s\n", index,
            v->s.name, said);
    else
        fprintf(stderr, "hdmabuf-wayland: --dma-buf: importing buffer %u of stream '%s' as a dma-buf failed: %s (%s)\n",
            index, v->s.name, hdmabuf_strerror(e), said);
    return e == -E2BIG || e == -ENOTSUP ? STATUS_REFUSED : STATUS_ERROR;
}

/* A complete generation of the stream: checks it and prepares its wl_buffers. */
static enum status stream_start(struct viewer *v, bool force_copy)
{
    const struct image *im = &v->s.image;
    char why[512], name[11];
    int e;

    if (stream_check_image(&v->s, why, sizeof(why)) != 0) {
        fprintf(stderr, "hdmabuf-wayland: refused: %s\n", why);
        return STATUS_REFUSED;
    }
    if (!window_has_format(&v->w, im->format)) {
        fprintf(stderr, "hdmabuf-wayland: refused: the compositor does not advertise wl_shm format %s "
            "(stream '%s')\n", fourcc_name(im->fourcc, name), v->s.name);
        return STATUS_REFUSED;
    }
    v->copy_reason = lend_or_copy(v, force_copy);
    if (v->copy_reason != NULL) {
        if (v->said_reason == NULL || strcmp(v->said_reason, v->copy_reason) != 0)
            fprintf(stderr, "hdmabuf-wayland: copying each frame into a pool of its own: %s\n", v->copy_reason);
        v->said_reason = v->copy_reason;
        e = copy_pool_init(&v->frames, v->w.shm, COPY_POOL_MAX, im->width, im->height, im->format);
    } else {
        e = 0;
        for (uint32_t i = 0; i < v->s.k && e == 0; i++) {
            struct slot *slot = &v->s.slots[i];
            const struct hdmabuf_mapping *m = &slot->imp->buffer;
            enum status refused = v->dma_buf ? import_dmabuf(v, i) : STATUS_OK;
            if (refused != STATUS_OK) {
                lent_fini(v);
                return refused;
            }
            /* The pool spans the fd from 0: wl_shm maps pools from offset 0 only. A dma-buf starts at the
             * buffer: the compositor gets exactly its pages. */
            uint64_t base = v->dma_buf ? 0 : m->offset;
            slot->pool = wl_shm_create_pool(v->w.shm, v->dma_buf ? slot->dmabuf->buffer.fd : m->fd,
                (int32_t)(base + m->length));
            e = shm_buffer_init(&slot->buffer, slot->pool, (int32_t)(base + im->offset), (int32_t)im->width,
                (int32_t)im->height, (int32_t)im->stride, im->format);
            slot->buffer.released = slot_released;
            slot->buffer.data = v;
        }
    }
    if (e != 0) {
        fprintf(stderr, "hdmabuf-wayland: wl_shm buffers: %s\n", strerror(-e));
        return STATUS_ERROR;
    }
    printf("STREAM name=%s buffers=%u size=%ux%u format=%s path=%s from_frame=%llu\n", v->s.name, v->s.k, im->width,
        im->height, fourcc_name(im->fourcc, name), v->copy_reason != NULL ? "copy" : v->dma_buf ? "dma-buf" : "zero-copy",
        (unsigned long long)v->s.next);
    fflush(stdout);
    v->streaming = true;
    return STATUS_OK;
}

/*
 * Frame next is ready (its slot given): while a newer one is ready too, releases it unseen and
 * moves on. Returns the newest ready frame's slot, with its error word.
 */
static struct slot *skip_to_newest(struct viewer *v, struct slot *slot, uint32_t *error)
{
    while (stream_newer_ready(&v->s)) {
        struct slot *older = slot;
        uint64_t round = v->s.next++ / v->s.k;
        if (stream_await(&v->s, 0, &slot, error) != 0) {
            v->s.next--; /* cannot happen: it was ready */
            return older;
        }
        stream_release(&v->s, older, round);
        v->skipped++;
    }
    return slot;
}

/* The acquire fence of the next frame was signalled: put it on screen. */
static int show_frame(struct viewer *v, struct slot *slot, uint32_t error)
{
    const struct image *im = &v->s.image;
    uint64_t round = v->s.next / v->s.k;
    const uint8_t *pixels = (const uint8_t *)slot->imp->buffer.data + im->offset;
    struct shm_buffer *b;
    uint8_t *dst;

    if (error != 0) {
        /* The producer flagged this frame; skip it rather than show what it disowned. */
        fprintf(stderr, "hdmabuf-wayland: frame %llu carries error word %u: skipped\n",
            (unsigned long long)v->s.next, error);
        v->s.next++;
        return stream_release(&v->s, slot, round);
    }
    if (v->copy_reason == NULL) {
        slot->held_round = round;
        b = &slot->buffer;
        v->shown = pixels;
        v->shown_stride = im->stride;
    } else {
        if ((b = copy_pool_take(&v->frames, &dst)) == NULL)
            return -EAGAIN; /* cannot happen with COPY_POOL_MAX: the compositor holds at most two */
        copy_image(dst, v->frames.stride, pixels, im->stride, im->width * im->format->bpp, im->height);
        v->shown = dst;
        v->shown_stride = v->frames.stride;
        stream_release(&v->s, slot, round);
    }
    if (v->last_shown == 0 || stream_frame_revision(slot) != v->shown_revision) {
        /* Which frames each metadata revision showed: the first one of each. */
        v->shown_revision = stream_frame_revision(slot);
        printf("REVISION name=%s revision=%u frame=%llu\n", v->s.name, v->shown_revision,
            (unsigned long long)v->s.next);
        fflush(stdout);
    }
    window_show(&v->w, b, (int32_t)im->width, (int32_t)im->height, v->s.next);
    v->last_shown = v->s.next + 1;
    v->s.next++;
    v->shown_count++;
    if (v->still.n > 0)
        copy_pool_fini(&v->still); /* after the commit that replaced it */
    return 0;
}

/*
 * Puts a copy of the frame on screen in place of the buffer lent for it, so that the producer
 * gets that buffer back: the compositor would keep it until the next frame, and a producer
 * that pauses or drains would wait for it.
 */
static void show_still(struct viewer *v)
{
    const struct image *im = &v->s.image;
    struct shm_buffer *b;
    uint8_t *dst;

    if (v->shown == NULL || v->still.n > 0 ||
        copy_pool_init(&v->still, v->w.shm, 1, im->width, im->height, im->format) != 0 ||
        (b = copy_pool_take(&v->still, &dst)) == NULL)
        return;
    copy_image(dst, v->still.stride, v->shown, v->shown_stride, im->width * im->format->bpp, im->height);
    v->shown = dst;
    v->shown_stride = v->still.stride;
    window_show(&v->w, b, (int32_t)im->width, (int32_t)im->height, UINT64_MAX);
}

/* Frames the compositor still holds are done with: the producer must not wait for them. */
static void release_held(struct viewer *v)
{
    for (uint32_t i = 0; v->streaming && i < v->s.k; i++) {
        if (v->s.slots[i].buffer.busy)
            stream_release(&v->s, &v->s.slots[i], v->s.slots[i].held_round);
    }
}

/*
 * The producer re-exported the stream's buffers with new metadata: the last frame stays on
 * screen in a copy, the buffers and pools made for the old metadata go, and the stream is
 * collected again, to start anew once every buffer carries the new image.
 */
static int stream_change(struct viewer *v)
{
    char id[HDMABUF_ID_STRLEN];

    hdmabuf_id_format(&v->s.changed, id);
    printf("CHANGE name=%s buffer=%s frame=%llu last_shown=%lld held=%llu\n", v->s.name, id,
        (unsigned long long)v->s.next, (long long)v->last_shown - 1, (unsigned long long)v->held);
    fflush(stdout);
    show_still(v);
    v->shown = NULL;
    /* Once the compositor has the copy, it gives the lent buffers back: their release comes now. */
    wl_display_roundtrip(v->w.display);
    release_held(v);
    lent_fini(v);
    copy_pool_fini(&v->frames);
    v->streaming = false;
    return stream_pause(&v->s);
}

/* The producer went away: keep its last frame on screen in a copy, release everything. */
static void stream_end(struct viewer *v, int error)
{
    printf("ENDED name=%s error=%s frames=%llu\n", v->s.name, hdmabuf_strerror(error),
        (unsigned long long)v->shown_count);
    fflush(stdout);
    fprintf(stderr, "hdmabuf-wayland: stream '%s' ended (%s): keeping its last frame, waiting for it to come back\n",
        v->s.name, hdmabuf_strerror(error));
    show_still(v);
    v->shown = NULL;
    /* The compositor reads requests in order: the buffers below are detached by then. */
    lent_fini(v);
    copy_pool_fini(&v->frames);
    stream_drop(&v->s);
    v->streaming = false;
}

/* --dma-buf: whether the source daemon makes dma-bufs (Caps); where not, says why, before any window. */
static enum status dmabuf_refusal(hdmabuf_conn *conn)
{
    char why[256] = "";
    int yes = hdmabuf_query_dmabuf(conn, why, sizeof(why));

    if (yes == 1)
        return STATUS_OK;
    if (yes == 0) {
        fprintf(stderr, "hdmabuf-wayland: refused: --dma-buf, but the source daemon cannot make dma-bufs: %s\n",
            why[0] != '\0' ? why : "no reason given");
        return STATUS_REFUSED;
    }
    fprintf(stderr, "hdmabuf-wayland: --dma-buf: asking the source daemon whether it makes dma-bufs failed: %s\n",
        hdmabuf_strerror(yes));
    return STATUS_ERROR;
}

static int parse_match(char *arg, struct hdmabuf_match *m)
{
    char *eq = strchr(arg, '=');
    if (eq == NULL || eq == arg)
        return -EINVAL;
    m->negate = eq[-1] == '!';
    if (m->negate) {
        eq[-1] = '\0';
        if (eq - 1 == arg)
            return -EINVAL;
    }
    *eq = '\0';
    m->key = arg;
    m->glob = eq + 1;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        { "stream", required_argument, NULL, 's' },
        { "match", required_argument, NULL, 'm' },
        { "fullscreen", no_argument, NULL, 'f' },
        { "socket", required_argument, NULL, 'S' },
        { "copy", no_argument, NULL, 'c' },
        { "dma-buf", no_argument, NULL, 'd' },
        { "frames", required_argument, NULL, 'n' },
        { "every-frame", no_argument, NULL, 'a' },
        { "wait-ms", required_argument, NULL, 'w' },
        { "exit-on-end", no_argument, NULL, 'e' },
        { "presentation-log", required_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    struct hdmabuf_match matches[MAX_MATCHES];
    size_t n_matches = 0;
    const char *stream = NULL, *socket = NULL, *log_path = NULL;
    bool fullscreen = false, force_copy = false, exit_on_end = false, ever_streamed = false, every_frame = false;
    unsigned long long frames = 0;
    long wait_ms = -1;
    struct viewer v = { .frames = { .fd = -1 }, .still = { .fd = -1 } };
    struct hdmabuf_caps caps;
    struct sigaction sa = { .sa_handler = on_signal };
    enum status status = STATUS_OK;
    char title[1100];
    int64_t deadline;
    int c, e;

    while ((c = getopt_long(argc, argv, "s:m:fS:cdn:aw:ep:h", options, NULL)) != -1) {
        switch (c) {
        case 's': stream = optarg; break;
        case 'm':
            if (n_matches == MAX_MATCHES || parse_match(optarg, &matches[n_matches]) != 0) {
                fprintf(stderr, "hdmabuf-wayland: --match wants KEY=GLOB or KEY!=GLOB (at most %d)\n", MAX_MATCHES);
                return STATUS_ERROR;
            }
            n_matches++;
            break;
        case 'f': fullscreen = true; break;
        case 'S': socket = optarg; break;
        case 'c': force_copy = true; break;
        case 'd': v.dma_buf = true; break;
        case 'n': frames = strtoull(optarg, NULL, 0); break;
        case 'a': every_frame = true; break;
        case 'w': wait_ms = strtol(optarg, NULL, 0); break;
        case 'e': exit_on_end = true; break;
        case 'p': log_path = optarg; break;
        case 'h': fputs(usage, stdout); return STATUS_OK;
        default: fputs(usage, stderr); return STATUS_ERROR;
        }
    }
    if (optind != argc) {
        fputs(usage, stderr);
        return STATUS_ERROR;
    }
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    e = socket != NULL ? hdmabuf_connect(socket, &v.conn) : hdmabuf_connect_role("source", &v.conn);
    if (e == 0 && (e = hdmabuf_query_caps(v.conn, &caps)) == 0)
        snprintf(v.backend, sizeof(v.backend), "%s", caps.backend);
    if (e != 0) {
        fprintf(stderr, "hdmabuf-wayland: source daemon: %s\n", hdmabuf_strerror(e));
        hdmabuf_close(v.conn);
        return STATUS_ERROR;
    }
    if (v.dma_buf && (status = dmabuf_refusal(v.conn)) != STATUS_OK) {
        hdmabuf_close(v.conn);
        return status;
    }
    snprintf(title, sizeof(title), "hdmabuf: %s", stream != NULL ? stream : "any stream");
    if (window_open(&v.w, title, fullscreen) != 0) {
        window_close(&v.w);
        hdmabuf_close(v.conn);
        return STATUS_ERROR;
    }
    if (log_path != NULL && (v.w.presentation_log = fopen(log_path, "we")) == NULL)
        fprintf(stderr, "hdmabuf-wayland: %s: %s\n", log_path, strerror(errno));
    if (log_path != NULL && v.w.presentation == NULL)
        fprintf(stderr, "hdmabuf-wayland: the compositor has no wp_presentation: no presentation log\n");
    stream_init(&v.s, v.conn, stream, matches, n_matches);
    if (stream_watch(&v.s) != 0) {
        fprintf(stderr, "hdmabuf-wayland: subscribe: %s\n", hdmabuf_strerror(-EIO));
        status = STATUS_ERROR;
    }
    printf("READY hdmabuf-wayland backend=%s\n", v.backend);
    fflush(stdout);
    deadline = wait_ms >= 0 ? now_ms() + wait_ms : -1;

    while (status == STATUS_OK && !quit && !v.w.closed) {
        bool events = false;
        if (!v.streaming) {
            if ((e = window_dispatch(&v.w, hdmabuf_event_fd(v.conn), 1000, &events)) < 0) {
                window_print_error(&v.w, "hdmabuf-wayland: compositor");
                status = STATUS_ERROR;
                break;
            }
            if ((e = stream_collect(&v.s)) == 1) {
                ever_streamed = true;
                status = stream_start(&v, force_copy);
                e = 0;
            } else if (e < 0 && e != -ENOENT) {
                fprintf(stderr, "hdmabuf-wayland: source daemon: %s\n", hdmabuf_strerror(e));
                status = STATUS_ERROR;
                break;
            }
            if (!ever_streamed && deadline >= 0 && now_ms() >= deadline) {
                fprintf(stderr, "hdmabuf-wayland: no stream within %ld ms\n", wait_ms);
                status = STATUS_ENDED;
            }
            continue;
        }
        if (v.w.frame_callback == NULL) {
            struct slot *slot;
            uint32_t error = 0;
            int changed;
            e = stream_await(&v.s, AWAIT_SLICE_MS, &slot, &error);
            if (e == 0 && !every_frame)
                slot = skip_to_newest(&v, slot, &error);
            /* A frame after a re-export is shown with the new metadata: look for its change first. */
            if ((e == 0 || e == -ETIMEDOUT) && (changed = stream_follow(&v.s)) != 0) {
                if (changed == 1 && (e = stream_change(&v)) != 0) {
                    fprintf(stderr, "hdmabuf-wayland: source daemon: %s\n", hdmabuf_strerror(e));
                    status = STATUS_ERROR;
                }
                if (changed == 1)
                    continue;
                e = changed; /* the daemon's connection failed: as if the stream ended */
            }
            if (e == 0 && stream_frame_stale(slot)) {
                /* Written for metadata whose "change" is still on its way: keep it, unshown and unreleased. */
                if (v.held_frame != v.s.next + 1) {
                    v.held++;
                    v.held_frame = v.s.next + 1;
                    printf("HELD name=%s frame=%llu revision=%u imported=%u\n", v.s.name,
                        (unsigned long long)v.s.next, stream_frame_revision(slot), slot->revision);
                    fflush(stdout);
                }
                if ((e = window_dispatch(&v.w, hdmabuf_event_fd(v.conn), AWAIT_SLICE_MS, &events)) < 0) {
                    window_print_error(&v.w, "hdmabuf-wayland: compositor");
                    status = STATUS_ERROR;
                }
                continue;
            }
            if (e == 0) {
                show_frame(&v, slot, error);
                v.committed_ms = now_ms();
                if (frames != 0 && v.shown_count >= frames)
                    break;
            } else if (e == -ETIMEDOUT) {
                if (v.copy_reason == NULL)
                    show_still(&v); /* no frame for a while: give the lent buffer back */
            } else if (e != -EINTR) {
                stream_end(&v, e);
                if (exit_on_end)
                    status = STATUS_ENDED;
                else if (stream_watch(&v.s) != 0)
                    status = STATUS_ERROR;
            }
        } else if (!every_frame && now_ms() - v.committed_ms >= AWAIT_SLICE_MS) {
            /* No repaint for a while (hidden windows get no frame callbacks): keep the producer going. */
            struct slot *slot;
            uint32_t error;
            if (stream_await(&v.s, 0, &slot, &error) == 0)
                skip_to_newest(&v, slot, &error);
        }
        if ((e = window_dispatch(&v.w, -1, v.w.frame_callback != NULL ? AWAIT_SLICE_MS : 0, &events)) < 0) {
            window_print_error(&v.w, "hdmabuf-wayland: compositor");
            status = STATUS_ERROR;
        }
    }
    if (v.w.closed)
        fprintf(stderr, "hdmabuf-wayland: the compositor closed the window\n");
    /* next: every frame before it is released, none after it (a consumer that follows starts there). */
    printf("EXIT status=%d frames=%llu presented=%llu skipped=%llu held=%llu next=%llu\n", status,
        (unsigned long long)v.shown_count, (unsigned long long)v.w.presented, (unsigned long long)v.skipped,
        (unsigned long long)v.held, (unsigned long long)v.s.next);
    fflush(stdout);

    release_held(&v);
    lent_fini(&v);
    copy_pool_fini(&v.frames);
    copy_pool_fini(&v.still);
    stream_fini(&v.s);
    if (v.w.presentation_log != NULL)
        fclose(v.w.presentation_log);
    window_close(&v.w);
    hdmabuf_close(v.conn);
    return status;
}
