/* SPDX-License-Identifier: MIT */
/*
 * A buffer pool of shared slots, proposed upstream by hdmabufsink: upstream renders straight into
 * the memory the consumer VM maps. It hands slots out in frame order and only once the consumer
 * released the slot's previous frame.
 */
#ifndef GST_HDMABUF_POOL_H
#define GST_HDMABUF_POOL_H

#include "hdmabufout.h"

G_BEGIN_DECLS

#define GST_TYPE_HDMABUF_POOL (gst_hdmabuf_pool_get_type ())
G_DECLARE_FINAL_TYPE (GstHdmabufPool, gst_hdmabuf_pool, GST, HDMABUF_POOL, GstBufferPool)

/* owner: the element that posts the error of an acquire that failed. */
GstBufferPool *gst_hdmabuf_pool_new (GstHdmabufOut * out, GstElement * owner, gint timeout_ms);

G_END_DECLS

#endif
