package org.hyperdmabuf.hv.xen.emu;

import org.hyperdmabuf.hv.nativeio.UnixSocket;
import org.hyperdmabuf.hv.xen.abi.XenLimits;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * One domain of the {@link XenHypervisorEmulator}: its grant table, its event channel ports and its open device
 * files, alive as long as its domain connection. Guarded by the emulator's lock.
 */
final class EmulatedDomain
{
    final int domid;
    final UnixSocket connection;
    final Map<Integer, EmulatedGrants.Grant> grants = new HashMap<>();
    final Map<Integer, EmulatedEventChannels.Port> ports = new HashMap<>();
    /** Close actions of its open device files. */
    final List<Runnable> files = new ArrayList<>();
    int nextRef = XenLimits.FIRST_USABLE_GRANT_REF;
    int gntallocPages;
    int nextPort = 1;
    boolean dead;

    EmulatedDomain(final int domid, final UnixSocket connection)
    {
        this.domid = domid;
        this.connection = connection;
    }
}
