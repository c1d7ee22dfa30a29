/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "hdmabufout.h"

#include <errno.h>
#include <string.h>

GST_DEBUG_CATEGORY_EXTERN (gst_hdmabuf_sink_debug);
#define GST_CAT_DEFAULT gst_hdmabuf_sink_debug

/* Fence waits are cut into slices: a blocking FENCE_WAIT holds the connection, and a flush or a
 * state change must not wait for a whole timeout. */
#define WAIT_SLICE_MS 50

typedef struct {
  struct hdmabuf_allocation alloc;
  struct hdmabuf_exported exported;
  gboolean is_exported;
  hdmabuf_fence *fence;
  gboolean in_use;              /* handed to upstream or being copied into */
  gboolean by_pool;             /* ... by the pool, for frame `frame` */
  guint64 frame;
} Slot;

struct _GstHdmabufOut {
  gint refcount;
  hdmabuf_conn *conn;
  guint32 target_vm;
  guint k;
  GstHdmabufFormat fmt;
  gsize header_offset;
  Slot *slots;

  GMutex lock;
  GCond cond;
  gboolean flushing;
  gboolean retired;
  guint64 handed;               /* next frame the pool hands out */
  guint64 published;            /* next frame to publish */

  /* The consumer: its VM's first import of slot 0, as the sink daemon reports it to the export's
   * owner (a change event with STATE=imported, ABI.md "Events"). */
  gchar *stream;
  guint64 subscription;
  gint consumer_seen;           /* atomic: the pool's waits read it */
  /* The consumer VM holds no import of slot 0 any more (STATE=released, confirmed by QUERY): its
   * consumer is gone, nobody reads the slots, and the element exports the stream anew. */
  gint consumer_lost;           /* atomic */
  GMutex events_lock;           /* the element's and the pool's threads both read events */
};

static void
set_error (GError ** error, gint code, const gchar * fmt, ...) G_GNUC_PRINTF (3, 4);

static void
set_error (GError ** error, gint code, const gchar * fmt, ...)
{
  va_list ap;
  gchar *msg;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error_literal (error, GST_RESOURCE_ERROR, code, msg);
  g_free (msg);
}

static void
out_free (GstHdmabufOut * out)
{
  gst_hdmabuf_out_retire (out);
  for (guint i = 0; i < out->k; i++) {
    hdmabuf_fence_close (out->slots[i].fence);
    hdmabuf_unmap (&out->slots[i].alloc.buffer);
  }
  /* Closing the connection frees the allocations (ABI.md "Client disconnect"). */
  hdmabuf_close (out->conn);
  gst_hdmabuf_format_clear (&out->fmt);
  g_free (out->stream);
  g_free (out->slots);
  g_mutex_clear (&out->lock);
  g_mutex_clear (&out->events_lock);
  g_cond_clear (&out->cond);
  g_free (out);
}

