/* SPDX-License-Identifier: MIT */
/**
 * SECTION:element-hdmabufsrc
 * @title: hdmabufsrc
 *
 * Imports a hyperdmabuf frame stream that hdmabufsink exports in another VM and pushes its frames
 * without a copy: each buffer's memory is the shared mapping, released back to the producer when
 * downstream drops it. Caps come from the stream's metadata and follow its changes.
 *
 * When the producer withdraws the stream without an end of stream (its pipeline stopped or died),
 * the element ends the stream with EOS; when the producer's VM or its daemon is gone, it fails
 * with an error naming that VM.
 *
 * Video goes to a downstream that takes GstVideoMeta as GstFdMemory over the region's fd from
 * offset 0, which waylandsink lends to the compositor without a copy. Where downstream accepts
 * video/x-raw(memory:DMABuf) caps and the source daemon can make dma-bufs (udmabuf), every frame is
 * GstDmaBufMemory of a dma-buf of exactly its slot instead (dma-buf=auto, the default);
 * dma-buf=always insists on dma-bufs, dma-buf=never never makes them.
 *
 * |[
 * gst-launch-1.0 hdmabufsrc stream=cam0 ! videoconvert ! autovideosink
 * gst-launch-1.0 hdmabufsrc stream=cam0 ! waylandsink
 * gst-launch-1.0 hdmabufsrc stream=cam0 ! "video/x-raw(memory:DMABuf)" ! vah264enc ! ...
 * ]|
 */
#define _GNU_SOURCE
#include "gsthdmabufsrc.h"

#include <string.h>

#include <gst/allocators/allocators.h>

#include "hdmabufprops.h"

GST_DEBUG_CATEGORY (gst_hdmabuf_src_debug);
#define GST_CAT_DEFAULT gst_hdmabuf_src_debug

enum {
  PROP_IS_LIVE = GST_HDMABUF_PROP_FIRST_OWN,
  PROP_COPY_HELD_AFTER,
  PROP_DMA_BUF,
  N_PROPS,
};

/* Where each property is kept; is-live is GstBaseSrc's. */
static const gsize fields[N_PROPS] = {
  GST_HDMABUF_COMMON_FIELDS (GstHdmabufSrc),
  [PROP_COPY_HELD_AFTER] = G_STRUCT_OFFSET (GstHdmabufSrc, copy_held_after_ms),
  [PROP_DMA_BUF] = G_STRUCT_OFFSET (GstHdmabufSrc, dma_buf),
};

#define DEFAULT_TIMEOUT 0
#define DEFAULT_COPY_HELD_AFTER 100
#define DEFAULT_DMA_BUF GST_HDMABUF_SRC_DMA_BUF_AUTO

/* Dma-buf caps first: a downstream that accepts them gets them (dma-buf=auto). */
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE_WITH_FEATURES (GST_CAPS_FEATURE_MEMORY_DMABUF, GST_VIDEO_FORMATS_ALL) "; "
        GST_HDMABUF_ELEMENT_CAPS_STRING));

GType
gst_hdmabuf_src_dma_buf_get_type (void)
{
  static const GEnumValue values[] = {
    {GST_HDMABUF_SRC_DMA_BUF_AUTO, "Dma-bufs where downstream accepts memory:DMABuf caps and the daemon can make "
          "them, else system memory", "auto"},
    {GST_HDMABUF_SRC_DMA_BUF_ALWAYS, "Dma-bufs, or an error naming why", "always"},
    {GST_HDMABUF_SRC_DMA_BUF_NEVER, "Never dma-bufs", "never"},
    {GST_HDMABUF_SRC_DMA_BUF_ALWAYS, "Alias of always (the property was a boolean)", "true"},
    {GST_HDMABUF_SRC_DMA_BUF_NEVER, "Alias of never (the property was a boolean)", "false"},
    {0, NULL, NULL},
  };
  static GType type = 0;

  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstHdmabufSrcDmaBuf", values));
  return type;
}

