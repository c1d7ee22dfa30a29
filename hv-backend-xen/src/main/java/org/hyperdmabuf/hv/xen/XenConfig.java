package org.hyperdmabuf.hv.xen;

import org.hyperdmabuf.hv.shm.RingDescriptor;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.BackendOptions;
import org.hyperdmabuf.hv.xen.abi.XenLimits;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * The Xen backend's options, checked (see {@link XenBackend} for what each means). {@code max-peers} and
 * {@code fence-slots}, which the command line passes to every backend, size an ivshmem region and are ignored.
 */
public final class XenConfig
{
    public static final String OPTION_DOMID = "domid";
    public static final String OPTION_PEERS = "peers";
    public static final String OPTION_EMULATOR = "emulator";
    public static final String OPTION_XENSTORE = "xenstore";
    public static final String OPTION_ROLES = "roles";
    public static final String OPTION_HEARTBEAT_MS = "heartbeat-ms";
    public static final String OPTION_LIVENESS_TIMEOUT_MS = "liveness-timeout-ms";
    public static final String OPTION_RING_CAPACITY = "ring-capacity";
    public static final String OPTION_GNTALLOC_LIMIT = "gntalloc-limit";
    public static final String OPTION_GRANTEE = "grantee";
    public static final String OPTION_ALLOC_ACCESS = "alloc-access";
    /** Every option a Xen backend takes. */
    public static final List<String> OPTIONS = List.of(OPTION_DOMID, OPTION_PEERS, OPTION_EMULATOR, OPTION_XENSTORE,
        OPTION_ROLES, OPTION_HEARTBEAT_MS, OPTION_LIVENESS_TIMEOUT_MS, OPTION_RING_CAPACITY, OPTION_GNTALLOC_LIMIT,
        OPTION_GRANTEE, OPTION_ALLOC_ACCESS, "max-peers", "fence-slots");
    /** The receive thread's wake-up bound; also the smallest heartbeat interval. */
    static final int POLL_MS = 10;

    final int[] peerIds;
    final int roles;
    final long heartbeatNs;
    final long livenessNs;
    final int ringCapacity;
    final long limitPages;
    /** The default grantee of buffers granted before an export (null: the only source peer). */
    final Integer grantee;
    final boolean allocWritable;
    final String xenstorePath;

    private XenConfig(final BackendOptions o) throws BackendException
    {
        o.checkKnown(OPTIONS, "");
        this.peerIds = peers(o);
        this.roles = o.flags(OPTION_ROLES, "sink,source", Map.of("sink", 1, "source", 2), "sink, source or " +
            "sink,source");
        final long hb = o.number(OPTION_HEARTBEAT_MS, 100, 0, Long.MAX_VALUE);
        final long live = o.number(OPTION_LIVENESS_TIMEOUT_MS, 1500, 0, Long.MAX_VALUE);
        if (hb < POLL_MS || live <= 2 * hb)
        {
            throw o.invalid(OPTION_HEARTBEAT_MS + "=" + hb + " (>= " + POLL_MS + ") must be under half of " +
                OPTION_LIVENESS_TIMEOUT_MS + "=" + live);
        }
        this.heartbeatNs = hb * 1_000_000L;
        this.livenessNs = live * 1_000_000L;
        this.ringCapacity = o.integer(OPTION_RING_CAPACITY, 65536, 0, Integer.MAX_VALUE);
        try
        {
            RingDescriptor.checkCapacity(ringCapacity);
        }
        catch (final IllegalArgumentException e)
        {
            throw o.invalid(e.getMessage());
        }
        this.limitPages = o.number(OPTION_GNTALLOC_LIMIT, XenLimits.GNTALLOC_DEFAULT_PAGE_LIMIT, 0, Long.MAX_VALUE);
        this.grantee = o.has(OPTION_GRANTEE) ? o.integer(OPTION_GRANTEE, 0, 0, Integer.MAX_VALUE) : null;
        this.allocWritable = o.choice(OPTION_ALLOC_ACCESS, "rw", List.of("rw", "ro")).equals("rw");
        this.xenstorePath = o.string(OPTION_XENSTORE, null);
    }

    public static XenConfig parse(final Map<String, String> options) throws BackendException
    {
        return new XenConfig(new BackendOptions(XenBackend.NAME, options));
    }

    private static int[] peers(final BackendOptions o) throws BackendException
    {
        final String peers = o.string(OPTION_PEERS, null);
        if (peers == null || peers.isBlank())
        {
            throw o.invalid("option " + OPTION_PEERS + "=<domid,...> is required (the domains to meet)");
        }
        try
        {
            return Arrays.stream(peers.split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
        }
        catch (final NumberFormatException e)
        {
            throw o.invalid(OPTION_PEERS + "=" + peers + " is not a list of domids");
        }
    }

    boolean isPeer(final int domid)
    {
        return Arrays.stream(peerIds).anyMatch(p -> p == domid);
    }
}
