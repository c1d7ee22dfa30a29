/* SPDX-License-Identifier: MIT */
/*
 * One end of a transport benchmark (shm-compare.py drives it): frames carry their producer's
 * CLOCK_MONOTONIC time in their first 8 bytes, written once the source filled them; the receiving
 * end reads it on arrival.
 *
 *   gst-bench produce SOURCE WxH FRAMES FPS SINK...   SOURCE ! RGBA WxH ! identity ! SINK (a gst-launch
 *                                                     description); FPS 0: unpaced
 *   gst-bench consume WxH FRAMES SRC...               SRC ! fakesink sync=false
 *   gst-bench local SOURCE WxH FRAMES FPS copy|none   SOURCE ! RGBA WxH ! identity ! fakesink in one
 *                                                     process, each frame copied (or not) on arrival
 *
 * SOURCE: videotestsrc (fills every pixel, pattern=solid-color) or stamp (writes the 8 bytes only, as
 * a camera or GPU writing by DMA would cost the CPU nothing). Prints one line "RESULT key=value ...":
 * frames, fps (first to last frame), cpu_ms (this process's user+system CPU over the same span),
 * lat_median_ms and lat_p99_ms (receiving ends), sink_copies (producing end: 1 when hdmabufsink said
 * it copies frames into its slots, since upstream did not write into its pool).
 */
#define _GNU_SOURCE
#include <gst/base/gstpushsrc.h>
#include <gst/video/video.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define RUN_TIMEOUT (120 * GST_SECOND)

#define FAIL(...) do { fprintf (stderr, "gst-bench: " __VA_ARGS__); fputc ('\n', stderr); exit (1); } while (0)

static guint64
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (guint64) ts.tv_sec * G_GUINT64_CONSTANT (1000000000) + (guint64) ts.tv_nsec;
}

static double
cpu_ms (void)
{
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* ---- stamp: a source that leaves the pixels alone ---- */

typedef struct {
  GstPushSrc parent;
  GstClockTime pts;
  GstClockTime duration;
} StampSrc;
typedef struct {
  GstPushSrcClass parent;
} StampSrcClass;

G_DEFINE_TYPE (StampSrc, stamp_src, GST_TYPE_PUSH_SRC);

static GstFlowReturn
stamp_src_fill (GstPushSrc * src, GstBuffer * buf)
{
  StampSrc *self = (StampSrc *) src;
  GST_BUFFER_PTS (buf) = self->pts;
  GST_BUFFER_DURATION (buf) = self->duration;
  self->pts += self->duration;
  return GST_FLOW_OK;
}

static gboolean
stamp_src_set_caps (GstBaseSrc * src, GstCaps * caps)
{
  StampSrc *self = (StampSrc *) src;
  GstVideoInfo vi;

  if (!gst_video_info_from_caps (&vi, caps))
    return FALSE;
  gst_base_src_set_blocksize (src, (guint) GST_VIDEO_INFO_SIZE (&vi));
  self->duration = gst_util_uint64_scale (GST_SECOND, GST_VIDEO_INFO_FPS_D (&vi), MAX (GST_VIDEO_INFO_FPS_N (&vi), 1));
  return TRUE;
}

static void
stamp_src_class_init (StampSrcClass * klass)
{
  static GstStaticPadTemplate tmpl = GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS,
      GST_STATIC_CAPS ("video/x-raw, format=RGBA"));
  gst_element_class_add_static_pad_template (GST_ELEMENT_CLASS (klass), &tmpl);
  gst_element_class_set_static_metadata (GST_ELEMENT_CLASS (klass), "stamp", "Source/Video", "frames of "
      "untouched pixels", "hyperdmabuf developers");
  GST_BASE_SRC_CLASS (klass)->set_caps = stamp_src_set_caps;
  GST_PUSH_SRC_CLASS (klass)->fill = stamp_src_fill;
}

static void
stamp_src_init (StampSrc * self)
{
  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
}

/* ---- measurements ---- */

