/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "hdmabufin.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gst/allocators/allocators.h>

GST_DEBUG_CATEGORY_EXTERN (gst_hdmabuf_src_debug);
#define GST_CAT_DEFAULT gst_hdmabuf_src_debug

#define WAIT_SLICE_MS 50
/*
 * Copies of the last frame pushed per wait while downstream still holds a frame: a sink may drop a
 * copy (waylandsink drops buffers while its last commit's frame callback is pending, which a loaded
 * compositor delays), and then still holds the frame the producer waits for.
 */
#define MAX_HELD_COPIES 10
#define MAX_SLOTS 1024

typedef struct {
  struct hdmabuf_import *imp;
  struct hdmabuf_import *dmabuf;  /* frames as dma-bufs: a second import, as a dma-buf of exactly the slot */
  hdmabuf_fence *fence;
  const volatile guint8 *header;
  gint held;                    /* a frame of it is downstream (atomic) */
} Slot;

struct _GstHdmabufIn {
  gint refcount;
  hdmabuf_conn *conn;
  guint k;
  Slot *slots;
  gchar *generation;
  gchar *stream;
  GstCaps *caps;
  GstVideoInfo vinfo;           /* video: the layout the producer's metadata gives */
  gboolean is_video;
  gboolean read_only;
  const gchar *no_fd_reason;    /* why frames cannot be GstFdMemory over the region fd; NULL: they can */
  GstAllocator *fd_allocator;
  GstAllocator *dmabuf_allocator; /* frames as GstDmaBufMemory of the slots' dma-bufs */
  gsize frame_bytes;
  guint64 frame;                /* the next frame to take */
  guint64 taken;                /* the frame taken last, valid after gst_hdmabuf_in_next */
  gsize taken_payload;
  guint64 copied_for;           /* the frame whose wait copies of the frame before it ended */
  guint copies;                 /* ... how many */
};

typedef struct {
  GstHdmabufIn *in;
  guint slot;
  guint64 value;
} Release;

static void
in_free (GstHdmabufIn * in)
{
  for (guint i = 0; in->slots != NULL && i < in->k; i++) {
    hdmabuf_fence_close (in->slots[i].fence);
    if (in->slots[i].imp != NULL) {
      hdmabuf_release (in->conn, &in->slots[i].imp->id);
      hdmabuf_import_free (in->slots[i].imp);
    }
    if (in->slots[i].dmabuf != NULL) {
      hdmabuf_release (in->conn, &in->slots[i].dmabuf->id);
      hdmabuf_import_free (in->slots[i].dmabuf);
    }
  }
  hdmabuf_close (in->conn);
  gst_clear_object (&in->fd_allocator);
  gst_clear_object (&in->dmabuf_allocator);
  g_free (in->slots);
  g_free (in->generation);
  g_free (in->stream);
  gst_clear_caps (&in->caps);
  g_free (in);
}

GstHdmabufIn *
gst_hdmabuf_in_ref (GstHdmabufIn * in)
{
  g_atomic_int_inc (&in->refcount);
  return in;
}

void
gst_hdmabuf_in_unref (GstHdmabufIn * in)
{
  if (in != NULL && g_atomic_int_dec_and_test (&in->refcount))
    in_free (in);
}

static gboolean
parse_uint (const gchar * text, guint limit, guint * out)
{
  guint64 v;
  gchar *end;

  if (text == NULL || *text == '\0')
    return FALSE;
  v = g_ascii_strtoull (text, &end, 10);
  if (*end != '\0' || v >= limit)
    return FALSE;
  *out = (guint) v;
  return TRUE;
}

/*
 * Why frames of this import cannot go downstream as GstFdMemory over [0, offset + length) of the
 * region fd (what waylandsink turns into a wl_shm pool without a copy), or NULL when they can.
 */
static const gchar *
fd_memory_refusal (GstHdmabufIn * in)
{
  struct hdmabuf_caps caps;

  if (!in->is_video)
    return "audio";
  if (in->read_only)
    return "the imports are read-only (wl_shm pools are mapped read-write)";
  if (hdmabuf_query_caps (in->conn, &caps) != 0 || strcmp (caps.backend, "xen") == 0)
    return "the fd cannot be mapped from offset 0 by another process (xen's gntdev)";
  for (guint i = 0; i < in->k; i++) {
    const struct hdmabuf_mapping *m = &in->slots[i].imp->buffer;
    if (m->offset + m->length > G_MAXINT32)
      return "a slot ends beyond 2^31-1 bytes into the fd (wl_shm pool sizes are int32)";
  }
  return NULL;
}

