package org.hyperdmabuf.hv.nativeio;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Data and SCM_RIGHTS fds travel in one sendmsg and arrive together, as a C peer's recvmsg sees them. */
class UnixSocketFdPassingTest
{
    private static final long SIZE = 64 * 1024;

    private final List<Integer> fds = new ArrayList<>();
    private final List<AutoCloseable> closeables = new ArrayList<>();

    @AfterEach
    void release() throws Exception
    {
        for (final AutoCloseable c : closeables)
        {
            c.close();
        }
        for (final int fd : fds)
        {
            Native.closeQuietly(fd);
        }
    }

    private int track(final int fd)
    {
        fds.add(fd);
        return fd;
    }

    private <T extends AutoCloseable> T track(final T closeable)
    {
        closeables.add(closeable);
        return closeable;
    }

    @Test
    void frameWithTwoFdsArrivesWithBothReferringToTheSameMemfd(@TempDir final Path dir) throws Exception
    {
        final String path = dir.resolve("fd.sock").toString();
        final int listenFd = track(UnixSocket.listen(path, 1));
        final UnixSocket client = track(UnixSocket.connect(path));
        final UnixSocket server = track(UnixSocket.accept(listenFd));

        final int memfd = track(MemFd.create("fd-passing-test", SIZE));
        final int readOnly = track(MemFd.reopenReadOnly(memfd));
        final byte[] text = "frame with two fds".getBytes(StandardCharsets.UTF_8);
        final ByteBuffer frame = ByteBuffer.allocateDirect(text.length);
        frame.put(0, text);
        client.sendFully(frame, new int[] {memfd, readOnly}, 2);

        final ByteBuffer into = ByteBuffer.allocateDirect(256);
        final List<Integer> received = new ArrayList<>();
        int got = 0;
        while (got < text.length)
        {
            final int n = server.receive(into, fd -> received.add(track(fd)));
            assertTrue(n > 0, "stream ended early");
            got += n;
        }
        assertEquals(text.length, got, "exactly the frame's bytes");
        final byte[] data = new byte[got];
        into.get(0, data);
        assertEquals("frame with two fds", new String(data, StandardCharsets.UTF_8));
        assertEquals(2, received.size(), "both fds arrived with the frame");
        assertNotEquals(received.get(0), received.get(1), "each fd is a new descriptor");
        assertFalse(received.contains(memfd), "received fds are new numbers");
        assertEquals(SIZE, MemFd.size(received.get(0)));
        assertEquals(SIZE, MemFd.size(received.get(1)));

        final MappedMemory writer = track(MappedMemory.map(received.get(0), 0, SIZE, false));
        final MappedMemory reader = track(MappedMemory.map(received.get(1), 0, SIZE, true));
        final MappedMemory original = track(MappedMemory.map(memfd, 0, SIZE, true));
        writer.buffer().putLong(4096, 0x1122334455667788L);
        writer.buffer().put((int)SIZE - 1, (byte)0x7E);
        assertEquals(0x1122334455667788L, reader.buffer().getLong(4096), "second fd sees the first fd's write");
        assertEquals((byte)0x7E, reader.buffer().get((int)SIZE - 1));
        assertEquals(0x1122334455667788L, original.buffer().getLong(4096), "the sender's memfd is the same memory");
    }

    @Test
    void framesWithoutFdsCarryNone(@TempDir final Path dir) throws Exception
    {
        final String path = dir.resolve("plain.sock").toString();
        final int listenFd = track(UnixSocket.listen(path, 1));
        final UnixSocket client = track(UnixSocket.connect(path));
        final UnixSocket server = track(UnixSocket.accept(listenFd));
        final ByteBuffer frame = ByteBuffer.allocateDirect(8);
        frame.putLong(0, 42);
        client.sendFully(frame, null, 0);
        final ByteBuffer into = ByteBuffer.allocateDirect(8);
        final List<Integer> received = new ArrayList<>();
        while (into.hasRemaining())
        {
            assertTrue(server.receive(into, received::add) > 0);
        }
        assertTrue(received.isEmpty(), "no fds");
        assertEquals(42, into.getLong(0));
        client.close();
        into.clear();
        assertEquals(0, server.receive(into, received::add), "end of stream after the peer closed");
    }
}
