/* SPDX-License-Identifier: MIT */
/**
 * SECTION:element-hdmabufsink
 * @title: hdmabufsink
 *
 * Exports raw video or audio as a hyperdmabuf frame stream to another VM, where hdmabufsrc
 * imports it without a copy. Upstream writes into the shared slots directly when it takes the
 * pool this element proposes; other buffers are copied into a slot.
 *
 * |[
 * gst-launch-1.0 videotestsrc ! video/x-raw,format=RGBA,width=1920,height=1080,framerate=60/1 ! hdmabufsink target-vm=2 stream=cam0
 * ]|
 */
#define _GNU_SOURCE
#include "gsthdmabufsink.h"

#include <string.h>

#include "hdmabufpool.h"
#include "hdmabufprops.h"

GST_DEBUG_CATEGORY (gst_hdmabuf_sink_debug);
#define GST_CAT_DEFAULT gst_hdmabuf_sink_debug

enum {
  PROP_TARGET_VM = GST_HDMABUF_PROP_FIRST_OWN,
  PROP_BUFFERS,
  PROP_READ_ONLY,
  PROP_CONSUMER_TIMEOUT,
  N_PROPS,
};

/* Where each property is kept. */
static const gsize fields[N_PROPS] = {
  GST_HDMABUF_COMMON_FIELDS (GstHdmabufSink),
  [PROP_TARGET_VM] = G_STRUCT_OFFSET (GstHdmabufSink, target_vm),
  [PROP_BUFFERS] = G_STRUCT_OFFSET (GstHdmabufSink, buffers),
  [PROP_READ_ONLY] = G_STRUCT_OFFSET (GstHdmabufSink, read_only),
  [PROP_CONSUMER_TIMEOUT] = G_STRUCT_OFFSET (GstHdmabufSink, consumer_timeout_ms),
};

#define DEFAULT_BUFFERS 3
#define DEFAULT_TIMEOUT 10000
#define DEFAULT_CONSUMER_TIMEOUT 0

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_HDMABUF_ELEMENT_CAPS);

G_DEFINE_TYPE (GstHdmabufSink, gst_hdmabuf_sink, GST_TYPE_BASE_SINK);
GST_ELEMENT_REGISTER_DEFINE (hdmabufsink, "hdmabufsink", GST_RANK_NONE, GST_TYPE_HDMABUF_SINK);

static gint
timeout_of (GstHdmabufSink * self)
{
  return gst_hdmabuf_timeout_of (self->timeout_ms);
}

static void
post_error (GstHdmabufSink * self, GError * error)
{
  GST_ELEMENT_ERROR (self, RESOURCE, FAILED, ("%s", error->message), ("stream \"%s\"", self->stream));
  g_error_free (error);
}

/*
 * Before the first frame of an export: waits for the consumer VM to import it (bounded by
 * consumer-timeout), so that a sink started before its consumer waits instead of failing once the
 * slots are full. Says so once per export, on the bus and in the log.
 */
static GstFlowReturn
await_consumer (GstHdmabufSink * self)
{
  GError *error = NULL;
  GstFlowReturn ret;

  if (gst_hdmabuf_out_has_consumer (self->out))
    return GST_FLOW_OK;
  GST_INFO_OBJECT (self, "waiting for a consumer in VM %u to import stream \"%s\"",
      gst_hdmabuf_out_target_vm (self->out), self->stream);
  gst_element_post_message (GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self),
          gst_structure_new ("hdmabufsink-waiting-for-consumer", "stream", G_TYPE_STRING, self->stream,
              "target-vm", G_TYPE_UINT, gst_hdmabuf_out_target_vm (self->out), NULL)));
  ret = gst_hdmabuf_out_await_consumer (self->out, (gint) MIN (self->consumer_timeout_ms, G_MAXINT), &error);
  if (ret == GST_FLOW_ERROR)
    post_error (self, error);
  return ret;
}

static void
drop_out (GstHdmabufSink * self)
{
  if (self->out != NULL) {
    gst_hdmabuf_out_retire (self->out);
    g_clear_pointer (&self->out, gst_hdmabuf_out_unref);
  }
  gst_clear_caps (&self->caps);
}

