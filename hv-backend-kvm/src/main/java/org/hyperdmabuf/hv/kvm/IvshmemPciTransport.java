package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.abi.FenceAbi;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.nativeio.Poller;
import org.hyperdmabuf.hv.pci.IvshmemDeviceHandle;
import org.hyperdmabuf.hv.pci.IvshmemDeviceSelector;
import org.hyperdmabuf.hv.pci.IvshmemInterrupts;
import org.hyperdmabuf.hv.pci.IvshmemPciDevice;
import org.hyperdmabuf.hv.pci.IvshmemPciScanner;
import org.hyperdmabuf.hv.pci.IvshmemRegisters;
import org.hyperdmabuf.hv.pci.PciDeviceException;
import org.hyperdmabuf.hv.shm.SharedRegion;
import org.hyperdmabuf.hv.spi.Capabilities;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;

/**
 * Guest mode: the ivshmem PCI device of this VM, through sysfs. The own id is IVPosition (or an explicit id on
 * {@code ivshmem-plain}, whose IVPosition is always 0); doorbells are Doorbell register writes (only on a device
 * with MSI-X, i.e. {@code ivshmem-doorbell}); incoming doorbells are MSI-X interrupts that userspace sees only
 * through vfio-pci ({@link IvshmemInterrupts}: one eventfd per vector, watched like host mode's eventfds, vectors
 * 2 and up leased to local fence waiters); without it the receive loop polls the region ({@link PollingTransport}).
 */
public final class IvshmemPciTransport extends PollingTransport
{
    private static final Logger LOG = LoggerFactory.getLogger(IvshmemPciTransport.class);
    /** Zeroing goes through temporary mappings of at most this many bytes. */
    private static final long ZERO_CHUNK = 64L << 20;

    private final IvshmemDeviceHandle device;
    private final int ownId;
    /** Doorbell vectors the device honours; 0 when it has no doorbell. */
    private final int vectors;
    /** Who holds which peer slot: doorbells go to the holder's ivshmem id, which a host-mode claimer changed. */
    private volatile SlotClaims claims;
    /** The device's MSI-X vectors through vfio; null when this transport polls. */
    private final IvshmemInterrupts interrupts;
    private final Poller poller = new Poller();

    private IvshmemPciTransport(final IvshmemDeviceHandle device, final int ownId, final int vectors,
        final long maxParkNs, final IvshmemInterrupts interrupts)
    {
        super(maxParkNs);
        this.device = device;
        this.ownId = ownId;
        this.vectors = device.device().msix() ? vectors : 0;
        this.interrupts = interrupts;
    }

    /**
     * Opens the device {@code selector} picks under {@code devicesDir}. {@code peerId} &lt; 0 takes IVPosition,
     * which is only an identity on a device with interrupts.
     */
    public static IvshmemPciTransport open(final IvshmemPciScanner scanner, final IvshmemDeviceSelector selector,
        final int peerId, final boolean enable, final long maxParkNs) throws PciDeviceException
    {
        return open(scanner, selector, peerId, enable, maxParkNs, IvshmemRegisters.MAX_VECTOR + 1);
    }

    /**
     * As above, ringing only vectors below {@code vectors} (ACRN hv-land has 8; 0 means never ring, for devices
     * whose doorbell does nothing, like ACRN dm-land's); always polls.
     */
    public static IvshmemPciTransport open(final IvshmemPciScanner scanner, final IvshmemDeviceSelector selector,
        final int peerId, final boolean enable, final long maxParkNs, final int vectors) throws PciDeviceException
    {
        return open(scanner, selector, peerId, enable, maxParkNs, vectors, GuestNotification.POLLING);
    }

