package org.hyperdmabuf.tests.lifecycle;

import org.hyperdmabuf.tests.support.SystemTest;
import org.hyperdmabuf.tests.support.TwoVmSystem;

/**
 * {@link ResyncTest} in kvm-ivshmem guest mode: two daemons on emulated ivshmem PCI devices sharing one region file,
 * no ivshmem server, doorbells polled. The declared-down guest learns it from the ring trailer as in host mode.
 */
@SystemTest
class GuestResyncTest extends ResyncTest
{
    @Override
    protected TwoVmSystem startSystem() throws Exception
    {
        return TwoVmSystem.startGuestInTempDir("hdrg", 64L << 20);
    }
}
