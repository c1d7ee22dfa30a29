/* SPDX-License-Identifier: MIT */
/*
 * hdmabufsink -> hdmabufsrc between two processes ("VMs") against real daemons.
 *
 *   gst-stream-test produce STREAM [ro|copy|live|nometa|dmabuf] PHASE...  a pattern source -> hdmabufsink (to $HDMABUF_TEST_SOURCE_VM)
 *   gst-stream-test consume STREAM [ro|copy|live|nometa|dmabuf] PHASE...  hdmabufsrc -> appsink, checking every frame;
 *                                                  prints READY (appsink takes system-memory caps only; nometa: it
 *                                                  does not take GstVideoMeta; dmabuf: it takes only
 *                                                  video/x-raw(memory:DMABuf), dma-buf=auto: every frame
 *                                                  GstDmaBufMemory under those caps)
 *   gst-stream-test dmabuf-refused STREAM          hdmabufsrc dma-buf=always where the daemon has no udmabuf, else of
 *                                                  a read-only stream: an element error naming why, at once
 *   gst-stream-test dmabuf-too-big STREAM          the same, with udmabuf of 640x480 RGBA slots, over a size_limit_mb
 *                                                  of 1: the error names size_limit_mb
 *   gst-stream-test dmabuf-auto-refused STREAM     hdmabufsrc dma-buf=auto to an appsink that takes only
 *                                                  memory:DMABuf caps, of a read-only stream: an element error
 *                                                  naming why (no udmabuf, else the read-only export)
 *   gst-stream-test show STREAM                    hdmabufsrc -> waylandsink fullscreen=true until EOS or SIGTERM; prints
 *                                                  READY, "REGION inode=N" (the file of the first frame's fd) and
 *                                                  at the end "SHOWN frames=N fd_memory=N lent=N copied=N" (the
 *                                                  wl_buffers waylandsink made from our memory, and its copies)
 *   gst-stream-test has-element NAME               exit 0 when GStreamer finds the element, 77 when it does not
 *   gst-stream-test kill STREAM                    consumes a producer it starts, SIGKILLs it, expects the end
 *   gst-stream-test stall STREAM                   produces to a consumer that keeps every frame: the sink must
 *                                                  fail once the slots are full
 *   gst-stream-test wait-consumer STREAM           the sink starts alone and waits; then a consumer in this process
 *                                                  must get every frame
 *   gst-stream-test consumer-timeout STREAM        the sink starts alone with consumer-timeout=1000: it must fail
 *                                                  naming the stream and the VM
 *   gst-stream-test kill-consumer STREAM           produces to a consumer process it starts, SIGKILLs that: the sink
 *                                                  must take its slots back and wait, and a new consumer get frames
 *   gst-stream-test kill-consumer-vm STREAM        both ends in this process; SIGKILLs the source daemon ("VM 2
 *                                                  dies"): the sink must fail naming that VM
 *   gst-stream-test kill-producer-vm STREAM        the same with the sink daemon ("VM 1 dies"): the source must
 *                                                  fail naming that VM
 *
 * PHASE is FORMAT:WIDTHxHEIGHT:FRAMES (video) or audio:FORMAT:RATExCHANNELS[@MASK]:FRAMES (MASK: the
 * channel-mask, hex); a new phase is a caps change mid-stream. Frame n (counted over all phases) carries n in its first 4 bytes, and
 * every byte of every plane's visible rows is a function of n, plane, row and column; its PTS is
 * n times the frame duration. The consumer checks every byte, the order, the PTS, the caps, that
 * no frame is lost, that EOS arrives, and that each buffer's memory is a shared mapping (not a
 * copy in the heap); the producer checks that upstream wrote every frame into the sink's pool and
 * the sink copied none ("copy": the source refuses the sink's pool and pads its rows, so the sink
 * must copy every frame, and say so once; "live": the sink paces frames on its clock, and the live
 * source stamps them with the producer's capture times on its own clock instead of restoring PTS).
 */
#define _GNU_SOURCE
#include <gst/allocators/allocators.h>
#include <gst/app/app.h>
#include <gst/audio/audio.h>
#include <gst/base/gstpushsrc.h>
#include <gst/video/video.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define STEP_TIMEOUT (20 * GST_SECOND)
#define AUDIO_PERIOD 1024       /* frames per audio buffer */

#define FAIL(...) do { fprintf (stderr, "FAIL: " __VA_ARGS__); fputc ('\n', stderr); exit (1); } while (0)

typedef struct {
  gboolean audio;
  GstCaps *caps;
  GstVideoInfo vinfo;           /* video: GStreamer's default layout of caps */
  guint frames;
  GstClockTime duration;
} Phase;

static Phase *phases;
static guint n_phases;
static gboolean video_meta = TRUE;     /* the consumer takes GstVideoMeta ("nometa": it does not) */
static gboolean dmabuf = FALSE;        /* the consumer takes only memory:DMABuf caps ("dmabuf") */

/* The consumer's appsink caps: system memory only, or dma-bufs only. */
#define SYSTEM_CAPS "video/x-raw;audio/x-raw"
#define DMABUF_CAPS "video/x-raw(memory:DMABuf)"

static void
parse_phases (gchar ** args, guint n)
{
  phases = g_new0 (Phase, n);
  n_phases = n;
  for (guint i = 0; i < n; i++) {
    gchar **f = g_strsplit (args[i], ":", -1);
    guint a, b;
    guint64 mask = 0;
    gboolean audio = g_strcmp0 (f[0], "audio") == 0;
    gchar **p = audio ? f + 1 : f;

    if (g_strv_length (p) != 3 || sscanf (p[1], "%ux%u@%" G_GINT64_MODIFIER "x", &a, &b, &mask) < 2)
      FAIL ("bad phase %s", args[i]);
    phases[i].audio = audio;
    phases[i].frames = atoi (p[2]);
    if (audio) {
      phases[i].caps = gst_caps_new_simple ("audio/x-raw", "format", G_TYPE_STRING, p[0], "rate", G_TYPE_INT, a,
          "channels", G_TYPE_INT, b, "layout", G_TYPE_STRING, "interleaved", NULL);
      if (mask != 0)
        gst_caps_set_simple (phases[i].caps, "channel-mask", GST_TYPE_BITMASK, mask, NULL);
      phases[i].duration = gst_util_uint64_scale (AUDIO_PERIOD, GST_SECOND, a);
    } else {
      phases[i].caps = gst_caps_new_simple ("video/x-raw", "format", G_TYPE_STRING, p[0], "width", G_TYPE_INT, a,
          "height", G_TYPE_INT, b, "framerate", GST_TYPE_FRACTION, 30, 1, NULL);
      phases[i].duration = gst_util_uint64_scale (1, GST_SECOND, 30);
      gst_video_info_from_caps (&phases[i].vinfo, phases[i].caps);
    }
    g_strfreev (f);
  }
}

static guint8
pattern (guint64 n, guint plane, guint row, gsize col)
{
  return (guint8) (n * 7 + plane * 31 + row * 3 + col * 5);
}

/* Bytes of a plane's row that hold pixels (8-bit components). */
static gsize
row_bytes (const GstVideoInfo * vi, guint plane)
{
  gsize bytes = 0;
  for (guint c = 0; c < GST_VIDEO_INFO_N_COMPONENTS (vi); c++)
    if (GST_VIDEO_FORMAT_INFO_PLANE (vi->finfo, c) == plane)
      bytes = MAX (bytes, (gsize) GST_VIDEO_INFO_COMP_POFFSET (vi, c) +
          (gsize) (GST_VIDEO_INFO_COMP_WIDTH (vi, c) - 1) * GST_VIDEO_INFO_COMP_PSTRIDE (vi, c) + 1);
  return bytes;
}