    /**
     * As above, receiving doorbells as {@code notification} says: through vfio (interrupt), by polling, or through
     * vfio where it is usable and by polling otherwise, saying why in one log line (auto). A vfio group held by
     * another process is refused in every mode but polling.
     */
    public static IvshmemPciTransport open(final IvshmemPciScanner scanner, final IvshmemDeviceSelector selector,
        final int peerId, final boolean enable, final long maxParkNs, final int vectors,
        final GuestNotification notification) throws PciDeviceException
    {
        final IvshmemPciDevice found = scanner.select(selector);
        if (peerId < 0 && !found.msix())
        {
            throw new PciDeviceException(ErrorCode.EINVAL,
                found.address() + " has no interrupts (ivshmem-plain): its " +
                "IVPosition is 0 in every VM; give each VM its own id with option " + IvshmemBackend.OPTION_PEER_ID);
        }
        final IvshmemInterrupts interrupts = notification == GuestNotification.POLLING ? null :
            interrupts(found, notification);
        final IvshmemDeviceHandle handle;
        try
        {
            if (interrupts != null)
            {
                scanOnceAfterArming(interrupts);
            }
            handle = interrupts == null ? IvshmemDeviceHandle.open(found, enable) :
                IvshmemDeviceHandle.withRegisters(found, interrupts.mapRegisters());
        }
        catch (final PciDeviceException | RuntimeException e)
        {
            if (interrupts != null)
            {
                interrupts.close();
            }
            throw e;
        }
        final int id = peerId >= 0 ? peerId : handle.registers().ivPosition();
        return new IvshmemPciTransport(handle, id, vectors, maxParkNs, interrupts);
    }

    /**
     * Doorbells rung before MSI-X was armed were dropped by the device, and with interrupts nothing else makes
     * the receive work look at shared memory soon ({@link #scanIntervalNs} is long): a wake-up left pending on our
     * own message vector makes the first wait after joining return at once, whoever drives the receive work, so
     * the region is scanned once right after arming (and after every wake-up, as always).
     */
    private static void scanOnceAfterArming(final IvshmemInterrupts interrupts) throws PciDeviceException
    {
        try
        {
            interrupts.signal(FenceAbi.MESSAGE_VECTOR);
        }
        catch (final NativeIoException e)
        {
            throw new PciDeviceException(ErrorCode.EIO, "cannot signal our own doorbell eventfd: " + e.getMessage(),
                e);
        }
    }

    /** The device's interrupts through vfio, or null (auto: where they are not usable, logged with the cause). */
    private static IvshmemInterrupts interrupts(final IvshmemPciDevice found, final GuestNotification notification)
        throws PciDeviceException
    {
        String why = IvshmemInterrupts.unavailability(found);
        if (why == null)
        {
            try
            {
                return IvshmemInterrupts.open(found, IvshmemBackend.VECTORS);
            }
            catch (final PciDeviceException e)
            {
                if (notification == GuestNotification.INTERRUPT || e.code() == ErrorCode.EBUSY)
                {
                    throw e;
                }
                why = e.getMessage();
            }
        }
        if (notification == GuestNotification.INTERRUPT)
        {
            throw new PciDeviceException(ErrorCode.ENOTSUP, IvshmemBackend.OPTION_NOTIFICATION + "=" +
                notification.option() + ": " + why);
        }
        LOG.info("polling for doorbells (about 1 wake-up per ms while idle): {}", why);
        return null;
    }

    @Override
    public String describe()
    {
        return "PCI " + device.device();
    }

    @Override
    public String dmaBufUnavailable()
    {
        return "guest mode: the region is the ivshmem PCI BAR of " + device.device() + ", not a memfd";
    }

    @Override
    public int ownId()
    {
        return ownId;
    }

    /** Guests cannot claim (they do not see the server's peers), but ring the peers that did at their holder's id. */
    @Override
    public int claimSlot(final SharedRegion region, final long session, final long stillNs) throws IOException
    {
        final int slot = super.claimSlot(region, session, stillNs);
        claims = new SlotClaims(region);
        return slot;
    }

    @Override
    public String noSlot(final int maxPeers)
    {
        return "IVPosition " + ownId() + " (the id the host's ivshmem server gave this VM) is beyond the region's " +
            maxPeers + " peer slots: run `hdmabuf server --max-peers " + maxPeers + "` on the host (QEMU's " +
            "ivshmem-server never reuses ids: restart it and the guests), or set -O " + IvshmemBackend.OPTION_PEER_ID +
            "=N below " + maxPeers + " (ivshmem-plain)";
    }

    @Override
    public long regionSize()
    {
        return device.regionSize();
    }

    @Override
    public MappedMemory map(final long offset, final long length) throws IOException
    {
        return device.map(offset, length);
    }

    @Override
    public int openRegionFd(final boolean readOnly) throws IOException
    {
        return device.openMemory(readOnly);
    }

