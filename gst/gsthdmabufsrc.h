/* SPDX-License-Identifier: MIT */
#ifndef GST_HDMABUF_SRC_H
#define GST_HDMABUF_SRC_H

#include <gst/base/gstbasesrc.h>

#include "hdmabufin.h"

G_BEGIN_DECLS

#define GST_TYPE_HDMABUF_SRC (gst_hdmabuf_src_get_type ())
G_DECLARE_FINAL_TYPE (GstHdmabufSrc, gst_hdmabuf_src, GST, HDMABUF_SRC, GstBaseSrc)

struct _GstHdmabufSrc {
  GstBaseSrc parent;

  /* properties */
  gchar *socket_path;
  gchar *stream;
  guint timeout_ms;
  guint copy_held_after_ms;
  gboolean dma_buf;

  GstHdmabufIn *in;             /* the export followed now */
  gchar *left_generation;       /* the export left for new caps */
  gint cancel;                  /* unlock(): waits return */
  GstClockTime last_duration;
  guint slots;                  /* of the export followed, for LATENCY queries from other threads */
  gboolean fd_memory;           /* frames of this export as GstFdMemory (downstream takes GstVideoMeta) */
};

GST_ELEMENT_REGISTER_DECLARE (hdmabufsrc);

G_END_DECLS

#endif