GstHdmabufOut *
gst_hdmabuf_out_new (const gchar * socket_path, guint32 target_vm, const gchar * stream, guint k,
    const GstHdmabufFormat * fmt, gboolean read_only, GError ** error)
{
  enum hdmabuf_access access = read_only ? HDMABUF_ACCESS_READ_ONLY : HDMABUF_ACCESS_READ_WRITE;
  GstHdmabufOut *out = g_new0 (GstHdmabufOut, 1);
  struct hdmabuf_tag tags[7];
  struct hdmabuf_metadata md = { .version = 1 };
  gchar slots_text[16], slot_text[16], header_text[24], gen_text[40];
  gsize alloc_bytes;
  gint e, n = 0;

  out->refcount = 1;
  out->target_vm = target_vm;
  out->k = k;
  out->stream = g_strdup (stream);
  out->fmt = *fmt;
  out->fmt.caps_string = g_strdup (fmt->caps_string);
  g_mutex_init (&out->lock);
  g_mutex_init (&out->events_lock);
  g_cond_init (&out->cond);
  out->slots = g_new0 (Slot, k);
  for (guint i = 0; i < k; i++)
    out->slots[i].alloc.buffer.fd = -1;

  e = socket_path != NULL && *socket_path != '\0' ? hdmabuf_connect (socket_path, &out->conn)
      : hdmabuf_connect_role ("sink", &out->conn);
  if (e != 0) {
    set_error (error, GST_RESOURCE_ERROR_OPEN_READ_WRITE, "cannot connect to the sink daemon (%s): %s",
        socket_path != NULL && *socket_path != '\0' ? socket_path : "$HDMABUF_RUNTIME_DIR/sink.sock",
        hdmabuf_strerror (e));
    out->conn = NULL;
    out_free (out);
    return NULL;
  }

  if (target_vm == 0) {
    /* No VM named: the one VM that runs a source daemon. */
    struct hdmabuf_target targets[16];
    gint n_targets = hdmabuf_query_targets (out->conn, targets, G_N_ELEMENTS (targets));
    guint found = 0;
    for (gint i = 0; i < MIN (n_targets, (gint) G_N_ELEMENTS (targets)); i++)
      if (targets[i].roles & HDMABUF_ROLE_SOURCE) {
        target_vm = targets[i].vm;
        found++;
      }
    if (found != 1) {
      set_error (error, GST_RESOURCE_ERROR_SETTINGS, "target-vm not set and %u VMs run a source daemon: "
          "set target-vm", found);
      out_free (out);
      return NULL;
    }
    out->target_vm = target_vm;
  }
  out->header_offset = (fmt->frame_bytes + HDMABUF_FRAME_HEADER_ALIGNMENT - 1)
      & ~(gsize) (HDMABUF_FRAME_HEADER_ALIGNMENT - 1);
  alloc_bytes = MAX (out->header_offset + HDMABUF_FRAME_HEADER_LENGTH, fmt->alloc_bytes);
  /* A generation tells this export apart from the stream's earlier ones (other caps). */
  g_snprintf (gen_text, sizeof (gen_text), "%08x%08x", g_random_int (), g_random_int ());
  g_snprintf (slots_text, sizeof (slots_text), "%u", k);
  g_snprintf (header_text, sizeof (header_text), "%" G_GSIZE_FORMAT, out->header_offset);
  tags[n++] = (struct hdmabuf_tag) {"stream", stream};
  tags[n++] = (struct hdmabuf_tag) {"slots", slots_text};
  tags[n++] = (struct hdmabuf_tag) {HDMABUF_FRAME_HEADER_TAG, header_text};
  tags[n++] = (struct hdmabuf_tag) {GST_HDMABUF_TAG_GENERATION, gen_text};
  if (fmt->caps_string != NULL)
    tags[n++] = (struct hdmabuf_tag) {GST_HDMABUF_TAG_CAPS, fmt->caps_string};
  tags[n] = (struct hdmabuf_tag) {"slot", slot_text};
  {
    /* Before the first EXPORT, so that no import can come before the subscription. */
    const struct hdmabuf_match matches[] = {
      {"ACTION", "change", false},
      {"STATE", "imported|rejected|released", false},
      {"TAG_GENERATION", gen_text, false},
      {"TAG_SLOT", "0", false},
    };
    const struct hdmabuf_rule rule = { G_N_ELEMENTS (matches), matches };
    e = hdmabuf_subscribe (out->conn, &rule, 1, false, &out->subscription);
    if (e != 0) {
      set_error (error, GST_RESOURCE_ERROR_FAILED, "subscribing to the imports of stream \"%s\" failed: %s",
          stream, hdmabuf_strerror (e));
      out_free (out);
      return NULL;
    }
  }
  md.tags = tags;
  md.n_tags = n + 1;
  md.size = fmt->frame_bytes;
  md.content_type = fmt->is_video ? "video/x-raw" : "audio/x-raw";
  md.image = fmt->is_video && fmt->has_image ? &fmt->image : NULL;
  md.audio = fmt->is_video ? NULL : &fmt->audio;

  for (guint i = 0; i < k; i++) {
    Slot *s = &out->slots[i];
    const gchar *what = "ALLOC";

    g_snprintf (slot_text, sizeof (slot_text), "%u", i);
    e = hdmabuf_alloc (out->conn, alloc_bytes, TRUE, target_vm, access, &s->alloc);
    if (e == 0) {
      what = "mmap";
      e = hdmabuf_map (&s->alloc.buffer);
    }
    if (e == 0) {
      what = "EXPORT";
      e = hdmabuf_export (out->conn, s->alloc.handle, target_vm, &md, access, &s->exported);
      s->is_exported = e == 0;
    }
    if (e == 0) {
      what = "fence";
      e = hdmabuf_fence_open_export (out->conn, &s->alloc, &s->exported, &s->fence);
    }
    if (e != 0) {
      char msg[256];
      hdmabuf_error_message (out->conn, msg, sizeof (msg));
      set_error (error, GST_RESOURCE_ERROR_FAILED, "%s of slot %u of stream \"%s\" to VM %u failed: %s%s%s",
          what, i, stream, target_vm, hdmabuf_strerror (e), msg[0] ? ": " : "", msg);
      out_free (out);
      return NULL;
    }
  }
  GST_INFO ("exported %u slots of %" G_GSIZE_FORMAT " bytes as stream \"%s\" to VM %u, generation %s",
      k, fmt->frame_bytes, stream, target_vm, gen_text);
  return out;
}