G_DEFINE_TYPE (GstHdmabufSrc, gst_hdmabuf_src, GST_TYPE_BASE_SRC);
GST_ELEMENT_REGISTER_DEFINE (hdmabufsrc, "hdmabufsrc", GST_RANK_NONE, GST_TYPE_HDMABUF_SRC);

static gint
timeout_of (GstHdmabufSrc * self)
{
  return gst_hdmabuf_timeout_of (self->timeout_ms);
}

static GstFlowReturn
post_error (GstHdmabufSrc * self, GError * error)
{
  GST_ELEMENT_ERROR (self, RESOURCE, READ, ("%s", error->message), ("stream \"%s\"", self->stream));
  g_error_free (error);
  return GST_FLOW_ERROR;
}

/* Whether downstream reads frames through GstVideoMeta (asked with an ALLOCATION query). */
static gboolean
downstream_takes_video_meta (GstHdmabufSrc * self, GstCaps * caps)
{
  GstQuery *query = gst_query_new_allocation (caps, FALSE);
  gboolean yes;

  gst_pad_peer_query (GST_BASE_SRC_PAD (self), query);
  yes = gst_query_find_allocation_meta (query, GST_VIDEO_META_API_TYPE, NULL);

  gst_query_unref (query);
  return yes;
}

/* Whether downstream's caps, filtered by caps, are not empty. */
static gboolean
downstream_accepts (GstHdmabufSrc * self, GstCaps * caps)
{
  GstCaps *peer = gst_pad_peer_query_caps (GST_BASE_SRC_PAD (self), caps);
  gboolean yes = peer != NULL && !gst_caps_is_empty (peer);

  gst_clear_caps (&peer);
  return yes;
}

/* caps with the memory:DMABuf feature, or NULL for audio (raw audio has no such caps). */
static GstCaps *
dmabuf_caps_of (GstCaps * caps)
{
  GstCaps *c;

  if (!gst_structure_has_name (gst_caps_get_structure (caps, 0), "video/x-raw"))
    return NULL;
  c = gst_caps_copy (caps);
  gst_caps_set_features_simple (c, gst_caps_features_new (GST_CAPS_FEATURE_MEMORY_DMABUF, NULL));
  return c;
}

/*
 * dma-buf=auto: imports the slots as dma-bufs where downstream accepts dma_caps (NULL: audio) and
 * the daemon can make them; else says why at INFO level and frames go as system memory, unless
 * downstream accepts nothing else (an element error naming why).
 */
static gboolean
auto_dmabufs (GstHdmabufSrc * self, GstCaps * dma_caps, gboolean takes_dmabuf)
{
  GError *error = NULL;
  gchar *why;

  if (gst_hdmabuf_in_dmabufs (self->in))
    return TRUE;
  if (dma_caps == NULL)
    why = g_strdup ("audio (raw audio has no memory:DMABuf caps)");
  else if (!takes_dmabuf)
    why = g_strdup ("downstream does not accept memory:DMABuf caps");
  else if (!gst_hdmabuf_in_import_dmabufs (self->in, &error))
    why = g_strdup (error->message);
  else
    return TRUE;
  g_clear_error (&error);
  if (takes_dmabuf && !downstream_accepts (self, gst_hdmabuf_in_caps (self->in))) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("dma-buf=auto: downstream accepts only memory:DMABuf caps, but "
            "no dma-buf can be had: %s", why), ("stream \"%s\"", self->stream));
    g_free (why);
    return FALSE;
  }
  GST_INFO_OBJECT (self, "dma-buf=auto: frames go as system memory: %s", why);
  g_free (why);
  return TRUE;
}

/*
 * Sets the caps of the export followed and decides what memory its frames go in: dma-bufs under
 * memory:DMABuf caps where downstream accepts those (dma-buf=auto, always), dma-bufs under plain caps
 * (always, where downstream does not), else GstFdMemory or memory over the mapping.
 */
