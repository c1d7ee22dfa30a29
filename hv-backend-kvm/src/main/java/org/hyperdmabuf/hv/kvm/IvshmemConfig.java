package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.hv.pci.IvshmemDeviceSelector;
import org.hyperdmabuf.hv.pci.IvshmemPciScanner;
import org.hyperdmabuf.hv.pci.IvshmemRegisters;
import org.hyperdmabuf.hv.shm.PeerSlotDescriptor;
import org.hyperdmabuf.hv.shm.RegionLayout;
import org.hyperdmabuf.hv.shm.RingDescriptor;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.BackendOptions;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.hyperdmabuf.hv.kvm.IvshmemBackend.COMMON_OPTIONS;
import static org.hyperdmabuf.hv.kvm.IvshmemBackend.MODE_GUEST;
import static org.hyperdmabuf.hv.kvm.IvshmemBackend.MODE_HOST;
import static org.hyperdmabuf.hv.kvm.IvshmemBackend.OPTION_CONNECT_TIMEOUT_MS;
import static org.hyperdmabuf.hv.kvm.IvshmemBackend.OPTION_DEVICE;
import static org.hyperdmabuf.hv.kvm.IvshmemBackend.OPTION_ENABLE;
import static org.hyperdmabuf.hv.kvm.IvshmemBackend.OPTION_FENCE_SLOTS;
import static org.hyperdmabuf.hv.kvm.IvshmemBackend.OPTION_HEARTBEAT_MS;
import static org.hyperdmabuf.hv.kvm.IvshmemBackend.OPTION_LIVENESS_TIMEOUT_MS;
import static org.hyperdmabuf.hv.kvm.IvshmemBackend.OPTION_MAX_PEERS;
import static org.hyperdmabuf.hv.kvm.IvshmemBackend.OPTION_MODE;
import static org.hyperdmabuf.hv.kvm.IvshmemBackend.OPTION_NOTIFICATION;
import static org.hyperdmabuf.hv.kvm.IvshmemBackend.OPTION_PEER_ID;
import static org.hyperdmabuf.hv.kvm.IvshmemBackend.OPTION_POLL_MAX_PARK_US;
import static org.hyperdmabuf.hv.kvm.IvshmemBackend.OPTION_REGION_SIZE;
import static org.hyperdmabuf.hv.kvm.IvshmemBackend.OPTION_RING_CAPACITY;
import static org.hyperdmabuf.hv.kvm.IvshmemBackend.OPTION_ROLES;
import static org.hyperdmabuf.hv.kvm.IvshmemBackend.OPTION_SOCKET;
import static org.hyperdmabuf.hv.kvm.IvshmemBackend.OPTION_SUBSYSTEM_ID;
import static org.hyperdmabuf.hv.kvm.IvshmemBackend.OPTION_SYSFS;
import static org.hyperdmabuf.hv.kvm.IvshmemBackend.POLL_INTERVAL_MS;

/**
 * The ivshmem backend's options, checked, and the transport they
 * choose: the ivshmem server's socket in host mode, the VM's PCI device in guest mode, or a transport another
 * backend brings (ACRN), which takes only the region protocol's options.
 * <p>
 * Host-mode options: {@code socket} (server path, required), {@code connect-timeout-ms} (default 5000).
 * Guest-mode options: {@code device} (PCI address), {@code region-size} (bytes, K/M/G suffix) and
 * {@code subsystem-id} (hex, the ACRN region id) pick the device when the VM has several (exactly one must
 * match); {@code peer-id} overrides IVPosition (required on {@code ivshmem-plain}, whose IVPosition is 0 in every
 * VM); {@code sysfs} (default {@code /sys/bus/pci/devices}); {@code enable} (write 1 to the device's
 * {@code enable} attribute, default true); {@code poll-max-park-us} (longest back-off park, default 1000);
 * {@code notification} ({@code auto}, the default: MSI-X interrupts through vfio-pci where the device is bound to
 * it and has an IOMMU group, polling otherwise; {@code interrupt}: vfio or fail; {@code polling}).
 * {@code connect-timeout-ms} also bounds the wait for another peer to finish formatting the region.
 * Common options: {@code max-peers} (default 8), {@code ring-capacity}
 * (bytes, power of two, default 65536), {@code connect-timeout-ms} (default 5000), {@code roles}
 * ({@code sink}, {@code source} or {@code sink,source}, the default), {@code heartbeat-ms} (default 100, at
 * least 10), {@code liveness-timeout-ms} (default 1500, more than twice {@code heartbeat-ms}; every peer's
 * heartbeat interval must be below half of every other peer's timeout), {@code fence-slots} (exports live at
 * once in the region, default 8192). {@code max-peers}, {@code ring-capacity} and {@code fence-slots} apply
 * only if this daemon formats the region; otherwise the region's header wins.
 */
public final class IvshmemConfig
{
    final String name;
    final int maxPeers;
    final int ringCapacity;
    final int fenceSlots;
    final long connectTimeoutMs;
    final int roles;
    final long heartbeatNs;
    final long livenessTimeoutNs;
    /** What the transport attaches to, for messages before it exists. */
    final String attachment;
    final IvshmemBackend.TransportFactory transport;