GstHdmabufOut *
gst_hdmabuf_out_ref (GstHdmabufOut * out)
{
  g_atomic_int_inc (&out->refcount);
  return out;
}

void
gst_hdmabuf_out_unref (GstHdmabufOut * out)
{
  if (out != NULL && g_atomic_int_dec_and_test (&out->refcount))
    out_free (out);
}

guint
gst_hdmabuf_out_slots (GstHdmabufOut * out)
{
  return out->k;
}

gsize
gst_hdmabuf_out_frame_bytes (GstHdmabufOut * out)
{
  return out->fmt.frame_bytes;
}

const GstHdmabufFormat *
gst_hdmabuf_out_format (GstHdmabufOut * out)
{
  return &out->fmt;
}

guint8 *
gst_hdmabuf_out_slot_data (GstHdmabufOut * out, guint slot)
{
  return out->slots[slot].alloc.buffer.data;
}

GstMemory *
gst_hdmabuf_out_wrap_slot (GstHdmabufOut * out, guint slot)
{
  gsize size = out->fmt.frame_bytes;
  return gst_memory_new_wrapped (0, out->slots[slot].alloc.buffer.data, size, 0, size,
      gst_hdmabuf_out_ref (out), (GDestroyNotify) gst_hdmabuf_out_unref);
}

gint
gst_hdmabuf_out_slot_at (GstHdmabufOut * out, gconstpointer data)
{
  for (guint i = 0; i < out->k; i++)
    if (out->slots[i].alloc.buffer.data == data)
      return (gint) i;
  return -1;
}

/* Why a fence wait failed, as the element reports it. */
static void
wait_error (GstHdmabufOut * out, gint e, guint slot, gint timeout_ms, GError ** error)
{
  if (e == -HDMABUF_EPEERLOST)
    set_error (error, GST_RESOURCE_ERROR_WRITE, "the consumer VM %u is gone (its daemon or the VM died)",
        out->target_vm);
  else if (e == -ETIMEDOUT)
    set_error (error, GST_RESOURCE_ERROR_BUSY,
        "the consumer in VM %u did not release slot %u within %d ms", out->target_vm, slot, timeout_ms);
  else
    set_error (error, GST_RESOURCE_ERROR_WRITE, "waiting for VM %u to release slot %u failed: %s",
        out->target_vm, slot, hdmabuf_strerror (e));
}

static gboolean read_import_events (GstHdmabufOut * out, gint wait_ms, GError ** error);

/*
 * Waits (lock not held) until release of slot reaches value. GST_HDMABUF_FLOW_CONSUMER_LOST when
 * it did not, and the consumer VM holds no import any more: nobody will release it.
 */