static GstFlowReturn
decide_memory (GstHdmabufSrc * self)
{
  GstCaps *caps = gst_hdmabuf_in_caps (self->in);
  GstCaps *dma_caps = dmabuf_caps_of (caps);
  gboolean takes_dmabuf = self->dma_buf != GST_HDMABUF_SRC_DMA_BUF_NEVER && dma_caps != NULL
      && downstream_accepts (self, dma_caps);
  GstCaps *current, *chosen;
  const gchar *refusal;
  gboolean same;

  if (self->dma_buf == GST_HDMABUF_SRC_DMA_BUF_AUTO && !auto_dmabufs (self, dma_caps, takes_dmabuf)) {
    gst_clear_caps (&dma_caps);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  self->dmabuf_caps = takes_dmabuf && gst_hdmabuf_in_dmabufs (self->in);
  chosen = self->dmabuf_caps ? dma_caps : caps;
  current = gst_pad_get_current_caps (GST_BASE_SRC_PAD (self));
  same = current != NULL && gst_caps_is_equal (current, chosen);
  gst_clear_caps (&current);
  if (!same && !gst_base_src_set_caps (GST_BASE_SRC (self), chosen)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL), ("downstream refused %" GST_PTR_FORMAT, chosen));
    gst_clear_caps (&dma_caps);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  gst_clear_caps (&dma_caps);
  if (gst_hdmabuf_in_dmabufs (self->in)) {
    self->fd_memory = FALSE;
    GST_INFO_OBJECT (self, "frames go downstream as dma-buf memory (GstDmaBufMemory of each slot's dma-buf), "
        "under %s caps%s", self->dmabuf_caps ? "memory:DMABuf" : "system-memory",
        self->dmabuf_caps ? ": no copies of a held frame (copy-held-after), which would be no dma-bufs" : "");
    return GST_FLOW_OK;
  }
  refusal = gst_hdmabuf_in_fd_memory_refusal (self->in);
  if (refusal == NULL && !downstream_takes_video_meta (self, caps))
    refusal = "downstream does not take GstVideoMeta";
  self->fd_memory = refusal == NULL;
  if (refusal == NULL)
    GST_INFO_OBJECT (self, "frames go downstream as GstFdMemory over the region fd");
  else
    GST_INFO_OBJECT (self, "frames go downstream as memory over the mapping: %s", refusal);
  return GST_FLOW_OK;
}

/* Follows the stream's current export, and its caps. */
static GstFlowReturn
open_stream (GstHdmabufSrc * self)
{
  GError *error = NULL;

  self->in = gst_hdmabuf_in_open (self->socket_path, self->stream, self->left_generation,
      self->dma_buf == GST_HDMABUF_SRC_DMA_BUF_ALWAYS, timeout_of (self), &self->cancel, &error);
  if (self->in == NULL)
    return error != NULL ? post_error (self, error) : GST_FLOW_FLUSHING;
  g_atomic_int_set (&self->slots, gst_hdmabuf_in_slots (self->in));
  return decide_memory (self);
}

/*
 * Caps come with the stream (open_stream), not from the template: nothing before the first export;
 * a reconfigure of downstream afterwards decides the export's caps and memory again.
 */
static gboolean
gst_hdmabuf_src_negotiate (GstBaseSrc * bsrc)
{
  GstHdmabufSrc *self = GST_HDMABUF_SRC (bsrc);

  return self->in == NULL || decide_memory (self) == GST_FLOW_OK;
}

/* The producer's CLOCK_REALTIME instant as running time of this pipeline's clock. */
static GstClockTime
running_time_of (GstHdmabufSrc * self, guint64 pts_ns)
{
  GstClock *clock = gst_element_get_clock (GST_ELEMENT (self));
  GstClockTimeDiff running;

  if (clock == NULL)
    return GST_CLOCK_TIME_NONE;
  running = (GstClockTimeDiff) (gst_clock_get_time (clock) - gst_element_get_base_time (GST_ELEMENT (self)))
      + ((gint64) pts_ns - gst_hdmabuf_realtime_ns ());
  gst_object_unref (clock);
  return running > 0 ? (GstClockTime) running : 0;
}

