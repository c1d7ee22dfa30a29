package org.hyperdmabuf.hv.xen;

import org.hyperdmabuf.hv.conformance.BackendConformanceTest;
import org.hyperdmabuf.hv.spi.BackendListener;
import org.hyperdmabuf.hv.spi.HypervisorBackend;
import org.hyperdmabuf.hv.xen.emu.EmulatedXenDevices;
import org.hyperdmabuf.hv.xen.emu.FakeXenstored;
import org.hyperdmabuf.hv.xen.emu.XenHypervisorEmulator;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The conformance kit against xen backends on the EMULATED grant table and event channels with the fake
 * xenstored: endpoint k is domain k, meeting every other domain of the fabric.
 */
class XenBackendConformanceTest extends BackendConformanceTest
{
    private static final int MAX_DOMAINS = 4;

    @Override
    protected boolean hasFenceSlots()
    {
        return false;
    }

    @Override
    protected Fabric newFabric() throws Exception
    {
        final Path dir = Files.createTempDirectory(Path.of("/tmp"), "xen-kit");
        final FakeXenstored xenstored = new FakeXenstored(dir.resolve("xs.sock").toString());
        final XenHypervisorEmulator emulator = new XenHypervisorEmulator(dir.resolve("hv.sock").toString(), xenstored,
            1024);
        return new Fabric()
        {
            private int next = 1;

            @Override
            public HypervisorBackend start(final BackendListener listener) throws Exception
            {
                final int domid = next++;
                final StringBuilder peers = new StringBuilder();
                for (int d = 1; d <= MAX_DOMAINS; d++)
                {
                    if (d != domid)
                    {
                        peers.append(peers.length() == 0 ? "" : ",").append(d);
                    }
                }
                final XenBackend backend = new XenBackend(Map.of("peers", peers.toString(),
                    "xenstore", xenstored.socketPath()), new EmulatedXenDevices(emulator.socketPath(), domid));
                backend.start(listener);
                return backend;
            }

            @Override
            public void close() throws IOException
            {
                emulator.close();
                xenstored.close();
                try (Stream<Path> files = Files.walk(dir))
                {
                    files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                }
            }
        };
    }
}