/* Why IMPORT with dma_buf failed (e), with the daemon's word. */
static void
set_dmabuf_error (GstHdmabufIn * in, guint slot, gint e, GError ** error)
{
  gchar said[256];

  if (hdmabuf_error_message (in->conn, said, sizeof (said)) == 0)
    said[0] = '\0';
  if (e == -EACCES)
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ, "stream \"%s\" is exported read-only, "
        "and a dma-buf is always writable (udmabuf) (%s)", in->stream, said);
  else if (e == -E2BIG)
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ, "slot %u of stream \"%s\" is larger "
        "than the kernel makes one dma-buf (udmabuf's size_limit_mb, /sys/module/udmabuf/parameters/size_limit_mb): "
        "%s", slot, in->stream, said);
  else
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ, "importing slot %u of stream \"%s\" as "
        "a dma-buf failed: %s (%s)", slot, in->stream, hdmabuf_strerror (e), said);
}

/*
 * Imports the slots of ids, checks their headers and reads the caps. With dma_buf each slot is
 * imported a second time as a dma-buf, which does not reach the fence slot: the first import
 * keeps the fences and the headers, the dma-buf goes downstream.
 */
static gboolean
import_all (GstHdmabufIn * in, struct hdmabuf_id *ids, gboolean dma_buf, GError ** error)
{
  in->slots = g_new0 (Slot, in->k);
  for (guint i = 0; i < in->k; i++) {
    Slot *s = &in->slots[i];
    const gchar *tag;
    guint64 offset;
    gchar *end;
    gint e = hdmabuf_import (in->conn, &ids[i], &s->imp);

    if (e == 0)
      e = hdmabuf_fence_open_import (in->conn, s->imp, &s->fence);
    if (e != 0) {
      g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ, "importing slot %u of stream "
          "\"%s\" failed: %s", i, in->stream, hdmabuf_strerror (e));
      return FALSE;
    }
    tag = hdmabuf_metadata_tag (&s->imp->metadata, HDMABUF_FRAME_HEADER_TAG);
    offset = tag != NULL ? g_ascii_strtoull (tag, &end, 10) : 0;
    if (tag == NULL || *end != '\0' || !hdmabuf_frame_header_placement_valid (offset,
            s->imp->metadata.size, s->imp->buffer.length)) {
      g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_FORMAT, "slot %u of stream \"%s\" has no valid "
          "frame header", i, in->stream);
      return FALSE;
    }
    s->header = (const volatile guint8 *) s->imp->buffer.data + offset;
  }
  in->frame_bytes = MIN (in->slots[0].imp->metadata.size, in->slots[0].imp->buffer.length);
  in->read_only = in->slots[0].imp->buffer.read_only;
  in->caps = gst_hdmabuf_caps_from_metadata (&in->slots[0].imp->metadata);
  if (in->caps == NULL) {
    g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_FORMAT, "stream \"%s\" carries neither caps nor "
        "image or audio metadata that name a known format", in->stream);
    return FALSE;
  }
  in->is_video = gst_video_info_from_caps (&in->vinfo, in->caps);
  in->no_fd_reason = fd_memory_refusal (in);
  if (in->no_fd_reason == NULL)
    in->fd_allocator = gst_fd_allocator_new ();
  if (in->is_video && in->slots[0].imp->metadata.image != NULL) {
    const struct hdmabuf_image *img = in->slots[0].imp->metadata.image;
    /* The producer's layout wins over GStreamer's default for these caps. */
    for (guint p = 0; p < MIN (img->n_planes, GST_VIDEO_MAX_PLANES); p++) {
      in->vinfo.offset[p] = img->planes[p].offset;
      in->vinfo.stride[p] = img->planes[p].stride;
    }
  }
  if (dma_buf && !gst_hdmabuf_in_import_dmabufs (in, error)) {
    g_prefix_error (error, "dma-buf=always: ");
    return FALSE;
  }
  return TRUE;
}

