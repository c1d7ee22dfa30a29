package org.hyperdmabuf.hv.xen.abi;

/**
 * {@code /dev/xen/evtchn} ({@code <xen/evtchn.h>}). Binds return the local port as the ioctl's value;
 * {@code read()} yields pending u32 ports, each masked until written back.
 * <pre>
 * struct ioctl_evtchn_bind_interdomain   remote_domain u32 @0 | remote_port u32 @4; sizeof 8
 * struct ioctl_evtchn_bind_unbound_port  remote_domain u32 @0; sizeof 4
 * struct ioctl_evtchn_unbind             port u32 @0; sizeof 4
 * struct ioctl_evtchn_notify             port u32 @0; sizeof 4
 * </pre>
 * Checked against the kernel header by {@code XenUapiConformanceTest}.
 */
public final class EvtchnDescriptor
{
    public static final int BIND_INTERDOMAIN_REMOTE_DOMAIN_OFFSET = 0;
    public static final int BIND_INTERDOMAIN_REMOTE_PORT_OFFSET = 4;
    public static final int BIND_INTERDOMAIN_LENGTH = 8;
    public static final int BIND_UNBOUND_LENGTH = 4;
    public static final int UNBIND_LENGTH = 4;
    public static final int NOTIFY_LENGTH = 4;
    public static final int PORT_LENGTH = 4;

    public static final int IOCTL_BIND_INTERDOMAIN = XenIoctls.ioc('E', 1, BIND_INTERDOMAIN_LENGTH);
    public static final int IOCTL_BIND_UNBOUND_PORT = XenIoctls.ioc('E', 2, BIND_UNBOUND_LENGTH);
    public static final int IOCTL_UNBIND = XenIoctls.ioc('E', 3, UNBIND_LENGTH);
    public static final int IOCTL_NOTIFY = XenIoctls.ioc('E', 4, NOTIFY_LENGTH);
    public static final int IOCTL_RESET = XenIoctls.ioc('E', 5, 0);

    private EvtchnDescriptor()
    {
    }
}