static guint
plane_rows (const GstVideoInfo * vi, guint plane)
{
  for (guint c = 0; c < GST_VIDEO_INFO_N_COMPONENTS (vi); c++)
    if (GST_VIDEO_FORMAT_INFO_PLANE (vi->finfo, c) == plane)
      return GST_VIDEO_INFO_COMP_HEIGHT (vi, c);
  return 0;
}

/* Fills (check = FALSE) or checks a video frame; returns the first bad offset, or -1. */
static gssize
video_pattern (GstVideoFrame * f, guint64 n, gboolean check)
{
  for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES (f); p++) {
    guint8 *base = GST_VIDEO_FRAME_PLANE_DATA (f, p);
    gsize bytes = row_bytes (&f->info, p);
    for (guint y = 0; y < plane_rows (&f->info, p); y++) {
      guint8 *row = base + (gsize) y * GST_VIDEO_FRAME_PLANE_STRIDE (f, p);
      for (gsize x = 0; x < bytes; x++) {
        guint8 want = p == 0 && y == 0 && x < 4 ? (guint8) (n >> (8 * x)) : pattern (n, p, y, x);
        if (!check)
          row[x] = want;
        else if (row[x] != want)
          return (gssize) (row + x - (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (f, 0));
      }
    }
  }
  return -1;
}

static gssize
audio_pattern (guint8 * data, gsize size, guint64 n, gboolean check)
{
  for (gsize i = 0; i < size; i++) {
    guint8 want = i < 4 ? (guint8) (n >> (8 * i)) : pattern (n, 0, 0, i);
    if (!check)
      data[i] = want;
    else if (data[i] != want)
      return (gssize) i;
  }
  return -1;
}

/* ---- the producer's source: renders into whatever buffer the pool gives ---- */

typedef struct {
  GstPushSrc parent;
  gboolean own_pool;            /* refuse the sink's pool: its own, with padded rows */
  guint phase;
  guint in_phase;
  guint64 n;
  GstClockTime pts;
  guint pooled;                 /* frames written into the sink's pool */
} PatternSrc;
typedef struct {
  GstPushSrcClass parent;
} PatternSrcClass;

G_DEFINE_TYPE (PatternSrc, pattern_src, GST_TYPE_PUSH_SRC);

static GstCaps *
pattern_src_get_caps (GstBaseSrc * src, GstCaps * filter)
{
  PatternSrc *self = (PatternSrc *) src;
  GstCaps *caps = gst_caps_ref (phases[MIN (self->phase, n_phases - 1)].caps);
  if (filter != NULL) {
    GstCaps *c = gst_caps_intersect (caps, filter);
    gst_caps_unref (caps);
    caps = c;
  }
  return caps;
}

static GstFlowReturn
pattern_src_fill (GstPushSrc * src, GstBuffer * buf)
{
  PatternSrc *self = (PatternSrc *) src;
  Phase *ph;

  if (self->phase >= n_phases)
    return GST_FLOW_EOS;
  ph = &phases[self->phase];
  if (buf->pool != NULL && strcmp (G_OBJECT_TYPE_NAME (buf->pool), "GstHdmabufPool") == 0)
    self->pooled++;
  if (ph->audio) {
    GstMapInfo map;
    GstAudioInfo ai;
    gst_audio_info_from_caps (&ai, ph->caps);
    gst_buffer_set_size (buf, AUDIO_PERIOD * GST_AUDIO_INFO_BPF (&ai));
    gst_buffer_map (buf, &map, GST_MAP_WRITE);
    audio_pattern (map.data, map.size, self->n, FALSE);
    gst_buffer_unmap (buf, &map);
  } else {
    GstVideoInfo vi;
    GstVideoFrame f;
    gst_video_info_from_caps (&vi, ph->caps);
    if (!gst_video_frame_map (&f, &vi, buf, GST_MAP_WRITE))
      FAIL ("cannot map frame %" G_GUINT64_FORMAT, self->n);
    video_pattern (&f, self->n, FALSE);
    gst_video_frame_unmap (&f);
  }
  GST_BUFFER_PTS (buf) = self->pts;
  GST_BUFFER_DURATION (buf) = ph->duration;
  self->pts += ph->duration;
  self->n++;
  if (++self->in_phase == ph->frames) {
    self->phase++;
    self->in_phase = 0;
    if (self->phase < n_phases)
      gst_pad_mark_reconfigure (GST_BASE_SRC_PAD (src));       /* new caps before the next frame */
  }
  return GST_FLOW_OK;
}

static gboolean
pattern_src_decide_allocation (GstBaseSrc * src, GstQuery * query)
{
  PatternSrc *self = (PatternSrc *) src;
  GstCaps *caps;

  if (self->own_pool) {
    GstVideoInfo vi;
    GstBufferPool *pool = gst_video_buffer_pool_new ();
    GstStructure *config = gst_buffer_pool_get_config (pool);
    GstVideoAlignment align;

    while (gst_query_get_n_allocation_pools (query) > 0)
      gst_query_remove_nth_allocation_pool (query, 0);
    gst_query_parse_allocation (query, &caps, NULL);
    gst_video_info_from_caps (&vi, caps);
    gst_buffer_pool_config_set_params (config, caps, vi.size, 2, 0);
    gst_buffer_pool_config_add_option (config, GST_BUFFER_POOL_OPTION_VIDEO_META);
    gst_buffer_pool_config_add_option (config, GST_BUFFER_POOL_OPTION_VIDEO_ALIGNMENT);
    gst_video_alignment_reset (&align);
    align.padding_right = 13;   /* strides unlike the sink's: a copy must follow them */
    gst_buffer_pool_config_set_video_alignment (config, &align);
    gst_buffer_pool_set_config (pool, config);
    gst_query_add_allocation_pool (query, pool, vi.size, 2, 0);
    gst_object_unref (pool);
  }
  return GST_BASE_SRC_CLASS (pattern_src_parent_class)->decide_allocation (src, query);
}

static void
pattern_src_class_init (PatternSrcClass * klass)
{
  static GstStaticPadTemplate tmpl = GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS,
      GST_STATIC_CAPS_ANY);
  gst_element_class_add_static_pad_template (GST_ELEMENT_CLASS (klass), &tmpl);
  gst_element_class_set_static_metadata (GST_ELEMENT_CLASS (klass), "pattern", "Source", "test pattern", "test");
  GST_BASE_SRC_CLASS (klass)->get_caps = pattern_src_get_caps;
  GST_BASE_SRC_CLASS (klass)->decide_allocation = pattern_src_decide_allocation;
  GST_PUSH_SRC_CLASS (klass)->fill = pattern_src_fill;
}

static void
pattern_src_init (PatternSrc * self)
{
  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
}

/* ---- the sink's log: in place or copied ---- */

static guint in_place, copied;

static void
count_log (GstDebugCategory * cat, GstDebugLevel level, const gchar * file, const gchar * function, gint line,
    GObject * object, GstDebugMessage * message, gpointer user_data)
{
  const gchar *text = gst_debug_message_get (message);
  (void) level, (void) file, (void) function, (void) line, (void) object, (void) user_data;
  if (strcmp (gst_debug_category_get_name (cat), "hdmabufsink") != 0 || text == NULL)
    return;
  if (strstr (text, "written in place") != NULL)
    g_atomic_int_inc (&in_place);
  if (strstr (text, "copying frames") != NULL)
    g_atomic_int_inc (&copied);
}