/* FALSE with error set (why) when this daemon cannot make dma-bufs (Caps). */
static gboolean
dmabuf_available (hdmabuf_conn * conn, GError ** error)
{
  gchar why[256] = "";
  gint yes = hdmabuf_query_dmabuf (conn, why, sizeof (why));

  if (yes == 1)
    return TRUE;
  if (yes == 0)
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS, "the source daemon cannot make dma-bufs: "
        "%s", why[0] != '\0' ? why : "no reason given");
  else
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ, "asking the source daemon whether it "
        "makes dma-bufs failed: %s", hdmabuf_strerror (yes));
  return FALSE;
}

/* Releases and frees the slots' dma-buf imports made so far. */
static void
drop_dmabufs (GstHdmabufIn * in)
{
  for (guint i = 0; i < in->k; i++) {
    if (in->slots[i].dmabuf != NULL) {
      hdmabuf_release (in->conn, &in->slots[i].dmabuf->id);
      hdmabuf_import_free (in->slots[i].dmabuf);
      in->slots[i].dmabuf = NULL;
    }
  }
}

gboolean
gst_hdmabuf_in_import_dmabufs (GstHdmabufIn * in, GError ** error)
{
  if (in->dmabuf_allocator != NULL)
    return TRUE;
  if (!dmabuf_available (in->conn, error))
    return FALSE;
  for (guint i = 0; i < in->k; i++) {
    gint e = hdmabuf_import_dmabuf (in->conn, &in->slots[i].imp->id, &in->slots[i].dmabuf);
    if (e != 0) {
      in->slots[i].dmabuf = NULL;
      set_dmabuf_error (in, i, e, error);
      drop_dmabufs (in);
      return FALSE;
    }
  }
  in->no_fd_reason = "frames go as dma-bufs";
  in->dmabuf_allocator = gst_dmabuf_allocator_new ();
  return TRUE;
}

GstHdmabufIn *
gst_hdmabuf_in_open (const gchar * socket_path, const gchar * stream, const gchar * skip_generation,
    gboolean dma_buf, gint timeout_ms, const gint * cancel, GError ** error)
{
  const struct hdmabuf_match matches[] = {
    {"ACTION", "add", false},
    {"TAG_STREAM", stream, false},
  };
  const struct hdmabuf_rule rule = { G_N_ELEMENTS (matches), matches };
  gint64 deadline = timeout_ms < 0 ? -1 : g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  GstHdmabufIn *in = g_new0 (GstHdmabufIn, 1);
  struct hdmabuf_id *ids = NULL;
  gboolean *have = NULL;
  guint found = 0;
  guint64 sub;
  gint e;

  in->refcount = 1;
  in->copied_for = G_MAXUINT64;
  in->stream = g_strdup (stream);
  e = socket_path != NULL && *socket_path != '\0' ? hdmabuf_connect (socket_path, &in->conn)
      : hdmabuf_connect_role ("source", &in->conn);
  if (e != 0) {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ, "cannot connect to the source "
        "daemon (%s): %s", socket_path != NULL && *socket_path != '\0' ? socket_path :
        "$HDMABUF_RUNTIME_DIR/source.sock", hdmabuf_strerror (e));
    in->conn = NULL;
    in_free (in);
    return NULL;
  }
  if (dma_buf && !dmabuf_available (in->conn, error)) {
    g_prefix_error (error, "dma-buf=always: ");
    in_free (in);
    return NULL;
  }
  e = hdmabuf_subscribe (in->conn, &rule, 1, true, &sub);
  while (e == 0 && (in->k == 0 || found < in->k)) {
    struct hdmabuf_event *ev;
    const gchar *gen;
    struct hdmabuf_id id;
    guint count, slot;
    gint64 left = deadline < 0 ? WAIT_SLICE_MS : (deadline - g_get_monotonic_time ()) / 1000;

    if (g_atomic_int_get (cancel))
      break;
    if (left <= 0) {
      e = -ETIMEDOUT;
      break;
    }
    e = hdmabuf_next_event (in->conn, (gint) MIN (left, WAIT_SLICE_MS), &ev);
    if (e == -ETIMEDOUT) {
      e = 0;
      continue;
    }
    if (e != 0)
      break;
    gen = hdmabuf_event_get (ev, "TAG_GENERATION");
    gen = gen != NULL ? gen : "";
    if (ev->overflow_dropped > 0 || ev->subscription_id != sub
        || (skip_generation != NULL && strcmp (gen, skip_generation) == 0)
        || !parse_uint (hdmabuf_event_get (ev, "TAG_SLOTS"), MAX_SLOTS + 1, &count) || count == 0
        || !parse_uint (hdmabuf_event_get (ev, "TAG_SLOT"), count, &slot)
        || hdmabuf_id_parse (hdmabuf_event_get (ev, "BUFFER"), &id) != 0) {
      hdmabuf_event_free (ev);
      continue;
    }
    if (in->generation == NULL || strcmp (gen, in->generation) != 0 || count != in->k) {
      /* Another export of the stream: the newest one is followed. */
      GST_DEBUG ("stream \"%s\": following generation \"%s\" of %u slots", stream, gen, count);
      g_free (in->generation);
      in->generation = g_strdup (gen);
      in->k = count;
      found = 0;
      g_free (ids);
      g_free (have);
      ids = g_new0 (struct hdmabuf_id, count);
      have = g_new0 (gboolean, count);
    }
    if (!have[slot]) {
      have[slot] = TRUE;
      ids[slot] = id;
      found++;
    }
    hdmabuf_event_free (ev);
  }
  hdmabuf_unsubscribe (in->conn, sub);
  if (e == 0 && !g_atomic_int_get (cancel) && import_all (in, ids, dma_buf, error)) {
    g_free (ids);
    g_free (have);
    GST_INFO ("imported stream \"%s\" (%u slots, generation %s, %s%s): %" GST_PTR_FORMAT, stream, in->k,
        in->generation, in->read_only ? "read-only" : "read-write", dma_buf ? ", dma-bufs" : "", in->caps);
    return in;
  }
  if (e == -ETIMEDOUT)
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND, "no stream \"%s\" appeared within "
        "%d ms", stream, timeout_ms);
  else if (e != 0)
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_READ, "waiting for stream \"%s\" failed: %s",
        stream, hdmabuf_strerror (e));
  g_free (ids);
  g_free (have);
  in->k = in->slots != NULL ? in->k : 0;
  in_free (in);
  return NULL;
}