typedef struct {
  guint want;
  guint n;
  guint64 first_ns, last_ns;
  double first_cpu, last_cpu;
  gint64 *lat_ns;
  guint8 *copy_to;              /* local copy: the destination of each frame */
  gsize copy_size;
} Meter;

static void
meter_tick (Meter * m)
{
  guint64 t = now_ns ();
  if (m->n == 0) {
    m->first_ns = t;
    m->first_cpu = cpu_ms ();
  }
  m->last_ns = t;
  m->last_cpu = cpu_ms ();
  m->n++;
}

/* The producing end: the frame is complete, stamp it. */
static GstPadProbeReturn
stamp_probe (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  GstMapInfo map;
  guint64 t = now_ns ();
  (void) pad;

  if (!gst_buffer_map (buf, &map, GST_MAP_WRITE))
    FAIL ("cannot map a frame for writing its stamp");
  memcpy (map.data, &t, sizeof (t));
  gst_buffer_unmap (buf, &map);
  meter_tick (data);
  return GST_PAD_PROBE_OK;
}

/* The receiving end: the latency of the frame, and a copy of it for the local baseline. */
static GstPadProbeReturn
receive_probe (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  Meter *m = data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  GstMapInfo map;
  guint64 stamp;
  (void) pad;

  if (!gst_buffer_map (buf, &map, GST_MAP_READ) || map.size < sizeof (stamp))
    FAIL ("cannot read a frame");
  if (m->copy_to != NULL)
    memcpy (m->copy_to, map.data, MIN (map.size, m->copy_size));
  memcpy (&stamp, map.data, sizeof (stamp));
  gst_buffer_unmap (buf, &map);
  if (m->n < m->want)
    m->lat_ns[m->n] = (gint64) (now_ns () - stamp);
  meter_tick (m);
  return GST_PAD_PROBE_OK;
}

static guint sink_copies;

static void
count_log (GstDebugCategory * cat, GstDebugLevel level, const gchar * file, const gchar * function, gint line,
    GObject * object, GstDebugMessage * message, gpointer user_data)
{
  const gchar *text = gst_debug_message_get (message);
  (void) level, (void) file, (void) function, (void) line, (void) object, (void) user_data;
  if (strcmp (gst_debug_category_get_name (cat), "hdmabufsink") == 0 && text != NULL
      && strstr (text, "copying frames") != NULL)
    g_atomic_int_inc (&sink_copies);
}

static gint
cmp_i64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return x < y ? -1 : x > y;
}

static void
run (GstElement * pipeline)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg;

  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  printf ("READY\n");
  fflush (stdout);
  msg = gst_bus_timed_pop_filtered (bus, RUN_TIMEOUT, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  if (msg == NULL)
    FAIL ("no EOS within %" GST_TIME_FORMAT, GST_TIME_ARGS (RUN_TIMEOUT));
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *err;
    gst_message_parse_error (msg, &err, NULL);
    FAIL ("%s", err->message);
  }
  gst_message_unref (msg);
  gst_object_unref (bus);
  gst_element_set_state (pipeline, GST_STATE_NULL);
}

static void
report (Meter * m, gboolean latency)
{
  double secs = (m->last_ns - m->first_ns) / 1e9;

  printf ("RESULT frames=%u fps=%.1f cpu_ms=%.1f", m->n, m->n > 1 && secs > 0 ? (m->n - 1) / secs : 0,
      m->last_cpu - m->first_cpu);
  if (latency && m->n > 0) {
    guint n = MIN (m->n, m->want);
    qsort (m->lat_ns, n, sizeof (gint64), cmp_i64);
    printf (" lat_median_ms=%.3f lat_p99_ms=%.3f", m->lat_ns[n / 2] / 1e6, m->lat_ns[(n - 1) * 99 / 100] / 1e6);
  }
  printf (" sink_copies=%u\n", g_atomic_int_get (&sink_copies));
  fflush (stdout);
}

/* SOURCE ! caps ! identity name=stamp ! tail, the stamp probe on identity's output; paced at fps by
 * identity's sync to the PTS, when fps > 0. */
