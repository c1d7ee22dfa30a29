package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.BackendOptions;

import java.util.Locale;

/**
 * How a guest-mode daemon learns of doorbells ({@code -O notification=}): MSI-X interrupts through vfio-pci, or
 * polling the region; {@code auto} takes interrupts where vfio and an IOMMU group are usable.
 */
public enum GuestNotification
{
    AUTO, INTERRUPT, POLLING;

    /** The option's spelling. */
    public String option()
    {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * Option {@link IvshmemBackend#OPTION_NOTIFICATION} of {@code o} ({@code defaultValue} if absent): the one parser
     * of the guest-mode backends (kvm-ivshmem, acrn-ivshmem); EINVAL for anything but auto, interrupt or polling.
     */
    public static GuestNotification of(final BackendOptions o, final GuestNotification defaultValue)
        throws BackendException
    {
        final String value = o.string(IvshmemBackend.OPTION_NOTIFICATION, defaultValue.option());
        for (final GuestNotification n : values())
        {
            if (n.option().equals(value))
            {
                return n;
            }
        }
        throw o.invalid(IvshmemBackend.OPTION_NOTIFICATION + "='" + value + "': expected auto, interrupt or polling");
    }
}
