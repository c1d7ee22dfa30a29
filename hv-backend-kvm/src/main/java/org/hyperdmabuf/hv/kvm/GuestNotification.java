package org.hyperdmabuf.hv.kvm;

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

    /** {@code auto}, {@code interrupt} or {@code polling}; null for anything else. */
    public static GuestNotification parse(final String value)
    {
        for (final GuestNotification n : values())
        {
            if (n.option().equals(value))
            {
                return n;
            }
        }
        return null;
    }
}
