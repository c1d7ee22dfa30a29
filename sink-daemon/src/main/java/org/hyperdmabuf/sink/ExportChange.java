package org.hyperdmabuf.sink;

/** What happened to an export, reported to its owner as a {@code change} event's STATE (ABI.md "Events"). */
enum ExportChange
{
    IMPORTED("imported"),
    RELEASED("released"),
    REJECTED("rejected"),
    REVOKED("revoked"),
    PEER_LOST("peer-lost");

    private final String text;

    ExportChange(final String text)
    {
        this.text = text;
    }

    /** The STATE value on the wire. */
    String text()
    {
        return text;
    }
}
