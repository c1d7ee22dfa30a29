package org.hyperdmabuf.hv.inmemory;

import org.hyperdmabuf.hv.conformance.BackendConformanceTest;
import org.hyperdmabuf.hv.spi.BackendListener;
import org.hyperdmabuf.hv.spi.HypervisorBackend;
import org.junit.jupiter.api.Timeout;

/** The conformance kit against the in-process emulation, so the daemons' fast tests run on the real semantics. */
@Timeout(120)
class InMemoryBackendConformanceTest extends BackendConformanceTest
{
    @Override
    protected Fabric newFabric() throws Exception
    {
        final InMemoryFabric fabric = new InMemoryFabric();
        return new Fabric()
        {
            @Override
            public HypervisorBackend start(final BackendListener listener) throws Exception
            {
                final InMemoryBackend backend = fabric.backend(InMemoryFabric.ROLE_SINK | InMemoryFabric.ROLE_SOURCE);
                backend.start(listener);
                return backend;
            }

            @Override
            public void close()
            {
                fabric.close();
            }
        };
    }
}
