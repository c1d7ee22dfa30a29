/* SPDX-License-Identifier: MIT */
#ifndef GST_HDMABUF_SRC_H
#define GST_HDMABUF_SRC_H

#include <gst/base/gstbasesrc.h>

#include "hdmabufin.h"

G_BEGIN_DECLS

/* The dma-buf property: whether frames go as GstDmaBufMemory. true and false are aliases of always
 * and never, which keep their numbers (a gboolean set through g_object_set still works). */
typedef enum {
  GST_HDMABUF_SRC_DMA_BUF_NEVER = 0,
  GST_HDMABUF_SRC_DMA_BUF_ALWAYS = 1,
  GST_HDMABUF_SRC_DMA_BUF_AUTO = 2,
} GstHdmabufSrcDmaBuf;

#define GST_TYPE_HDMABUF_SRC_DMA_BUF (gst_hdmabuf_src_dma_buf_get_type ())
GType gst_hdmabuf_src_dma_buf_get_type (void);

#define GST_TYPE_HDMABUF_SRC (gst_hdmabuf_src_get_type ())
G_DECLARE_FINAL_TYPE (GstHdmabufSrc, gst_hdmabuf_src, GST, HDMABUF_SRC, GstBaseSrc)

struct _GstHdmabufSrc {
  GstBaseSrc parent;

  /* properties */
  gchar *socket_path;
  gchar *stream;
  guint timeout_ms;
  guint copy_held_after_ms;
  gint dma_buf;                  /* GstHdmabufSrcDmaBuf */

  GstHdmabufIn *in;             /* the export followed now */
  gchar *left_generation;       /* the export left for new caps */
  gint cancel;                  /* unlock(): waits return */
  GstClockTime last_duration;
  guint slots;                  /* of the export followed, for LATENCY queries from other threads */
  gboolean fd_memory;           /* frames of this export as GstFdMemory (downstream takes GstVideoMeta) */
  gboolean dmabuf_caps;         /* this export's caps carry memory:DMABuf: no copies of a held frame */
};

GST_ELEMENT_REGISTER_DECLARE (hdmabufsrc);

G_END_DECLS

#endif