/* Waits for EOS or an error (or a warning, when warnings fail too); TRUE on EOS. */
static gboolean
await_end_of (GstElement * pipeline, GstClockTime timeout, gboolean warnings_fail, gchar ** why)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg = gst_bus_timed_pop_filtered (bus, timeout, GST_MESSAGE_EOS | GST_MESSAGE_ERROR
      | (warnings_fail ? GST_MESSAGE_WARNING : 0));
  gboolean eos = msg != NULL && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS;

  if (msg != NULL && !eos) {
    GError *err;
    gchar *dbg;
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR)
      gst_message_parse_error (msg, &err, &dbg);
    else
      gst_message_parse_warning (msg, &err, &dbg);
    *why = g_strdup_printf ("%s: %s (%s)", GST_MESSAGE_TYPE_NAME (msg), err->message, dbg);
    g_error_free (err);
    g_free (dbg);
  } else if (msg == NULL) {
    *why = g_strdup ("timed out");
  }
  if (msg != NULL)
    gst_message_unref (msg);
  gst_object_unref (bus);
  return eos;
}

static gboolean
await_end (GstElement * pipeline, GstClockTime timeout, gchar ** why)
{
  return await_end_of (pipeline, timeout, FALSE, why);
}

static int
produce (const gchar * stream, gboolean read_only, gboolean copy, gboolean live)
{
  GstElement *pipeline = gst_pipeline_new (NULL);
  GstElement *src = g_object_new (pattern_src_get_type (), NULL);
  GstElement *sink = gst_element_factory_make ("hdmabufsink", NULL);
  const gchar *vm = g_getenv ("HDMABUF_TEST_SOURCE_VM");
  guint total = 0;
  gchar *why = NULL;

  if (sink == NULL)
    FAIL ("no hdmabufsink (GST_PLUGIN_PATH?)");
  for (guint i = 0; i < n_phases; i++)
    total += phases[i].frames;
  gst_debug_set_threshold_for_name ("hdmabufsink", GST_LEVEL_LOG);
  gst_debug_add_log_function (count_log, NULL, NULL);
  ((PatternSrc *) src)->own_pool = copy;
  g_object_set (sink, "stream", stream, "target-vm", vm != NULL ? atoi (vm) : 0, "sync", live,
      "read-only", read_only, "timeout", 20000, NULL);
  gst_bin_add_many (GST_BIN (pipeline), src, sink, NULL);
  gst_element_link (src, sink);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  if (!await_end (pipeline, 120 * GST_SECOND, &why))
    FAIL ("producer: %s", why);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  printf ("producer: %u frames, %u written into the sink's pool, %u in place, copy logged %u times\n",
      total, ((PatternSrc *) src)->pooled, g_atomic_int_get (&in_place), g_atomic_int_get (&copied));
  if (copy && (((PatternSrc *) src)->pooled != 0 || g_atomic_int_get (&in_place) != 0
          || g_atomic_int_get (&copied) != 1))
    FAIL ("producer: the sink did not copy every frame, or did not say so once");
  if (!copy && (((PatternSrc *) src)->pooled != total || (guint) g_atomic_int_get (&in_place) != total
          || g_atomic_int_get (&copied) != 0))
    FAIL ("producer: not every frame went through the shared pool without a copy");
  gst_object_unref (pipeline);
  return 0;
}

/* Whether addr lies in a shared file mapping (the daemon's region), not in anonymous or heap memory. */
static gboolean
in_shared_mapping (gconstpointer addr)
{
  gchar *maps = NULL;
  gboolean found = FALSE;

  if (!g_file_get_contents ("/proc/self/maps", &maps, NULL, NULL))
    return FALSE;
  for (gchar * line = strtok (maps, "\n"); line != NULL && !found; line = strtok (NULL, "\n")) {
    guintptr start, end;
    gchar perms[8], path[512] = "";
    if (sscanf (line, "%" G_GINTPTR_MODIFIER "x-%" G_GINTPTR_MODIFIER "x %7s %*s %*s %*s %511[^\n]",
            &start, &end, perms, path) < 3)
      continue;
    if ((guintptr) addr >= start && (guintptr) addr < end)
      found = perms[3] == 's' && path[0] != '\0' && path[0] != '[';
  }
  g_free (maps);
  return found;
}

/* appsink answers ALLOCATION queries with GstVideoMeta, as videoconvert or waylandsink do. */
static GstPadProbeReturn
offer_video_meta (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  GstQuery *query = GST_PAD_PROBE_INFO_QUERY (info);
  (void) pad, (void) user_data;
  if (GST_QUERY_TYPE (query) != GST_QUERY_ALLOCATION)
    return GST_PAD_PROBE_OK;
  gst_query_add_allocation_meta (query, GST_VIDEO_META_API_TYPE, NULL);
  return GST_PAD_PROBE_HANDLED;
}

static GstElement *
consumer_pipeline (const gchar * stream, gboolean live, GstAppSink ** appsink)
{
  /* dma-buf=auto (the default) decides by the caps downstream takes. No copy of a held frame: the
   * samples queued in appsink are held frames, and a pull later than copy-held-after (a loaded
   * machine, the leaks tracer) would get such a copy, without timestamps. */
  gchar *desc = g_strdup_printf ("hdmabufsrc name=src stream=%s timeout=20000 is-live=%d copy-held-after=0 "
      "! appsink name=out sync=false caps=\"%s\"", stream, live, dmabuf ? DMABUF_CAPS : SYSTEM_CAPS);
  GError *err = NULL;
  GstElement *pipeline = gst_parse_launch (desc, &err);

  if (pipeline == NULL)
    FAIL ("%s: %s", desc, err->message);
  g_free (desc);
  *appsink = GST_APP_SINK (gst_bin_get_by_name (GST_BIN (pipeline), "out"));
  if (video_meta) {
    GstPad *pad = gst_element_get_static_pad (GST_ELEMENT (*appsink), "sink");
    gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_QUERY_DOWNSTREAM, offer_video_meta, NULL, NULL);
    gst_object_unref (pad);
  }
  return pipeline;
}