static GstFlowReturn
await_release (GstHdmabufOut * out, guint slot, guint64 value, gint timeout_ms, GError ** error)
{
  gint64 deadline = timeout_ms > 0 ? g_get_monotonic_time () + (gint64) timeout_ms * 1000 : -1;

  for (;;) {
    uint32_t word = 0;
    gboolean lost = g_atomic_int_get (&out->consumer_lost);
    gint64 left = deadline < 0 ? WAIT_SLICE_MS : (deadline - g_get_monotonic_time ()) / 1000;
    gint e = hdmabuf_fence_await (out->slots[slot].fence, value, lost ? 0 : (gint) CLAMP (left, 0, WAIT_SLICE_MS),
        HDMABUF_WAIT_ADAPTIVE, NULL, &word);

    if (e == 0 && word != 0) {
      set_error (error, GST_RESOURCE_ERROR_WRITE, "the consumer in VM %u released slot %u with error %u (%s)",
          out->target_vm, slot, word, hdmabuf_strerror ((gint) word));
      return GST_FLOW_ERROR;
    }
    if (e == 0)
      return GST_FLOW_OK;
    if (lost)
      return GST_HDMABUF_FLOW_CONSUMER_LOST;
    if (e != -ETIMEDOUT || (deadline >= 0 && g_get_monotonic_time () >= deadline)) {
      wait_error (out, e, slot, timeout_ms, error);
      return GST_FLOW_ERROR;
    }
    if (g_atomic_int_get (&out->flushing))
      return GST_FLOW_FLUSHING;
    /* A consumer killed while its VM stays up releases its imports, not its frames. Before the
     * consumer came, the events are await_consumer's (a rejection among them). */
    if (g_atomic_int_get (&out->consumer_seen))
      read_import_events (out, 0, NULL);
  }
}

/*
 * Whether the consumer VM holds an import of slot 0 right now. A STATE=released event may be stale
 * when it is read: a new consumer in that VM may have imported again since.
 */
static gboolean
consumer_holds_import (GstHdmabufOut * out)
{
  struct hdmabuf_buffer_info *info = NULL;
  gboolean holds = hdmabuf_query (out->conn, &out->slots[0].exported.id, &info) != 0 || info->import_count > 0;

  hdmabuf_buffer_info_free (info);
  return holds;
}

/*
 * Reads the events that arrived: the consumer imported slot 0, or released it (then the consumer is
 * lost unless it holds an import again); FALSE with error set when its VM rejected the export.
 */
static gboolean
read_import_events (GstHdmabufOut * out, gint wait_ms, GError ** error)
{
  struct hdmabuf_event *ev;
  gboolean released = FALSE;
  gboolean ok = TRUE;

  g_mutex_lock (&out->events_lock);
  while (ok && !g_atomic_int_get (&out->consumer_lost) && hdmabuf_next_event (out->conn, wait_ms, &ev) == 0) {
    const gchar *state = hdmabuf_event_get (ev, "STATE");

    if (ev->subscription_id == out->subscription && g_strcmp0 (state, "rejected") == 0) {
      struct hdmabuf_buffer_info *info = NULL;
      hdmabuf_query (out->conn, &out->slots[0].exported.id, &info);
      set_error (error, GST_RESOURCE_ERROR_OPEN_WRITE, "VM %u rejected stream \"%s\": %s", out->target_vm,
          out->stream, info != NULL && info->state != NULL ? info->state : "(no reason given)");
      hdmabuf_buffer_info_free (info);
      ok = FALSE;
    } else if (ev->subscription_id == out->subscription && g_strcmp0 (state, "imported") == 0) {
      released = FALSE;
      g_atomic_int_set (&out->consumer_seen, TRUE);
      g_mutex_lock (&out->lock);
      g_cond_broadcast (&out->cond);
      g_mutex_unlock (&out->lock);
    } else if (ev->subscription_id == out->subscription && g_strcmp0 (state, "released") == 0) {
      released = g_atomic_int_get (&out->consumer_seen);
    }
    hdmabuf_event_free (ev);
    wait_ms = 0;
  }
  if (ok && released && !consumer_holds_import (out)) {
    GST_INFO ("stream \"%s\": the consumer in VM %u holds no import any more: its slots are free", out->stream,
        out->target_vm);
    g_atomic_int_set (&out->consumer_lost, TRUE);
  }
  g_mutex_unlock (&out->events_lock);
  return ok;
}

gboolean
gst_hdmabuf_out_consumer_lost (GstHdmabufOut * out)
{
  return g_atomic_int_get (&out->consumer_lost);
}

gboolean
gst_hdmabuf_out_has_consumer (GstHdmabufOut * out)
{
  GError *ignored = NULL;

  if (g_atomic_int_get (&out->consumer_seen))
    return TRUE;
  read_import_events (out, 0, &ignored);
  g_clear_error (&ignored);
  return g_atomic_int_get (&out->consumer_seen);
}