/*
 * The consumer VM released every import of the stream (its consumer died or stopped): withdraws the
 * export and exports the stream anew under the same caps, as at the start, so that the next
 * consumer gets a stream of its own from its frame 0. Upstream is asked to renegotiate: the pool of
 * the old slots no longer waits for releases, and its buffers are copied into the new ones meanwhile.
 */
static GstFlowReturn
renew_export (GstHdmabufSink * self)
{
  GstCaps *caps = gst_caps_ref (self->caps);
  GstHdmabufFormat fmt;
  GError *error = NULL;
  GstHdmabufOut *out;

  GST_INFO_OBJECT (self, "the consumer in VM %u released stream \"%s\": exporting it anew for the next "
      "consumer", gst_hdmabuf_out_target_vm (self->out), self->stream);
  if (!gst_hdmabuf_format_from_caps (&fmt, caps)) {
    gst_caps_unref (caps);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  out = gst_hdmabuf_out_new (self->socket_path, gst_hdmabuf_out_target_vm (self->out), self->stream,
      self->buffers, &fmt, self->read_only, &error);
  gst_hdmabuf_format_clear (&fmt);
  GST_OBJECT_LOCK (self);
  drop_out (self);
  self->out = out;
  self->caps = out != NULL ? caps : NULL;
  GST_OBJECT_UNLOCK (self);
  if (out == NULL) {
    gst_caps_unref (caps);
    post_error (self, error);
    return GST_FLOW_ERROR;
  }
  gst_pad_push_event (GST_BASE_SINK_PAD (self), gst_event_new_reconfigure ());
  return GST_FLOW_OK;
}

/* Publishes a frame without payload: the end of the stream, or the switch to new caps. */
static GstFlowReturn
publish_end (GstHdmabufSink * self, guint32 kind)
{
  struct hdmabuf_frame_header info = { .flags = HDMABUF_FRAME_FLAG_END_OF_STREAM };
  GstHdmabufFramePrivate priv = { .magic = GST_HDMABUF_FRAME_MAGIC, .kind = kind,
    .pts = GST_CLOCK_TIME_NONE, .dts = GST_CLOCK_TIME_NONE, .duration = GST_CLOCK_TIME_NONE,
    .offset = GST_BUFFER_OFFSET_NONE, .offset_end = GST_BUFFER_OFFSET_NONE };
  GError *error = NULL;
  GstFlowReturn ret;
  guint slot;

  memcpy (info.private_data, &priv, sizeof (priv));
  info.private_length = sizeof (priv);
  for (;;) {
    if (gst_hdmabuf_out_consumer_lost (self->out)) {
      /* No consumer to tell of a caps change; the end goes to the next consumer. */
      if (kind == GST_HDMABUF_FRAME_RENEGOTIATE)
        return GST_FLOW_OK;
      if ((ret = renew_export (self)) != GST_FLOW_OK)
        return ret;
    }
    if ((ret = await_consumer (self)) != GST_FLOW_OK)
      return ret;
    ret = gst_hdmabuf_out_take_for_publish (self->out, -1, timeout_of (self), &slot, &error);
    if (ret == GST_FLOW_OK && !gst_hdmabuf_out_publish (self->out, slot, &info, &error))
      ret = GST_FLOW_ERROR;
    /* Consumers take frames in order: once this one is back, they have every frame before it. */
    if (ret == GST_FLOW_OK)
      ret = gst_hdmabuf_out_wait_last_released (self->out, timeout_of (self), &error);
    if (ret != GST_HDMABUF_FLOW_CONSUMER_LOST)
      break;
  }
  if (ret == GST_FLOW_ERROR)
    post_error (self, error);
  return ret;
}

static gboolean
gst_hdmabuf_sink_set_caps (GstBaseSink * bsink, GstCaps * caps)
{
  GstHdmabufSink *self = GST_HDMABUF_SINK (bsink);
  GstHdmabufFormat fmt;
  GError *error = NULL;
  GstHdmabufOut *out;

  if (self->caps != NULL && gst_caps_is_equal (self->caps, caps))
    return TRUE;
  if (!gst_hdmabuf_format_from_caps (&fmt, caps)) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, (NULL), ("unsupported caps %" GST_PTR_FORMAT, caps));
    return FALSE;
  }
  if (self->out != NULL) {
    GST_INFO_OBJECT (self, "caps change to %" GST_PTR_FORMAT ": exporting the stream anew", caps);
    if (publish_end (self, GST_HDMABUF_FRAME_RENEGOTIATE) != GST_FLOW_OK) {
      gst_hdmabuf_format_clear (&fmt);
      return FALSE;
    }
    drop_out (self);
  }
  out = gst_hdmabuf_out_new (self->socket_path, self->target_vm, self->stream, self->buffers, &fmt,
      self->read_only, &error);
  gst_hdmabuf_format_clear (&fmt);
  if (out == NULL) {
    post_error (self, error);
    return FALSE;
  }
  self->out = out;
  self->caps = gst_caps_ref (caps);
  return TRUE;
}

