package org.hyperdmabuf.abi;

/** Documented limits of ABI v1 (ABI.md "Metadata limits", "Framing"). */
public final class Limits
{
    public static final int ABI_VERSION = 1;
    public static final int MAX_FRAME_BYTES = 65536;
    /** Largest frame a daemon sends (ABI.md "Framing"), the prefix not counted. */
    public static final int MAX_SERVER_FRAME_BYTES = 16 << 20;
    public static final int MAX_METADATA_BYTES = 8192;
    public static final int MAX_PRIVATE_BYTES = 4096;
    public static final int MAX_CONTENT_TYPE_BYTES = 127;
    public static final int MAX_TAGS = 64;
    public static final int MAX_TAG_KEY_BYTES = 64;
    public static final int MAX_TAG_VALUE_BYTES = 1024;
    public static final int MAX_PLANES = 4;
    public static final int MAX_MATCH_RULES = 64;
    public static final int MAX_MATCHES_PER_RULE = 32;
    /** Events queued per client connection before the daemon starts counting drops (overflow marker). */
    public static final int EVENT_QUEUE_PER_CLIENT = 4096;
    /** Bytes of uevents queued per client connection, whichever of the two bounds comes first. */
    public static final int EVENT_QUEUE_BYTES_PER_CLIENT = 4 << 20;
    /** Default for the daemon option {@code --max-clients}: connections past it are refused with EAGAIN. */
    public static final int DEFAULT_MAX_CLIENTS = 1024;
    /** Subscriptions one connection may hold; SUBSCRIBE past it answers ENOSPC. */
    public static final int MAX_SUBSCRIPTIONS_PER_CLIENT = 256;
    /**
     * Glob characters (each match's glob plus one) over all subscriptions of one connection; SUBSCRIBE past it
     * answers ENOSPC. Matching is O(glob x value), so this bounds one connection's cost per event (about 4 M
     * character steps against 1 KiB values, about 10 ms) whatever its rules.
     */
    public static final int MAX_GLOB_CHARS_PER_CLIENT = 4096;
    /** FENCE_WAITs one connection may have parked; more answer EAGAIN until some complete. */
    public static final int MAX_FENCE_WAITS_PER_CLIENT = 4096;

    private Limits()
    {
    }
}
