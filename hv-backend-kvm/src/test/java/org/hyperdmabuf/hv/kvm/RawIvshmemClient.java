package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.hv.nativeio.Errno;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.nativeio.Poller;
import org.hyperdmabuf.hv.nativeio.UnixSocket;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** A protocol-level ivshmem client for tests: reads raw int64 messages with their fds, nothing interpreted. */
final class RawIvshmemClient implements AutoCloseable
{
    /** One server message: the value and the fd that came with it (-1 if none). */
    record Message(long value, int fd)
    {
    }

    private final UnixSocket socket;
    private final List<Integer> fds = new ArrayList<>();
    private final ByteBuffer buffer = ByteBuffer.allocateDirect(8).order(ByteOrder.LITTLE_ENDIAN);
    private final Poller poller = new Poller();
    private int pendingFd = -1;

    RawIvshmemClient(final String path) throws NativeIoException
    {
        socket = UnixSocket.connect(path);
    }

    UnixSocket socket()
    {
        return socket;
    }

    /** The next message within {@code timeoutMs}; null at end of stream; fails on timeout. */
    Message read(final long timeoutMs) throws NativeIoException
    {
        final long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        buffer.clear();
        while (buffer.hasRemaining())
        {
            final long remaining = (deadline - System.nanoTime()) / 1_000_000L;
            poller.clear();
            poller.add(socket.fd());
            if (remaining <= 0 || poller.poll((int)remaining) == 0)
            {
                fail("no ivshmem message within " + timeoutMs + " ms");
            }
            final int n = socket.receive(buffer, fd ->
            {
                fds.add(fd);
                assertEquals(-1, pendingFd, "at most one fd per message");
                pendingFd = fd;
            });
            if (n == 0)
            {
                assertEquals(0, buffer.position(), "end of stream inside a message");
                return null;
            }
        }
        final Message m = new Message(buffer.getLong(0), pendingFd);
        pendingFd = -1;
        return m;
    }

    /** Reads a message and checks its value and whether it carries an fd; returns the fd. */
    int expect(final long value, final boolean withFd) throws NativeIoException
    {
        final Message m = read(5000);
        assertTrue(m != null, "expected message " + value + " but the stream ended");
        assertEquals(value, m.value(), "message value");
        assertEquals(withFd, m.fd() >= 0, "message " + value + (withFd ? " carries" : " carries no") + " fd");
        return m.fd();
    }

    /** True if the server closed the connection (EOF) within {@code timeoutMs}. */
    boolean endsWithin(final long timeoutMs) throws NativeIoException
    {
        try
        {
            return read(timeoutMs) == null;
        }
        catch (final NativeIoException e)
        {
            // A server closing a socket with unread input (ours) resets it instead.
            if (e.errno() == Errno.ECONNRESET)
            {
                return true;
            }
            throw e;
        }
    }

    @Override
    public void close()
    {
        socket.close();
        for (final int fd : fds)
        {
            Native.closeQuietly(fd);
        }
        fds.clear();
    }
}
