/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "hdmabufprops.h"

#include <time.h>

void
gst_hdmabuf_props_install_common (GObjectClass * klass, const gchar * socket_blurb,
    const gchar * stream_blurb, const gchar * timeout_blurb, const guint default_timeout)
{
  g_object_class_install_property (klass, GST_HDMABUF_PROP_SOCKET_PATH,
      g_param_spec_string ("socket-path", "Socket path", socket_blurb, NULL, GST_HDMABUF_PROP_FLAGS));
  g_object_class_install_property (klass, GST_HDMABUF_PROP_STREAM,
      g_param_spec_string ("stream", "Stream", stream_blurb, GST_HDMABUF_DEFAULT_STREAM,
          GST_HDMABUF_PROP_FLAGS));
  g_object_class_install_property (klass, GST_HDMABUF_PROP_TIMEOUT,
      g_param_spec_uint ("timeout", "Timeout", timeout_blurb, 0, G_MAXINT, default_timeout,
          GST_HDMABUF_PROP_FLAGS));
}

/* Copies the value into prop_id's field when from is set, else the field into to; under the object lock. */
static void
transfer (GObject * object, const gsize * fields, const guint n_fields, const guint prop_id, GParamSpec * pspec,
    const GValue * from, GValue * to)
{
  gpointer field;

  if (prop_id >= n_fields || fields[prop_id] == 0) {
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    return;
  }
  field = G_STRUCT_MEMBER_P (object, fields[prop_id]);
  GST_OBJECT_LOCK (object);
  switch (G_TYPE_FUNDAMENTAL (G_PARAM_SPEC_VALUE_TYPE (pspec))) {
    case G_TYPE_STRING:
      if (from == NULL) {
        g_value_set_string (to, *(gchar **) field);
        break;
      }
      g_free (*(gchar **) field);
      *(gchar **) field = g_value_dup_string (from);
      if (*(gchar **) field == NULL)
        *(gchar **) field = g_strdup (G_PARAM_SPEC_STRING (pspec)->default_value);
      break;
    case G_TYPE_UINT:
      if (from == NULL)
        g_value_set_uint (to, *(guint *) field);
      else
        *(guint *) field = g_value_get_uint (from);
      break;
    case G_TYPE_BOOLEAN:
      if (from == NULL)
        g_value_set_boolean (to, *(gboolean *) field);
      else
        *(gboolean *) field = g_value_get_boolean (from);
      break;
    case G_TYPE_ENUM:
      if (from == NULL)
        g_value_set_enum (to, *(gint *) field);
      else
        *(gint *) field = g_value_get_enum (from);
      break;
    default:
      g_assert_not_reached ();
  }
  GST_OBJECT_UNLOCK (object);
}

void
gst_hdmabuf_props_set (GObject * object, const gsize * fields, const guint n_fields, const guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  transfer (object, fields, n_fields, prop_id, pspec, value, NULL);
}

void
gst_hdmabuf_props_get (GObject * object, const gsize * fields, const guint n_fields, const guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  transfer (object, fields, n_fields, prop_id, pspec, NULL, value);
}

gint
gst_hdmabuf_timeout_of (const guint timeout_ms)
{
  return timeout_ms == 0 ? -1 : (gint) MIN (timeout_ms, G_MAXINT);
}

gint64
gst_hdmabuf_realtime_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_REALTIME, &ts);
  return (gint64) ts.tv_sec * GST_SECOND + ts.tv_nsec;
}
