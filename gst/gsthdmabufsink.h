/* SPDX-License-Identifier: MIT */
#ifndef GST_HDMABUF_SINK_H
#define GST_HDMABUF_SINK_H

#include <gst/base/gstbasesink.h>

#include "hdmabufout.h"

G_BEGIN_DECLS

#define GST_TYPE_HDMABUF_SINK (gst_hdmabuf_sink_get_type ())
G_DECLARE_FINAL_TYPE (GstHdmabufSink, gst_hdmabuf_sink, GST, HDMABUF_SINK, GstBaseSink)

struct _GstHdmabufSink {
  GstBaseSink parent;

  /* properties */
  gchar *socket_path;
  guint target_vm;
  gchar *stream;
  guint buffers;
  gboolean read_only;
  guint timeout_ms;
  guint consumer_timeout_ms;

  GstHdmabufOut *out;           /* the export of the current caps */
  GstCaps *caps;
  gboolean copy_logged;
  gboolean have_epoch;
  gint64 epoch_ns;              /* CLOCK_REALTIME of running time 0 */
};

GST_ELEMENT_REGISTER_DECLARE (hdmabufsink);

G_END_DECLS

#endif
