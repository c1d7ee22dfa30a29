/* SPDX-License-Identifier: MIT */
/*
 * What the elements put in a frame header's private_data (ABI.md "Frame headers"): the GstBuffer's
 * own timing, so a consumer restores PTS, DTS and offsets exactly, and a marker frame that says the
 * stream continues under new caps.
 */
#ifndef GST_HDMABUF_FRAME_H
#define GST_HDMABUF_FRAME_H

#include <glib.h>

#define GST_HDMABUF_FRAME_MAGIC 0x42545347u /* "GSTB" */

enum {
  GST_HDMABUF_FRAME_DATA = 0,
  /* Sent with END_OF_STREAM: not the end, the next export of this stream has other caps. */
  GST_HDMABUF_FRAME_RENEGOTIATE = 1,
};

typedef struct {
  guint32 magic;
  guint32 kind;
  guint64 pts;                  /* GstClockTime of the producer's segment, GST_CLOCK_TIME_NONE = none */
  guint64 dts;
  guint64 duration;
  guint64 offset;
  guint64 offset_end;
  guint32 buffer_flags;         /* GstBufferFlags that cross (DISCONT, DELTA_UNIT, GAP, ...) */
  guint32 reserved;
} GstHdmabufFramePrivate;

G_STATIC_ASSERT (sizeof (GstHdmabufFramePrivate) == 56);

#endif