GstCaps *
gst_hdmabuf_in_caps (GstHdmabufIn * in)
{
  return in->caps;
}

const gchar *
gst_hdmabuf_in_generation (GstHdmabufIn * in)
{
  return in->generation;
}

guint32
gst_hdmabuf_in_producer_vm (GstHdmabufIn * in)
{
  return in->slots[0].imp->id.exporter_vm;
}

guint
gst_hdmabuf_in_slots (GstHdmabufIn * in)
{
  return in->k;
}

static gboolean
any_held (GstHdmabufIn * in)
{
  for (guint i = 0; i < in->k; i++)
    if (g_atomic_int_get (&in->slots[i].held))
      return TRUE;
  return FALSE;
}

GstFlowReturn
gst_hdmabuf_in_next (GstHdmabufIn * in, gint timeout_ms, gint held_ms, const gint * cancel,
    struct hdmabuf_frame_header *info, GError ** error)
{
  guint slot = in->frame % in->k;
  Slot *s = &in->slots[slot];
  gint64 start = g_get_monotonic_time ();
  gint64 deadline = timeout_ms < 0 ? -1 : start + (gint64) timeout_ms * 1000;
  struct hdmabuf_frame_header h;
  uint32_t word = 0;
  gint e;

  for (;;) {
    /* Each call waits held_ms before a copy: at most one per held_ms, until the held frame comes back. */
    if (held_ms > 0 && (in->copied_for != in->frame || in->copies < MAX_HELD_COPIES)
        && g_get_monotonic_time () - start >= (gint64) held_ms * 1000 && any_held (in)) {
      in->copies = in->copied_for == in->frame ? in->copies + 1 : 1;
      in->copied_for = in->frame;
      return GST_HDMABUF_FLOW_HELD;
    }
    gint64 left = deadline < 0 ? WAIT_SLICE_MS : (deadline - g_get_monotonic_time ()) / 1000;
    e = hdmabuf_fence_await (s->fence, in->frame / in->k + 1, (gint) CLAMP (left, 0, WAIT_SLICE_MS),
        HDMABUF_WAIT_ADAPTIVE, NULL, &word);
    if (e != -ETIMEDOUT || (deadline >= 0 && g_get_monotonic_time () >= deadline))
      break;
    if (g_atomic_int_get (cancel))
      return GST_FLOW_FLUSHING;
  }
  if (e == -ENOENT) {
    GST_INFO ("stream \"%s\": the producer withdrew it (frame %" G_GUINT64_FORMAT ")", in->stream, in->frame);
    return GST_FLOW_EOS;
  }
  if (e == 0 && word != 0)
    e = -(gint) word;
  if (e != 0) {
    if (e == -HDMABUF_EPEERLOST)
      g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_READ, "the producer VM %u of stream \"%s\" "
          "is gone (its daemon or the VM died)", gst_hdmabuf_in_producer_vm (in), in->stream);
    else if (e == -ETIMEDOUT)
      g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_READ, "no frame of stream \"%s\" from VM %u "
          "within %d ms", in->stream, gst_hdmabuf_in_producer_vm (in), timeout_ms);
    else
      g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_READ, "frame %" G_GUINT64_FORMAT " of stream "
          "\"%s\" failed: %s", in->frame, in->stream, hdmabuf_strerror (e));
    return GST_FLOW_ERROR;
  }
  /* After the acquire wait, once, into private memory: the producer's VM may rewrite it. */
  memcpy (&h, (const void *) s->header, HDMABUF_FRAME_DEFINED_LENGTH);
  if (!hdmabuf_frame_header_valid (&h, in->frame, in->frame_bytes)) {
    g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_DECODE, "the header of frame %" G_GUINT64_FORMAT
        " of stream \"%s\" is invalid", in->frame, in->stream);
    return GST_FLOW_ERROR;
  }
  *info = h;
  in->taken = in->frame++;
  in->taken_payload = (gsize) h.payload_length;
  return GST_FLOW_OK;
}