static gboolean
gst_hdmabuf_sink_propose_allocation (GstBaseSink * bsink, GstQuery * query)
{
  GstHdmabufSink *self = GST_HDMABUF_SINK (bsink);
  GstCaps *caps;
  gboolean need_pool;

  gst_query_parse_allocation (query, &caps, &need_pool);
  if (self->out == NULL || caps == NULL || !gst_caps_is_equal (caps, self->caps)) {
    GST_DEBUG_OBJECT (self, "no pool for caps %" GST_PTR_FORMAT, caps);
    return TRUE;
  }
  if (need_pool) {
    GstBufferPool *pool = gst_hdmabuf_pool_new (self->out, GST_ELEMENT (self), timeout_of (self));
    GstStructure *config = gst_buffer_pool_get_config (pool);
    guint size = gst_hdmabuf_out_frame_bytes (self->out);

    gst_buffer_pool_config_set_params (config, caps, size, self->buffers, self->buffers);
    gst_buffer_pool_set_config (pool, config);
    gst_query_add_allocation_pool (query, pool, size, self->buffers, self->buffers);
    gst_object_unref (pool);
    GST_DEBUG_OBJECT (self, "proposed a pool of %u shared slots", self->buffers);
  }
  gst_query_add_allocation_meta (query, GST_VIDEO_META_API_TYPE, NULL);
  return TRUE;
}

/* The slot whose memory buf is, or -1. */
static gint
slot_of (GstHdmabufSink * self, GstBuffer * buf)
{
  GstMemory *mem;
  GstMapInfo map;
  gint slot;

  if (gst_buffer_n_memory (buf) != 1)
    return -1;
  mem = gst_buffer_peek_memory (buf, 0);
  if (!gst_memory_map (mem, &map, GST_MAP_READ))
    return -1;
  slot = gst_hdmabuf_out_slot_at (self->out, map.data);
  gst_memory_unmap (mem, &map);
  return slot;
}

static gboolean
copy_into (GstHdmabufSink * self, GstBuffer * buf, guint slot, guint64 * payload)
{
  const GstHdmabufFormat *fmt = gst_hdmabuf_out_format (self->out);
  guint8 *dst = gst_hdmabuf_out_slot_data (self->out, slot);
  gsize room = gst_hdmabuf_out_frame_bytes (self->out);

  if (fmt->is_video) {
    GstVideoFrame in, out;
    GstBuffer *target = gst_buffer_new_wrapped_full (0, dst, room, 0, room, NULL, NULL);
    gboolean ok = FALSE;

    if (gst_video_frame_map (&in, (GstVideoInfo *) & fmt->vinfo, buf, GST_MAP_READ)) {
      if (gst_video_frame_map (&out, (GstVideoInfo *) & fmt->vinfo, target, GST_MAP_WRITE)) {
        ok = gst_video_frame_copy (&out, &in);
        gst_video_frame_unmap (&out);
      }
      gst_video_frame_unmap (&in);
    }
    gst_buffer_unref (target);
    *payload = GST_VIDEO_INFO_SIZE (&fmt->vinfo);
    return ok;
  }
  if (gst_buffer_get_size (buf) > room) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, (NULL), ("a buffer of %" G_GSIZE_FORMAT " bytes exceeds the "
            "slots' %" G_GSIZE_FORMAT, gst_buffer_get_size (buf), room));
    return FALSE;
  }
  *payload = gst_buffer_extract (buf, 0, dst, room);
  return TRUE;
}

