package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.hv.conformance.BackendConformanceTest;
import org.hyperdmabuf.hv.spi.BackendListener;
import org.hyperdmabuf.hv.spi.HypervisorBackend;

import java.io.IOException;
import java.util.Map;

/**
 * The conformance kit against guest-mode backends, each in its own emulated guest (sysfs tree) on one shared
 * region file: no server, no interrupts; peers are found in the peer table and notifications are polled.
 */
class IvshmemGuestBackendConformanceTest extends BackendConformanceTest
{
    @Override
    protected Fabric newFabric() throws Exception
    {
        final GuestFabric guests = new GuestFabric(true);
        return new Fabric()
        {
            private int nextId = 1;

            @Override
            public HypervisorBackend start(final BackendListener listener) throws Exception
            {
                return guests.start(nextId++, listener, Map.of());
            }

            @Override
            public void close() throws IOException
            {
                guests.close();
            }
        };
    }
}
