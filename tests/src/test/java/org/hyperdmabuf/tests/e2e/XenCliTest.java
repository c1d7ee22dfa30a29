package org.hyperdmabuf.tests.e2e;

import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.tests.support.SystemTest;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@link CliTest} on the xen backend over the Xen emulation (the daemons run {@code --backend xen -O ...}):
 * {@code caps} says xen and per-buffer isolation. This sink grants undeclared allocations writable
 * (alloc-access=rw, the default); {@code send --read-only} declares target and access at ALLOC, so its pages
 * are granted read-only from the start and the read-only export is accepted, asserted here.
 */
@SystemTest
class XenCliTest extends CliTest
{
    @Override
    protected boolean xen()
    {
        return true;
    }

    @Test
    void sendReadOnlyDeclaresItsAccessAtAllocSoTheGrantIsReadOnlyFromTheStart() throws Exception
    {
        final byte[] content = new byte[3 * 4096 + 17];
        for (int i = 0; i < content.length; i++)
        {
            content[i] = (byte)(i * 31);
        }
        final Path file = system().dir().resolve("ro.bin");
        Files.write(file, content);
        final Path out = system().dir().resolve("received-ro");
        final ChildProcess receive = system().spawn("receive-ro", "receive", "--out", out.toString(), "--socket",
            system().sourceSocket().toString(), "--timeout", "60");
        receive.awaitLine("READY receive", E2e.TIMEOUT);
        final ChildProcess send = system().spawn("send-ro", "send", file.toString(), "--read-only", "--to",
            Integer.toString(system().sourceVm()), "--socket", system().sinkSocket().toString(), "--timeout", "60");
        assertEquals(0, send.waitFor(E2e.TIMEOUT), String.join("\n", send.output()));
        assertEquals(0, receive.waitFor(E2e.TIMEOUT), String.join("\n", receive.output()));
        assertArrayEquals(content, Files.readAllBytes(out.resolve("ro.bin")));
        try (HdmabufClient sink = HdmabufClient.connect(system().sinkSocket()))
        {
            E2e.awaitPoolFree(sink, initialFree()); // send unexported and freed it
        }
    }
}
