package org.hyperdmabuf.tests.e2e;

import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.tests.support.SystemTest;
import org.hyperdmabuf.tests.support.TwoVmSystem;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code send} whose receiving VM goes away before it released the buffer (its daemon killed) ends at once with a
 * one-line error saying so, instead of waiting out {@code --timeout}.
 */
@SystemTest
class SendPeerLostTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void aSendWhoseReceiverIsKilledFailsWithPeerLost() throws Exception
    {
        final TwoVmSystem system = TwoVmSystem.startInTempDir("sendlost", 16L << 20, List.of(), List.of());
        try
        {
            final Path file = system.dir().resolve("payload.bin");
            Files.write(file, new byte[100_000]);
            // Nobody receives: the export waits in the source VM until its daemon dies.
            final ChildProcess send = system.spawn("send", "send", file.toString(), "--to",
                Integer.toString(system.sourceVm()), "--socket", system.sinkSocket().toString(), "--timeout", "600");
            send.awaitLine("exported ", TIMEOUT);
            system.source().kill();
            assertEquals(1, send.waitFor(TIMEOUT), "send ends well before its 600 s timeout: " + send.output());
            final List<String> said = send.output().stream().filter(l -> l.startsWith("send: ")).toList();
            assertEquals(1, said.size(), "one line of error: " + send.output());
            assertTrue(said.get(0).contains("VM " + system.sourceVm() + " went away") &&
                said.get(0).contains("peer-lost"), said.get(0));
            assertTrue(send.output().stream().noneMatch(l -> l.startsWith("\tat ")), "no stack trace");
        }
        finally
        {
            system.closeAndVerify();
        }
    }
}
