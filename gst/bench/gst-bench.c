/* SPDX-License-Identifier: MIT */
/*
 * One end of a transport benchmark (shm-compare.py drives it). The producing end stamps each frame's
 * first 8 bytes with a CLOCK_MONOTONIC time; the receiving end reads every byte of each frame and the
 * stamp on arrival.
 *
 *   gst-bench produce SOURCE WxH FRAMES FPS SINK...   SOURCE ! RGBA WxH ! identity ! SINK (a gst-launch
 *                                                     description); FPS 0: unpaced
 *   gst-bench consume WxH FRAMES SRC...               SRC ! fakesink sync=false
 *   gst-bench local SOURCE WxH FRAMES FPS copy|none   SOURCE ! RGBA WxH ! identity ! fakesink in one
 *                                                     process, each frame copied (or not) on arrival
 *
 * SOURCE:
 *   stripe        a light source that writes each frame into the buffer it is handed: a stripe of
 *                 STRIPE_ROWS rows that moves down by as many each frame. It takes the pool the sink
 *                 proposes, else (as videotestsrc does) makes a video pool of the sink's allocator.
 *   stripe-own    the same stripe into buffers of its own pool (as a capture device or decoder whose
 *                 memory is its own): any sink has to copy.
 *
 * The stamp: unpaced, the time the frame left the source; paced (FPS > 0, identity syncs on the clock,
 * the first frame due a second after PLAYING), the frame's PTS as a time of the pipeline's clock
 * (GstSystemClock: CLOCK_MONOTONIC), so the latency is from the PTS to the arrival.
 *
 * Prints "READY" once the pipeline is playing (a producer: prerolled, so its sink listens), then one line
 * "RESULT key=value ...": frames, fps (first to last frame), cpu_ms (this process's user+system CPU over
 * the same span), lat_median_ms and lat_p99_ms (receiving ends, the first fifth of the frames left out),
 * daemons_cpu_ms (receiving ends, when HDMABUF_TEST_SINK_PID and _SOURCE_PID are set: the daemons' CPU
 * over the same span), sink_copies (producing end: 1 when hdmabufsink said it copies frames into its
 * slots, since upstream did not write into its pool).
 */
#define _GNU_SOURCE
#include <gst/base/gstpushsrc.h>
#include <gst/video/video.h>
#include <gst/video/gstvideopool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define RUN_TIMEOUT (120 * GST_SECOND)
/* Latency leaves out the first fifth of the frames. */
#define LATENCY_SKIP(frames) ((frames) / 5)
#define STRIPE_ROWS 16
#define PACED_START GST_SECOND
/* Frames in flight, as hdmabufsink's default 3 slots. Bounded, since an unbounded pool in shmsink's area
 * grows while the consumer lags until idle pool buffers fill the area, and shmsink then waits forever
 * for room to copy the next (fallback) buffer into. */
#define STRIPE_POOL_MAX 3

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

/* ---- stripe: a light source that writes into the buffer it is handed ---- */

typedef struct {
  GstPushSrc parent;
  GstVideoInfo vi;
  GstClockTime pts;
  GstClockTime duration;
  guint n;
  gboolean own_pool;
} StripeSrc;
typedef struct {
  GstPushSrcClass parent;
} StripeSrcClass;

G_DEFINE_TYPE (StripeSrc, stripe_src, GST_TYPE_PUSH_SRC);

static GstFlowReturn
stripe_src_fill (GstPushSrc * src, GstBuffer * buf)
{
  StripeSrc *self = (StripeSrc *) src;
  GstVideoFrame f;
  guint height = GST_VIDEO_INFO_HEIGHT (&self->vi);
  gsize row_bytes = (gsize) GST_VIDEO_INFO_WIDTH (&self->vi) * 4;

  if (!gst_video_frame_map (&f, &self->vi, buf, GST_MAP_WRITE))
    FAIL ("cannot map frame %u for writing", self->n);
  for (guint r = 0; r < STRIPE_ROWS; r++) {
    guint y = (self->n * STRIPE_ROWS + r) % height;
    memset ((guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&f, 0) + (gsize) y * GST_VIDEO_FRAME_PLANE_STRIDE (&f, 0),
        0x40 + (self->n & 0x7f), row_bytes);
  }
  gst_video_frame_unmap (&f);
  GST_BUFFER_PTS (buf) = self->pts;
  GST_BUFFER_DURATION (buf) = self->duration;
  self->pts += self->duration;
  self->n++;
  return GST_FLOW_OK;
}