/* pts: the PTS sent, or GST_CLOCK_TIME_NONE for a live source's own. */
static void
check_sample (GstSample * sample, guint64 n, Phase * ph, GstClockTime pts, gboolean read_only)
{
  GstBuffer *buf = gst_sample_get_buffer (sample);
  GstCaps *caps = gst_sample_get_caps (sample);
  GstMemory *mem = gst_buffer_peek_memory (buf, 0);
  GstMapInfo map;
  gssize bad;

  GstCaps *plain = gst_caps_copy (caps);
  gboolean dmabuf_caps = gst_caps_features_contains (gst_caps_get_features (caps, 0), GST_CAPS_FEATURE_MEMORY_DMABUF);

  /* dma-buf: the stream's caps with the memory:DMABuf feature. */
  gst_caps_set_features_simple (plain, gst_caps_features_new_single (GST_CAPS_FEATURE_MEMORY_SYSTEM_MEMORY));
  if (!gst_caps_is_subset (plain, ph->caps) || dmabuf_caps != dmabuf)
    FAIL ("frame %" G_GUINT64_FORMAT ": caps %s, not %s%s", n, gst_caps_to_string (caps),
        gst_caps_to_string (ph->caps), dmabuf ? " with memory:DMABuf" : "");
  gst_caps_unref (plain);
  if (GST_CLOCK_TIME_IS_VALID (pts) && GST_BUFFER_PTS (buf) != pts)
    FAIL ("frame %" G_GUINT64_FORMAT ": PTS %" GST_TIME_FORMAT ", not %" GST_TIME_FORMAT, n,
        GST_TIME_ARGS (GST_BUFFER_PTS (buf)), GST_TIME_ARGS (pts));
  if (GST_BUFFER_DURATION (buf) != ph->duration)
    FAIL ("frame %" G_GUINT64_FORMAT ": duration %" GST_TIME_FORMAT, n, GST_TIME_ARGS (GST_BUFFER_DURATION (buf)));
  if (gst_buffer_n_memory (buf) != 1 || GST_MEMORY_IS_READONLY (mem) != read_only)
    FAIL ("frame %" G_GUINT64_FORMAT ": %u memories, read-only %d", n, gst_buffer_n_memory (buf),
        GST_MEMORY_IS_READONLY (mem));
  /* dma-bufs: a dma-buf of the slot, from its start to the payload's end. */
  if (dmabuf && (!gst_is_dmabuf_memory (mem) || mem->offset != 0 || gst_fd_memory_get_fd (mem) < 0))
    FAIL ("frame %" G_GUINT64_FORMAT ": not GstDmaBufMemory from offset 0 (dma-buf %d, offset %" G_GSIZE_FORMAT
        ")", n, gst_is_dmabuf_memory (mem), mem->offset);
  if (!dmabuf && gst_is_dmabuf_memory (mem))
    FAIL ("frame %" G_GUINT64_FORMAT ": GstDmaBufMemory under system-memory caps (dma-buf=auto)", n);
  /* Video for a reader of GstVideoMeta: an fd's memory from the fd's offset 0, which waylandsink can
   * lend to a compositor; otherwise memory holding just the payload. */
  if (dmabuf) {
    /* checked above */
  } else if (gst_is_fd_memory (mem) != (!ph->audio && !read_only && video_meta))
    FAIL ("frame %" G_GUINT64_FORMAT ": GstFdMemory %d (audio %d, read-only %d, video meta %d)", n,
        gst_is_fd_memory (mem), ph->audio, read_only, video_meta);
  if (!dmabuf && gst_is_fd_memory (mem) && (mem->offset != 0 || gst_fd_memory_get_fd (mem) < 0))
    FAIL ("frame %" G_GUINT64_FORMAT ": fd memory at offset %" G_GSIZE_FORMAT, n, mem->offset);
  if ((dmabuf || !gst_is_fd_memory (mem)) && !ph->audio && gst_buffer_get_size (buf) != GST_VIDEO_INFO_SIZE (&ph->vinfo))
    FAIL ("frame %" G_GUINT64_FORMAT ": %" G_GSIZE_FORMAT " bytes, not the frame's %" G_GSIZE_FORMAT, n,
        gst_buffer_get_size (buf), GST_VIDEO_INFO_SIZE (&ph->vinfo));
  gst_memory_map (mem, &map, GST_MAP_READ);
  if (!in_shared_mapping (map.data))
    FAIL ("frame %" G_GUINT64_FORMAT ": memory %p is no shared mapping (a copy?)", n, map.data);
  gst_memory_unmap (mem, &map);
  if (ph->audio) {
    GstAudioInfo ai;
    gst_audio_info_from_caps (&ai, ph->caps);
    gst_buffer_map (buf, &map, GST_MAP_READ);
    if (map.size != AUDIO_PERIOD * (gsize) GST_AUDIO_INFO_BPF (&ai))
      FAIL ("frame %" G_GUINT64_FORMAT ": %" G_GSIZE_FORMAT " bytes", n, map.size);
    bad = audio_pattern (map.data, map.size, n, TRUE);
    gst_buffer_unmap (buf, &map);
  } else {
    GstVideoInfo vi;
    GstVideoFrame f;
    gst_video_info_from_caps (&vi, caps);
    if (gst_buffer_get_video_meta (buf) == NULL || !gst_video_frame_map (&f, &vi, buf, GST_MAP_READ))
      FAIL ("frame %" G_GUINT64_FORMAT ": no video meta or not mappable", n);
    bad = video_pattern (&f, n, TRUE);
    gst_video_frame_unmap (&f);
  }
  if (bad >= 0)
    FAIL ("frame %" G_GUINT64_FORMAT ": byte %" G_GSSIZE_FORMAT " differs (lost, reordered or torn)", n, bad);
}

/* A live source's PTS: increasing, and near the running time at which the frame arrives. */
static void
check_live_pts (GstElement * pipeline, GstSample * sample, guint64 n, GstClockTime * last)
{
  GstClockTime pts = GST_BUFFER_PTS (gst_sample_get_buffer (sample));
  GstClock *clock = gst_element_get_clock (pipeline);
  GstClockTimeDiff lag;

  if (clock == NULL || !GST_CLOCK_TIME_IS_VALID (pts) || (GST_CLOCK_TIME_IS_VALID (*last) && pts <= *last))
    FAIL ("frame %" G_GUINT64_FORMAT ": live PTS %" GST_TIME_FORMAT " after %" GST_TIME_FORMAT, n,
        GST_TIME_ARGS (pts), GST_TIME_ARGS (*last));
  lag = GST_CLOCK_DIFF (pts, gst_clock_get_time (clock) - gst_element_get_base_time (pipeline));
  if (lag < -GST_SECOND / 10 || lag > 2 * GST_SECOND)
    FAIL ("frame %" G_GUINT64_FORMAT ": live PTS %" GST_TIME_FORMAT " is %" G_GINT64_FORMAT " ms from now", n,
        GST_TIME_ARGS (pts), lag / GST_MSECOND);
  gst_object_unref (clock);
  *last = pts;
}

static int
consume (const gchar * stream, gboolean read_only, gboolean live)
{
  GstAppSink *out;
  GstElement *pipeline = consumer_pipeline (stream, live, &out);
  GstClockTime pts = 0, last = GST_CLOCK_TIME_NONE;
  guint64 n = 0;
  gchar *why = NULL;

  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  printf ("READY consumer of \"%s\"\n", stream);
  fflush (stdout);
  for (guint i = 0; i < n_phases; i++) {
    for (guint j = 0; j < phases[i].frames; j++, n++) {
      GstSample *sample = gst_app_sink_try_pull_sample (out, STEP_TIMEOUT);
      if (sample == NULL)
        FAIL ("frame %" G_GUINT64_FORMAT " did not arrive (eos %d)", n, gst_app_sink_is_eos (out));
      check_sample (sample, n, &phases[i], live ? GST_CLOCK_TIME_NONE : pts, read_only);
      if (live)
        check_live_pts (pipeline, sample, n, &last);
      gst_sample_unref (sample);
      pts += phases[i].duration;
    }
  }
  if (gst_app_sink_try_pull_sample (out, STEP_TIMEOUT) != NULL || !gst_app_sink_is_eos (out))
    FAIL ("no EOS after frame %" G_GUINT64_FORMAT, n);
  /* No warning before EOS: EOS is the producer's end-of-stream frame, and each caps change was a
   * renegotiation, not the source's EOS after "the producer withdrew stream". */
  if (!await_end_of (pipeline, STEP_TIMEOUT, TRUE, &why))
    FAIL ("consumer: %s", why);
  printf ("consumer: %" G_GUINT64_FORMAT " frames over %u caps, every byte, PTS and duration as sent, "
      "all in shared mappings%s; then EOS\n", n, n_phases, dmabuf ? ", every one GstDmaBufMemory" : "");
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (out);
  gst_object_unref (pipeline);
  return 0;
}

