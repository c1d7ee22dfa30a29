package org.hyperdmabuf.sink;

/** Why an export ends, as its target hears it (UnexportNotice.reason, the REASON of the importer's remove). */
enum UnexportReason
{
    /** Its owner unexported or freed it, or went away. */
    UNEXPORTED("unexported"),
    /** A new policy forbids it. */
    POLICY("policy");

    private final String text;

    UnexportReason(final String text)
    {
        this.text = text;
    }

    /** The reason on the wire. */
    String text()
    {
        return text;
    }
}
