package org.hyperdmabuf.hv.acrn;

import org.hyperdmabuf.hv.conformance.BackendConformanceTest;
import org.hyperdmabuf.hv.spi.BackendListener;
import org.hyperdmabuf.hv.spi.HypervisorBackend;

import java.io.IOException;
import java.util.Map;

/**
 * The conformance kit on an emulated ACRN platform, dm-land: the first endpoint is the Service VM's daemon on the
 * POSIX shm file (which it creates, as acrn-dm would), the others are post-launched VMs whose dm-land device
 * (subsystem 8086:1100, no doorbell) is backed by that file; every id is configured and every peer polls.
 */
class EmulatedAcrnDmLandConformanceTest extends BackendConformanceTest
{
    @Override
    protected Fabric newFabric() throws Exception
    {
        final EmulatedAcrnPlatform platform = new EmulatedAcrnPlatform();
        return new Fabric()
        {
            private int nextVm;

            @Override
            public HypervisorBackend start(final BackendListener listener) throws Exception
            {
                final int vm = nextVm++;
                if (vm == 0)
                {
                    return platform.start(platform.serviceVmOptions(), listener);
                }
                final Map<String, String> options = platform.guestOptions(platform.addVm(vm),
                    "dm:/" + platform.dmName());
                options.put(AcrnBackendConfig.OPTION_VM_ID, Integer.toString(vm));
                return platform.start(options, listener);
            }

            @Override
            public void close() throws IOException
            {
                platform.close();
            }
        };
    }
}