/* Takes count frames, unchecked: the stream runs. */
static void
pull_frames (GstAppSink * out, int count)
{
  for (int i = 0; i < count; i++) {
    GstSample *sample = gst_app_sink_try_pull_sample (out, STEP_TIMEOUT);
    if (sample == NULL)
      FAIL ("frame %d did not arrive", i);
    gst_sample_unref (sample);
  }
}

/* The producer dies mid-stream: the consumer must end (EOS or an error) soon after. */
static int
kill_producer (const gchar * self_path, const gchar * stream)
{
  gchar *argv[] = { (gchar *) self_path, (gchar *) "produce", (gchar *) stream, (gchar *) "RGBA:64x48:100000000",
    NULL
  };
  GstAppSink *out;
  GstElement *pipeline = consumer_pipeline (stream, FALSE, &out);
  GError *err = NULL;
  GPid child;
  gint64 killed;
  gchar *why = NULL;
  gboolean eos;

  if (!g_spawn_async (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &child, &err))
    FAIL ("spawn: %s", err->message);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  pull_frames (out, 20);
  kill (child, SIGKILL);
  waitpid (child, NULL, 0);
  killed = g_get_monotonic_time ();
  /* Drain what is queued; the frames still in the slots stay readable. */
  while (!gst_app_sink_is_eos (out)) {
    GstSample *sample = gst_app_sink_try_pull_sample (out, GST_SECOND / 10);
    if (sample != NULL)
      gst_sample_unref (sample);
    else if (g_get_monotonic_time () - killed > 5 * G_USEC_PER_SEC)
      break;
  }
  eos = await_end (pipeline, 5 * GST_SECOND, &why);
  if (!eos && g_str_equal (why, "timed out"))
    FAIL ("the consumer did not end within 5 s of the producer's death");
  printf ("consumer: producer killed; %s after %" G_GINT64_FORMAT " ms\n", eos ? "EOS" : why,
      (g_get_monotonic_time () - killed) / 1000);
  g_free (why);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (out);
  gst_object_unref (pipeline);
  return 0;
}

/* A pattern source -> hdmabufsink with the NULL-terminated properties and values, playing. */
static GstElement *
start_producer (const gchar * stream, const gchar * first_prop, ...)
{
  va_list props;
  GstElement *pipeline = gst_pipeline_new (NULL);
  GstElement *src = g_object_new (pattern_src_get_type (), NULL);
  GstElement *sink = gst_element_factory_make ("hdmabufsink", NULL);
  const gchar *vm = g_getenv ("HDMABUF_TEST_SOURCE_VM");

  if (sink == NULL)
    FAIL ("no hdmabufsink (GST_PLUGIN_PATH?)");
  g_object_set (sink, "stream", stream, "target-vm", vm != NULL ? atoi (vm) : 0, "sync", FALSE, NULL);
  va_start (props, first_prop);
  g_object_set_valist (G_OBJECT (sink), first_prop, props);
  va_end (props);
  gst_bin_add_many (GST_BIN (pipeline), src, sink, NULL);
  gst_element_link (src, sink);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  return pipeline;
}

/* The consumer imports the stream but keeps every frame (an appsink nobody pulls, no copy of a held
 * frame): after K frames the sink waits for a release that never comes, and fails. */
static int
stall (const gchar * stream)
{
  gchar *desc = g_strdup_printf ("hdmabufsrc stream=%s copy-held-after=0 ! appsink", stream);
  GstElement *consumer = gst_parse_launch (desc, NULL);
  gint64 start = g_get_monotonic_time ();
  GstElement *pipeline;
  gchar *why = NULL;

  gst_element_set_state (consumer, GST_STATE_PLAYING);
  pipeline = start_producer (stream, "timeout", 1000, NULL);
  if (await_end (pipeline, 20 * GST_SECOND, &why) || strstr (why, "did not release slot 0 within 1000 ms") == NULL)
    FAIL ("the stalled sink did not fail as expected: %s", why != NULL ? why : "EOS");
  printf ("producer: %s, after %" G_GINT64_FORMAT " ms\n", why, (g_get_monotonic_time () - start) / 1000);
  g_free (why);
  g_free (desc);
  gst_element_set_state (consumer, GST_STATE_NULL);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (consumer);
  gst_object_unref (pipeline);
  return 0;
}

/* Pops the sink's "waiting for a consumer" message, checking what it names; FALSE when none came. */
static gboolean
pop_waiting (GstBus * bus, GstClockTime timeout, const gchar * stream)
{
  GstMessage *msg = gst_bus_timed_pop_filtered (bus, timeout, GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR);
  const GstStructure *st = msg != NULL ? gst_message_get_structure (msg) : NULL;
  const gchar *vm = g_getenv ("HDMABUF_TEST_SOURCE_VM");
  guint target = 0;

  if (msg == NULL)
    return FALSE;
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR)
    FAIL ("an error instead of waiting for the consumer");
  if (!gst_structure_has_name (st, "hdmabufsink-waiting-for-consumer")
      || g_strcmp0 (gst_structure_get_string (st, "stream"), stream) != 0
      || !gst_structure_get_uint (st, "target-vm", &target) || target != (guint) atoi (vm))
    FAIL ("unexpected element message %" GST_PTR_FORMAT, st);
  gst_message_unref (msg);
  return TRUE;
}

/*
 * The sink starts before its consumer (consumer-timeout 0, timeout 1000 ms): it prerolls, says once
 * that it waits, fails not even after twice its timeout, and streams every frame once the consumer
 * comes.
 */
