package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.hv.conformance.BackendConformanceTest;
import org.hyperdmabuf.hv.spi.BackendListener;
import org.hyperdmabuf.hv.spi.HypervisorBackend;

import java.io.IOException;

/** The conformance kit against host-mode backends sharing an in-process ivshmem server. */
class IvshmemHostBackendConformanceTest extends BackendConformanceTest
{
    @Override
    protected Fabric newFabric() throws Exception
    {
        final TestServer server = TestServer.forBackends();
        return new Fabric()
        {
            @Override
            public HypervisorBackend start(final BackendListener listener) throws Exception
            {
                return server.startBackend(listener);
            }

            @Override
            public void close() throws IOException
            {
                server.close();
            }
        };
    }
}