static GstElement *
producer (const gchar * source, const gchar * size, guint frames, guint fps, const gchar * tail, Meter * m)
{
  guint width = 0, height = 0;
  gchar *desc;
  GError *err = NULL;
  GstElement *pipeline, *stamp;
  GstPad *pad;

  if (sscanf (size, "%ux%u", &width, &height) != 2)
    FAIL ("bad size %s", size);
  desc = g_strdup_printf ("%s name=src num-buffers=%u ! video/x-raw,format=RGBA,width=%u,height=%u,"
      "framerate=%u/1 ! identity name=stamp sync=%s ! %s",
      strcmp (source, "stamp") == 0 ? "benchstampsrc" : "videotestsrc pattern=solid-color", frames, width, height,
      fps > 0 ? fps : 60, fps > 0 ? "true" : "false", tail);
  if ((pipeline = gst_parse_launch (desc, &err)) == NULL)
    FAIL ("%s: %s", desc, err->message);
  stamp = gst_bin_get_by_name (GST_BIN (pipeline), "stamp");
  pad = gst_element_get_static_pad (stamp, "src");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, stamp_probe, m, NULL);
  gst_object_unref (pad);
  gst_object_unref (stamp);
  g_free (desc);
  return pipeline;
}

static void
add_receiver (GstElement * pipeline, Meter * m)
{
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), "recv");
  GstPad *pad = gst_element_get_static_pad (sink, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, receive_probe, m, NULL);
  gst_object_unref (pad);
  gst_object_unref (sink);
}

int
main (int argc, char **argv)
{
  Meter prod = { 0 }, recv = { 0 };
  GstElement *pipeline;
  GError *err = NULL;

  gst_init (&argc, &argv);
  gst_element_register (NULL, "benchstampsrc", GST_RANK_NONE, stamp_src_get_type ());
  if (argc >= 7 && strcmp (argv[1], "produce") == 0) {
    gchar *tail = g_strjoinv (" ", argv + 6);
    gst_debug_set_threshold_for_name ("hdmabufsink", GST_LEVEL_INFO);
    gst_debug_add_log_function (count_log, NULL, NULL);
    pipeline = producer (argv[2], argv[3], (guint) atoi (argv[4]), (guint) atoi (argv[5]), tail, &prod);
    run (pipeline);
    report (&prod, FALSE);
    g_free (tail);
  } else if (argc >= 5 && strcmp (argv[1], "consume") == 0) {
    gchar *head = g_strjoinv (" ", argv + 4);
    gchar *desc = g_strdup_printf ("%s ! fakesink name=recv sync=false enable-last-sample=false", head);
    recv.want = (guint) atoi (argv[3]);
    recv.lat_ns = g_new0 (gint64, recv.want);
    if ((pipeline = gst_parse_launch (desc, &err)) == NULL)
      FAIL ("%s: %s", desc, err->message);
    add_receiver (pipeline, &recv);
    run (pipeline);
    report (&recv, TRUE);
    g_free (desc);
    g_free (head);
  } else if (argc == 7 && strcmp (argv[1], "local") == 0) {
    recv.want = (guint) atoi (argv[4]);
    recv.lat_ns = g_new0 (gint64, recv.want);
    pipeline = producer (argv[2], argv[3], recv.want, (guint) atoi (argv[5]), "fakesink name=recv sync=false", &prod);
    if (strcmp (argv[6], "copy") == 0) {
      recv.copy_size = (gsize) atoi (argv[3]) * (gsize) atoi (strchr (argv[3], 'x') + 1) * 4;
      recv.copy_to = g_malloc (recv.copy_size);
      memset (recv.copy_to, 1, recv.copy_size);        /* faulted in before the run */
    }
    add_receiver (pipeline, &recv);
    run (pipeline);
    recv.first_cpu = prod.first_cpu;    /* one process: its CPU from the first frame made */
    report (&recv, TRUE);
  } else {
    FAIL ("usage: gst-bench produce SOURCE WxH FRAMES FPS SINK... | consume WxH FRAMES SRC... | "
        "local SOURCE WxH FRAMES FPS copy|none");
  }
  gst_object_unref (pipeline);
  return 0;
}