static int
wait_for_consumer (const gchar * stream)
{
  GstElement *producer = start_producer (stream, "timeout", 1000, NULL);
  GstBus *bus = gst_element_get_bus (producer);
  GstClockTime pts = 0;
  GstAppSink *out;
  GstElement *consumer;
  GstState state;
  GstMessage *msg;
  gchar *why = NULL;

  if (gst_element_get_state (producer, &state, NULL, STEP_TIMEOUT) != GST_STATE_CHANGE_SUCCESS
      || state != GST_STATE_PLAYING)
    FAIL ("the producer did not preroll and play without a consumer");
  if (!pop_waiting (bus, STEP_TIMEOUT, stream))
    FAIL ("no message that the sink waits for a consumer");
  msg = gst_bus_timed_pop_filtered (bus, 2 * GST_SECOND, GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
  if (msg != NULL)
    FAIL ("the sink ended while it waited for the consumer: %s", GST_MESSAGE_TYPE_NAME (msg));
  printf ("producer: prerolled, waited 2 s for a consumer without an error\n");
  consumer = consumer_pipeline (stream, FALSE, &out);
  gst_element_set_state (consumer, GST_STATE_PLAYING);
  for (guint64 n = 0; n < phases[0].frames; n++) {
    GstSample *sample = gst_app_sink_try_pull_sample (out, STEP_TIMEOUT);
    if (sample == NULL)
      FAIL ("frame %" G_GUINT64_FORMAT " did not arrive", n);
    check_sample (sample, n, &phases[0], pts, FALSE);
    gst_sample_unref (sample);
    pts += phases[0].duration;
  }
  if (!await_end (producer, STEP_TIMEOUT, &why) || !await_end (consumer, STEP_TIMEOUT, &why))
    FAIL ("no EOS after the consumer came: %s", why);
  if (pop_waiting (bus, 0, stream))
    FAIL ("the sink said more than once that it waits");
  printf ("consumer: all %u frames, bit-exact and in order, then EOS on both ends\n", phases[0].frames);
  gst_element_set_state (consumer, GST_STATE_NULL);
  gst_element_set_state (producer, GST_STATE_NULL);
  gst_object_unref (out);
  gst_object_unref (consumer);
  gst_object_unref (bus);
  gst_object_unref (producer);
  return 0;
}

static gint sunk;               /* buffers that reached the producer's sink */

static GstPadProbeReturn
count_sunk (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  (void) pad, (void) info, (void) user_data;
  g_atomic_int_inc (&sunk);
  return GST_PAD_PROBE_OK;
}

/*
 * The consumer process dies mid-stream while its VM and daemon stay up (the sink's timeout 30 s): the
 * sink takes its slots back within 5 s, without an error, and says that it waits for a consumer; a
 * consumer started then gets consecutive frames, bit-exact, from the first one the sink kept on.
 */
static int
kill_consumer (const gchar * self_path, const gchar * stream)
{
  gchar *phase[] = { (gchar *) "RGBA:64x48:100000000", NULL };
  gchar *argv[] = { (gchar *) self_path, (gchar *) "consume", (gchar *) stream, phase[0], NULL };
  GstElement *producer;
  GstIterator *sinks;
  GValue item = G_VALUE_INIT;
  GstBus *bus;
  gint64 deadline = g_get_monotonic_time () + STEP_TIMEOUT / GST_USECOND;
  GstAppSink *out;
  GstElement *consumer;
  GstMessage *msg;
  GError *err = NULL;
  GPid child;
  gint64 killed, took;
  guint64 first = 0;
  gchar *why = NULL;

  parse_phases (phase, 1);
  producer = start_producer (stream, "timeout", 30000, NULL);
  bus = gst_element_get_bus (producer);
  sinks = gst_bin_iterate_sinks (GST_BIN (producer));
  if (gst_iterator_next (sinks, &item) != GST_ITERATOR_OK)
    FAIL ("no sink in the producer");
  {
    GstPad *pad = gst_element_get_static_pad (g_value_get_object (&item), "sink");
    gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, count_sunk, NULL, NULL);
    gst_object_unref (pad);
  }
  g_value_unset (&item);
  gst_iterator_free (sinks);
  if (!g_spawn_async (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &child, &err))
    FAIL ("spawn: %s", err->message);
  /* K = 3 slots: 30 frames sunk means the consumer released many. */
  while (g_atomic_int_get (&sunk) < 30) {
    if (g_get_monotonic_time () > deadline)
      FAIL ("the first consumer took only %d frames", g_atomic_int_get (&sunk));
    g_usleep (10 * 1000);       /* polls a condition, with a deadline */
  }
  kill (child, SIGKILL);
  waitpid (child, NULL, 0);
  killed = g_get_monotonic_time ();
  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT)) != NULL)
    gst_message_unref (msg);    /* a waiting message from before the first consumer came */
  if (!pop_waiting (bus, 5 * GST_SECOND, stream))
    FAIL ("the sink did not wait for a new consumer within 5 s of the consumer's death");
  took = (g_get_monotonic_time () - killed) / 1000;
  printf ("producer: consumer killed after %d frames; the sink waits for a new consumer after %" G_GINT64_FORMAT
      " ms, no error\n", g_atomic_int_get (&sunk), took);
  consumer = consumer_pipeline (stream, FALSE, &out);
  gst_element_set_state (consumer, GST_STATE_PLAYING);
  for (guint i = 0; i < 30; i++) {
    GstSample *sample = gst_app_sink_try_pull_sample (out, STEP_TIMEOUT);
    if (sample == NULL)
      FAIL ("frame %u of the second consumer did not arrive", i);
    if (i == 0)                 /* which frame comes first: its PTS says, check_sample its bytes */
      first = GST_BUFFER_PTS (gst_sample_get_buffer (sample)) / phases[0].duration;
    check_sample (sample, first + i, &phases[0], (first + i) * phases[0].duration, FALSE);
    gst_sample_unref (sample);
  }
  printf ("consumer 2: frames %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT ", bit-exact and in order\n", first,
      first + 29);
  if (await_end (producer, 0, &why) || !g_str_equal (why, "timed out"))
    FAIL ("the producer ended: %s", why != NULL ? why : "EOS");
  g_free (why);
  gst_element_set_state (producer, GST_STATE_NULL);
  gst_element_set_state (consumer, GST_STATE_NULL);
  gst_object_unref (out);
  gst_object_unref (consumer);
  gst_object_unref (bus);
  gst_object_unref (producer);
  return 0;
}