static gboolean
stripe_src_set_caps (GstBaseSrc * src, GstCaps * caps)
{
  StripeSrc *self = (StripeSrc *) src;

  if (!gst_video_info_from_caps (&self->vi, caps))
    return FALSE;
  gst_base_src_set_blocksize (src, (guint) GST_VIDEO_INFO_SIZE (&self->vi));
  self->duration = gst_util_uint64_scale (GST_SECOND, GST_VIDEO_INFO_FPS_D (&self->vi),
      MAX (GST_VIDEO_INFO_FPS_N (&self->vi), 1));
  return TRUE;
}

/* The sink's pool when it proposes one; else a video pool of the sink's allocator (videotestsrc's way,
 * and shmsink's case: it proposes only its allocator) of at most STRIPE_POOL_MAX buffers. stripe-own
 * drops both for a pool of its own. */
static gboolean
stripe_src_decide_allocation (GstBaseSrc * src, GstQuery * query)
{
  StripeSrc *self = (StripeSrc *) src;

  if (self->own_pool) {
    while (gst_query_get_n_allocation_pools (query) > 0)
      gst_query_remove_nth_allocation_pool (query, 0);
    while (gst_query_get_n_allocation_params (query) > 0)
      gst_query_remove_nth_allocation_param (query, 0);
  }
  if (gst_query_get_n_allocation_pools (query) == 0) {
    GstBufferPool *pool = gst_video_buffer_pool_new ();
    gst_query_add_allocation_pool (query, pool, (guint) GST_VIDEO_INFO_SIZE (&self->vi), 0, STRIPE_POOL_MAX);
    gst_object_unref (pool);
  }
  return GST_BASE_SRC_CLASS (stripe_src_parent_class)->decide_allocation (src, query);
}

static void
stripe_src_class_init (StripeSrcClass * klass)
{
  static GstStaticPadTemplate tmpl = GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS,
      GST_STATIC_CAPS ("video/x-raw, format=(string)RGBA, width=(int)[1,2147483647], "
          "height=(int)[1,2147483647], framerate=(fraction)[0/1,2147483647/1]"));
  gst_element_class_add_static_pad_template (GST_ELEMENT_CLASS (klass), &tmpl);
  gst_element_class_set_static_metadata (GST_ELEMENT_CLASS (klass), "stripe", "Source/Video",
      "a moving stripe written into each frame", "hyperdmabuf developers");
  GST_BASE_SRC_CLASS (klass)->set_caps = stripe_src_set_caps;
  GST_BASE_SRC_CLASS (klass)->decide_allocation = stripe_src_decide_allocation;
  GST_PUSH_SRC_CLASS (klass)->fill = stripe_src_fill;
}

static void
stripe_src_init (StripeSrc * self)
{
  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
}

/* ---- measurements ---- */

typedef struct {
  guint want;
  guint n;
  gboolean paced;
  guint64 first_ns, last_ns;
  double first_cpu, last_cpu;
  double first_daemons, last_daemons;   /* the daemons' CPU, when their pids are known */
  gint64 *lat_ns;
  guint8 *copy_to;              /* local copy: the destination of each frame */
  gsize copy_size;
  guint64 sum;                  /* of every 64-bit word read: the reads cannot be left out */
} Meter;

/* user+system CPU of the processes (all threads) whose pids these variables hold, from /proc; -1 when
 * one is not set (with-daemons.py sets them for the daemons). */
