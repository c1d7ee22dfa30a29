package org.hyperdmabuf.tests.e2e;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.tests.support.SystemTest;
import org.hyperdmabuf.tests.support.TwoVmSystem;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.hyperdmabuf.tests.e2e.E2e.TIMEOUT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The {@code hdmabuf} command line, each subcommand a real process against real daemons. */
@SystemTest
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CliTest
{
    private static final long REGION = 64L << 20;
    private static final Duration EXIT_TIMEOUT = Duration.ofSeconds(90);
    private static final Pattern SUBCOMMAND = Pattern.compile("^  ([a-z][a-z-]*)\\s.*");

    private TwoVmSystem system;
    private long initialFree;

    /** Whether this class runs on the xen backend over the Xen emulation instead of kvm-ivshmem. */
    protected boolean xen()
    {
        return false;
    }

    /** The system under test (for subclasses). */
    protected TwoVmSystem system()
    {
        return system;
    }

    /** Free pool bytes before the first test (for subclasses). */
    protected long initialFree()
    {
        return initialFree;
    }

    @BeforeAll
    void start() throws Exception
    {
        system = xen() ? TwoVmSystem.startXenInTempDir("hdcx", (int)(REGION / 4096), List.of(), List.of()) :
            TwoVmSystem.startInTempDir("hd", REGION, List.of(), List.of());
        try (HdmabufClient sink = HdmabufClient.connect(system.sinkSocket()))
        {
            initialFree = E2e.poolFree(sink);
        }
    }

    @AfterAll
    void stop() throws Exception
    {
        if (system != null)
        {
            system.closeAndVerify();
        }
    }

    /** Runs a subcommand to completion; fails unless it exits 0. */
    protected List<String> run(final String... args) throws Exception
    {
        final ChildProcess p = system.spawn(args[0], args);
        assertExit0(p);
        return p.output();
    }

    protected static void assertExit0(final ChildProcess p) throws InterruptedException
    {
        final int exit = p.waitFor(EXIT_TIMEOUT);
        assertEquals(0, exit, p.name() + " exit status (-1: still running); output:\n" + String.join("\n", p.output()));
    }

    private static boolean anyLineMatches(final List<String> lines, final String regex)
    {
        return lines.stream().anyMatch(l -> l.matches(regex));
    }

    @Test
    void capsShowsTheBackendAndItsIsolation() throws Exception
    {
        final List<String> out = run("caps", "--socket", system.sinkSocket().toString());
        assertTrue(anyLineMatches(out, "backend:\\s+" + (xen() ? "xen" : "kvm-ivshmem")), String.join("\n", out));
        assertTrue(anyLineMatches(out, "isolation:\\s+" + (xen() ? "per-buffer" : "shared-region")),
            String.join("\n", out));
        assertTrue(anyLineMatches(out, "local VM:\\s+" + system.sinkVm()), String.join("\n", out));
    }

    @Test
    void targetsOfTheSinkListTheSourceVm() throws Exception
    {
        final List<String> out = run("targets", "--socket", system.sinkSocket().toString());
        assertTrue(anyLineMatches(out, system.sourceVm() + "\\s+\\S+\\s+source"), String.join("\n", out));
    }

    @Test
    void sendAndReceiveTransferAFileByteExactly() throws Exception
    {
        final Path file = system.dir().resolve("payload.bin");
        final byte[] content = new byte[3 << 20];
        new SecureRandom().nextBytes(content);
        Files.write(file, content);
        final Path out = system.dir().resolve("received");
        final ChildProcess receive = system.spawn("receive", "receive", "--out", out.toString(), "--socket",
            system.sourceSocket().toString(), "--timeout", "60");
        receive.awaitLine("READY receive", TIMEOUT);
        final ChildProcess send = system.spawn("send", "send", file.toString(), "--to", Integer.toString(system.sourceVm()),
            "--socket", system.sinkSocket().toString(), "--timeout", "60");
        assertExit0(receive);
        assertExit0(send);
        assertArrayEquals(sha256(content), sha256(Files.readAllBytes(out.resolve("payload.bin"))));
        try (HdmabufClient sink = HdmabufClient.connect(system.sinkSocket()))
        {
            E2e.awaitPoolFree(sink, initialFree); // send unexported and freed it
        }
    }

    @Test
    void monitorPrintsTheMatchingEvents() throws Exception
    {
        final ChildProcess monitor = system.spawn("monitor", "monitor", "--socket", system.sourceSocket().toString(),
            "--count", "2", "--match", "CONTENT_TYPE=text/x-cli-[a-z]*");
        monitor.awaitLine("HDMABUF - the hyperdmabuf event stream", TIMEOUT);
        final String id;
        try (HdmabufClient producer = HdmabufClient.connect(system.sinkSocket());
             Allocation decoy = producer.alloc(4096);
             Allocation a = producer.alloc(4096))
        {
            // This xen sink grants allocations writable, so it exports them read-write (see XenCliTest).
            final Access access = xen() ? Access.ACCESS_READ_WRITE : Access.ACCESS_READ_ONLY;
            producer.export(decoy.handle(), system.sourceVm(), Metadata.newBuilder().setContentType("text/plain")
                .build(), access);
            id = BufferIds.format(producer.export(a.handle(), system.sourceVm(), Metadata.newBuilder()
                .setContentType("text/x-cli-test").putTags("origin", "java").build(), access).getId());
            producer.unexport(BufferIds.parse(id));
            assertExit0(monitor);
        }
        final Map<String, Map<String, String>> blocks = blocks(monitor.output());
        assertEquals(List.of("add", "remove"), new ArrayList<>(blocks.keySet()), String.join("\n", monitor.output()));
        final Map<String, String> add = blocks.get("add");
        assertEquals(id, add.get("BUFFER"));
        assertEquals("/hyperdmabuf/vm" + system.sinkVm() + "/" + id, add.get("DEVPATH"));
        assertEquals("text/x-cli-test", add.get("CONTENT_TYPE"));
        assertEquals("java", add.get("TAG_ORIGIN"));
        assertEquals(id, blocks.get("remove").get("BUFFER"));
        assertEquals("unexported", blocks.get("remove").get("REASON"));
    }

    /** The property blocks of monitor output ("HDMABUF [t] action devpath (hyperdmabuf)", KEY=VALUE lines). */
    private static Map<String, Map<String, String>> blocks(final List<String> lines)
    {
        final Pattern header = Pattern.compile("HDMABUF \\[[0-9.]+\\] (\\S+)\\s+(\\S+) \\(hyperdmabuf\\)");
        final Map<String, Map<String, String>> blocks = new LinkedHashMap<>();
        Map<String, String> current = null;
        for (final String line : lines)
        {
            final Matcher m = header.matcher(line);
            if (m.matches())
            {
                current = new LinkedHashMap<>();
                blocks.put(m.group(1), current);
                assertTrue(m.group(2).startsWith("/hyperdmabuf/"), line);
            }
            else if (line.isEmpty())
            {
                current = null;
            }
            else if (current != null)
            {
                final int eq = line.indexOf('=');
                assertTrue(eq > 0, "property line: " + line);
                current.put(line.substring(0, eq), line.substring(eq + 1));
            }
        }
        return blocks;
    }

    @Test
    @Timeout(300)
    void everySubcommandHasHelp() throws Exception
    {
        final List<String> top = run("--help");
        assertTrue(top.get(0).startsWith("Usage: hdmabuf"), top.get(0));
        final List<String> subcommands = new ArrayList<>();
        boolean inCommands = false;
        for (final String line : top)
        {
            inCommands |= line.equals("Commands:");
            final Matcher m = SUBCOMMAND.matcher(line);
            if (inCommands && m.matches())
            {
                subcommands.add(m.group(1));
            }
        }
        assertTrue(subcommands.containsAll(List.of("server", "sink", "source", "daemon", "monitor", "caps", "targets",
            "list", "send", "receive", "demo")), "subcommands listed by --help: " + subcommands);
        // picocli lists the first description line: it must be a whole sentence, not one cut at its first line.
        for (final String summary : summaries(top))
        {
            assertTrue(summary.endsWith("."), "a summary cut mid-sentence: " + summary);
        }
        final List<ChildProcess> helps = new ArrayList<>();
        for (final String sub : subcommands)
        {
            helps.add(system.spawn(sub + "-help", sub, "--help"));
        }
        for (int i = 0; i < helps.size(); i++)
        {
            assertExit0(helps.get(i));
            final String usage = "Usage: hdmabuf " + subcommands.get(i);
            assertTrue(helps.get(i).output().stream().anyMatch(l -> l.startsWith(usage)),
                usage + " in:\n" + String.join("\n", helps.get(i).output()));
        }
    }

    /** Each command's summary in {@code --help} output, its wrapped lines joined. */
    private static List<String> summaries(final List<String> help)
    {
        final List<String> summaries = new ArrayList<>();
        boolean inCommands = false;
        for (final String line : help)
        {
            inCommands |= line.equals("Commands:");
            if (!inCommands || line.equals("Commands:"))
            {
                continue;
            }
            if (SUBCOMMAND.matcher(line).matches())
            {
                summaries.add(line.trim().split("\\s+", 2)[1]);
            }
            else if (!summaries.isEmpty() && line.startsWith("    "))
            {
                summaries.add(summaries.remove(summaries.size() - 1) + " " + line.trim());
            }
        }
        return summaries;
    }

    private static byte[] sha256(final byte[] bytes) throws Exception
    {
        return MessageDigest.getInstance("SHA-256").digest(bytes);
    }
}
