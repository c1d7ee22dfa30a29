package org.hyperdmabuf.tests.guest;

import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.tests.e2e.UdmabufChecks;
import org.hyperdmabuf.tests.support.SystemTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Dma-buf imports on a kernel with udmabuf, which this host's may lack: a QEMU TCG guest boots Debian's
 * bookworm-backports kernel ({@code CONFIG_UDMABUF=y}) and runs the host-mode stack (embedded ivshmem server, sink
 * and source daemons, in one {@link CommandAgent} JVM) and, in a second JVM, {@link UdmabufChecks}: a producer on
 * the sink and a consumer on the source, whose dma-buf arrives over SCM_RIGHTS from the source daemon. Its checks:
 * caps say available, the consumer's fdinfo says udmabuf of exactly the buffer with the producer's bytes, writes are
 * seen both ways, no mapping beyond it, a read-only import is refused (EACCES), a buffer over {@code size_limit_mb}
 * (lowered to 1 MiB in the guest) is refused naming it, and a stale dma-buf never shows the next allocation of its
 * range. One boot for all.
 * <p>
 * Needs what {@link TwoQemuGuestsTest} needs; the kernel package is resolved through a private apt configuration.
 */
@SystemTest
@Tag("qemu-guests")
class UdmabufGuestTest
{
    private static final String SUITE = "bookworm-backports";
    private static final Duration GUEST_TIMEOUT = Duration.ofMinutes(6);
    private static final List<String> CHECKS = List.of("caps", "import", "read-only", "size-limit");

    @Test
    @Timeout(value = 12, unit = TimeUnit.MINUTES)
    void aConsumerInAGuestWithUdmabufGetsItsBufferAsADmaBuf() throws Exception
    {
        final long start = System.nanoTime();
        final List<AutoCloseable> resources = new ArrayList<>();
        final Path work = Files.createTempDirectory(GuestTests.basedir().resolve("target"), "udmabuf");
        try
        {
            bootAndCheck(resources, work);
        }
        finally
        {
            GuestTests.closeAll(resources, work);
        }
        System.out.println("udmabuf guest test: " + TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start) + " s");
    }

    private static void bootAndCheck(final List<AutoCloseable> resources, final Path work) throws Exception
    {
        final GuestTests.GuestImage image = GuestTests.prepare(resources, SUITE);
        Files.writeString(work.resolve("guest.sh"), guestScript(work), StandardCharsets.UTF_8);
        // Two vCPUs (the later -smp wins): the agent's and the checks' JVMs start side by side
        final List<String> cmd = GuestTests.qemuCommand(image, work, "guest.sh", List.of("-smp", "2"), "");
        final ChildProcess guest = ChildProcess.command("guest", cmd, System.out);
        resources.add(guest);

        assertEquals("SIZE_LIMIT_MB 1", guest.awaitLine("SIZE_LIMIT_MB ", GUEST_TIMEOUT));
        final String exit = guest.awaitLine("CHECKS EXIT ", GUEST_TIMEOUT);
        guest.awaitLine("GUEST DONE", GUEST_TIMEOUT);
        final List<String> lines = guest.linesStartingWith(UdmabufChecks.LINE);
        final String report = String.join("\n", lines);
        for (final String check : CHECKS)
        {
            assertTrue(lines.contains(UdmabufChecks.LINE + check + " PASS"), check + ":\n" + report);
        }
        assertEquals("CHECKS EXIT 0", exit, report);
        assertTrue(report.contains("exp_name: udmabuf") && report.contains("size: " + UdmabufChecks.BUFFER + " "),
            report);
        assertEquals(List.of(), guest.linesStartingWith("FAIL"));
        assertEquals(List.of(), daemonErrors(work), "the daemons log no error");
    }

    /** ERROR lines of the daemons' logs, which the guest copied to the work directory. */
    private static List<String> daemonErrors(final Path work) throws Exception
    {
        final List<String> errors = new ArrayList<>();
        try (Stream<Path> logs = Files.list(work))
        {
            for (final Path log : (Iterable<Path>)logs.filter(p -> p.toString().endsWith(".out"))::iterator)
            {
                Files.readAllLines(log).stream().filter(l -> l.contains(" ERROR ")).forEach(errors::add);
            }
        }
        return errors;
    }

    /**
     * The guest's script: {@code /dev/udmabuf} (made if devtmpfs has not), a 1 MiB {@code size_limit_mb}, the agent
     * with the server and both daemons, the checks' JVM started beside it (it waits for the daemons).
     */
    private static String guestScript(final Path work)
    {
        return "W=" + work + "\n" + GuestTests.javaVariable() +
            "A=/run/a\nP=\"--policy $A/no-policy.toml --policy-dir $A/no-policy.d\"\n" +
            "ready() { i=0; while ! grep -q READY \"$A/$1.out\" 2>/dev/null; do\n" +
            "    i=$((i + 1)); [ $i -lt 1200 ] || { echo \"FAIL $1 not ready\"; return 1; }; sleep 0.1; done; }\n" +
            "[ -e /dev/udmabuf ] || mknod -m 600 /dev/udmabuf c 10 258\n" +
            "echo 1 > /sys/module/udmabuf/parameters/size_limit_mb\n" +
            "echo \"SIZE_LIMIT_MB $(cat /sys/module/udmabuf/parameters/size_limit_mb)\"\n" +
            "echo \"CPUS $(nproc) $(uname -r)\"\n" +
            "mkdir -p $A && mkfifo $A/in\n" +
            "$JAVA " + CommandAgent.class.getName() + " $A > $W/agent.log 2>&1 &\n" +
            "$JAVA " + UdmabufChecks.class.getName() + " $A/sink.sock $A/source.sock 240 > $W/checks.log 2>&1 &\n" +
            "checks=$!\n" +
            "echo \"server server --socket $A/ivshmem.sock --size 16M\" > $A/in\n" +
            "ready server && echo \"sink sink --ivshmem $A/ivshmem.sock --socket $A/sink.sock --name sink $P\n" +
            "source source --ivshmem $A/ivshmem.sock --socket $A/source.sock --name source $P\" > $A/in\n" +
            "wait $checks; echo \"CHECKS EXIT $?\"\n" +
            "cat $W/checks.log; cp $A/*.out $W/\n" +
            "echo GUEST DONE\n";
    }
}