static double
daemons_cpu_ms (void)
{
  static const gchar *const vars[] = { "HDMABUF_TEST_SINK_PID", "HDMABUF_TEST_SOURCE_PID" };
  double total = 0;

  for (guint i = 0; i < G_N_ELEMENTS (vars); i++) {
    const gchar *pid = g_getenv (vars[i]);
    gchar *path, *stat = NULL;
    const gchar *after;
    unsigned long utime, stime;

    if (pid == NULL)
      return -1;
    path = g_strdup_printf ("/proc/%s/stat", pid);
    if (!g_file_get_contents (path, &stat, NULL, NULL) || (after = strrchr (stat, ')')) == NULL
        || sscanf (after + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
      FAIL ("cannot read %s", path);
    total += (utime + stime) * 1e3 / sysconf (_SC_CLK_TCK);
    g_free (stat);
    g_free (path);
  }
  return total;
}

static void
meter_tick (Meter * m)
{
  guint64 t = now_ns ();
  if (m->n == 0) {
    m->first_ns = t;
    m->first_cpu = cpu_ms ();
    m->first_daemons = daemons_cpu_ms ();
  }
  m->last_ns = t;
  m->last_cpu = cpu_ms ();
  if (m->n + 1 == m->want)      /* the last frame: /proc is too slow to read each time */
    m->last_daemons = daemons_cpu_ms ();
  m->n++;
}

/* The producing end: the frame is complete (and, paced, due), stamp it. */
static GstPadProbeReturn
stamp_probe (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  Meter *m = data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  GstMapInfo map;
  guint64 t = now_ns ();

  if (m->paced) {
    /* The source's segment starts at 0: PTS is running time, base time + PTS its clock time. */
    GstElement *el = gst_pad_get_parent_element (pad);
    t = gst_element_get_base_time (el) + GST_BUFFER_PTS (buf);
    gst_object_unref (el);
  }
  if (!gst_buffer_map (buf, &map, GST_MAP_WRITE))
    FAIL ("cannot map a frame for writing its stamp");
  memcpy (map.data, &t, sizeof (t));
  gst_buffer_unmap (buf, &map);
  meter_tick (m);
  return GST_PAD_PROBE_OK;
}

/* Every 64-bit word of the frame, four accumulators (as a consumer that reads the whole frame). */
static guint64
read_all (const guint8 * data, gsize size)
{
  const guint64 *w = (const guint64 *) data;
  gsize n = size / 8, i;
  guint64 a = 0, b = 0, c = 0, d = 0;

  for (i = 0; i + 4 <= n; i += 4) {
    a += w[i];
    b += w[i + 1];
    c += w[i + 2];
    d += w[i + 3];
  }
  for (; i < n; i++)
    a += w[i];
  return a + b + c + d;
}

/* The receiving end: the latency of the frame, then every byte of it read (of its copy, locally). */
static GstPadProbeReturn
receive_probe (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  Meter *m = data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  GstMapInfo map;
  guint64 stamp, t = now_ns ();
  (void) pad;

  if (!gst_buffer_map (buf, &map, GST_MAP_READ) || map.size < sizeof (stamp))
    FAIL ("cannot read a frame");
  memcpy (&stamp, map.data, sizeof (stamp));
  if (m->n < m->want)
    m->lat_ns[m->n] = (gint64) (t - stamp);
  if (m->copy_to != NULL) {
    memcpy (m->copy_to, map.data, MIN (map.size, m->copy_size));
    m->sum += read_all (m->copy_to, MIN (map.size, m->copy_size));
  } else {
    m->sum += read_all (map.data, map.size);
  }
  gst_buffer_unmap (buf, &map);
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

/* Plays the pipeline to its EOS. READY once playing started; a producer's once it reached PLAYING
 * (prerolled: its sink has made its socket or exports, so the other end can come). A consumer cannot
 * wait for that: hdmabufsrc prerolls on the first frame. */
static void
run (GstElement * pipeline, gboolean await_playing)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg;
  GstStateChangeReturn ret = gst_element_set_state (pipeline, GST_STATE_PLAYING);

  if (ret == GST_STATE_CHANGE_FAILURE || (await_playing
          && gst_element_get_state (pipeline, NULL, NULL, RUN_TIMEOUT) != GST_STATE_CHANGE_SUCCESS)) {
    msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    if (msg != NULL) {
      GError *err;
      gst_message_parse_error (msg, &err, NULL);
      FAIL ("not playing: %s", err->message);
    }
    FAIL ("not playing within %" GST_TIME_FORMAT, GST_TIME_ARGS (RUN_TIMEOUT));
  }
  printf ("READY\n");
  fflush (stdout);
  msg = gst_bus_timed_pop_filtered (bus, RUN_TIMEOUT, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  if (msg == NULL)
    FAIL ("no EOS within %" GST_TIME_FORMAT, GST_TIME_ARGS (RUN_TIMEOUT));
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *err;
    gchar *dbg;
    gst_message_parse_error (msg, &err, &dbg);
    FAIL ("%s (%s)", err->message, dbg != NULL ? dbg : "");
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
  if (latency && m->n > LATENCY_SKIP (m->want)) {
    /* The first frames are late by the start: the sink waited for its reader while the clock ran. */
    gint64 *lat = m->lat_ns + LATENCY_SKIP (m->want);
    guint n = MIN (m->n, m->want) - LATENCY_SKIP (m->want);
    qsort (lat, n, sizeof (gint64), cmp_i64);
    printf (" lat_median_ms=%.3f lat_p99_ms=%.3f", lat[n / 2] / 1e6, lat[(n - 1) * 99 / 100] / 1e6);
  }
  if (m->first_daemons >= 0 && m->n == m->want)
    printf (" daemons_cpu_ms=%.1f", m->last_daemons - m->first_daemons);
  printf (" sink_copies=%u\n", g_atomic_int_get (&sink_copies));
  fprintf (stderr, "gst-bench: sum of the words read %" G_GUINT64_FORMAT "\n", m->sum);
  fflush (stdout);
}

/* stripe ! caps ! identity name=stamp ! tail, the stamp probe on identity's output; paced at fps by
 * identity's sync to the PTS, when fps > 0. */
static GstElement *
producer (const gchar * source, const gchar * size, guint frames, guint fps, const gchar * tail, Meter * m)
{
  guint width = 0, height = 0;
  gchar *desc;
  GError *err = NULL;
  GstElement *pipeline, *stamp;
  StripeSrc *s;
  GstPad *pad;

  if (sscanf (size, "%ux%u", &width, &height) != 2)
    FAIL ("bad size %s", size);
  if (strcmp (source, "stripe") != 0 && strcmp (source, "stripe-own") != 0)
    FAIL ("unknown source %s", source);
  desc = g_strdup_printf ("benchstripesrc name=src num-buffers=%u ! video/x-raw,format=RGBA,width=%u,height=%u,"
      "framerate=%u/1 ! identity name=stamp sync=%s ! %s", frames, width, height, fps > 0 ? fps : 60,
      fps > 0 ? "true" : "false", tail);
  if ((pipeline = gst_parse_launch (desc, &err)) == NULL)
    FAIL ("%s: %s", desc, err->message);
  m->paced = fps > 0;
  s = (StripeSrc *) gst_bin_get_by_name (GST_BIN (pipeline), "src");
  s->own_pool = strcmp (source, "stripe-own") == 0;
  /* Paced, the first frame is due a second after PLAYING: time for the two ends to connect (the sinks
   * export or listen on their caps, before the first frame), which would otherwise make the run late. */
  s->pts = m->paced ? PACED_START : 0;
  gst_object_unref (s);
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
  gst_element_register (NULL, "benchstripesrc", GST_RANK_NONE, stripe_src_get_type ());
  if (argc >= 7 && strcmp (argv[1], "produce") == 0) {
    gchar *tail = g_strjoinv (" ", argv + 6);
    gst_debug_set_threshold_for_name ("hdmabufsink", GST_LEVEL_INFO);
    gst_debug_add_log_function (count_log, NULL, NULL);
    pipeline = producer (argv[2], argv[3], (guint) atoi (argv[4]), (guint) atoi (argv[5]), tail, &prod);
    run (pipeline, TRUE);
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
    run (pipeline, FALSE);
    report (&recv, TRUE);
    g_free (desc);
    g_free (head);
  } else if (argc == 7 && strcmp (argv[1], "local") == 0) {
    recv.want = (guint) atoi (argv[4]);
    recv.lat_ns = g_new0 (gint64, recv.want);
    pipeline = producer (argv[2], argv[3], recv.want, (guint) atoi (argv[5]),
        "fakesink name=recv sync=false enable-last-sample=false", &prod);
    if (strcmp (argv[6], "copy") == 0) {
      recv.copy_size = (gsize) atoi (argv[3]) * (gsize) atoi (strchr (argv[3], 'x') + 1) * 4;
      recv.copy_to = g_malloc (recv.copy_size);
      memset (recv.copy_to, 1, recv.copy_size);        /* faulted in before the run */
    }
    add_receiver (pipeline, &recv);
    run (pipeline, TRUE);
    recv.first_cpu = prod.first_cpu;    /* one process: its CPU from the first frame made */
    report (&recv, TRUE);
  } else {
    FAIL ("usage: gst-bench produce SOURCE WxH FRAMES FPS SINK... | consume WxH FRAMES SRC... | "
        "local SOURCE WxH FRAMES FPS copy|none");
  }
  gst_object_unref (pipeline);
  return 0;
}
