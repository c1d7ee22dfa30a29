package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.hv.conformance.Await;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.nativeio.UnixSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The protocol client against the embedded server and against misbehaving servers. */
class IvshmemPeerConnectionTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(5);
    private static final long SIZE = 1L << 20;

    private TestServer fixture;
    private final List<IvshmemPeerConnection> connections = new ArrayList<>();

    /** Records connection events; called on the processing thread, read by the test thread. */
    private static final class Events implements IvshmemPeerConnection.Listener
    {
        final List<String> events = new ArrayList<>();

        @Override
        public synchronized void onPeerConnected(final int peerId)
        {
            events.add("connected " + peerId);
        }

        @Override
        public synchronized void onPeerDisconnected(final int peerId)
        {
            events.add("disconnected " + peerId);
        }

        @Override
        public synchronized void onServerLost(final String reason)
        {
            events.add("server lost");
        }

        synchronized List<String> snapshot()
        {
            return new ArrayList<>(events);
        }
    }

    @AfterEach
    void stop() throws Exception
    {
        for (final IvshmemPeerConnection c : connections)
        {
            c.close();
        }
        if (fixture != null)
        {
            fixture.close();
        }
    }

    private IvshmemPeerConnection connect(final int vectors, final Events events) throws IOException
    {
        final IvshmemPeerConnection c = IvshmemPeerConnection.connect(fixture.socketPath(), vectors, 5000, events);
        connections.add(c);
        return c;
    }

    private static void process(final IvshmemPeerConnection c)
    {
        try
        {
            c.processServerMessages(10);
        }
        catch (final NativeIoException e)
        {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    void peersLearnOfEachOtherAndRingEachOthersVectors() throws Exception
    {
        fixture = new TestServer(SIZE, 2, 1, IvshmemServer.MAX_ID);
        final Events eventsA = new Events();
        final IvshmemPeerConnection a = connect(2, eventsA);
        final Events eventsB = new Events();
        final IvshmemPeerConnection b = connect(2, eventsB);
        assertEquals(1, a.ownId());
        assertEquals(2, b.ownId());
        assertEquals(SIZE, a.shmSize());
        assertEquals(2, a.ownVectorCount());
        assertEquals(2, b.ownVectorCount());
        assertTrue(b.isPeerConnected(1), "existing peers arrive during setup");
        assertEquals(2, b.peerVectorCount(1));
        assertEquals(List.of("connected 1"), eventsB.snapshot());

        Await.until(() ->
        {
            process(a);
            return a.peerVectorCount(2) == 2;
        }, TIMEOUT, () -> "A to learn both vectors of B");
        assertEquals(List.of("connected 2"), eventsA.snapshot());
        assertEquals(List.of(2), a.peerIds());

        assertTrue(b.ring(1, 1));
        assertEquals(0, a.drain(0), "vector 0 stays quiet");
        assertEquals(1, a.drain(1), "vector 1 rang");
        assertTrue(a.ring(2, 0));
        assertTrue(a.ring(2, 0));
        assertEquals(2, b.drain(0));
        assertTrue(a.ring(1, 1), "ringing ourselves works, as in QEMU");
        assertEquals(1, a.drain(1));
        assertFalse(a.ring(3, 0), "an unknown peer is not rung");
        assertFalse(a.ring(2, 2), "a vector beyond ours is not rung");

        try (MappedMemory ma = MappedMemory.map(a.shmFd(), 0, SIZE, false);
            MappedMemory mb = MappedMemory.map(b.shmFd(), 0, SIZE, false))
        {
            ma.buffer().putLong(8192, 77);
            assertEquals(77, mb.buffer().getLong(8192));
        }
    }

    @Test
    void aDisconnectClosesThePeersVectorsOnceTheServerOutlivesTheGrace() throws Exception
    {
        fixture = new TestServer(SIZE, 2, 1, IvshmemServer.MAX_ID);
        final Events eventsA = new Events();
        final IvshmemPeerConnection a = connect(2, eventsA);
        final IvshmemPeerConnection b = connect(2, null);
        Await.until(() ->
        {
            process(a);
            return a.isPeerConnected(2);
        }, TIMEOUT, () -> "A to learn of B");
        b.close();
        Await.until(() ->
        {
            process(a);
            return !a.isPeerConnected(2);
        }, TIMEOUT, () -> "A to learn that B left");
        assertEquals(List.of("connected 2", "disconnected 2"), eventsA.snapshot());
        // The notice may be the server's own shutdown, with B alive: B stays ringable for a while.
        assertTrue(a.ring(2, 0), "rung within the grace");
        a.releaseDeparted(System.nanoTime());
        assertTrue(a.ring(2, 0), "still within the grace");
        a.releaseDeparted(System.nanoTime() + (IvshmemPeerConnection.DEPARTED_GRACE_MS + 1) * 1_000_000L);
        assertFalse(a.ring(2, 0), "doorbells to a gone peer are dropped once the server outlived the grace");
        assertTrue(a.isServerAlive());
    }

    @Test
    void extraVectorsFromTheServerAreClosed() throws Exception
    {
        fixture = new TestServer(SIZE, 4, 1, IvshmemServer.MAX_ID);
        final IvshmemPeerConnection a = connect(2, null);
        final IvshmemPeerConnection b = connect(2, null);
        assertEquals(2, a.ownVectorCount(), "own vectors beyond ours are dropped");
        assertEquals(2, b.peerVectorCount(1), "peer vectors beyond ours are dropped");
        assertTrue(b.ring(1, 1));
        assertEquals(1, a.drain(1));
        assertFalse(b.ring(1, 3));
        assertTrue(fixture.server().peerCount() == 2);
    }

    @Test
    void missingVectorsStayUnconnected() throws Exception
    {
        fixture = new TestServer(SIZE, 1, 1, IvshmemServer.MAX_ID);
        final IvshmemPeerConnection a = connect(2, null);
        final IvshmemPeerConnection b = connect(2, null);
        assertEquals(1, a.ownVectorCount());
        assertEquals(-1, a.ownVectorFd(1));
        assertEquals(1, b.peerVectorCount(1));
        assertFalse(b.ring(1, 1), "vector 1 is not connected");
        assertTrue(b.ring(1, 0));
        assertEquals(1, a.drain(0));
        assertEquals(0, a.drain(1), "draining an unconnected vector is a no-op");
    }

    @Test
    void aDeadServerLeavesPeersWorking() throws Exception
    {
        fixture = new TestServer(SIZE, 2, 1, IvshmemServer.MAX_ID);
        final Events eventsA = new Events();
        final IvshmemPeerConnection a = connect(2, eventsA);
        final IvshmemPeerConnection b = connect(2, null);
        Await.until(() ->
        {
            process(a);
            return a.peerVectorCount(2) == 2;
        }, TIMEOUT, () -> "A to learn of B");
        fixture.server().close();
        Await.until(() ->
        {
            process(a);
            process(b);
            return !a.isServerAlive() && !b.isServerAlive();
        }, TIMEOUT, () -> "both peers to notice the server's death");
        assertEquals(List.of("connected 2", "server lost"), eventsA.snapshot(), "no disconnects: peers stay");
        assertEquals(-1, a.serverFd());
        assertEquals(0, a.processServerMessages(0));
        assertTrue(a.isPeerConnected(2));
        assertTrue(a.ring(2, 1));
        assertEquals(1, b.drain(1), "B still receives A's doorbells");
        assertTrue(b.ring(1, 0));
        assertEquals(1, a.drain(0), "A still receives B's doorbells");
        try (MappedMemory ma = MappedMemory.map(a.shmFd(), 0, SIZE, false);
            MappedMemory mb = MappedMemory.map(b.shmFd(), 0, SIZE, false))
        {
            mb.buffer().putInt(100, 5);
            assertEquals(5, ma.buffer().getInt(100), "the memory stays shared");
        }
    }

    @Test
    void aWrongVersionIsAProtocolError() throws Exception
    {
        fixture = new TestServer(SIZE, 1, 1, IvshmemServer.MAX_ID);
        final String path = fixture.dir().resolve("fake.sock").toString();
        final int listenFd = UnixSocket.listen(path, 1);
        try
        {
            final CompletableFuture<IvshmemPeerConnection> client = CompletableFuture.supplyAsync(() ->
            {
                try
                {
                    return IvshmemPeerConnection.connect(path, 2, 5000, null);
                }
                catch (final IOException e)
                {
                    throw new UncheckedIOException(e);
                }
            });
            try (UnixSocket server = UnixSocket.accept(listenFd))
            {
                final ByteBuffer message = ByteBuffer.allocateDirect(8).order(ByteOrder.LITTLE_ENDIAN);
                message.putLong(0, 1);
                server.sendFully(message, null, 0);
                final ExecutionException e =
                    assertThrows(ExecutionException.class, () -> client.get(5, TimeUnit.SECONDS));
                assertInstanceOf(IvshmemProtocolException.class, e.getCause().getCause(), e.toString());
                assertTrue(e.getCause().getCause().getMessage().contains("version 1"), e.getMessage());
            }
        }
        finally
        {
            Native.closeQuietly(listenFd);
        }
    }

    @Test
    void aSilentServerTimesOut() throws Exception
    {
        fixture = new TestServer(SIZE, 1, 1, IvshmemServer.MAX_ID);
        final String path = fixture.dir().resolve("silent.sock").toString();
        final int listenFd = UnixSocket.listen(path, 1);
        try
        {
            final long start = System.nanoTime();
            final IvshmemProtocolException e = assertThrows(IvshmemProtocolException.class,
                () -> IvshmemPeerConnection.connect(path, 2, 300, null));
            final long elapsedMs = (System.nanoTime() - start) / 1_000_000L;
            assertTrue(e.getMessage().contains("timed out"), e.getMessage());
            assertTrue(elapsedMs < 3000, "bounded by the timeout: " + elapsedMs + " ms");
        }
        finally
        {
            Native.closeQuietly(listenFd);
        }
    }

    @Test
    void aRejectedConnectionIsReportedClearly() throws Exception
    {
        fixture = new TestServer(SIZE, 1, 1, 1);
        connect(1, null);
        final IvshmemProtocolException e = assertThrows(IvshmemProtocolException.class, () -> connect(1, null));
        assertTrue(e.getMessage().contains("closed the connection"), e.getMessage());
    }
}