static GstFlowReturn
gst_hdmabuf_sink_render (GstBaseSink * bsink, GstBuffer * buf)
{
  GstHdmabufSink *self = GST_HDMABUF_SINK (bsink);
  struct hdmabuf_frame_header info = { 0 };
  GstHdmabufFramePrivate priv = { .magic = GST_HDMABUF_FRAME_MAGIC, .kind = GST_HDMABUF_FRAME_DATA };
  GstClockTime running;
  GError *error = NULL;
  GstFlowReturn ret;
  gint want;
  guint slot;

  if (self->out == NULL) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL), ("no caps before the first buffer"));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  for (;;) {
    if (gst_hdmabuf_out_consumer_lost (self->out) && (ret = renew_export (self)) != GST_FLOW_OK)
      return ret;
    if ((ret = await_consumer (self)) != GST_FLOW_OK)
      return ret;
    want = slot_of (self, buf);
    ret = gst_hdmabuf_out_take_for_publish (self->out, want, timeout_of (self), &slot, &error);
    if (ret != GST_FLOW_OK) {
      if (ret == GST_FLOW_ERROR)
        post_error (self, error);
      return ret;
    }
    if (!gst_hdmabuf_out_consumer_lost (self->out))
      break;
    /* The consumer went while this frame waited for its slot: the frame goes to the next one. */
    if ((gint) slot != want)
      gst_hdmabuf_out_give_back (self->out, slot);
  }
  if ((gint) slot == want && want >= 0) {
    GST_LOG_OBJECT (self, "slot %u: written in place", slot);
    info.payload_length = gst_hdmabuf_out_format (self->out)->is_video
        ? GST_VIDEO_INFO_SIZE (&gst_hdmabuf_out_format (self->out)->vinfo) : gst_buffer_get_size (buf);
  } else {
    if (!self->copy_logged) {
      /* Once: a copy per frame is the fallback, not an error. */
      GST_INFO_OBJECT (self, "copying frames into the shared slots: upstream buffers are %s",
          want < 0 ? "not from the proposed pool" : "from the pool, but out of order");
      self->copy_logged = TRUE;
    }
    if (!copy_into (self, buf, slot, &info.payload_length)) {
      GST_ELEMENT_ERROR (self, STREAM, FAILED, (NULL), ("cannot copy a buffer into slot %u", slot));
      /* The slot still has to go out, or the stream would stop: send it empty. */
      info.payload_length = 0;
    }
  }

  running = gst_segment_to_running_time (&bsink->segment, GST_FORMAT_TIME, GST_BUFFER_PTS (buf));
  if (GST_CLOCK_TIME_IS_VALID (running)) {
    if (!self->have_epoch) {
      GstClock *clock = gst_element_get_clock (GST_ELEMENT (self));
      gint64 now = gst_hdmabuf_realtime_ns ();
      /* CLOCK_REALTIME is the ABI's clock for pts_ns; map running time onto it once. */
      if (clock != NULL) {
        GstClockTime base = gst_element_get_base_time (GST_ELEMENT (self));
        self->epoch_ns = now - (gint64) (gst_clock_get_time (clock) - base);
        gst_object_unref (clock);
      } else {
        self->epoch_ns = now - (gint64) running;
      }
      self->have_epoch = TRUE;
    }
    info.pts_ns = (guint64) (self->epoch_ns + (gint64) running);
  }
  info.duration_ns = GST_BUFFER_DURATION_IS_VALID (buf) ? GST_BUFFER_DURATION (buf) : 0;
  if (!GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT))
    info.flags |= HDMABUF_FRAME_FLAG_KEY_FRAME;
  if (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT))
    info.flags |= HDMABUF_FRAME_FLAG_DISCONTINUITY;
  priv.pts = GST_BUFFER_PTS (buf);
  priv.dts = GST_BUFFER_DTS (buf);
  priv.duration = GST_BUFFER_DURATION (buf);
  priv.offset = GST_BUFFER_OFFSET (buf);
  priv.offset_end = GST_BUFFER_OFFSET_END (buf);
  priv.buffer_flags = GST_BUFFER_FLAGS (buf) & (GST_BUFFER_FLAG_DISCONT | GST_BUFFER_FLAG_DELTA_UNIT |
      GST_BUFFER_FLAG_GAP | GST_BUFFER_FLAG_DROPPABLE | GST_BUFFER_FLAG_RESYNC | GST_BUFFER_FLAG_MARKER |
      GST_BUFFER_FLAG_HEADER | GST_BUFFER_FLAG_CORRUPTED);
  memcpy (info.private_data, &priv, sizeof (priv));
  info.private_length = sizeof (priv);
  if (!gst_hdmabuf_out_publish (self->out, slot, &info, &error)) {
    post_error (self, error);
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

static gboolean
gst_hdmabuf_sink_event (GstBaseSink * bsink, GstEvent * event)
{
  GstHdmabufSink *self = GST_HDMABUF_SINK (bsink);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_EOS:
      /* The end crosses as a frame flagged END_OF_STREAM; EOS is posted once the consumer took it. */
      if (self->out != NULL && publish_end (self, GST_HDMABUF_FRAME_DATA) == GST_FLOW_ERROR) {
        gst_event_unref (event);
        return FALSE;
      }
      break;
    case GST_EVENT_SEGMENT:
      self->have_epoch = FALSE;
      break;
    default:
      break;
  }
  return GST_BASE_SINK_CLASS (gst_hdmabuf_sink_parent_class)->event (bsink, event);
}