static GstFlowReturn
gst_hdmabuf_src_create (GstBaseSrc * bsrc, guint64 offset G_GNUC_UNUSED, guint size G_GNUC_UNUSED,
    GstBuffer ** out)
{
  GstHdmabufSrc *self = GST_HDMABUF_SRC (bsrc);
  struct hdmabuf_frame_header info;
  GstHdmabufFramePrivate priv;
  gboolean has_priv;
  GError *error = NULL;
  GstFlowReturn ret;
  GstBuffer *buf;

  for (;;) {
    if (self->in == NULL && (ret = open_stream (self)) != GST_FLOW_OK)
      return ret;
    /* A copy is no dma-buf: none under memory:DMABuf caps. */
    ret = gst_hdmabuf_in_next (self->in, timeout_of (self), self->dmabuf_caps ? 0
        : (gint) MIN (self->copy_held_after_ms, G_MAXINT), &self->cancel, &info, &error);
    if (ret == GST_HDMABUF_FLOW_HELD) {
      /* No timestamps: a sink shows it at once, and lets the held frame go. */
      GST_DEBUG_OBJECT (self, "no new frame while downstream holds one: pushing a copy of the last frame");
      *out = gst_hdmabuf_in_copy_taken (self->in);
      return GST_FLOW_OK;
    }
    if (ret == GST_FLOW_ERROR)
      return post_error (self, error);
    if (ret == GST_FLOW_EOS)
      GST_ELEMENT_WARNING (self, RESOURCE, READ, ("the producer withdrew stream \"%s\" without an end of "
              "stream", self->stream), (NULL));
    if (ret != GST_FLOW_OK)
      return ret;
    has_priv = info.private_length >= sizeof (priv);
    memcpy (&priv, info.private_data, sizeof (priv));
    has_priv = has_priv && priv.magic == GST_HDMABUF_FRAME_MAGIC;
    if (!(info.flags & HDMABUF_FRAME_FLAG_END_OF_STREAM) || info.payload_length > 0)
      break;
    gst_hdmabuf_in_skip (self->in);
    if (!has_priv || priv.kind != GST_HDMABUF_FRAME_RENEGOTIATE) {
      GST_INFO_OBJECT (self, "end of stream \"%s\"", self->stream);
      return GST_FLOW_EOS;
    }
    /* The producer goes on under new caps, in a new export of the stream. */
    GST_INFO_OBJECT (self, "stream \"%s\" changes caps: following its next export", self->stream);
    g_free (self->left_generation);
    self->left_generation = g_strdup (gst_hdmabuf_in_generation (self->in));
    g_clear_pointer (&self->in, gst_hdmabuf_in_unref);
  }

  buf = gst_hdmabuf_in_wrap (self->in, info.payload_length, self->fd_memory);
  if (gst_base_src_get_do_timestamp (bsrc)) {
    /* GstBaseSrc stamps buffers without timestamps with the running time of their arrival. */
  } else if (gst_base_src_is_live (bsrc)) {
    if (info.pts_ns != 0)
      GST_BUFFER_PTS (buf) = running_time_of (self, info.pts_ns);
  } else if (has_priv) {
    GST_BUFFER_PTS (buf) = priv.pts;
    GST_BUFFER_DTS (buf) = priv.dts;
    GST_BUFFER_OFFSET (buf) = priv.offset;
    GST_BUFFER_OFFSET_END (buf) = priv.offset_end;
  }
  GST_BUFFER_DURATION (buf) = info.duration_ns != 0 ? info.duration_ns : GST_CLOCK_TIME_NONE;
  if (has_priv)
    GST_BUFFER_FLAGS (buf) |= priv.buffer_flags;
  else if (!(info.flags & HDMABUF_FRAME_FLAG_KEY_FRAME))
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT);
  if (info.flags & HDMABUF_FRAME_FLAG_DISCONTINUITY)
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
  if (info.duration_ns != 0)
    self->last_duration = info.duration_ns;
  GST_LOG_OBJECT (self, "frame %" G_GUINT64_FORMAT ": %" GST_PTR_FORMAT, info.sequence, buf);
  *out = buf;
  return GST_FLOW_OK;
}