/* consumer-timeout 1000 ms and no consumer: after it, an element error naming the stream and the VM. */
static int
consumer_timeout (const gchar * stream)
{
  gint64 start = g_get_monotonic_time ();
  GstElement *producer = start_producer (stream, "consumer-timeout", 1000, NULL);
  GstBus *bus = gst_element_get_bus (producer);
  gchar *want = g_strdup_printf ("no consumer in VM %s imported stream \"%s\" within 1000 ms",
      g_getenv ("HDMABUF_TEST_SOURCE_VM"), stream);
  gint64 took;
  gchar *why = NULL;

  if (!pop_waiting (bus, STEP_TIMEOUT, stream))
    FAIL ("no message that the sink waits for a consumer");
  if (await_end (producer, STEP_TIMEOUT, &why) || strstr (why, want) == NULL)
    FAIL ("the sink did not fail with \"%s\": %s", want, why != NULL ? why : "EOS");
  took = (g_get_monotonic_time () - start) / 1000;
  if (took < 1000)
    FAIL ("the sink failed after %" G_GINT64_FORMAT " ms, before its consumer-timeout", took);
  printf ("producer: %s, after %" G_GINT64_FORMAT " ms\n", why, took);
  g_free (why);
  g_free (want);
  gst_element_set_state (producer, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (producer);
  return 0;
}

typedef enum {
  REFUSED_ALWAYS,               /* dma-buf=always */
  REFUSED_TOO_BIG,              /* dma-buf=always, slots over size_limit_mb */
  REFUSED_AUTO,                 /* dma-buf=auto, downstream takes only memory:DMABuf caps */
} Refusal;

/*
 * Where no dma-buf can be had: dma-buf=always on a host without /dev/udmabuf (the daemon cannot make one; no
 * producer: the source fails before it waits for the stream), with it of a read-only stream (dma-bufs are
 * writable), or too big: its slots are over
 * udmabuf's size_limit_mb; dma-buf=auto to a downstream that takes only memory:DMABuf caps, of a read-only stream
 * (the source decides once it has the stream): without udmabuf the daemon's reason, with it the read-only export.
 * Either way an element error naming the reason, long before the source's 20 s timeout. The producer, its
 * consumer gone, then waits for the next one (or fails, had the consumer kept a slot past the sink's 1 s timeout).
 */
static int
dmabuf_refused (const gchar * stream, Refusal kind)
{
  gboolean udmabuf = access ("/dev/udmabuf", F_OK) == 0;
  const gchar *reason = !udmabuf ? "/dev/udmabuf" : kind == REFUSED_TOO_BIG ? "size_limit_mb"
      : "is exported read-only, and a dma-buf is always writable";
  const gchar *names = kind == REFUSED_AUTO ? "dma-buf=auto: downstream accepts only memory:DMABuf caps"
      : "dma-buf=always";
  GstElement *producer = udmabuf || kind == REFUSED_AUTO ? start_producer (stream, "read-only",
      kind != REFUSED_TOO_BIG, "timeout", 1000, "consumer-timeout", (guint) (STEP_TIMEOUT / GST_MSECOND), NULL) : NULL;
  gchar *desc = g_strdup_printf ("hdmabufsrc stream=%s timeout=20000 dma-buf=%s ! appsink name=out%s", stream,
      kind == REFUSED_AUTO ? "auto" : "always", kind == REFUSED_AUTO ? " caps=\"" DMABUF_CAPS "\"" : "");
  GstElement *consumer = gst_parse_launch (desc, NULL);
  gint64 start = g_get_monotonic_time ();
  GstBus *bus = NULL;
  GstMessage *msg;
  gint64 took;
  gchar *why = NULL;

  gst_element_set_state (consumer, GST_STATE_PLAYING);
  if (await_end (consumer, STEP_TIMEOUT, &why) || strstr (why, names) == NULL || strstr (why, reason) == NULL)
    FAIL ("%s did not fail naming \"%s\" and \"%s\": %s", desc, names, reason, why != NULL ? why : "EOS");
  took = (g_get_monotonic_time () - start) / 1000;
  if (took >= 10000)
    FAIL ("%s failed only after %" G_GINT64_FORMAT " ms", desc, took);
  printf ("consumer (%s /dev/udmabuf): %s, after %" G_GINT64_FORMAT " ms\n", udmabuf ? "with" : "without", why,
      took);
  g_clear_pointer (&why, g_free);
  g_free (desc);
  if (producer != NULL)
    bus = gst_element_get_bus (producer);
  /* The producer's waiting message from before the consumer came, if any. */
  while (bus != NULL && (msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT)) != NULL)
    gst_message_unref (msg);
  gst_element_set_state (consumer, GST_STATE_NULL);
  gst_object_unref (consumer);
  if (producer != NULL) {
    /* Stopped only once it waits or ended, its streaming thread in the sink: a sink stopped while its
     * source fills a slot fails the fill under ASan. */
    msg = gst_bus_timed_pop_filtered (bus, STEP_TIMEOUT, GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
    if (msg != NULL && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
      GError *err;
      gst_message_parse_error (msg, &err, NULL);
      printf ("producer: %s\n", err->message);
      g_error_free (err);
    } else if (msg != NULL && gst_message_has_name (msg, "hdmabufsink-waiting-for-consumer")) {
      printf ("producer: its consumer gone, it waits for the next one\n");
    } else {
      FAIL ("the producer of the refused consumer neither failed nor waited for a new consumer: %s",
          msg != NULL ? GST_MESSAGE_TYPE_NAME (msg) : "timed out");
    }
    gst_message_unref (msg);
    gst_object_unref (bus);
    gst_element_set_state (producer, GST_STATE_NULL);
    gst_object_unref (producer);
  }
  return 0;
}

/* The pid of the process with "--socket PATH" in its command line, or 0. */
static GPid
pid_of_daemon (const gchar * socket)
{
  GDir *proc = g_dir_open ("/proc", 0, NULL);
  const gchar *name;
  GPid found = 0;

  while (proc != NULL && found == 0 && (name = g_dir_read_name (proc)) != NULL) {
    gchar *path = g_build_filename ("/proc", name, "cmdline", NULL);
    gchar *cmd = NULL;
    gsize len = 0;
    if (g_ascii_isdigit (name[0]) && g_file_get_contents (path, &cmd, &len, NULL)) {
      const gchar *prev = "";
      for (const gchar * a = cmd; a < cmd + len; a += strlen (a) + 1) {
        if (strcmp (prev, "--socket") == 0 && strcmp (a, socket) == 0)
          found = atoi (name);
        prev = a;
      }
    }
    g_free (cmd);
    g_free (path);
  }
  if (proc != NULL)
    g_dir_close (proc);
  return found;
}

/*
 * One VM's daemon dies mid-stream (producer_vm: the sink daemon, VM 1; else the source daemon, VM 2):
 * the other VM's element fails with an error naming the lost VM, within the liveness bound.
 */
static int
kill_vm (const gchar * stream, gboolean producer_vm)
{
  gchar *phase[] = { (gchar *) "RGBA:64x48:100000000", NULL };
  GstElement *producer = gst_pipeline_new (NULL);
  GstElement *src = g_object_new (pattern_src_get_type (), NULL);
  GstElement *sink = gst_element_factory_make ("hdmabufsink", NULL);
  const gchar *vm = g_getenv ("HDMABUF_TEST_SOURCE_VM");
  const gchar *lost = g_getenv (producer_vm ? "HDMABUF_TEST_SINK_VM" : "HDMABUF_TEST_SOURCE_VM");
  gchar *socket = g_build_filename (g_getenv ("HDMABUF_RUNTIME_DIR"), producer_vm ? "sink.sock" : "source.sock",
      NULL);
  gchar *want = producer_vm ? g_strdup_printf ("the producer VM %s of stream \"%s\" is gone", lost, stream)
      : g_strdup_printf ("the consumer VM %s is gone", lost);
  GPid daemon = pid_of_daemon (socket);
  GstAppSink *out;
  GstElement *consumer;
  gint64 killed;
  gchar *why = NULL;

  if (daemon == 0)
    FAIL ("no daemon with --socket %s", socket);
  parse_phases (phase, 1);
  g_object_set (sink, "stream", stream, "target-vm", atoi (vm), "sync", FALSE, "timeout", 20000, NULL);
  gst_bin_add_many (GST_BIN (producer), src, sink, NULL);
  gst_element_link (src, sink);
  consumer = consumer_pipeline (stream, FALSE, &out);
  gst_element_set_state (producer, GST_STATE_PLAYING);
  gst_element_set_state (consumer, GST_STATE_PLAYING);
  pull_frames (out, 20);
  kill (daemon, SIGKILL);
  killed = g_get_monotonic_time ();
  if (await_end (producer_vm ? consumer : producer, 10 * GST_SECOND, &why) || strstr (why, want) == NULL)
    FAIL ("the %s did not fail naming the lost VM: %s", producer_vm ? "consumer" : "producer",
        why != NULL ? why : "EOS");
  printf ("%s: %s, %" G_GINT64_FORMAT " ms after the %s VM's daemon died\n", producer_vm ? "consumer" : "producer",
      why, (g_get_monotonic_time () - killed) / 1000, producer_vm ? "producer" : "consumer");
  g_free (why);
  g_free (want);
  g_free (socket);
  gst_element_set_state (consumer, GST_STATE_NULL);
  gst_element_set_state (producer, GST_STATE_NULL);
  gst_object_unref (out);
  gst_object_unref (consumer);
  gst_object_unref (producer);
  return 0;
}

/* ---- hdmabufsrc ! waylandsink: what waylandsink did with our buffers ---- */

static guint lent, copied_by_sink;

static void
count_waylandsink_log (GstDebugCategory * cat, GstDebugLevel level, const gchar * file, const gchar * function,
    gint line, GObject * object, GstDebugMessage * message, gpointer user_data)
{
  const gchar *text = gst_debug_message_get (message);
  (void) level, (void) file, (void) function, (void) line, (void) object, (void) user_data;
  if (strcmp (gst_debug_category_get_name (cat), "waylandsink") != 0 || text == NULL)
    return;
  /* gstwaylandsink.c: a buffer without a wl_buffer gets one made from its own memory, or is copied. */
  if (strstr (text, "does not have a wl_buffer from our display, creating it") != NULL)
    g_atomic_int_inc (&lent);
  if (strstr (text, "copying") != NULL)
    g_atomic_int_inc (&copied_by_sink);
}

typedef struct {
  guint frames;
  guint fd_memory;
} ShowCount;

static GstPadProbeReturn
count_shown (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  ShowCount *count = user_data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  GstMemory *mem = gst_buffer_peek_memory (buf, 0);
  struct stat st;
  (void) pad;

  if (gst_is_fd_memory (mem) && count->fd_memory++ == 0 && fstat (gst_fd_memory_get_fd (mem), &st) == 0) {
    printf ("REGION inode=%lu\n", (unsigned long) st.st_ino);
    fflush (stdout);
  }
  count->frames++;
  return GST_PAD_PROBE_OK;
}

static gboolean
quit_loop (gpointer loop)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

/* The producer's end (EOS, after its warning about the withdrawn stream) ends the loop; an error fails. */
static gboolean
on_bus (GstBus * bus, GstMessage * msg, gpointer loop)
{
  (void) bus;
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *err = NULL;
    gst_message_parse_error (msg, &err, NULL);
    FAIL ("show: %s", err->message);
  }
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS)
    g_main_loop_quit (loop);
  return G_SOURCE_CONTINUE;
}