    private IvshmemConfig(final BackendOptions o, final String attachment,
        final IvshmemBackend.TransportFactory transport) throws BackendException
    {
        this.name = o.backend();
        this.maxPeers = o.integer(OPTION_MAX_PEERS, RegionLayout.DEFAULT_MAX_PEERS, 2, RegionLayout.MAX_PEERS_LIMIT);
        this.ringCapacity = o.integer(OPTION_RING_CAPACITY, RegionLayout.DEFAULT_RING_CAPACITY,
            RingDescriptor.MIN_CAPACITY, RingDescriptor.MAX_CAPACITY);
        if (Integer.bitCount(ringCapacity) != 1)
        {
            throw o.invalid(OPTION_RING_CAPACITY + "=" + ringCapacity + " must be a power of two");
        }
        this.fenceSlots = o.integer(OPTION_FENCE_SLOTS, RegionLayout.DEFAULT_FENCE_SLOTS, 1,
            RegionLayout.MAX_FENCE_SLOTS);
        this.connectTimeoutMs = o.number(OPTION_CONNECT_TIMEOUT_MS, 5000, 1, 3_600_000);
        if (transport != null)
        {
            this.attachment = attachment;
            this.transport = transport;
        }
        else if (MODE_HOST.equals(o.string(OPTION_MODE, MODE_HOST)))
        {
            final String socket = o.required(OPTION_SOCKET, "server socket");
            this.attachment = "ivshmem server " + socket;
            final long timeout = connectTimeoutMs;
            this.transport = events -> IvshmemServerTransport.connect(socket, timeout, events);
        }
        else
        {
            final IvshmemDeviceSelector selector = deviceSelector(o);
            final int peerId = o.integer(OPTION_PEER_ID, -1, 0, IvshmemPeerConnection.MAX_PEER_ID);
            final long maxParkNs = o.number(OPTION_POLL_MAX_PARK_US, 1000, 1, POLL_INTERVAL_MS * 1000L) * 1000L;
            final boolean enable = o.bool(OPTION_ENABLE, true);
            final IvshmemPciScanner scanner = new IvshmemPciScanner(Path.of(o.string(OPTION_SYSFS,
                IvshmemPciScanner.SYSFS_PCI_DEVICES.toString())));
            final GuestNotification notification = GuestNotification.of(o, GuestNotification.AUTO);
            this.attachment = "the ivshmem PCI device " + selector + " in " + scanner.devicesDir();
            this.transport = events -> IvshmemPciTransport.open(scanner, selector, peerId, enable, maxParkNs,
                IvshmemRegisters.MAX_VECTOR + 1, notification);
        }
        this.roles = roles(o);
        final long heartbeatMs = o.number(OPTION_HEARTBEAT_MS, IvshmemBackend.DEFAULT_HEARTBEAT_MS, POLL_INTERVAL_MS,
            60_000);
        final long livenessMs = o.number(OPTION_LIVENESS_TIMEOUT_MS, IvshmemBackend.DEFAULT_LIVENESS_TIMEOUT_MS, 1,
            3_600_000);
        if (livenessMs <= 2 * heartbeatMs)
        {
            throw o.invalid(OPTION_LIVENESS_TIMEOUT_MS + "=" + livenessMs + " must be more than twice " +
                OPTION_HEARTBEAT_MS + "=" + heartbeatMs);
        }
        this.heartbeatNs = heartbeatMs * 1_000_000L;
        this.livenessTimeoutNs = livenessMs * 1_000_000L;
    }

    /** Host or guest mode, from {@code options}. */
    public static IvshmemConfig parse(final String name, final Map<String, String> options) throws BackendException
    {
        final BackendOptions o = new BackendOptions(name, options);
        final String mode = o.string(OPTION_MODE, MODE_HOST);
        final List<String> known = new ArrayList<>(COMMON_OPTIONS);
        known.add(OPTION_MODE);
        if (MODE_HOST.equals(mode))
        {
            known.add(OPTION_SOCKET);
        }
        else if (MODE_GUEST.equals(mode))
        {
            known.addAll(List.of(OPTION_DEVICE, OPTION_REGION_SIZE, OPTION_SUBSYSTEM_ID, OPTION_PEER_ID, OPTION_SYSFS,
                OPTION_ENABLE, OPTION_POLL_MAX_PARK_US, OPTION_NOTIFICATION));
        }
        else
        {
            throw o.invalid(OPTION_MODE + "='" + mode + "': expected " + MODE_HOST + " or " + MODE_GUEST);
        }
        o.checkKnown(known, " in " + mode + " mode");
        return new IvshmemConfig(o, null, null);
    }

    /**
     * The region protocol over another backend's {@code transport}: {@code options} holds only the common options,
     * {@code attachment} names what the transport attaches to.
     */
    public static IvshmemConfig embedded(final String name, final Map<String, String> options,
        final String attachment, final IvshmemBackend.TransportFactory transport) throws BackendException
    {
        final BackendOptions o = new BackendOptions(name, options);
        o.checkKnown(COMMON_OPTIONS, "");
        return new IvshmemConfig(o, attachment, transport);
    }

    private static IvshmemDeviceSelector deviceSelector(final BackendOptions o) throws BackendException
    {
        try
        {
            final String subsystem = o.string(OPTION_SUBSYSTEM_ID, null);
            return new IvshmemDeviceSelector(o.string(OPTION_DEVICE, null), o.size(OPTION_REGION_SIZE, 0),
                subsystem == null ? -1 : Integer.parseInt(subsystem.trim().replaceFirst("^0[xX]", ""), 16));
        }
        catch (final IllegalArgumentException e)
        {
            throw o.invalid(e.getMessage());
        }
    }

    private static int roles(final BackendOptions o) throws BackendException
    {
        return o.flags(OPTION_ROLES, "sink,source", Map.of("sink", PeerSlotDescriptor.ROLE_SINK, "source",
            PeerSlotDescriptor.ROLE_SOURCE), "sink, source or sink,source");
    }
}