static gboolean
gst_hdmabuf_src_query (GstBaseSrc * bsrc, GstQuery * query)
{
  GstHdmabufSrc *self = GST_HDMABUF_SRC (bsrc);

  if (GST_QUERY_TYPE (query) == GST_QUERY_LATENCY && gst_base_src_is_live (bsrc)) {
    /* A frame arrives once the producer finished it: up to one frame late; K frames in flight. */
    GstClockTime frame = GST_CLOCK_TIME_IS_VALID (self->last_duration) ? self->last_duration : 0;
    guint k = g_atomic_int_get (&self->slots);
    gst_query_set_latency (query, TRUE, frame, frame * k);
    return TRUE;
  }
  return GST_BASE_SRC_CLASS (gst_hdmabuf_src_parent_class)->query (bsrc, query);
}

static gboolean
gst_hdmabuf_src_unlock (GstBaseSrc * bsrc)
{
  g_atomic_int_set (&GST_HDMABUF_SRC (bsrc)->cancel, TRUE);
  return TRUE;
}

static gboolean
gst_hdmabuf_src_unlock_stop (GstBaseSrc * bsrc)
{
  g_atomic_int_set (&GST_HDMABUF_SRC (bsrc)->cancel, FALSE);
  return TRUE;
}

static gboolean
gst_hdmabuf_src_start (GstBaseSrc * bsrc)
{
  GstHdmabufSrc *self = GST_HDMABUF_SRC (bsrc);

  self->last_duration = GST_CLOCK_TIME_NONE;
  self->slots = 3;
  g_clear_pointer (&self->left_generation, g_free);
  return TRUE;
}

static gboolean
gst_hdmabuf_src_stop (GstBaseSrc * bsrc)
{
  GstHdmabufSrc *self = GST_HDMABUF_SRC (bsrc);

  /* Buffers still downstream keep the imports until they are dropped. */
  g_clear_pointer (&self->in, gst_hdmabuf_in_unref);
  return TRUE;
}

static void
gst_hdmabuf_src_set_property (GObject * object, guint prop_id, const GValue * value, GParamSpec * pspec)
{
  if (prop_id == PROP_IS_LIVE)
    gst_base_src_set_live (GST_BASE_SRC (object), g_value_get_boolean (value));
  else
    gst_hdmabuf_props_set (object, fields, N_PROPS, prop_id, value, pspec);
}

static void
gst_hdmabuf_src_get_property (GObject * object, guint prop_id, GValue * value, GParamSpec * pspec)
{
  if (prop_id == PROP_IS_LIVE)
    g_value_set_boolean (value, gst_base_src_is_live (GST_BASE_SRC (object)));
  else
    gst_hdmabuf_props_get (object, fields, N_PROPS, prop_id, value, pspec);
}

static void
gst_hdmabuf_src_finalize (GObject * object)
{
  GstHdmabufSrc *self = GST_HDMABUF_SRC (object);

  g_clear_pointer (&self->in, gst_hdmabuf_in_unref);
  g_free (self->left_generation);
  g_free (self->socket_path);
  g_free (self->stream);
  G_OBJECT_CLASS (gst_hdmabuf_src_parent_class)->finalize (object);
}

