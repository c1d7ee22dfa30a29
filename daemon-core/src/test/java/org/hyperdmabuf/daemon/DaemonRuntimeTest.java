package org.hyperdmabuf.daemon;

import org.hyperdmabuf.abi.Limits;
import org.hyperdmabuf.abi.v1.Caps;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Query;
import org.hyperdmabuf.abi.v1.Request;
import org.hyperdmabuf.abi.v1.Target;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.HdmabufException;
import org.hyperdmabuf.daemon.inprocess.InProcessDaemon;
import org.hyperdmabuf.hv.conformance.Await;
import org.hyperdmabuf.hv.inmemory.InMemoryFabric;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link DaemonRuntime} and {@link RequestRouter} in process, without roles: what the daemon answers itself
 * (capabilities, targets, LIST, STATS, QUERY, subscriptions), its refusals, and peers coming and going.
 */
@Timeout(60)
class DaemonRuntimeTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    @TempDir
    Path dir;
    private InMemoryFabric fabric;
    private InProcessDaemon daemon;

    @BeforeEach
    void start() throws Exception
    {
        fabric = new InMemoryFabric();
        daemon = InProcessDaemon.start(fabric, dir, "a", InMemoryFabric.ROLE_SINK, List.of(), null);
    }

    @AfterEach
    void stop()
    {
        daemon.close();
        fabric.close();
    }

    private static void assertError(final ErrorCode code, final Executable call)
    {
        final HdmabufException e = assertThrows(HdmabufException.class, call, "expected " + code);
        assertEquals(code, e.code(), e.getMessage());
    }

    @Test
    void capabilitiesDescribeTheBackendAndTheRoles() throws Exception
    {
        final Caps caps = daemon.connect().caps();
        assertEquals("in-memory", caps.getBackend());
        assertEquals(daemon.vm(), caps.getLocalVm());
        assertEquals(InMemoryFabric.PAGE_SIZE, caps.getPageSize());
        assertEquals(daemon.backend().totalBytes(), caps.getPoolBytes());
        assertEquals(caps.getPoolBytes(), caps.getPoolFreeBytes());
        assertEquals(Limits.ABI_VERSION, caps.getAbiVersion());
        assertEquals(0, caps.getRolesCount(), "this daemon runs no role");
    }

    @Test
    void targetsFollowPeersJoiningAndDying() throws Exception
    {
        final HdmabufClient client = daemon.connect();
        assertEquals(0, client.targets().getTargetsCount());
        try (InProcessDaemon other = InProcessDaemon.start(fabric, dir, "b", InMemoryFabric.ROLE_SOURCE, List.of(),
            null))
        {
            Await.until(() -> targets(client).size() == 1, TIMEOUT, () -> "the new peer among the targets");
            final Target t = targets(client).get(0);
            assertEquals(other.vm(), t.getVm());
            assertEquals(List.of("source"), t.getRolesList());
            assertEquals("vm" + other.vm(), t.getName());
            assertTrue(fabric.kill(other.vm()));
            Await.until(() -> targets(client).isEmpty(), TIMEOUT, () -> "the dead peer gone from the targets");
        }
    }

    private static List<Target> targets(final HdmabufClient client)
    {
        try
        {
            return client.targets().getTargetsList();
        }
        catch (final IOException e)
        {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void requestsNoRoleServesAndBadQueriesAreTypedErrorsOnALiveConnection() throws Exception
    {
        final HdmabufClient client = daemon.connect();
        assertError(ErrorCode.ENOTSUP, () -> client.alloc(4096).close());
        assertError(ErrorCode.ENOTSUP, () -> client.call(Request.newBuilder()));
        assertError(ErrorCode.EINVAL, () -> client.call(Request.newBuilder().setQuery(Query.getDefaultInstance())));
        assertError(ErrorCode.ENOENT, () -> client.unsubscribe(99));
        final long sub = client.subscribe(List.of(), true);
        client.unsubscribe(sub);
        assertEquals(0, client.list().getBuffersCount());
        assertTrue(client.stats().getPolicy().startsWith("permissive"), client.stats().getPolicy());
        assertFalse(client.isBroken(), "the connection survived every refusal");
    }

    @Test
    void connectionsBeyondMaxClientsAreRefusedWithEagain() throws Exception
    {
        daemon.runtime().maxClients(1);
        final HdmabufClient first = daemon.connect();
        first.caps();
        final HdmabufClient second = daemon.connect();
        assertError(ErrorCode.EAGAIN, second::caps);
        first.close();
        Await.until(() -> capsAnswered(daemon), TIMEOUT, () -> "a connection served once the first one left");
    }

    private static boolean capsAnswered(final InProcessDaemon daemon)
    {
        try (HdmabufClient c = HdmabufClient.connect(daemon.socket()))
        {
            c.caps();
            return true;
        }
        catch (final HdmabufException e)
        {
            assertEquals(ErrorCode.EAGAIN, e.code(), e.getMessage());
            return false;
        }
        catch (final IOException e)
        {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void aPolicyReloadThatFailsKeepsTheLastGoodPolicy() throws Exception
    {
        final HdmabufClient client = daemon.connect();
        daemon.reloadPolicy("[limits]\nmax_metadata = 1024\n");
        Await.until(() -> maxMetadata(client) == 1024, TIMEOUT, () -> "the reloaded limit in caps");
        daemon.reloadPolicy("[limits]\nmax_metadata = \"lots\"\n");
        daemon.reloadPolicy("[limits]\nmax_metadata = 2048\n");
        Await.until(() -> maxMetadata(client) == 2048, TIMEOUT, () -> "the next good policy");
        daemon.reloadPolicy("[nonsense]\n");
        daemon.reloadPolicy("[limits]\nmax_metadata = 4096\n");
        Await.until(() -> maxMetadata(client) == 4096, TIMEOUT, () -> "reloads still served after a bad one");
    }

    private static long maxMetadata(final HdmabufClient client)
    {
        try
        {
            return client.caps().getMaxMetadataBytes();
        }
        catch (final IOException e)
        {
            throw new IllegalStateException(e);
        }
    }
}
