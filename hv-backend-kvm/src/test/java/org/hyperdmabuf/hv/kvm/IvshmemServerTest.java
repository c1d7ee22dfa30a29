package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.hv.conformance.Await;
import org.hyperdmabuf.hv.nativeio.Errno;
import org.hyperdmabuf.hv.nativeio.EventFd;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.MemFd;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.nativeio.UnixSocket;
import org.hyperdmabuf.hv.shm.RegionLayout;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The embedded server against QEMU's protocol, byte by byte, with raw clients. */
class IvshmemServerTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(5);
    private static final long SIZE = 1L << 20;

    private TestServer fixture;
    private final EventFd eventFd = new EventFd();

    @AfterEach
    void stop() throws Exception
    {
        if (fixture != null)
        {
            fixture.close();
        }
    }

    private IvshmemServer start(final int vectors, final int firstId, final int maxId) throws Exception
    {
        fixture = new TestServer(SIZE, vectors, firstId, maxId);
        return fixture.server();
    }

    @Test
    void sendsTheSetupSequenceInQemuOrder() throws Exception
    {
        final IvshmemServer server = start(2, 1, IvshmemServer.MAX_ID);
        try (RawIvshmemClient c1 = new RawIvshmemClient(server.socketPath());
            RawIvshmemClient c2 = new RawIvshmemClient(server.socketPath()))
        {
            c1.expect(0, false);
            c1.expect(1, false);
            final int shm1 = c1.expect(-1, true);
            assertEquals(SIZE, MemFd.size(shm1), "shm fd has the configured size");
            final int own0 = c1.expect(1, true);
            final int own1 = c1.expect(1, true);

            c2.expect(0, false);
            c2.expect(2, false);
            final int shm2 = c2.expect(-1, true);
            final int peer1v0 = c2.expect(1, true);
            final int peer1v1 = c2.expect(1, true);
            final int c2own0 = c2.expect(2, true);
            final int c2own1 = c2.expect(2, true);

            // The first client learns of the second: its id once per vector, with eventfds, and nothing before.
            final int peer2v0 = c1.expect(2, true);
            final int peer2v1 = c1.expect(2, true);

            // Eventfds are shared correctly: ringing peer 1 on vector i wakes client 1's own vector i only.
            eventFd.signal(peer1v1);
            assertEquals(0, eventFd.drain(own0), "vector 0 stays quiet");
            assertEquals(1, eventFd.drain(own1), "vector 1 rang");
            eventFd.signal(peer1v0);
            assertEquals(1, eventFd.drain(own0));
            eventFd.signal(peer2v0);
            eventFd.signal(peer2v0);
            assertEquals(2, eventFd.drain(c2own0), "peer 2 vector 0 counts both rings");
            assertEquals(0, eventFd.drain(c2own1));
            eventFd.signal(peer2v1);
            assertEquals(1, eventFd.drain(c2own1));

            try (MappedMemory a = MappedMemory.map(shm1, 0, SIZE, false);
                MappedMemory b = MappedMemory.map(shm2, 0, SIZE, false);
                MappedMemory s = MappedMemory.map(server.regionFd(), 0, SIZE, false))
            {
                a.buffer().putLong(4096, 0x1234_5678_9ABC_DEF0L);
                assertEquals(0x1234_5678_9ABC_DEF0L, b.buffer().getLong(4096), "clients share the memory");
                assertEquals(0x1234_5678_9ABC_DEF0L, s.buffer().getLong(4096), "regionFd() is that memory");
            }
            assertEquals(List.of(1, 2), server.peerIds());
        }
    }

    @Test
    void eofFreesThePeerAndBroadcastsADisconnectWithoutFd() throws Exception
    {
        final IvshmemServer server = start(1, 1, IvshmemServer.MAX_ID);
        try (RawIvshmemClient c1 = new RawIvshmemClient(server.socketPath()))
        {
            readSetup(c1, 1, 1);
            try (RawIvshmemClient c2 = new RawIvshmemClient(server.socketPath()))
            {
                readSetup(c2, 2, 1, 1);
                c1.expect(2, true);
                Await.until(() -> server.peerCount() == 2, TIMEOUT, () -> "2 peers");
            }
            c1.expect(2, false);
            Await.until(() -> server.peerCount() == 1, TIMEOUT, () -> "peer 2 freed");
            assertEquals(List.of(1), server.peerIds());
        }
    }

    @Test
    void anyInputFromAClientFreesIt() throws Exception
    {
        final IvshmemServer server = start(1, 1, IvshmemServer.MAX_ID);
        try (RawIvshmemClient c1 = new RawIvshmemClient(server.socketPath());
            RawIvshmemClient c2 = new RawIvshmemClient(server.socketPath()))
        {
            readSetup(c1, 1, 1);
            readSetup(c2, 2, 1, 1);
            c1.expect(2, true);
            final ByteBuffer junk = ByteBuffer.allocateDirect(1);
            c2.socket().sendFully(junk, null, 0);
            c1.expect(2, false);
            assertTrue(c2.endsWithin(5000), "the talking client is disconnected");
            Await.until(() -> server.peerCount() == 1, TIMEOUT, () -> "peer 2 freed");
        }
    }

    @Test
    void theLowestFreeIdIsHandedOutAndClientsBeyondTheRangeAreRejected() throws Exception
    {
        final IvshmemServer server = start(1, 5, 7);
        try (RawIvshmemClient c5 = new RawIvshmemClient(server.socketPath());
            RawIvshmemClient c6 = new RawIvshmemClient(server.socketPath());
            RawIvshmemClient c7 = new RawIvshmemClient(server.socketPath()))
        {
            readSetup(c5, 5, 1);
            readSetup(c6, 6, 1, 5);
            readSetup(c7, 7, 1, 5, 6);
            try (RawIvshmemClient rejected = new RawIvshmemClient(server.socketPath()))
            {
                assertTrue(rejected.endsWithin(5000), "a client beyond the id range is closed without a message");
            }
            assertEquals(3, server.peerCount());
            c5.expect(6, true);
            c5.expect(7, true);
            c6.socket().shutdown();
            c5.expect(6, false);
            Await.until(() -> server.peerCount() == 2, TIMEOUT, () -> "peer 6 freed");
            try (RawIvshmemClient again = new RawIvshmemClient(server.socketPath()))
            {
                readSetup(again, 6, 1, 5, 7);
                c5.expect(6, true);
            }
            c5.expect(6, false);
            c5.socket().shutdown();
            c7.expect(6, false);
            c7.expect(6, true);
            c7.expect(6, false);
            c7.expect(5, false);
            Await.until(() -> server.peerCount() == 1, TIMEOUT, () -> "peers 5 and 6 freed");
            try (RawIvshmemClient lowest = new RawIvshmemClient(server.socketPath()))
            {
                // A restarted daemon gets its id back: ids never run past the range however often clients come.
                readSetup(lowest, 5, 1, 7);
            }
        }
    }

    @Test
    void theDefaultIdsFitTheDefaultRegionsPeerSlots()
    {
        final IvshmemServer.Options options = new IvshmemServer.Options();
        assertEquals(1, options.firstId());
        assertEquals(RegionLayout.DEFAULT_MAX_PEERS - 1, options.maxId());
    }

    @Test
    void closeEndsEveryConnectionAndUnlinksTheSocket() throws Exception
    {
        final IvshmemServer server = start(2, 1, IvshmemServer.MAX_ID);
        final Path path = Path.of(server.socketPath());
        try (RawIvshmemClient c1 = new RawIvshmemClient(server.socketPath()))
        {
            readSetup(c1, 1, 2);
            assertTrue(Files.exists(path));
            server.close();
            assertTrue(c1.endsWithin(5000), "clients see EOF, not disconnect messages");
            assertFalse(Files.exists(path), "socket path unlinked");
            assertThrows(NativeIoException.class, () -> UnixSocket.connect(path.toString()).close());
        }
    }

    @Test
    void aLiveServerIsNotReplacedButAStaleSocketFileIs() throws Exception
    {
        final IvshmemServer server = start(1, 1, IvshmemServer.MAX_ID);
        final IvshmemServer second = new IvshmemServer(new IvshmemServer.Options().socketPath(server.socketPath()));
        final NativeIoException e = assertThrows(NativeIoException.class, second::start);
        assertEquals(Errno.EADDRINUSE, e.errno(), e.getMessage());
        second.close();

        final Path stale = fixture.dir().resolve("stale.sock");
        final int listenFd = UnixSocket.listen(stale.toString(), 1);
        org.hyperdmabuf.hv.nativeio.Native.closeQuietly(listenFd);
        assertTrue(Files.exists(stale), "a crashed server leaves its socket file");
        try (IvshmemServer third = new IvshmemServer(new IvshmemServer.Options().socketPath(stale.toString())).start();
            RawIvshmemClient c = new RawIvshmemClient(third.socketPath()))
        {
            readSetup(c, 1, 2);
        }
    }

    @Test
    void rejectsSizesQemuCannotMap()
    {
        assertThrows(IllegalArgumentException.class,
            () -> new IvshmemServer(new IvshmemServer.Options().socketPath("/tmp/x").size(3L << 20)));
        assertThrows(IllegalArgumentException.class,
            () -> new IvshmemServer(new IvshmemServer.Options().socketPath("/tmp/x").vectors(0)));
        assertThrows(IllegalArgumentException.class,
            () -> new IvshmemServer(new IvshmemServer.Options().socketPath("/tmp/x").firstId(3).maxId(2)));
        assertThrows(IllegalArgumentException.class,
            () -> new IvshmemServer(new IvshmemServer.Options().socketPath("/tmp/x").maxId(65536)));
    }

    /**
     * The memfd is left sparse (its pages come and go with the pool), but a region larger than memory and swap
     * together could never be backed: refused at start with ENOSPC and the numbers, nothing created.
     */
    @Test
    void aRegionLargerThanMemoryAndSwapIsRefusedWithEnospc() throws Exception
    {
        long total = 0;
        for (final String line : Files.readAllLines(Path.of("/proc/meminfo")))
        {
            if (line.startsWith("MemTotal:") || line.startsWith("SwapTotal:"))
            {
                total += Long.parseLong(line.replaceAll("\\D", "")) << 10;
            }
        }
        final long size = Long.highestOneBit(total) << 1;
        final Path socket = Files.createTempDirectory("hdmabuf-ivshmem").resolve("ivshmem.sock");
        final IvshmemServer server = new IvshmemServer(new IvshmemServer.Options().socketPath(socket.toString())
            .size(size));
        final NativeIoException e = assertThrows(NativeIoException.class, server::start);
        assertEquals(Errno.ENOSPC, e.errno(), e.getMessage());
        assertTrue(e.getMessage().contains(Long.toString(size)) && e.getMessage().contains(Long.toString(total)),
            e.getMessage());
        assertFalse(Files.exists(socket), "refused before listening");
        server.close();
        Files.delete(socket.getParent());
    }

    /** Reads version, {@code id}, shm, each existing peer's vectors, then own vectors. */
    private static void readSetup(final RawIvshmemClient c, final int id, final int vectors, final int... peers)
        throws NativeIoException
    {
        c.expect(0, false);
        c.expect(id, false);
        c.expect(-1, true);
        for (final int peer : peers)
        {
            for (int v = 0; v < vectors; v++)
            {
                c.expect(peer, true);
            }
        }
        for (int v = 0; v < vectors; v++)
        {
            c.expect(id, true);
        }
    }
}
