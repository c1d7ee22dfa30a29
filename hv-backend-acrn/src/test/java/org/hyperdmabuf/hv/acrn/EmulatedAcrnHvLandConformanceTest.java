package org.hyperdmabuf.hv.acrn;

import org.hyperdmabuf.hv.conformance.BackendConformanceTest;
import org.hyperdmabuf.hv.spi.BackendListener;
import org.hyperdmabuf.hv.spi.HypervisorBackend;

import java.io.IOException;

/**
 * The conformance kit on an emulated ACRN platform, hv-land: every VM has two hv-land regions and a QEMU device;
 * each backend selects {@code hv:/shm_region_1} through the region table (subsystem 8086:1001), its id is
 * IVPosition (the VM id), doorbells are register writes nobody can receive from sysfs, so peers poll.
 */
class EmulatedAcrnHvLandConformanceTest extends BackendConformanceTest
{
    @Override
    protected Fabric newFabric() throws Exception
    {
        final EmulatedAcrnPlatform platform = new EmulatedAcrnPlatform();
        return new Fabric()
        {
            private int nextVm = 1;

            @Override
            public HypervisorBackend start(final BackendListener listener) throws Exception
            {
                return platform.start(platform.guestOptions(platform.addVm(nextVm++), "hv:/shm_region_1"), listener);
            }

            @Override
            public void close() throws IOException
            {
                platform.close();
            }
        };
    }
}
