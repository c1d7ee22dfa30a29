/* SPDX-License-Identifier: MIT */
#include "hdmabufpool.h"

GST_DEBUG_CATEGORY_EXTERN (gst_hdmabuf_sink_debug);
#define GST_CAT_DEFAULT gst_hdmabuf_sink_debug

struct _GstHdmabufPool {
  GstBufferPool parent;
  GstHdmabufOut *out;
  gint timeout_ms;
  GstBuffer **buffers;          /* one per slot, made on first use */
  gboolean video_meta;
  GMutex lock;
  GWeakRef owner;               /* the sink, which reports a failed acquire */
};

G_DEFINE_TYPE (GstHdmabufPool, gst_hdmabuf_pool, GST_TYPE_BUFFER_POOL);

static const gchar **
pool_get_options (GstBufferPool * pool G_GNUC_UNUSED)
{
  static const gchar *options[] = { GST_BUFFER_POOL_OPTION_VIDEO_META, NULL };
  return options;
}

static gboolean
pool_set_config (GstBufferPool * pool, GstStructure * config)
{
  GstHdmabufPool *self = GST_HDMABUF_POOL (pool);
  guint size, min, max;
  GstCaps *caps;

  if (!gst_buffer_pool_config_get_params (config, &caps, &size, &min, &max))
    return FALSE;
  if (size > gst_hdmabuf_out_frame_bytes (self->out)) {
    GST_WARNING_OBJECT (pool, "buffers of %u bytes do not fit the slots", size);
    return FALSE;
  }
  self->video_meta = gst_buffer_pool_config_has_option (config, GST_BUFFER_POOL_OPTION_VIDEO_META);
  /* Exactly the K slots: a pool never has more buffers than the stream. */
  gst_buffer_pool_config_set_params (config, caps, size, gst_hdmabuf_out_slots (self->out),
      gst_hdmabuf_out_slots (self->out));
  return GST_BUFFER_POOL_CLASS (gst_hdmabuf_pool_parent_class)->set_config (pool, config);
}

/* Buffers are made per slot on demand and kept: start and stop have nothing to preallocate. */
static gboolean
pool_start (GstBufferPool * pool G_GNUC_UNUSED)
{
  return TRUE;
}

static gboolean
pool_stop (GstBufferPool * pool G_GNUC_UNUSED)
{
  return TRUE;
}

static GstBuffer *
make_buffer (GstHdmabufPool * self, guint slot)
{
  const GstHdmabufFormat *fmt = gst_hdmabuf_out_format (self->out);
  GstBuffer *buf = gst_buffer_new ();

  gst_buffer_append_memory (buf, gst_hdmabuf_out_wrap_slot (self->out, slot));
  if (fmt->is_video) {
    const GstVideoInfo *vi = &fmt->vinfo;
    GstVideoMeta *meta = gst_buffer_add_video_meta_full (buf, GST_VIDEO_FRAME_FLAG_NONE,
        GST_VIDEO_INFO_FORMAT (vi), GST_VIDEO_INFO_WIDTH (vi), GST_VIDEO_INFO_HEIGHT (vi),
        GST_VIDEO_INFO_N_PLANES (vi), (gsize *) vi->offset, (gint *) vi->stride);
    GST_META_FLAG_SET (meta, GST_META_FLAG_POOLED);
  }
  return buf;
}

static GstFlowReturn
pool_acquire_buffer (GstBufferPool * pool, GstBuffer ** buffer, GstBufferPoolAcquireParams * params G_GNUC_UNUSED)
{
  GstHdmabufPool *self = GST_HDMABUF_POOL (pool);
  GError *error = NULL;
  GstFlowReturn ret;
  guint slot;

  ret = gst_hdmabuf_out_take_next (self->out, self->timeout_ms, &slot, &error);
  if (ret != GST_FLOW_OK) {
    if (error != NULL) {
      /* Upstream would only say "internal data stream error": the sink says why, first. */
      GstElement *owner = g_weak_ref_get (&self->owner);
      if (owner != NULL) {
        GST_ELEMENT_ERROR (owner, RESOURCE, FAILED, ("%s", error->message), ("acquiring a shared slot"));
        gst_object_unref (owner);
      }
      g_error_free (error);
    }
    return ret;
  }
  g_mutex_lock (&self->lock);
  if (self->buffers[slot] == NULL)
    self->buffers[slot] = make_buffer (self, slot);
  *buffer = self->buffers[slot];
  self->buffers[slot] = NULL;
  g_mutex_unlock (&self->lock);
  GST_LOG_OBJECT (pool, "handing out slot %u", slot);
  return GST_FLOW_OK;
}