GstFlowReturn
gst_hdmabuf_out_await_consumer (GstHdmabufOut * out, gint timeout_ms, GError ** error)
{
  gint64 start = g_get_monotonic_time ();
  gint64 deadline = timeout_ms > 0 ? start + (gint64) timeout_ms * 1000 : -1;

  for (;;) {
    gint64 left = deadline < 0 ? WAIT_SLICE_MS : (deadline - g_get_monotonic_time ()) / 1000;

    if (!read_import_events (out, (gint) CLAMP (left, 0, WAIT_SLICE_MS), error))
      return GST_FLOW_ERROR;
    if (g_atomic_int_get (&out->consumer_seen)) {
      GST_INFO ("stream \"%s\": the consumer in VM %u imported it after %" G_GINT64_FORMAT " ms", out->stream,
          out->target_vm, (g_get_monotonic_time () - start) / 1000);
      return GST_FLOW_OK;
    }
    if (deadline >= 0 && g_get_monotonic_time () >= deadline) {
      set_error (error, GST_RESOURCE_ERROR_NOT_FOUND, "no consumer in VM %u imported stream \"%s\" within %d ms",
          out->target_vm, out->stream, timeout_ms);
      return GST_FLOW_ERROR;
    }
    if (g_atomic_int_get (&out->flushing))
      return GST_FLOW_FLUSHING;
  }
}

guint32
gst_hdmabuf_out_target_vm (GstHdmabufOut * out)
{
  return out->target_vm;
}

/* Claims slot of frame (lock held on entry and exit), then waits for the consumer. */
static GstFlowReturn
claim (GstHdmabufOut * out, guint64 frame, gboolean by_pool, gint timeout_ms, GError ** error)
{
  guint slot = frame % out->k;
  gint64 deadline = timeout_ms > 0 ? g_get_monotonic_time () + (gint64) timeout_ms * 1000 : -1;
  Slot *s = &out->slots[slot];
  GstFlowReturn ret;

  while (s->in_use && !out->flushing) {
    if (deadline < 0)
      g_cond_wait (&out->cond, &out->lock);
    else if (!g_cond_wait_until (&out->cond, &out->lock, deadline)) {
      if (!g_atomic_int_get (&out->consumer_seen)) {
        /* The sink holds the slot's frame until a consumer comes, bounded by its consumer-timeout. */
        deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
        continue;
      }
      set_error (error, GST_RESOURCE_ERROR_BUSY, "slot %u stayed in use for %d ms (an upstream element "
          "holds a buffer of it)", slot, timeout_ms);
      return GST_FLOW_ERROR;
    }
  }
  if (out->flushing)
    return GST_FLOW_FLUSHING;
  s->in_use = TRUE;
  s->by_pool = by_pool;
  s->frame = frame;
  g_mutex_unlock (&out->lock);
  ret = await_release (out, slot, frame / out->k, timeout_ms, error);
  if (ret == GST_HDMABUF_FLOW_CONSUMER_LOST)
    ret = GST_FLOW_OK;          /* nobody reads the slot any more */
  g_mutex_lock (&out->lock);
  if (ret != GST_FLOW_OK) {
    s->in_use = FALSE;
    s->by_pool = FALSE;
    g_cond_broadcast (&out->cond);
  }
  return ret;
}

GstFlowReturn
gst_hdmabuf_out_take_next (GstHdmabufOut * out, gint timeout_ms, guint * slot, GError ** error)
{
  GstFlowReturn ret;
  guint64 frame;
  gboolean pending = FALSE;

  g_mutex_lock (&out->lock);
  for (guint i = 0; i < out->k; i++)
    pending |= out->slots[i].in_use && out->slots[i].by_pool && out->slots[i].frame >= out->published;
  /* Nothing handed out awaits publishing: hand out the next frame to publish (resyncs after a
   * buffer was dropped upstream without reaching the sink). */
  if (!pending)
    out->handed = out->published;
  frame = out->handed;
  ret = claim (out, frame, TRUE, timeout_ms, error);
  if (ret == GST_FLOW_OK) {
    out->handed = frame + 1;
    *slot = frame % out->k;
  }
  g_mutex_unlock (&out->lock);
  return ret;
}