    /** A PCI BAR cannot punch holes: the bytes are stored as zeros through a temporary mapping. */
    @Override
    public void zero(final long offset, final long length) throws IOException
    {
        for (long done = 0; done < length; done += ZERO_CHUNK)
        {
            final long chunk = Math.min(ZERO_CHUNK, length - done);
            try (MappedMemory m = device.map(offset + done, chunk))
            {
                final java.nio.ByteBuffer b = m.buffer();
                for (int i = 0; i < chunk; i += 8)
                {
                    b.putLong(i, 0L);
                }
            }
        }
    }

    @Override
    public boolean ring(final int peer, final int vector)
    {
        if (vectors == 0)
        {
            return false;
        }
        if (vector >= vectors)
        {
            throw new IllegalArgumentException("doorbell vector " + vector + " outside the device's " + vectors);
        }
        device.registers().ringDoorbell(SlotClaims.ivshmemId(claims, peer), vector);
        return true;
    }

    @Override
    public boolean hasDoorbell()
    {
        return vectors > 0;
    }

    @Override
    public String notification()
    {
        return interrupts != null ? Capabilities.NOTIFY_INTERRUPT : super.notification();
    }

    @Override
    public int await(final boolean busy, final long maxWaitNs) throws IOException
    {
        if (interrupts == null)
        {
            return super.await(busy, maxWaitNs);
        }
        poller.clear();
        poller.add(interrupts.eventFd(FenceAbi.MESSAGE_VECTOR));
        poller.add(interrupts.eventFd(FenceAbi.FENCE_VECTOR));
        poller.poll(busy || maxWaitNs <= 0 ? 0 : (int)((maxWaitNs + 999_999) / 1_000_000));
        if (poller.readable(0))
        {
            interrupts.drain(FenceAbi.MESSAGE_VECTOR);
        }
        return poller.readable(1) && interrupts.drain(FenceAbi.FENCE_VECTOR) != 0 ? FENCE_RUNG : 0;
    }

    @Override
    public int[] notificationFds()
    {
        return interrupts == null ? new int[0] : new int[] {interrupts.eventFd(FenceAbi.MESSAGE_VECTOR),
            interrupts.eventFd(FenceAbi.FENCE_VECTOR)};
    }

    @Override
    public int consume(final int index) throws IOException
    {
        final int vector = index == 0 ? FenceAbi.MESSAGE_VECTOR : FenceAbi.FENCE_VECTOR;
        return interrupts != null && interrupts.drain(vector) != 0 && vector == FenceAbi.FENCE_VECTOR ? FENCE_RUNG : 0;
    }

    @Override
    public int openOwnVector(final int vector) throws IOException
    {
        if (interrupts == null || vector < 0 || vector >= interrupts.vectors())
        {
            return -1;
        }
        final int fd = interrupts.eventFd(vector);
        return Native.check(Native.libc().fcntl(fd, Native.F_DUPFD_CLOEXEC, 0), "dup(" + fd + ")");
    }

    @Override
    public int ownVectorCount()
    {
        return interrupts == null ? 0 : interrupts.vectors();
    }

    @Override
    public void drainOwn(final int vector) throws IOException
    {
        if (interrupts != null && vector >= 0 && vector < interrupts.vectors())
        {
            interrupts.drain(vector);
        }
    }

    /**
     * With interrupts, every peer reaches us through a doorbell: senders ring our message vector after each record,
     * a joining peer rings it after its SESSION_START (ABI.md "Joining"), signallers ring our fence vector (our slot
     * says notify = doorbell), and no server announces anything. Unprompted passes are then needed only for what
     * only the peer table shows (a peer that crashed or left): every quarter of the liveness timeout finds a still
     * heartbeat well within the detection bound and lets an idle daemon sleep. Polling keeps the short interval.
     */
    @Override
    public long scanIntervalNs(final long livenessTimeoutNs)
    {
        return interrupts == null ? super.scanIntervalNs(livenessTimeoutNs) :
            Math.max(ReceivePasses.TICK_NS, livenessTimeoutNs / 4);
    }

    @Override
    public void wakeUp()
    {
        if (interrupts == null)
        {
            super.wakeUp();
            return;
        }
        try
        {
            interrupts.signal(FenceAbi.MESSAGE_VECTOR);
        }
        catch (final NativeIoException e)
        {
            // the receive loop also wakes up on its own for our next heartbeat
        }
    }

    /** Unmaps BAR0, then gives the device back to vfio-pci (MSI-X disarmed). */
    @Override
    public void close()
    {
        device.close();
        if (interrupts != null)
        {
            interrupts.close();
        }
    }
}