static void
pool_reset_buffer (GstBufferPool * pool, GstBuffer * buffer)
{
  GST_BUFFER_PTS (buffer) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_DTS (buffer) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_DURATION (buffer) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_OFFSET (buffer) = GST_BUFFER_OFFSET_NONE;
  GST_BUFFER_OFFSET_END (buffer) = GST_BUFFER_OFFSET_NONE;
  GST_BUFFER_FLAGS (buffer) = 0;
  /* Audio producers shrink a buffer to the period they wrote. */
  gst_buffer_set_size (buffer, gst_hdmabuf_out_frame_bytes (GST_HDMABUF_POOL (pool)->out));
}

static void
pool_release_buffer (GstBufferPool * pool, GstBuffer * buffer)
{
  GstHdmabufPool *self = GST_HDMABUF_POOL (pool);
  GstMemory *mem = gst_buffer_n_memory (buffer) == 1 ? gst_buffer_peek_memory (buffer, 0) : NULL;
  GstMapInfo map;
  gint slot = -1;

  if (mem != NULL && gst_memory_map (mem, &map, GST_MAP_READ)) {
    slot = gst_hdmabuf_out_slot_at (self->out, map.data);
    gst_memory_unmap (mem, &map);
  }
  if (slot < 0) {
    /* Upstream replaced the memory: the slot is unknown; the buffer is useless to the pool. */
    GST_WARNING_OBJECT (pool, "a buffer came back without its slot memory");
    gst_buffer_unref (buffer);
    return;
  }
  g_mutex_lock (&self->lock);
  if (self->buffers[slot] == NULL && gst_buffer_get_size (buffer) == gst_hdmabuf_out_frame_bytes (self->out)) {
    self->buffers[slot] = buffer;
    buffer = NULL;
  }
  g_mutex_unlock (&self->lock);
  if (buffer != NULL)
    gst_buffer_unref (buffer);
  gst_hdmabuf_out_give_back (self->out, slot);
}

static void
pool_flush_start (GstBufferPool * pool)
{
  gst_hdmabuf_out_set_flushing (GST_HDMABUF_POOL (pool)->out, TRUE);
}

static void
pool_flush_stop (GstBufferPool * pool)
{
  gst_hdmabuf_out_set_flushing (GST_HDMABUF_POOL (pool)->out, FALSE);
}

static void
pool_finalize (GObject * object)
{
  GstHdmabufPool *self = GST_HDMABUF_POOL (object);

  for (guint i = 0; i < gst_hdmabuf_out_slots (self->out); i++)
    if (self->buffers[i] != NULL)
      gst_buffer_unref (self->buffers[i]);
  g_free (self->buffers);
  g_weak_ref_clear (&self->owner);
  g_mutex_clear (&self->lock);
  gst_hdmabuf_out_unref (self->out);
  G_OBJECT_CLASS (gst_hdmabuf_pool_parent_class)->finalize (object);
}

static void
gst_hdmabuf_pool_class_init (GstHdmabufPoolClass * klass)
{
  GstBufferPoolClass *pool_class = GST_BUFFER_POOL_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = pool_finalize;
  pool_class->get_options = pool_get_options;
  pool_class->set_config = pool_set_config;
  pool_class->start = pool_start;
  pool_class->stop = pool_stop;
  pool_class->acquire_buffer = pool_acquire_buffer;
  pool_class->reset_buffer = pool_reset_buffer;
  pool_class->release_buffer = pool_release_buffer;
  pool_class->flush_start = pool_flush_start;
  pool_class->flush_stop = pool_flush_stop;
}

static void
gst_hdmabuf_pool_init (GstHdmabufPool * self)
{
  g_mutex_init (&self->lock);
  g_weak_ref_init (&self->owner, NULL);
}

GstBufferPool *
gst_hdmabuf_pool_new (GstHdmabufOut * out, GstElement * owner, gint timeout_ms)
{
  GstHdmabufPool *self = g_object_new (GST_TYPE_HDMABUF_POOL, NULL);

  g_weak_ref_set (&self->owner, owner);
  gst_object_ref_sink (self);
  self->out = gst_hdmabuf_out_ref (out);
  self->timeout_ms = timeout_ms;
  self->buffers = g_new0 (GstBuffer *, gst_hdmabuf_out_slots (out));
  return GST_BUFFER_POOL (self);
}
