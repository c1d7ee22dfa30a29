package org.hyperdmabuf.sink;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.Exported;
import org.hyperdmabuf.client.HdmabufClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

/**
 * Tests on {@link TwoVms} without policy files: a producer connected to the sink, a consumer connected to the
 * source and subscribed to every event.
 */
@Timeout(60)
abstract class TwoVmsTest
{
    @TempDir
    Path dir;
    TwoVms vms;
    HdmabufClient producer;
    HdmabufClient consumer;

    @BeforeEach
    void startVms() throws Exception
    {
        vms = TwoVms.start(dir);
        producer = vms.sink.connect();
        consumer = vms.source.connect();
        consumer.subscribe(List.of(), false);
    }

    @AfterEach
    void stopVms()
    {
        vms.close();
    }

    /** Exports allocation {@code handle} to the source and waits until the consumer sees it added. */
    Exported exportSeen(final long handle, final String contentType, final Access access) throws Exception
    {
        final Exported e = producer.export(handle, vms.source.vm(), TwoVms.metadata(contentType, 1), access);
        TwoVms.awaitEvent(consumer, TwoVms.event("add", "BUFFER", BufferIds.format(e.getId())), "add");
        return e;
    }
}
