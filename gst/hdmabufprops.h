/* SPDX-License-Identifier: MIT */
/*
 * What hdmabufsink and hdmabufsrc share: the properties both have (the daemon's socket, the stream's
 * name, a timeout), get and set of properties kept in fields of the instance struct, and the clocks.
 */
#ifndef GST_HDMABUF_PROPS_H
#define GST_HDMABUF_PROPS_H

#include <gst/gst.h>

G_BEGIN_DECLS

/* Both elements' first property ids; an element's own properties follow. */
enum {
  GST_HDMABUF_PROP_SOCKET_PATH = 1,
  GST_HDMABUF_PROP_STREAM,
  GST_HDMABUF_PROP_TIMEOUT,
  GST_HDMABUF_PROP_FIRST_OWN,
};

/* The fields of the common properties, in an element's table of fields (see gst_hdmabuf_props_set). */
#define GST_HDMABUF_COMMON_FIELDS(Instance) \
  [GST_HDMABUF_PROP_SOCKET_PATH] = G_STRUCT_OFFSET (Instance, socket_path), \
  [GST_HDMABUF_PROP_STREAM] = G_STRUCT_OFFSET (Instance, stream), \
  [GST_HDMABUF_PROP_TIMEOUT] = G_STRUCT_OFFSET (Instance, timeout_ms)

#define GST_HDMABUF_DEFAULT_STREAM "hdmabuf"
#define GST_HDMABUF_PROP_FLAGS (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)

/* Installs socket-path, stream and timeout with the element's own blurbs (static strings). */
void gst_hdmabuf_props_install_common (GObjectClass * klass, const gchar * socket_blurb,
    const gchar * stream_blurb, const gchar * timeout_blurb, guint default_timeout);

/*
 * Sets or gets property prop_id in the instance field at fields[prop_id] (a byte offset; 0: no field),
 * under the object lock: a gchar * for a string (NULL sets the pspec's default), a guint, a gboolean or
 * an enum (a gint field).
 */
void gst_hdmabuf_props_set (GObject * object, const gsize * fields, guint n_fields, guint prop_id,
    const GValue * value, GParamSpec * pspec);
void gst_hdmabuf_props_get (GObject * object, const gsize * fields, guint n_fields, guint prop_id,
    GValue * value, GParamSpec * pspec);

/* A timeout property in milliseconds as a wait's bound: 0 (no limit) is -1. */
gint gst_hdmabuf_timeout_of (guint timeout_ms);

/* CLOCK_REALTIME in nanoseconds: the ABI's clock for frame timestamps. */
gint64 gst_hdmabuf_realtime_ns (void);

G_END_DECLS

#endif
