package org.hyperdmabuf.sink;

import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.HdmabufException;
import org.hyperdmabuf.client.ReceivedEvent;
import org.hyperdmabuf.daemon.inprocess.InProcessDaemon;
import org.hyperdmabuf.hv.conformance.Await;
import org.hyperdmabuf.hv.inmemory.InMemoryFabric;
import org.hyperdmabuf.source.SourceRole;
import org.junit.jupiter.api.function.Executable;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Two "VMs" in this JVM on one in-memory fabric: a sink daemon (producer side) and a source daemon (consumer
 * side), the real runtimes and roles, reached by real clients over their Unix sockets.
 */
final class TwoVms implements AutoCloseable
{
    static final Duration TIMEOUT = Duration.ofSeconds(10);

    final InMemoryFabric fabric;
    final InProcessDaemon sink;
    final InProcessDaemon source;

    private TwoVms(final InMemoryFabric fabric, final InProcessDaemon sink, final InProcessDaemon source)
    {
        this.fabric = fabric;
        this.sink = sink;
        this.source = source;
    }

    /** Both daemons without a policy file (the permissive default). */
    static TwoVms start(final Path dir) throws Exception
    {
        return start(dir, null, null);
    }

    /** The sink is VM 1, the source VM 2; a null policy is no policy file. */
    static TwoVms start(final Path dir, final String sinkPolicy, final String sourcePolicy) throws Exception
    {
        final InMemoryFabric fabric = new InMemoryFabric();
        InProcessDaemon sink = null;
        try
        {
            sink = InProcessDaemon.start(fabric, dir, "sink", InMemoryFabric.ROLE_SINK, List.of(SinkRole::new),
                sinkPolicy);
            final InProcessDaemon source = InProcessDaemon.start(fabric, dir, "source", InMemoryFabric.ROLE_SOURCE,
                List.of(SourceRole::new), sourcePolicy);
            final TwoVms vms = new TwoVms(fabric, sink, source);
            // The sink exports only to a peer it has seen up, running a source.
            final int sourceVm = source.vm();
            final InProcessDaemon sinkDaemon = sink;
            Await.until(() -> sinkDaemon.backend().peers().stream().anyMatch(p -> p.vm() == sourceVm && p.isSource()),
                TIMEOUT, () -> "the sink to see the source VM up");
            return vms;
        }
        catch (final Exception | Error e)
        {
            if (sink != null)
            {
                sink.close();
            }
            fabric.close();
            throw e;
        }
    }

    static Metadata metadata(final String contentType, final long size)
    {
        return Metadata.newBuilder().setVersion(1).setContentType(contentType).setSize(size).build();
    }

    /** The next event {@code client} receives, failing after {@link #TIMEOUT}. */
    static ReceivedEvent nextEvent(final HdmabufClient client) throws Exception
    {
        final ReceivedEvent e = client.nextEvent(TIMEOUT);
        if (e == null)
        {
            fail("no event within " + TIMEOUT.toMillis() + " ms");
        }
        return e;
    }

    /** Reads events until one matches, failing after {@link #TIMEOUT}; returns it. */
    static ReceivedEvent awaitEvent(final HdmabufClient client, final Predicate<ReceivedEvent> match,
        final String what) throws Exception
    {
        final long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (true)
        {
            final ReceivedEvent e = client.nextEvent(Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
            if (e != null && match.test(e))
            {
                return e;
            }
            if (System.nanoTime() - deadline > 0)
            {
                fail("no event " + what + " within " + TIMEOUT.toMillis() + " ms");
            }
        }
    }

    static Predicate<ReceivedEvent> event(final String action, final String key, final String value)
    {
        return e -> !e.isOverflow() && action.equals(e.event().action()) && value.equals(e.event().get(key));
    }

    /** Asserts that {@code call} fails with the typed error {@code code}. */
    static HdmabufException assertError(final org.hyperdmabuf.abi.v1.ErrorCode code, final Executable call)
    {
        final HdmabufException e = assertThrows(HdmabufException.class, call, "expected " + code);
        assertEquals(code, e.code(), e.getMessage());
        return e;
    }

    @Override
    public void close()
    {
        try
        {
            source.close();
        }
        finally
        {
            sink.close();
            fabric.close();
        }
    }
}
