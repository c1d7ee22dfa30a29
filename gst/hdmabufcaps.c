/* SPDX-License-Identifier: MIT */
#include "hdmabufcaps.h"

#include <string.h>

#define FOURCC(a, b, c, d) ((guint32) (a) | ((guint32) (b) << 8) | ((guint32) (c) << 16) | ((guint32) (d) << 24))

/* DRM fourccs name pixels as little-endian words: GStreamer's RGBA bytes are DRM ABGR8888. */
static const struct {
  GstVideoFormat format;
  guint32 fourcc;
} video_formats[] = {
  {GST_VIDEO_FORMAT_RGBA, FOURCC ('A', 'B', '2', '4')},
  {GST_VIDEO_FORMAT_BGRA, FOURCC ('A', 'R', '2', '4')},
  {GST_VIDEO_FORMAT_RGBx, FOURCC ('X', 'B', '2', '4')},
  {GST_VIDEO_FORMAT_BGRx, FOURCC ('X', 'R', '2', '4')},
  {GST_VIDEO_FORMAT_ARGB, FOURCC ('B', 'A', '2', '4')},
  {GST_VIDEO_FORMAT_xRGB, FOURCC ('B', 'X', '2', '4')},
  {GST_VIDEO_FORMAT_RGB, FOURCC ('B', 'G', '2', '4')},
  {GST_VIDEO_FORMAT_BGR, FOURCC ('R', 'G', '2', '4')},
  {GST_VIDEO_FORMAT_RGB16, FOURCC ('R', 'G', '1', '6')},
  {GST_VIDEO_FORMAT_GRAY8, FOURCC ('R', '8', ' ', ' ')},
  {GST_VIDEO_FORMAT_I420, FOURCC ('Y', 'U', '1', '2')},
  {GST_VIDEO_FORMAT_YV12, FOURCC ('Y', 'V', '1', '2')},
  {GST_VIDEO_FORMAT_NV12, FOURCC ('N', 'V', '1', '2')},
  {GST_VIDEO_FORMAT_NV21, FOURCC ('N', 'V', '2', '1')},
  {GST_VIDEO_FORMAT_Y42B, FOURCC ('Y', 'U', '1', '6')},
  {GST_VIDEO_FORMAT_Y444, FOURCC ('Y', 'U', '2', '4')},
  {GST_VIDEO_FORMAT_YUY2, FOURCC ('Y', 'U', 'Y', 'V')},
  {GST_VIDEO_FORMAT_UYVY, FOURCC ('U', 'Y', 'V', 'Y')},
};

/* ALSA's names, as the ABI's audio.sample_format. */
static const struct {
  GstAudioFormat format;
  const gchar *alsa;
} audio_formats[] = {
  {GST_AUDIO_FORMAT_S8, "S8"}, {GST_AUDIO_FORMAT_U8, "U8"},
  {GST_AUDIO_FORMAT_S16LE, "S16_LE"}, {GST_AUDIO_FORMAT_S16BE, "S16_BE"},
  {GST_AUDIO_FORMAT_S24LE, "S24_3LE"}, {GST_AUDIO_FORMAT_S32LE, "S32_LE"},
  {GST_AUDIO_FORMAT_S24_32LE, "S24_LE"}, {GST_AUDIO_FORMAT_F32LE, "FLOAT_LE"},
  {GST_AUDIO_FORMAT_F64LE, "FLOAT64_LE"},
};

