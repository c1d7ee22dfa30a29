/* SPDX-License-Identifier: MIT */
#include "gsthdmabufsink.h"
#include "gsthdmabufsrc.h"

GST_DEBUG_CATEGORY_EXTERN (gst_hdmabuf_sink_debug);
GST_DEBUG_CATEGORY_EXTERN (gst_hdmabuf_src_debug);

static gboolean
plugin_init (GstPlugin * plugin)
{
  gboolean ok = TRUE;

  GST_DEBUG_CATEGORY_INIT (gst_hdmabuf_sink_debug, "hdmabufsink", 0, "hyperdmabuf sink");
  GST_DEBUG_CATEGORY_INIT (gst_hdmabuf_src_debug, "hdmabufsrc", 0, "hyperdmabuf source");
  ok &= GST_ELEMENT_REGISTER (hdmabufsink, plugin);
  ok &= GST_ELEMENT_REGISTER (hdmabufsrc, plugin);
  return ok;
}

#define PACKAGE "hyperdmabuf"
GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, hdmabuf,
    "Zero-copy raw video and audio between VMs over hyperdmabuf", plugin_init, HDMABUF_VERSION, "MIT",
    "hyperdmabuf", "Unknown package origin")
