package org.hyperdmabuf.tests.e2e;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.ImportedBuffer;
import org.hyperdmabuf.tests.support.Await;
import org.hyperdmabuf.tests.support.SystemTest;
import org.hyperdmabuf.tests.support.TwoVmSystem;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.hyperdmabuf.tests.e2e.E2e.nextEvent;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The importing (source) daemon maps each export's fence page from the exporter's grants and unmaps it once the
 * export is gone and no local import uses it (ABI.md "Xen specifics"): over many export/import/unexport cycles
 * the source daemon process's mappings of dom1's grant pages (the emulation's memfd, seen in /proc/PID/maps)
 * come back to their baseline, where they used to grow by one page per export.
 */
@SystemTest
class XenImporterFencePagesTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(20);
    private static final int CYCLES = 40;

    @Test
    void theSourceDaemonUnmapsEachExportsFencePageWhenTheExportIsGone() throws Exception
    {
        final TwoVmSystem system = TwoVmSystem.startXenInTempDir("hdxf", 1024, List.of(), List.of());
        try (HdmabufClient producer = HdmabufClient.connect(system.sinkSocket());
             HdmabufClient consumer = HdmabufClient.connect(system.sourceSocket()))
        {
            consumer.subscribe(List.of(), false);
            final long pid = system.source().pid();
            cycle(producer, consumer, system, true); // warm up: the channel and every lazily made mapping exist
            final long baseline = grantMappings(pid);
            long during = 0;
            for (int i = 0; i < CYCLES; i++)
            {
                during = Math.max(during, cycle(producer, consumer, system, i % 2 == 0));
            }
            assertTrue(during > baseline, "an export's fence page is mapped while it lives: " + during + " vs " +
                baseline);
            Await.until("the source daemon's grant mappings back to " + baseline, TIMEOUT,
                () -> grantMappings(pid) == baseline);
            assertEquals(baseline, grantMappings(pid));
        }
        finally
        {
            system.closeAndVerify();
        }
    }

    /**
     * One export to the source, imported (and released before or after the unexport); returns the source daemon's
     * grant mappings while the export lived.
     */
    private static long cycle(final HdmabufClient producer, final HdmabufClient consumer, final TwoVmSystem system,
        final boolean releaseFirst) throws Exception
    {
        try (Allocation a = producer.alloc(2 * 4096))
        {
            final BufferId id = producer.export(a.handle(), system.sourceVm(), Metadata.newBuilder().setVersion(1)
                .setContentType("application/octet-stream").build(), Access.ACCESS_READ_WRITE).getId();
            final String idText = BufferIds.format(id);
            nextEvent(consumer, "add", idText);
            final long during = grantMappings(system.source().pid());
            try (ImportedBuffer imported = consumer.importBuffer(id))
            {
                imported.fence().signal(1);
            }
            if (releaseFirst)
            {
                consumer.release(id);
                producer.unexport(id);
                nextEvent(consumer, "remove", idText);
            }
            else
            {
                producer.unexport(id);
                nextEvent(consumer, "remove", idText);
                consumer.release(id); // the last import of a removed buffer: now it is gone
            }
            producer.free(a.handle());
            return during;
        }
    }

    /** Mappings of the emulated dom1's grant pages in process {@code pid}. */
    private static long grantMappings(final long pid)
    {
        try (var lines = Files.lines(Path.of("/proc/" + pid + "/maps")))
        {
            return lines.filter(l -> l.contains("xen-emu-gntalloc-dom1")).count();
        }
        catch (final IOException e)
        {
            throw new IllegalStateException(e);
        }
    }
}
