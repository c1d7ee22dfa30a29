package org.hyperdmabuf.source;

/** Where a buffer from another VM stands here, as QUERY and LIST report it ({@code BufferInfo.state}). */
enum ImportState
{
    /** Announced and importable; no local client holds an import. */
    EXPORTED("exported"),
    /** At least one local client holds an import. */
    IMPORTED("imported"),
    /** Unexported, refused by a new policy or its exporter is gone; clients still hold imports. */
    REMOVED("removed");

    private final String text;

    ImportState(final String text)
    {
        this.text = text;
    }

    /** The text on the wire. */
    String text()
    {
        return text;
    }
}
