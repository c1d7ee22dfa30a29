package org.hyperdmabuf.tests.e2e;

import org.hyperdmabuf.cli.ChildProcess;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code hdmabuf demo}: server, two daemons, a producer and a consumer, each its own process. */
class DemoTest
{
    @Test
    void demoVerifiesEveryFrame() throws Exception
    {
        try (ChildProcess demo = ChildProcess.start("demo", List.of(), List.of("demo", "--frames", "40", "--width", "640",
            "--height", "480"), System.out))
        {
            final int exit = demo.waitFor(Duration.ofSeconds(150));
            final String output = String.join("\n", demo.output());
            assertEquals(0, exit, "demo exit status (-1: still running); output:\n" + output);
            assertTrue(demo.output().stream().anyMatch(l -> l.startsWith("[consumer] VERIFIED frames=40 ")), output);
        }
    }
}