static int
show (const gchar * stream)
{
  gchar *desc = g_strdup_printf ("hdmabufsrc stream=%s timeout=20000 ! waylandsink name=out fullscreen=true",
      stream);
  GMainLoop *loop = g_main_loop_new (NULL, FALSE);
  ShowCount count = { 0 };
  GError *err = NULL;
  GstElement *pipeline, *sink;
  GstPad *pad;
  GstBus *bus;
  guint watch;

  gst_debug_set_threshold_for_name ("waylandsink", GST_LEVEL_LOG);
  gst_debug_add_log_function (count_waylandsink_log, NULL, NULL);
  if ((pipeline = gst_parse_launch (desc, &err)) == NULL)
    FAIL ("%s: %s", desc, err->message);
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "out");
  pad = gst_element_get_static_pad (sink, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, count_shown, &count, NULL);
  bus = gst_element_get_bus (pipeline);
  watch = gst_bus_add_watch (bus, on_bus, loop);
  g_unix_signal_add (SIGTERM, quit_loop, loop);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  printf ("READY consumer of \"%s\" on waylandsink\n", stream);
  fflush (stdout);
  g_main_loop_run (loop);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  /* waylandsink logs "creating it" before it tries, and then "copying" when it could not. */
  printf ("SHOWN frames=%u fd_memory=%u lent=%u copied=%u\n", count.frames, count.fd_memory,
      g_atomic_int_get (&lent) - g_atomic_int_get (&copied_by_sink), g_atomic_int_get (&copied_by_sink));
  g_source_remove (watch);
  gst_object_unref (bus);
  gst_object_unref (pad);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
  g_main_loop_unref (loop);
  g_free (desc);
  return 0;
}

/*
 * With GST_TRACERS=leaks (as meson test sets it): every GstObject and mini object made must be gone
 * once the pipelines are. The phases' caps are the test's own and go first. A streaming thread drops
 * its last reference to its GstTask just after the join that stopping the pad waits for: the task
 * threads are joined first (gst_task_cleanup_all, as GstCheck's teardown does), since the tracer's
 * get-live-objects reports each object once only.
 */
static int
check_leaks (int rc)
{
  GList *tracers = gst_tracing_get_active_tracers ();
  GstStructure *live = NULL;
  const GValue *list;
  const gchar *asked = g_getenv ("GST_TRACERS");

  for (guint i = 0; i < n_phases; i++)
    gst_clear_caps (&phases[i].caps);
  gst_task_cleanup_all ();
  for (GList * t = tracers; t != NULL; t = t->next)
    if (live == NULL && strcmp (G_OBJECT_TYPE_NAME (t->data), "GstLeaksTracer") == 0)
      g_signal_emit_by_name (t->data, "get-live-objects", &live);
  g_list_free_full (tracers, gst_object_unref);
  if (live == NULL) {
    /* Asked for, but not made (its plugin, coretracers, not found): the check would pass unseen. */
    if (asked != NULL && strstr (asked, "leaks") != NULL)
      FAIL ("GST_TRACERS=leaks, but no leaks tracer is active (is libgstcoretracers.so on the plugin path?)");
    return rc;
  }
  list = gst_structure_get_value (live, "live-objects-list");
  for (guint i = 0; i < gst_value_list_get_size (list); i++) {
    const GstStructure *o = gst_value_get_structure (gst_value_list_get_value (list, i));
    gchar *text = gst_structure_to_string (o);
    fprintf (stderr, "leaked: %s\n", text);
    g_free (text);
  }
  if (gst_value_list_get_size (list) > 0)
    rc = 1;
  else
    printf ("leaks tracer: no GStreamer object left\n");
  gst_structure_free (live);
  return rc;
}

int
main (int argc, char **argv)
{
  gboolean ro, copy, live;
  int first;

  gst_init (&argc, &argv);
  if (argc < 3)
    FAIL ("usage: %s produce|consume STREAM [ro] PHASE... | kill STREAM", argv[0]);
  if (strcmp (argv[1], "has-element") == 0) {
    GstElementFactory *f = gst_element_factory_find (argv[2]);
    if (f == NULL)
      return 77;
    gst_object_unref (f);
    return 0;
  }
  if (strcmp (argv[1], "show") == 0)
    return check_leaks (show (argv[2]));
  if (strcmp (argv[1], "kill") == 0)
    return check_leaks (kill_producer (argv[0], argv[2]));
  if (strcmp (argv[1], "kill-consumer") == 0)
    return check_leaks (kill_consumer (argv[0], argv[2]));
  if (strcmp (argv[1], "kill-consumer-vm") == 0 || strcmp (argv[1], "kill-producer-vm") == 0)
    return check_leaks (kill_vm (argv[2], strcmp (argv[1], "kill-producer-vm") == 0));
  if (strcmp (argv[1], "stall") == 0 || strcmp (argv[1], "wait-consumer") == 0
      || strcmp (argv[1], "consumer-timeout") == 0 || strcmp (argv[1], "dmabuf-refused") == 0
      || strcmp (argv[1], "dmabuf-too-big") == 0 || strcmp (argv[1], "dmabuf-auto-refused") == 0) {
    gchar *phase[] = { (gchar *) (strcmp (argv[1], "wait-consumer") == 0 ? "RGBA:64x48:30"
          : strcmp (argv[1], "dmabuf-too-big") == 0 ? "RGBA:640x480:1000" : "RGBA:64x48:1000"),
      NULL
    };
    parse_phases (phase, 1);
    if (strcmp (argv[1], "stall") == 0)
      return check_leaks (stall (argv[2]));
    if (strcmp (argv[1], "wait-consumer") == 0)
      return check_leaks (wait_for_consumer (argv[2]));
    if (strcmp (argv[1], "dmabuf-refused") == 0)
      return check_leaks (dmabuf_refused (argv[2], REFUSED_ALWAYS));
    if (strcmp (argv[1], "dmabuf-too-big") == 0)
      return check_leaks (dmabuf_refused (argv[2], REFUSED_TOO_BIG));
    if (strcmp (argv[1], "dmabuf-auto-refused") == 0)
      return check_leaks (dmabuf_refused (argv[2], REFUSED_AUTO));
    return check_leaks (consumer_timeout (argv[2]));
  }
  ro = argc > 3 && strcmp (argv[3], "ro") == 0;
  copy = argc > 3 && strcmp (argv[3], "copy") == 0;
  live = argc > 3 && strcmp (argv[3], "live") == 0;
  video_meta = !(argc > 3 && strcmp (argv[3], "nometa") == 0);
  dmabuf = argc > 3 && strcmp (argv[3], "dmabuf") == 0;
  first = ro || copy || live || !video_meta || dmabuf ? 4 : 3;
  parse_phases (argv + first, argc - first);
  if (strcmp (argv[1], "produce") == 0)
    return check_leaks (produce (argv[2], ro, copy, live));
  return check_leaks (consume (argv[2], ro, live));
}