static void
gst_hdmabuf_src_class_init (GstHdmabufSrcClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *basesrc_class = GST_BASE_SRC_CLASS (klass);
  const GParamFlags flags = GST_HDMABUF_PROP_FLAGS;

  gobject_class->set_property = gst_hdmabuf_src_set_property;
  gobject_class->get_property = gst_hdmabuf_src_get_property;
  gobject_class->finalize = gst_hdmabuf_src_finalize;

  gst_hdmabuf_props_install_common (gobject_class,
      "Unix socket of this VM's source daemon (NULL: $HDMABUF_RUNTIME_DIR/source.sock, "
      "default /run/hyperdmabuf/source.sock)",
      "Name of the stream to import (the exports' tag \"stream\"); "
      "a udev-style glob such as cam* takes the first stream that matches",
      "Milliseconds to wait for the stream to appear and for each frame before failing with an error "
      "(0: no limit)", DEFAULT_TIMEOUT);
  g_object_class_install_property (gobject_class, PROP_IS_LIVE,
      g_param_spec_boolean ("is-live", "Is live", "Act as a live source: timestamps are the producer's "
          "capture times (CLOCK_REALTIME in the frame headers) on this pipeline's clock; otherwise the "
          "producer's own buffer timestamps are restored", FALSE, flags));
  g_object_class_install_property (gobject_class, PROP_COPY_HELD_AFTER,
      g_param_spec_uint ("copy-held-after", "Copy held after", "Milliseconds without a new frame after "
          "which, while downstream still holds a frame, a copy of the newest frame without timestamps is "
          "pushed (again after as long while it still holds one, at most 10 times per wait: a sink may drop "
          "a copy) so that downstream lets the held one go: a video sink such as "
          "waylandsink keeps its frame on screen until it shows a newer one, and the producer may need "
          "that slot for its next frame or to drain (0: never; the stream then waits for downstream)",
          0, G_MAXINT, DEFAULT_COPY_HELD_AFTER, flags));
  g_object_class_install_property (gobject_class, PROP_DMA_BUF,
      g_param_spec_enum ("dma-buf", "dma-buf", "Whether frames go as GstDmaBufMemory of a Linux dma-buf of exactly "
          "their slot (made by the source daemon with udmabuf: ivshmem host mode on a kernel with /dev/udmabuf), for "
          "a GPU, encoder or compositor that imports dma-bufs. auto: where downstream accepts "
          "video/x-raw(memory:DMABuf) caps and the daemon can make them (not for a read-only stream or a slot over "
          "udmabuf's size_limit_mb), under those caps; else system memory, saying why at INFO level, or an error "
          "naming why where downstream accepts only memory:DMABuf. always: every frame, video or audio, under "
          "memory:DMABuf caps where downstream accepts them, else plain caps; an error naming why where none can be "
          "had. never: no dma-bufs. true and false are aliases of always and never",
          GST_TYPE_HDMABUF_SRC_DMA_BUF, DEFAULT_DMA_BUF, flags));

  gst_type_mark_as_plugin_api (GST_TYPE_HDMABUF_SRC_DMA_BUF, 0);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "hyperdmabuf source", "Source/Video/Audio",
      "Imports a hyperdmabuf frame stream of another VM as raw video or audio, without a copy",
      "hyperdmabuf developers");

  basesrc_class->create = GST_DEBUG_FUNCPTR (gst_hdmabuf_src_create);
  basesrc_class->query = GST_DEBUG_FUNCPTR (gst_hdmabuf_src_query);
  basesrc_class->negotiate = GST_DEBUG_FUNCPTR (gst_hdmabuf_src_negotiate);
  basesrc_class->unlock = GST_DEBUG_FUNCPTR (gst_hdmabuf_src_unlock);
  basesrc_class->unlock_stop = GST_DEBUG_FUNCPTR (gst_hdmabuf_src_unlock_stop);
  basesrc_class->start = GST_DEBUG_FUNCPTR (gst_hdmabuf_src_start);
  basesrc_class->stop = GST_DEBUG_FUNCPTR (gst_hdmabuf_src_stop);
}

static void
gst_hdmabuf_src_init (GstHdmabufSrc * self)
{
  self->stream = g_strdup (GST_HDMABUF_DEFAULT_STREAM);
  self->timeout_ms = DEFAULT_TIMEOUT;
  self->copy_held_after_ms = DEFAULT_COPY_HELD_AFTER;
  self->dma_buf = DEFAULT_DMA_BUF;
  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
}
