package org.hyperdmabuf.hv.xen.store;

import org.hyperdmabuf.hv.conformance.Await;
import org.hyperdmabuf.hv.nativeio.UnixSocket;
import org.hyperdmabuf.hv.xen.abi.XsWireDescriptor;
import org.hyperdmabuf.hv.xen.emu.FakeXenstored;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.EOFException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The real xenstore client against the fake xenstored, over a real Unix socket and the real wire format. */
class XenStoreClientTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    private FakeXenstored xenstored;
    private final List<String> events = new CopyOnWriteArrayList<>();
    private XenStoreClient client;

    @BeforeEach
    void start() throws Exception
    {
        xenstored = new FakeXenstored(dir.resolve("xs.sock").toString());
        client = XenStoreClient.open(xenstored.socketPath(), (path, token) -> events.add(token + ":" + path));
    }

    @AfterEach
    void stop()
    {
        client.close();
        xenstored.close();
    }

    @Test
    void readWriteDirectoryAndRemove() throws Exception
    {
        client.write(0, "/local/domain/3/data/hdmabuf/ring-ref", "17");
        client.write(0, "/local/domain/3/data/hdmabuf/event-channel", "5");
        assertEquals("17", client.read(0, "/local/domain/3/data/hdmabuf/ring-ref"));
        assertEquals("", client.read(0, "/local/domain/3/data"), "missing parents are created empty");
        assertEquals(List.of("event-channel", "ring-ref"), client.directory(0, "/local/domain/3/data/hdmabuf"));
        final XenStoreException missing = assertThrows(XenStoreException.class,
            () -> client.read(0, "/local/domain/3/nothing"));
        assertEquals("ENOENT", missing.error());
        client.rm(0, "/local/domain/3/data");
        assertNull(client.readOrNull(0, "/local/domain/3/data/hdmabuf/ring-ref"), "rm removes the subtree");
        assertEquals(List.of(), client.directory(0, "/local/domain/3"));
        assertEquals("/local/domain/7", client.domainPath(7));
        client.setPermissions(0, "/local/domain/3", "n3", "r5");
        assertEquals("EINVAL", assertThrows(XenStoreException.class,
            () -> client.setPermissions(0, "/local/domain/3", "x3")).error());
    }

    @Test
    void watchesFireAtOnceThenOnChangesBelowThePathOnly() throws Exception
    {
        client.watch("/local/domain/5/data", "tok");
        Await.until(() -> events.contains("tok:/local/domain/5/data"), TIMEOUT, () -> "the initial fire " + events);
        events.clear();
        client.write(0, "/local/domain/6/data/x", "1");
        client.write(0, "/local/domain/5/data/port", "9");
        Await.until(() -> events.contains("tok:/local/domain/5/data/port"), TIMEOUT, () -> "a fire " + events);
        assertFalse(events.stream().anyMatch(e -> e.contains("/6/")), "a sibling change does not fire: " + events);
        client.rm(0, "/local/domain/5");
        Await.until(() -> events.contains("tok:/local/domain/5/data"), TIMEOUT,
            () -> "removal of a parent fires the watch " + events);
        client.unwatch("/local/domain/5/data", "tok");
        events.clear();
        client.write(0, "/local/domain/5/data/port", "10");
        client.watch("/local/domain/9", "sentinel");
        Await.until(() -> events.contains("sentinel:/local/domain/9"), TIMEOUT, () -> "sentinel " + events);
        assertEquals(List.of("sentinel:/local/domain/9"), events, "no event after unwatch");
        assertEquals("ENOENT", assertThrows(XenStoreException.class, () -> client.unwatch("/x", "tok")).error());
    }

    @Test
    void releaseDomainIsASpecialWatch() throws Exception
    {
        client.watch("@releaseDomain", "rel");
        Await.until(() -> events.contains("rel:@releaseDomain"), TIMEOUT, () -> "initial fire " + events);
        events.clear();
        client.write(0, "/local/domain/1/x", "y");
        xenstored.fireSpecial("@releaseDomain");
        Await.until(() -> events.contains("rel:@releaseDomain"), TIMEOUT, () -> "release fire " + events);
        assertEquals(List.of("rel:@releaseDomain"), events, "ordinary writes do not fire @releaseDomain");
    }

    @Test
    void transactionsAreIsolatedAndConflictsAnswerEagain() throws Exception
    {
        final int tx = client.transactionStart();
        client.write(tx, "/t/a", "1");
        assertEquals("1", client.read(tx, "/t/a"));
        assertNull(client.readOrNull(0, "/t/a"), "uncommitted writes are invisible outside");
        assertTrue(client.transactionEnd(tx, true));
        assertEquals("1", client.read(0, "/t/a"));

        final int conflicted = client.transactionStart();
        client.write(conflicted, "/t/b", "from-tx");
        client.write(0, "/t/c", "outside");
        assertFalse(client.transactionEnd(conflicted, true), "a change committed meanwhile: EAGAIN");
        assertNull(client.readOrNull(0, "/t/b"), "the failed transaction left nothing");

        final int aborted = client.transactionStart();
        client.write(aborted, "/t/d", "x");
        assertTrue(client.transactionEnd(aborted, false));
        assertNull(client.readOrNull(0, "/t/d"));
        assertEquals("ENOENT", assertThrows(XenStoreException.class, () -> client.read(aborted, "/t/a")).error(),
            "an ended transaction id is unknown");

        xenstored.failNextCommits(2);
        final int[] attempts = {0};
        client.inTransaction(t ->
        {
            attempts[0]++;
            client.write(t, "/t/retried", Integer.toString(attempts[0]));
        });
        assertEquals(3, attempts[0], "two EAGAINs then success");
        assertEquals("3", client.read(0, "/t/retried"));
    }

    @Test
    void anOversizedMessageClosesTheConnection() throws Exception
    {
        try (UnixSocket raw = UnixSocket.connect(xenstored.socketPath()))
        {
            final ByteBuffer m = ByteBuffer.allocateDirect(XsWireDescriptor.HEADER_LENGTH)
                .order(ByteOrder.nativeOrder());
            m.putInt(XsWireDescriptor.TYPE_OFFSET, XsWireDescriptor.XS_READ);
            m.putInt(XsWireDescriptor.LEN_OFFSET, XsWireDescriptor.PAYLOAD_MAX + 1);
            raw.sendFully(m, null, 0);
            final XsTransport t = XsTransport.accepted(raw);
            assertThrows(EOFException.class, t::read);
        }
        client.write(0, "/still/serving", "yes");
        assertEquals("yes", client.read(0, "/still/serving"), "other connections are unaffected");
    }
}
