package org.hyperdmabuf.hv.xen.abi;

/**
 * The xenstore wire protocol ({@code xen/include/public/io/xs_wire.h}, {@code docs/misc/xenstore.txt}):
 * a native-endian 16-byte header followed by at most 4096 payload bytes, on the xenstored Unix socket or
 * {@code /dev/xen/xenbus}.
 * <pre>
 * struct xsd_sockmsg  type u32 @0 | req_id u32 @4 | tx_id u32 @8 | len u32 @12; then len payload bytes
 * </pre>
 */
public final class XsWireDescriptor
{
    public static final int TYPE_OFFSET = 0;
    public static final int REQ_ID_OFFSET = 4;
    public static final int TX_ID_OFFSET = 8;
    public static final int LEN_OFFSET = 12;
    public static final int HEADER_LENGTH = 16;
    public static final int PAYLOAD_MAX = 4096;

    public static final int XS_DIRECTORY = 1;
    public static final int XS_READ = 2;
    public static final int XS_GET_PERMS = 3;
    public static final int XS_WATCH = 4;
    public static final int XS_UNWATCH = 5;
    public static final int XS_TRANSACTION_START = 6;
    public static final int XS_TRANSACTION_END = 7;
    public static final int XS_GET_DOMAIN_PATH = 10;
    public static final int XS_WRITE = 11;
    public static final int XS_MKDIR = 12;
    public static final int XS_RM = 13;
    public static final int XS_SET_PERMS = 14;
    public static final int XS_WATCH_EVENT = 15;
    public static final int XS_ERROR = 16;

    private XsWireDescriptor()
    {
    }
}
