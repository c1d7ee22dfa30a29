/* SPDX-License-Identifier: MIT */
/*
 * Caps as hyperdmabuf export metadata and back: typed fields (image planes, audio format) for any
 * consumer, plus the caps string in the tag "gst_caps" so a GStreamer consumer restores them whole
 * (framerate, colorimetry, channel layout).
 */
#ifndef GST_HDMABUF_CAPS_H
#define GST_HDMABUF_CAPS_H

#include <gst/audio/audio.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <hyperdmabuf/hdmabuf.h>

G_BEGIN_DECLS

#define GST_HDMABUF_TAG_CAPS "gst_caps"
#define GST_HDMABUF_TAG_GENERATION "generation"

/* The formats both elements carry, interleaved audio as the ABI's frames hold it. */
#define GST_HDMABUF_ELEMENT_CAPS_STRING GST_VIDEO_CAPS_MAKE (GST_VIDEO_FORMATS_ALL) "; " \
    GST_AUDIO_CAPS_MAKE (GST_AUDIO_FORMATS_ALL) ", layout = (string) interleaved"
#define GST_HDMABUF_ELEMENT_CAPS GST_STATIC_CAPS (GST_HDMABUF_ELEMENT_CAPS_STRING)

/* What a stream's frames look like, from negotiated caps. */
typedef struct {
  gboolean is_video;
  GstVideoInfo vinfo;           /* video: the layout of every frame */
  GstAudioInfo ainfo;           /* audio */
  gsize frame_bytes;            /* the most one frame holds */
  gsize alloc_bytes;            /* content bytes to allocate (plane bounds as the daemon checks them) */
  struct hdmabuf_image image;   /* video, when the format has a DRM fourcc */
  gboolean has_image;
  struct hdmabuf_audio audio;
  gchar *caps_string;
} GstHdmabufFormat;

/* Fills fmt from fixed raw video or audio caps; FALSE for anything else. */
gboolean gst_hdmabuf_format_from_caps (GstHdmabufFormat * fmt, GstCaps * caps);
void gst_hdmabuf_format_clear (GstHdmabufFormat * fmt);

/* Caps for an import's metadata: the "gst_caps" tag, else the typed image or audio fields. */
GstCaps *gst_hdmabuf_caps_from_metadata (const struct hdmabuf_metadata * md);

G_END_DECLS

#endif