static void
release_slot (gpointer data)
{
  Release *r = data;
  g_atomic_int_set (&r->in->slots[r->slot].held, 0);
  /* After the producer withdrew the stream this fails harmlessly: nobody waits any more. */
  gint e = hdmabuf_fence_post (r->in->slots[r->slot].fence, r->value, 0);
  if (e != 0)
    GST_DEBUG ("releasing slot %u: %s", r->slot, hdmabuf_strerror (e));
  gst_hdmabuf_in_unref (r->in);
  g_free (r);
}

void
gst_hdmabuf_in_skip (GstHdmabufIn * in)
{
  hdmabuf_fence_post (in->slots[in->taken % in->k].fence, in->taken / in->k + 1, 0);
}

static G_DEFINE_QUARK (gst-hdmabuf-release, release);

const gchar *
gst_hdmabuf_in_fd_memory_refusal (GstHdmabufIn * in)
{
  return in->no_fd_reason;
}

/*
 * GstFdMemory over [0, offset + payload) of the region fd, as waylandsink needs it: it makes a
 * wl_shm pool of the memory's fd and size, from offset 0, and places the wl_buffer at the
 * memory's offset plus plane 0's offset. The fd stays open as long as r holds the import.
 */
static GstMemory *
fd_memory (GstHdmabufIn * in, guint slot, gsize payload, Release * r)
{
  const struct hdmabuf_mapping *m = &in->slots[slot].imp->buffer;
  GstMemory *mem = gst_fd_allocator_alloc (in->fd_allocator, m->fd, m->offset + in->frame_bytes,
      GST_FD_MEMORY_FLAG_DONT_CLOSE);

  if (mem == NULL)
    return NULL;
  gst_memory_resize (mem, 0, m->offset + payload);
  gst_mini_object_set_qdata (GST_MINI_OBJECT (mem), release_quark (), r, release_slot);
  return mem;
}

/* GstDmaBufMemory over [0, payload) of the slot's dma-buf (the slot's start); the import owns the fd. */
static GstMemory *
dmabuf_memory (GstHdmabufIn * in, guint slot, gsize payload, Release * r)
{
  GstMemory *mem = gst_dmabuf_allocator_alloc_with_flags (in->dmabuf_allocator, in->slots[slot].dmabuf->buffer.fd,
      in->frame_bytes, GST_FD_MEMORY_FLAG_DONT_CLOSE);

  if (mem == NULL)
    return NULL;
  gst_memory_resize (mem, 0, payload);
  gst_mini_object_set_qdata (GST_MINI_OBJECT (mem), release_quark (), r, release_slot);
  return mem;
}

