/* SPDX-License-Identifier: MIT */
/*
 * The producer's side of one export of a stream: K shared slots of one format, each a buffer with
 * a frame header after the content, exported to the target VM (ABI.md "Frame streams"). Frame n
 * goes into slot n % K once the consumer released round n / K. Reference counted: pool buffers keep
 * it (and its mappings) alive after the element moved on to new caps.
 */
#ifndef GST_HDMABUF_OUT_H
#define GST_HDMABUF_OUT_H

#include "hdmabufcaps.h"
#include "hdmabufframe.h"

G_BEGIN_DECLS

typedef struct _GstHdmabufOut GstHdmabufOut;

GstHdmabufOut *gst_hdmabuf_out_new (const gchar * socket_path, guint32 target_vm, const gchar * stream,
    guint k, const GstHdmabufFormat * fmt, gboolean read_only, GError ** error);
GstHdmabufOut *gst_hdmabuf_out_ref (GstHdmabufOut * out);
void gst_hdmabuf_out_unref (GstHdmabufOut * out);

guint gst_hdmabuf_out_slots (GstHdmabufOut * out);
gsize gst_hdmabuf_out_frame_bytes (GstHdmabufOut * out);
const GstHdmabufFormat *gst_hdmabuf_out_format (GstHdmabufOut * out);
/* A new GstMemory over a slot's content (keeps out alive). */
GstMemory *gst_hdmabuf_out_wrap_slot (GstHdmabufOut * out, guint slot);
/* The slot whose content starts at data, or -1. */
gint gst_hdmabuf_out_slot_at (GstHdmabufOut * out, gconstpointer data);
guint8 *gst_hdmabuf_out_slot_data (GstHdmabufOut * out, guint slot);
guint32 gst_hdmabuf_out_target_vm (GstHdmabufOut * out);

/* What the waits for a release answer when the consumer VM holds no import any more. */
#define GST_HDMABUF_FLOW_CONSUMER_LOST GST_FLOW_CUSTOM_SUCCESS

/*
 * Whether the consumer came and then its VM released every import of slot 0 (its process died or
 * stopped): nobody releases frames any more. The waits find it out; the slots' takes then no longer
 * wait for releases, and the element exports the stream anew for the next consumer.
 */
gboolean gst_hdmabuf_out_consumer_lost (GstHdmabufOut * out);
/* Whether the consumer VM imported this export (slot 0) yet; does not wait. */
gboolean gst_hdmabuf_out_has_consumer (GstHdmabufOut * out);
/*
 * Waits until the consumer VM imported this export (timeout_ms <= 0: no limit). GST_FLOW_FLUSHING
 * when set_flushing interrupts; GST_FLOW_ERROR with error set on the timeout or when the consumer
 * VM rejected the export.
 */
GstFlowReturn gst_hdmabuf_out_await_consumer (GstHdmabufOut * out, gint timeout_ms, GError ** error);

/*
 * Takes the slot of the next frame to hand to upstream (the pool), waiting until the consumer
 * released it. GST_FLOW_FLUSHING when set_flushing interrupts, GST_FLOW_ERROR with error set.
 */
GstFlowReturn gst_hdmabuf_out_take_next (GstHdmabufOut * out, gint timeout_ms, guint * slot, GError ** error);
/* A taken slot comes back (its GstBuffer was dropped): free for its next round. */
void gst_hdmabuf_out_give_back (GstHdmabufOut * out, guint slot);
/*
 * The slot of the next frame to publish. want_slot: the slot upstream's buffer is (or -1); when
 * the pool handed it out for exactly this frame, *slot = want_slot (written in place). Otherwise
 * takes the frame's slot once the consumer released it, for a copy.
 */
GstFlowReturn gst_hdmabuf_out_take_for_publish (GstHdmabufOut * out, gint want_slot, gint timeout_ms,
    guint * slot, GError ** error);
/* Publishes the frame in slot (taken for publish): header, then acquire. */
gboolean gst_hdmabuf_out_publish (GstHdmabufOut * out, guint slot, const struct hdmabuf_frame_header * info,
    GError ** error);
/*
 * Waits until the consumer released the frame published last (GST_HDMABUF_FLOW_CONSUMER_LOST: it
 * never will). Consumers take frames in order, so
 * it has taken every earlier one (downstream may still hold some: their mappings stay valid).
 */
GstFlowReturn gst_hdmabuf_out_wait_last_released (GstHdmabufOut * out, gint timeout_ms, GError ** error);
/* Interrupts (or no longer interrupts) the waits above. */
void gst_hdmabuf_out_set_flushing (GstHdmabufOut * out, gboolean flushing);
/* Withdraws the exports: the consumer sees them removed; the mappings stay until the last ref. */
void gst_hdmabuf_out_retire (GstHdmabufOut * out);

G_END_DECLS

#endif
