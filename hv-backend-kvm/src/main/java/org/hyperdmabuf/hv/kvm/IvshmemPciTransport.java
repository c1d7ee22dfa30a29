package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.pci.IvshmemDeviceHandle;
import org.hyperdmabuf.hv.pci.IvshmemDeviceSelector;
import org.hyperdmabuf.hv.pci.IvshmemPciDevice;
import org.hyperdmabuf.hv.pci.IvshmemPciScanner;
import org.hyperdmabuf.hv.pci.IvshmemRegisters;
import org.hyperdmabuf.hv.pci.PciDeviceException;
import org.hyperdmabuf.hv.shm.SharedRegion;

import java.io.IOException;

/**
 * Guest mode: the ivshmem PCI device of this VM, through sysfs. The own id is IVPosition (or an explicit id on
 * {@code ivshmem-plain}, whose IVPosition is always 0); doorbells are Doorbell register writes (only on a device
 * with MSI-X, i.e. {@code ivshmem-doorbell}); incoming doorbells are MSI-X interrupts that userspace cannot see
 * without vfio, so the receive loop polls the region instead ({@link PollingTransport}).
 */
public final class IvshmemPciTransport extends PollingTransport
{
    /** Zeroing goes through temporary mappings of at most this many bytes. */
    private static final long ZERO_CHUNK = 64L << 20;

    private final IvshmemDeviceHandle device;
    private final int ownId;
    /** Doorbell vectors the device honours; 0 when it has no doorbell. */
    private final int vectors;
    /** Who holds which peer slot: doorbells go to the holder's ivshmem id, which a host-mode claimer changed. */
    private volatile SlotClaims claims;

    private IvshmemPciTransport(final IvshmemDeviceHandle device, final int ownId, final int vectors,
        final long maxParkNs)
    {
        super(maxParkNs);
        this.device = device;
        this.ownId = ownId;
        this.vectors = device.device().msix() ? vectors : 0;
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
     * whose doorbell does nothing, like ACRN dm-land's).
     */
    public static IvshmemPciTransport open(final IvshmemPciScanner scanner, final IvshmemDeviceSelector selector,
        final int peerId, final boolean enable, final long maxParkNs, final int vectors) throws PciDeviceException
    {
        final IvshmemPciDevice found = scanner.select(selector);
        if (peerId < 0 && !found.msix())
        {
            throw new PciDeviceException(ErrorCode.EINVAL,
                found.address() + " has no interrupts (ivshmem-plain): its " +
                "IVPosition is 0 in every VM; give each VM its own id with option " + IvshmemBackend.OPTION_PEER_ID);
        }
        final IvshmemDeviceHandle handle = IvshmemDeviceHandle.open(found, enable);
        final int id = peerId >= 0 ? peerId : handle.registers().ivPosition();
        return new IvshmemPciTransport(handle, id, vectors, maxParkNs);
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
    public void close()
    {
        device.close();
    }
}
