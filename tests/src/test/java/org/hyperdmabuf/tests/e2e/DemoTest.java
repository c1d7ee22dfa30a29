package org.hyperdmabuf.tests.e2e;

import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.tests.support.SystemTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code hdmabuf demo}: server, two daemons, a producer and a consumer, each its own process. */
@SystemTest
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

    /**
     * Regression: a demo stopped while starting (its children stopped under it) reported "source ended its output
     * (exit 143) before printing 'READY'", which reads like a failure. Now it says it was interrupted and exits with
     * 128 + the signal. SIGTERM, because a JVM started with SIGINT ignored (a background job) never sees SIGINT;
     * the JVM exits the same way for both (130 for SIGINT).
     */
    @Test
    @Timeout(120)
    void aDemoStoppedWhileStartingSaysInterruptedAndNothingElse() throws Exception
    {
        try (ChildProcess demo = ChildProcess.start("demo-stopped", List.of(), List.of("demo", "--frames", "100000",
            "--width", "64", "--height", "64"), System.out))
        {
            demo.awaitLine("hdmabuf demo: ", Duration.ofSeconds(60));
            final Process kill = new ProcessBuilder("kill", "-TERM", Long.toString(demo.pid())).inheritIO().start();
            assertEquals(0, kill.waitFor(), "kill -TERM");
            final int exit = demo.waitFor(Duration.ofSeconds(60));
            final String output = String.join("\n", demo.output());
            assertEquals(143, exit, "demo exit status (-1: still running); output:\n" + output);
            assertTrue(demo.output().contains("hdmabuf demo: interrupted; all processes stopped"), output);
            assertTrue(demo.output().stream().noneMatch(l -> l.contains("ended its output") || l.contains("FAILED") ||
                l.startsWith("\tat ")), output);
        }
    }
}
