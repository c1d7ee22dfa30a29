package org.hyperdmabuf.sink;

/** Where an export stands, as QUERY and LIST report it to its owner ({@code BufferInfo.state}). */
enum ExportState
{
    /** Announced to its target VM and usable. */
    EXPORTED("exported"),
    /** UNEXPORT with a delay is running, or the export is gone and waits for its target's release. */
    UNEXPORT_PENDING("unexport-pending"),
    /** Its target VM went away; the export stays until its owner unexports it. */
    PEER_LOST("peer-lost"),
    /** Its target VM refused the announcement; the text goes on with the refusal's error and message. */
    REJECTED("rejected");

    private final String text;

    ExportState(final String text)
    {
        this.text = text;
    }

    /** The text on the wire. */
    String text()
    {
        return text;
    }
}
