package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.nativeio.Poller;
import org.hyperdmabuf.hv.nativeio.UnixSocket;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * QEMU's qtest text protocol over the socket QEMU connected to: one command line, one reply line
 * ({@code OK [value]}, {@code FAIL ...} or {@code ERR ...}); asynchronous {@code IRQ ...} lines are skipped.
 */
final class QtestClient implements AutoCloseable
{
    private final UnixSocket socket;
    private final long replyTimeoutMs;
    private final ByteBuffer out = ByteBuffer.allocateDirect(256);
    private final ByteBuffer in = ByteBuffer.allocateDirect(4096);
    private final StringBuilder pending = new StringBuilder();
    private final Poller poller = new Poller();

    QtestClient(final UnixSocket socket, final long replyTimeoutMs)
    {
        this.socket = socket;
        this.replyTimeoutMs = replyTimeoutMs;
    }

    /** Sends {@code command} and returns the words of its reply after "OK"; fails on anything else. */
    String command(final String command) throws NativeIoException
    {
        final byte[] line = (command + "\n").getBytes(StandardCharsets.US_ASCII);
        out.clear();
        out.put(line).flip();
        socket.sendFully(out, null, 0);
        final long deadline = System.nanoTime() + replyTimeoutMs * 1_000_000L;
        while (true)
        {
            final String reply = readLine(deadline, command);
            if (reply.startsWith("IRQ"))
            {
                continue;
            }
            assertTrue(reply.equals("OK") || reply.startsWith("OK "), "qtest '" + command + "' replied '" + reply + "'");
            return reply.length() > 2 ? reply.substring(3).trim() : "";
        }
    }

    long readValue(final String command) throws NativeIoException
    {
        final String value = command(command);
        assertTrue(value.startsWith("0x"), "qtest '" + command + "' returned '" + value + "'");
        return Long.parseUnsignedLong(value.substring(2), 16);
    }

    void outl(final int port, final long value) throws NativeIoException
    {
        command(String.format("outl 0x%x 0x%x", port, value));
    }

    long inl(final int port) throws NativeIoException
    {
        return readValue(String.format("inl 0x%x", port));
    }

    long readl(final long address) throws NativeIoException
    {
        return readValue(String.format("readl 0x%x", address));
    }

    int readb(final long address) throws NativeIoException
    {
        return (int)readValue(String.format("readb 0x%x", address));
    }

    void writel(final long address, final long value) throws NativeIoException
    {
        command(String.format("writel 0x%x 0x%x", address, value));
    }

    void writeb(final long address, final int value) throws NativeIoException
    {
        command(String.format("writeb 0x%x 0x%x", address, value));
    }

    /** PCI configuration read/write through the 0xcf8/0xcfc mechanism (bus 0). */
    long configRead(final int device, final int offset) throws NativeIoException
    {
        outl(0xcf8, 0x8000_0000L | (device << 11) | (offset & 0xfc));
        return inl(0xcfc);
    }

    void configWrite(final int device, final int offset, final long value) throws NativeIoException
    {
        outl(0xcf8, 0x8000_0000L | (device << 11) | (offset & 0xfc));
        outl(0xcfc, value);
    }

    private String readLine(final long deadline, final String command) throws NativeIoException
    {
        while (true)
        {
            final int newline = pending.indexOf("\n");
            if (newline >= 0)
            {
                final String line = pending.substring(0, newline).trim();
                pending.delete(0, newline + 1);
                return line;
            }
            final long remainingMs = (deadline - System.nanoTime()) / 1_000_000L;
            poller.clear();
            poller.add(socket.fd());
            if (remainingMs <= 0 || poller.poll((int)remainingMs) == 0)
            {
                fail("no qtest reply to '" + command + "' within " + replyTimeoutMs + " ms");
            }
            in.clear();
            final int n = socket.receive(in, fd -> fail("qtest sent an fd"));
            if (n == 0)
            {
                fail("QEMU closed the qtest connection while we waited for '" + command + "'");
            }
            final byte[] bytes = new byte[n];
            in.get(0, bytes);
            pending.append(new String(bytes, StandardCharsets.US_ASCII));
        }
    }

    @Override
    public void close()
    {
        socket.close();
    }
}