gboolean
gst_hdmabuf_format_from_caps (GstHdmabufFormat * fmt, GstCaps * caps)
{
  GstStructure *s;

  memset (fmt, 0, sizeof (*fmt));
  if (!gst_caps_is_fixed (caps))
    return FALSE;
  s = gst_caps_get_structure (caps, 0);
  if (gst_structure_has_name (s, "video/x-raw")) {
    GstVideoInfo *vi = &fmt->vinfo;
    gsize bound;

    if (!gst_video_info_from_caps (vi, caps))
      return FALSE;
    fmt->is_video = TRUE;
    fmt->frame_bytes = GST_VIDEO_INFO_SIZE (vi);
    /* The daemon checks offset + stride * height for every plane, subsampled or not. */
    bound = fmt->frame_bytes;
    for (guint i = 0; i < GST_VIDEO_INFO_N_PLANES (vi); i++)
      bound = MAX (bound, GST_VIDEO_INFO_PLANE_OFFSET (vi, i) +
          (gsize) GST_VIDEO_INFO_PLANE_STRIDE (vi, i) * GST_VIDEO_INFO_HEIGHT (vi));
    fmt->alloc_bytes = bound;
    for (guint i = 0; i < G_N_ELEMENTS (video_formats); i++) {
      if (video_formats[i].format == GST_VIDEO_INFO_FORMAT (vi)
          && GST_VIDEO_INFO_N_PLANES (vi) <= HDMABUF_MAX_PLANES) {
        fmt->has_image = TRUE;
        fmt->image.width = GST_VIDEO_INFO_WIDTH (vi);
        fmt->image.height = GST_VIDEO_INFO_HEIGHT (vi);
        fmt->image.fourcc = video_formats[i].fourcc;
        fmt->image.n_planes = GST_VIDEO_INFO_N_PLANES (vi);
        for (guint p = 0; p < fmt->image.n_planes; p++) {
          fmt->image.planes[p].offset = GST_VIDEO_INFO_PLANE_OFFSET (vi, p);
          fmt->image.planes[p].stride = GST_VIDEO_INFO_PLANE_STRIDE (vi, p);
        }
      }
    }
  } else if (gst_structure_has_name (s, "audio/x-raw")) {
    GstAudioInfo *ai = &fmt->ainfo;

    if (!gst_audio_info_from_caps (ai, caps)
        || GST_AUDIO_INFO_LAYOUT (ai) != GST_AUDIO_LAYOUT_INTERLEAVED)
      return FALSE;
    /* 200 ms of audio, at least 64 KiB: room for any period a live source pushes. */
    fmt->frame_bytes = MAX ((gsize) 65536,
        (gsize) GST_AUDIO_INFO_RATE (ai) / 5 * GST_AUDIO_INFO_BPF (ai));
    fmt->alloc_bytes = fmt->frame_bytes;
    fmt->audio.rate = GST_AUDIO_INFO_RATE (ai);
    fmt->audio.channels = GST_AUDIO_INFO_CHANNELS (ai);
    fmt->audio.frames = fmt->frame_bytes / GST_AUDIO_INFO_BPF (ai);
    fmt->audio.sample_format = "";
    for (guint i = 0; i < G_N_ELEMENTS (audio_formats); i++)
      if (audio_formats[i].format == GST_AUDIO_INFO_FORMAT (ai))
        fmt->audio.sample_format = audio_formats[i].alsa;
  } else {
    return FALSE;
  }
  fmt->caps_string = gst_caps_to_string (caps);
  /* A tag value holds at most 1024 bytes: longer caps travel as the typed fields only. */
  if (strlen (fmt->caps_string) > 1024)
    g_clear_pointer (&fmt->caps_string, g_free);
  return TRUE;
}

void
gst_hdmabuf_format_clear (GstHdmabufFormat * fmt)
{
  g_clear_pointer (&fmt->caps_string, g_free);
}

GstCaps *
gst_hdmabuf_caps_from_metadata (const struct hdmabuf_metadata *md)
{
  const gchar *text = hdmabuf_metadata_tag (md, GST_HDMABUF_TAG_CAPS);

  if (text != NULL) {
    GstCaps *caps = gst_caps_from_string (text);
    if (caps != NULL && gst_caps_is_fixed (caps))
      return caps;
    if (caps != NULL)
      gst_caps_unref (caps);
  }
  if (md->image != NULL) {
    for (guint i = 0; i < G_N_ELEMENTS (video_formats); i++) {
      if (video_formats[i].fourcc == md->image->fourcc) {
        GstVideoInfo vi;
        gst_video_info_set_format (&vi, video_formats[i].format, md->image->width, md->image->height);
        return gst_video_info_to_caps (&vi);
      }
    }
  }
  if (md->audio != NULL) {
    for (guint i = 0; i < G_N_ELEMENTS (audio_formats); i++) {
      if (g_strcmp0 (audio_formats[i].alsa, md->audio->sample_format) == 0) {
        GstAudioInfo ai;
        gst_audio_info_set_format (&ai, audio_formats[i].format, md->audio->rate, md->audio->channels, NULL);
        return gst_audio_info_to_caps (&ai);
      }
    }
  }
  return NULL;
}