static gboolean
set_flushing (GstBaseSink * bsink, gboolean flushing)
{
  GstHdmabufSink *self = GST_HDMABUF_SINK (bsink);

  GST_OBJECT_LOCK (self);
  if (self->out != NULL)
    gst_hdmabuf_out_set_flushing (self->out, flushing);
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

static gboolean
gst_hdmabuf_sink_unlock (GstBaseSink * bsink)
{
  return set_flushing (bsink, TRUE);
}

static gboolean
gst_hdmabuf_sink_unlock_stop (GstBaseSink * bsink)
{
  return set_flushing (bsink, FALSE);
}

static gboolean
gst_hdmabuf_sink_start (GstBaseSink * bsink)
{
  GstHdmabufSink *self = GST_HDMABUF_SINK (bsink);

  self->copy_logged = FALSE;
  self->have_epoch = FALSE;
  return TRUE;
}

static gboolean
gst_hdmabuf_sink_stop (GstBaseSink * bsink)
{
  GstHdmabufSink *self = GST_HDMABUF_SINK (bsink);

  /* Without an EOS before, consumers see the exports removed (acquire closed with ENOENT). */
  GST_OBJECT_LOCK (self);
  drop_out (self);
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

static void
gst_hdmabuf_sink_set_property (GObject * object, guint prop_id, const GValue * value, GParamSpec * pspec)
{
  gst_hdmabuf_props_set (object, fields, N_PROPS, prop_id, value, pspec);
}

static void
gst_hdmabuf_sink_get_property (GObject * object, guint prop_id, GValue * value, GParamSpec * pspec)
{
  gst_hdmabuf_props_get (object, fields, N_PROPS, prop_id, value, pspec);
}

static void
gst_hdmabuf_sink_finalize (GObject * object)
{
  GstHdmabufSink *self = GST_HDMABUF_SINK (object);

  drop_out (self);
  g_free (self->socket_path);
  g_free (self->stream);
  G_OBJECT_CLASS (gst_hdmabuf_sink_parent_class)->finalize (object);
}

static void
gst_hdmabuf_sink_class_init (GstHdmabufSinkClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSinkClass *basesink_class = GST_BASE_SINK_CLASS (klass);
  const GParamFlags flags = GST_HDMABUF_PROP_FLAGS;

  gobject_class->set_property = gst_hdmabuf_sink_set_property;
  gobject_class->get_property = gst_hdmabuf_sink_get_property;
  gobject_class->finalize = gst_hdmabuf_sink_finalize;

  gst_hdmabuf_props_install_common (gobject_class,
      "Unix socket of this VM's sink daemon (NULL: $HDMABUF_RUNTIME_DIR/sink.sock, "
      "default /run/hyperdmabuf/sink.sock)",
      "Name of the stream, by which the consumer VM selects it (the exports' tag \"stream\")",
      "Milliseconds to wait for the consumer to release a slot (and to take the last frame at EOS) "
      "before failing with an error (0: no limit)", DEFAULT_TIMEOUT);
  g_object_class_install_property (gobject_class, PROP_TARGET_VM,
      g_param_spec_uint ("target-vm", "Target VM",
          "VM id of the consumer VM to export to (0: the only VM that runs a source daemon)",
          0, G_MAXUINT32, 0, flags));
  g_object_class_install_property (gobject_class, PROP_BUFFERS,
      g_param_spec_uint ("buffers", "Buffers", "Shared slots of the stream (K): frames in flight between "
          "the VMs, and the size of the pool proposed upstream", 2, 64, DEFAULT_BUFFERS, flags));
  g_object_class_install_property (gobject_class, PROP_READ_ONLY,
      g_param_spec_boolean ("read-only", "Read-only", "Export read-only: the consumer VM maps the slots "
          "without write access (enforced where the backend can, see hdmabuf caps)", FALSE, flags));
  g_object_class_install_property (gobject_class, PROP_CONSUMER_TIMEOUT,
      g_param_spec_uint ("consumer-timeout", "Consumer timeout", "Milliseconds to wait, before the first "
          "frame of an export, for the consumer VM to import the stream; the sink waits prerolled and posts "
          "the element message \"hdmabufsink-waiting-for-consumer\" (0: no limit)",
          0, G_MAXINT, DEFAULT_CONSUMER_TIMEOUT, flags));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_set_static_metadata (element_class, "hyperdmabuf sink", "Sink/Video/Audio",
      "Exports raw video or audio to another VM as a zero-copy hyperdmabuf frame stream",
      "hyperdmabuf developers");

  basesink_class->set_caps = GST_DEBUG_FUNCPTR (gst_hdmabuf_sink_set_caps);
  basesink_class->propose_allocation = GST_DEBUG_FUNCPTR (gst_hdmabuf_sink_propose_allocation);
  basesink_class->render = GST_DEBUG_FUNCPTR (gst_hdmabuf_sink_render);
  basesink_class->event = GST_DEBUG_FUNCPTR (gst_hdmabuf_sink_event);
  basesink_class->unlock = GST_DEBUG_FUNCPTR (gst_hdmabuf_sink_unlock);
  basesink_class->unlock_stop = GST_DEBUG_FUNCPTR (gst_hdmabuf_sink_unlock_stop);
  basesink_class->start = GST_DEBUG_FUNCPTR (gst_hdmabuf_sink_start);
  basesink_class->stop = GST_DEBUG_FUNCPTR (gst_hdmabuf_sink_stop);

}

static void
gst_hdmabuf_sink_init (GstHdmabufSink * self)
{
  self->stream = g_strdup (GST_HDMABUF_DEFAULT_STREAM);
  self->buffers = DEFAULT_BUFFERS;
  self->timeout_ms = DEFAULT_TIMEOUT;
  self->consumer_timeout_ms = DEFAULT_CONSUMER_TIMEOUT;
  /* A last sample would hold a shared slot the producer needs back. */
  gst_base_sink_set_last_sample_enabled (GST_BASE_SINK (self), FALSE);
}