gboolean
gst_hdmabuf_in_dmabufs (GstHdmabufIn * in)
{
  return in->dmabuf_allocator != NULL;
}

GstBuffer *
gst_hdmabuf_in_wrap (GstHdmabufIn * in, gsize payload, gboolean fd_memory_wanted)
{
  guint slot = in->taken % in->k;
  Release *r = g_new (Release, 1);
  GstBuffer *buf = gst_buffer_new ();
  GstMemory *mem = NULL;
  gsize offset[GST_VIDEO_MAX_PLANES];
  gsize base = 0;

  r->in = gst_hdmabuf_in_ref (in);
  r->slot = slot;
  r->value = in->taken / in->k + 1;
  g_atomic_int_set (&in->slots[slot].held, 1);
  if (in->dmabuf_allocator != NULL && (mem = dmabuf_memory (in, slot, payload, r)) == NULL)
    GST_WARNING ("stream \"%s\": no dma-buf memory for slot %u: this frame goes as memory over the mapping",
        in->stream, slot);
  if (mem == NULL && fd_memory_wanted && in->fd_allocator != NULL
      && (mem = fd_memory (in, slot, payload, r)) != NULL)
    base = in->slots[slot].imp->buffer.offset;
  else if (mem == NULL)
    mem = gst_memory_new_wrapped (in->read_only ? GST_MEMORY_FLAG_READONLY : 0,
        in->slots[slot].imp->buffer.data, in->frame_bytes, 0, payload, r, release_slot);
  gst_buffer_append_memory (buf, mem);
  if (in->is_video) {
    for (guint p = 0; p < GST_VIDEO_MAX_PLANES; p++)
      offset[p] = base + in->vinfo.offset[p];
    gst_buffer_add_video_meta_full (buf, GST_VIDEO_FRAME_FLAG_NONE, GST_VIDEO_INFO_FORMAT (&in->vinfo),
        GST_VIDEO_INFO_WIDTH (&in->vinfo), GST_VIDEO_INFO_HEIGHT (&in->vinfo),
        GST_VIDEO_INFO_N_PLANES (&in->vinfo), offset, in->vinfo.stride);
  }
  return buf;
}

/* A memfd's GstFdMemory holding a copy of size bytes at data, or NULL. */
static GstMemory *
fd_memory_copy (GstHdmabufIn * in, gconstpointer data, gsize size)
{
  gint fd = memfd_create ("hdmabufsrc-copy", MFD_CLOEXEC);
  GstMemory *mem;
  GstMapInfo map;

  if (fd < 0)
    return NULL;
  if (ftruncate (fd, (off_t) size) != 0
      || (mem = gst_fd_allocator_alloc (in->fd_allocator, fd, size, GST_FD_MEMORY_FLAG_NONE)) == NULL) {
    close (fd);
    return NULL;
  }
  if (!gst_memory_map (mem, &map, GST_MAP_WRITE)) {
    gst_memory_unref (mem);
    return NULL;
  }
  memcpy (map.data, data, size);
  gst_memory_unmap (mem, &map);
  return mem;
}

GstBuffer *
gst_hdmabuf_in_copy_taken (GstHdmabufIn * in)
{
  gconstpointer data = in->slots[in->taken % in->k].imp->buffer.data;
  GstMemory *mem = in->fd_allocator != NULL ? fd_memory_copy (in, data, in->taken_payload) : NULL;
  GstBuffer *buf;

  if (in->dmabuf_allocator != NULL)
    GST_DEBUG ("stream \"%s\": the copy of the held frame is in memory of its own, no dma-buf", in->stream);
  /* As fd memory where frames are: waylandsink lends it to the compositor as it lends frames. */
  if (mem != NULL) {
    buf = gst_buffer_new ();
    gst_buffer_append_memory (buf, mem);
  } else {
    buf = gst_buffer_new_memdup (data, in->taken_payload);
  }
  if (in->is_video)
    gst_buffer_add_video_meta_full (buf, GST_VIDEO_FRAME_FLAG_NONE, GST_VIDEO_INFO_FORMAT (&in->vinfo),
        GST_VIDEO_INFO_WIDTH (&in->vinfo), GST_VIDEO_INFO_HEIGHT (&in->vinfo),
        GST_VIDEO_INFO_N_PLANES (&in->vinfo), in->vinfo.offset, in->vinfo.stride);
  return buf;
}
