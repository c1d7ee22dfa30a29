/* SPDX-License-Identifier: MIT */
/*
 * The consumer's side of one export of a stream: its K slots imported and mapped, the caps they
 * carry, and frames handed out as GstMemory over the mapping. A slot goes back to the producer
 * (release fence) when downstream drops the last reference to its memory, so several frames may
 * be in flight at once. Reference counted: buffers downstream keep it alive.
 */
#ifndef GST_HDMABUF_IN_H
#define GST_HDMABUF_IN_H

#include "hdmabufcaps.h"
#include "hdmabufframe.h"

G_BEGIN_DECLS

typedef struct _GstHdmabufIn GstHdmabufIn;

/*
 * Waits up to timeout_ms (< 0: no limit) for every slot of a stream whose name matches
 * stream (a udev-style glob) and imports them; an export of generation skip_generation (the one
 * just left for new caps) is passed over. dma_buf: each slot also as a dma-buf, as
 * gst_hdmabuf_in_import_dmabufs (an error prefixed "dma-buf=always: "), and fails at once,
 * before waiting, when the daemon cannot make dma-bufs. NULL with error set, or NULL without
 * when *cancel became TRUE.
 */
GstHdmabufIn *gst_hdmabuf_in_open (const gchar * socket_path, const gchar * stream,
    const gchar * skip_generation, gboolean dma_buf, gint timeout_ms, const gint * cancel, GError ** error);
GstHdmabufIn *gst_hdmabuf_in_ref (GstHdmabufIn * in);
void gst_hdmabuf_in_unref (GstHdmabufIn * in);

GstCaps *gst_hdmabuf_in_caps (GstHdmabufIn * in);
const gchar *gst_hdmabuf_in_generation (GstHdmabufIn * in);
guint32 gst_hdmabuf_in_producer_vm (GstHdmabufIn * in);
guint gst_hdmabuf_in_slots (GstHdmabufIn * in);

/* gst_hdmabuf_in_next: no frame for held_ms while downstream holds one (see there). */
#define GST_HDMABUF_FLOW_HELD GST_FLOW_CUSTOM_SUCCESS

/*
 * Waits for the next frame and copies its header (validated) into *info. GST_HDMABUF_FLOW_HELD
 * once per frame when none came for held_ms (> 0) while downstream holds a frame: a video sink
 * keeps its frame on screen until it shows a newer one, and the producer may need that slot for
 * the next frame, or wait for it when draining. GST_FLOW_FLUSHING when
 * *cancel became TRUE, GST_FLOW_EOS when the producer withdrew the stream (acquire closed with
 * ENOENT), GST_FLOW_ERROR with error set otherwise (the producer's VM is gone, a bad header, a
 * timeout).
 */
GstFlowReturn gst_hdmabuf_in_next (GstHdmabufIn * in, gint timeout_ms, gint held_ms, const gint * cancel,
    struct hdmabuf_frame_header * info, GError ** error);
/*
 * The frame taken last as a buffer, with a GstVideoMeta for video; its slot is released when the
 * memory is freed. With dma-bufs: GstDmaBufMemory over the slot's dma-buf from its offset
 * 0 (the slot's start) to the payload's end, the meta's plane offsets the producer's. Else fd_memory: video as a GstFdMemory over the region fd from offset 0 to the
 * payload's end, the meta's plane offsets counted from 0 (where gst_hdmabuf_in_fd_memory_refusal
 * is NULL); otherwise memory over the mapping that holds just the payload (read-only memory for a
 * read-only import).
 */
GstBuffer *gst_hdmabuf_in_wrap (GstHdmabufIn * in, gsize payload, gboolean fd_memory);
/* Whether frames go as GstDmaBufMemory (opened with dma_buf, or gst_hdmabuf_in_import_dmabufs). */
gboolean gst_hdmabuf_in_dmabufs (GstHdmabufIn * in);
/*
 * Imports each slot a second time as a dma-buf of exactly its pages (ABI.md "Dma-buf imports"):
 * frames then go as GstDmaBufMemory. FALSE with error set naming why where none can be had: the
 * daemon cannot make dma-bufs (its caps' reason), a read-only export (dma-bufs are writable), a
 * slot over udmabuf's size_limit_mb; no dma-buf import is kept then. Before the first frame.
 */
gboolean gst_hdmabuf_in_import_dmabufs (GstHdmabufIn * in, GError ** error);
/* Why this import's frames cannot be GstFdMemory (audio, read-only, the fd's kind), or NULL. */
const gchar *gst_hdmabuf_in_fd_memory_refusal (GstHdmabufIn * in);
/* A copy of the frame taken last in memory of its own (no timestamps), for GST_HDMABUF_FLOW_HELD.
 * Its slot is not written again meanwhile: the producer writes frames in slot order, and the
 * next frame has not come. */
GstBuffer *gst_hdmabuf_in_copy_taken (GstHdmabufIn * in);
/* Hands the frame taken last back at once (a frame not pushed downstream). */
void gst_hdmabuf_in_skip (GstHdmabufIn * in);

G_END_DECLS

#endif