void
gst_hdmabuf_out_give_back (GstHdmabufOut * out, guint slot)
{
  g_mutex_lock (&out->lock);
  out->slots[slot].in_use = FALSE;
  out->slots[slot].by_pool = FALSE;
  g_cond_broadcast (&out->cond);
  g_mutex_unlock (&out->lock);
}

GstFlowReturn
gst_hdmabuf_out_take_for_publish (GstHdmabufOut * out, gint want_slot, gint timeout_ms, guint * slot,
    GError ** error)
{
  guint64 frame;
  GstFlowReturn ret = GST_FLOW_OK;

  g_mutex_lock (&out->lock);
  frame = out->published;
  if (want_slot >= 0 && (guint) want_slot == frame % out->k && out->slots[want_slot].in_use
      && out->slots[want_slot].by_pool && out->slots[want_slot].frame == frame) {
    *slot = want_slot;          /* the pool handed it out for this frame: upstream wrote in place */
  } else {
    ret = claim (out, frame, FALSE, timeout_ms, error);
    *slot = frame % out->k;
  }
  g_mutex_unlock (&out->lock);
  return ret;
}

gboolean
gst_hdmabuf_out_publish (GstHdmabufOut * out, guint slot, const struct hdmabuf_frame_header *info,
    GError ** error)
{
  Slot *s = &out->slots[slot];
  volatile struct hdmabuf_frame_header *h;
  guint64 frame;
  gint e;

  g_mutex_lock (&out->lock);
  frame = out->published;
  g_mutex_unlock (&out->lock);
  /* Written while this side owns the slot; the acquire signal publishes it. */
  h = (volatile struct hdmabuf_frame_header *) ((guint8 *) s->alloc.buffer.data + out->header_offset);
  h->sequence = frame;
  h->pts_ns = info->pts_ns;
  h->duration_ns = info->duration_ns;
  h->payload_length = info->payload_length;
  h->flags = info->flags;
  h->private_length = info->private_length;
  memcpy ((void *) h->private_data, info->private_data, info->private_length);
  e = hdmabuf_fence_post (s->fence, frame / out->k + 1, 0);
  g_mutex_lock (&out->lock);
  if (e == 0)
    out->published = frame + 1;
  if (!s->by_pool) {
    s->in_use = FALSE;
    g_cond_broadcast (&out->cond);
  }
  g_mutex_unlock (&out->lock);
  if (e != 0) {
    if (e == -HDMABUF_EPEERLOST)
      set_error (error, GST_RESOURCE_ERROR_WRITE, "the consumer VM %u is gone (its daemon or the VM died)",
          out->target_vm);
    else
      set_error (error, GST_RESOURCE_ERROR_WRITE, "publishing frame %" G_GUINT64_FORMAT " to VM %u failed: %s",
          frame, out->target_vm, hdmabuf_strerror (e));
    return FALSE;
  }
  return TRUE;
}

GstFlowReturn
gst_hdmabuf_out_wait_last_released (GstHdmabufOut * out, gint timeout_ms, GError ** error)
{
  guint64 published;

  g_mutex_lock (&out->lock);
  published = out->published;
  g_mutex_unlock (&out->lock);
  if (published == 0)
    return GST_FLOW_OK;
  return await_release (out, (published - 1) % out->k, (published - 1) / out->k + 1, timeout_ms, error);
}

void
gst_hdmabuf_out_set_flushing (GstHdmabufOut * out, gboolean flushing)
{
  g_mutex_lock (&out->lock);
  g_atomic_int_set (&out->flushing, flushing);
  g_cond_broadcast (&out->cond);
  g_mutex_unlock (&out->lock);
}

void
gst_hdmabuf_out_retire (GstHdmabufOut * out)
{
  g_mutex_lock (&out->lock);
  if (!out->retired) {
    out->retired = TRUE;
    for (guint i = 0; i < out->k; i++) {
      if (out->slots[i].is_exported)
        hdmabuf_unexport (out->conn, &out->slots[i].exported.id, 0);
      out->slots[i].is_exported = FALSE;
    }
  }
  g_mutex_unlock (&out->lock);
}
