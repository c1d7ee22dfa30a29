package org.hyperdmabuf.tests.e2e;

import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.client.HdmabufClient;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link CliTest} on the xen backend over the Xen emulation (the daemons run {@code --backend xen -O ...}):
 * {@code caps} says xen and per-buffer isolation. This sink grants allocations writable (alloc-access=rw, the
 * default), so it exports them read-write; {@code send --read-only} is refused, asserted here.
 */
class XenCliTest extends CliTest
{
    @Override
    protected boolean xen()
    {
        return true;
    }

    @Test
    void sendReadOnlyFailsWithATypedErrorAndLeavesNothingBehind() throws Exception
    {
        final Path file = system().dir().resolve("ro.bin");
        Files.write(file, new byte[] {1, 2, 3});
        final ChildProcess send = system().spawn("send-ro", "send", file.toString(), "--read-only", "--to",
            Integer.toString(system().sourceVm()), "--socket", system().sinkSocket().toString(), "--timeout", "10");
        final int exit = send.waitFor(E2e.TIMEOUT);
        final String said = String.join("\n", send.output());
        assertNotEquals(-1, exit, "send still running: " + said);
        assertNotEquals(0, exit, said);
        assertTrue(said.contains("EINVAL") && said.contains("granted writable"), said);
        try (HdmabufClient sink = HdmabufClient.connect(system().sinkSocket()))
        {
            E2e.awaitPoolFree(sink, initialFree()); // its allocation went with its connection
        }
    }
}
