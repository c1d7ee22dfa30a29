package org.hyperdmabuf.tests.e2e;

import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.cli.Hdmabuf;
import org.hyperdmabuf.tests.support.SystemTest;
import org.hyperdmabuf.tests.support.TwoVmSystem;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every {@code hdmabuf} subcommand in its usual failure modes (no daemon, a socket that is not a daemon's, bad
 * option values, missing files, unknown ids, a bad policy file), each a real process: it exits non-zero with one
 * line saying what is wrong, and no Java stack trace reaches the user.
 */
@SystemTest
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CliFailuresTest
{
    private static final Duration EXIT_TIMEOUT = Duration.ofSeconds(90);
    /** Log lines of a daemon that fails to start (slf4j-simple: "[thread] LEVEL logger - message"). */
    private static final Pattern LOG_LINE = Pattern.compile("^\\[[^\\]]+\\] (TRACE|DEBUG|INFO|WARN|ERROR) .*");
    /** At once: each is a JVM, and the machine may have 2 cores. */
    private static final int BATCH = 4;

    private TwoVmSystem system;

    /** One invocation and what its message must contain; {@code lines} lines of message (policy check lists each error). */
    private record Case(String expected, int lines, String... args)
    {
    }

    @BeforeAll
    void start() throws Exception
    {
        system = TwoVmSystem.startInTempDir("hdf", 32L << 20, List.of(), List.of());
    }

    @AfterAll
    void stop() throws Exception
    {
        if (system != null)
        {
            system.closeAndVerify();
        }
    }

    @Test
    @Timeout(600)
    void noCommandShowsAStackTraceAndEachFailsWithOneLine() throws Exception
    {
        final Path dir = system.dir();
        final String none = dir.resolve("none.sock").toString();
        final String sink = system.sinkSocket().toString();
        final String source = system.sourceSocket().toString();
        final String file = Files.writeString(dir.resolve("file.txt"), "payload").toString();
        final String badPolicy = Files.writeString(dir.resolve("bad.toml"), "garbage [[\n").toString();
        final String noPolicy = dir.resolve("no-policy.toml").toString();
        final String missing = dir.resolve("missing").toString();
        final String to = Integer.toString(system.sourceVm());
        final String unknownId = "00000001-0000002a-0123456789abcdef";
        final List<Case> cases = List.of(
            // no daemon at the socket, or not a daemon
            new Case("cannot connect", 1, "caps", "--socket", none),
            new Case("cannot connect", 1, "targets", "--socket", none),
            new Case("cannot connect", 1, "list", "--socket", none),
            new Case("cannot connect", 1, "stats", "--socket", none),
            new Case("cannot connect", 1, "monitor", "--socket", none, "--count", "1"),
            new Case("cannot connect", 1, "send", file, "--to", to, "--socket", none),
            new Case("cannot connect", 1, "receive", "--out", dir.resolve("in").toString(), "--socket", none),
            new Case("cannot connect", 1, "write-import", "--socket", none, "--id", unknownId),
            new Case("cannot connect", 1, "stream-producer", "--socket", none, "--to", to),
            new Case("cannot connect", 1, "stream-consumer", "--socket", none),
            new Case("cannot connect", 1, "demo-producer", "--socket", none, "--to", to),
            new Case("cannot connect", 1, "demo-consumer", "--socket", none),
            new Case("not a hyperdmabuf answer", 1, "caps", "--socket", system.ivshmemSocket().toString()),
            new Case("cannot join ivshmem server", 1, "sink", "--ivshmem", none, "--socket", dir.resolve("x1.sock")
                .toString(), "--policy", noPolicy),
            new Case("cannot join ivshmem server", 1, "source", "--ivshmem", none, "--socket", dir.resolve("x2.sock")
                .toString(), "--policy", noPolicy),
            new Case("cannot join ivshmem server", 1, "daemon", "--ivshmem", none, "--socket", dir.resolve("x3.sock")
                .toString(), "--policy", noPolicy),
            new Case("another ivshmem server", 1, "server", "--socket", system.ivshmemSocket().toString()),
            new Case("another daemon is serving", 1, "sink", "--ivshmem", system.ivshmemSocket().toString(),
                "--socket", sink, "--policy", noPolicy),
            // bad option values and arguments
            new Case("Invalid value for option '--to'", 1, "send", file, "--to", "abc"),
            new Case("Missing required option", 1, "xen-emu"),
            new Case("Unmatched argument", 1, "no-such-command"),
            new Case("Unknown subcommand", 1, "help", "no-such-command"),
            new Case("missing subcommand", 1, "policy"),
            new Case("not a size", 1, "server", "--size", "lots", "--socket", dir.resolve("i2.sock").toString()),
            new Case("not a size", 1, "sink", "--ring-size", "lots", "--ivshmem", none, "--policy", noPolicy),
            new Case("--max-clients must be at least 1", 1, "sink", "--max-clients", "0", "--policy", noPolicy),
            new Case("no backend named", 1, "source", "--backend", "no-such-backend", "--policy", noPolicy),
            new Case("KEY=VALUE", 1, "daemon", "-O", "no-equals-sign"),
            new Case("--count must be at least 1", 1, "monitor", "--count", "0", "--socket", source),
            new Case("KEY=GLOB", 1, "monitor", "--match", "no-equals-sign", "--socket", source),
            new Case("--count and --timeout must be at least 1", 1, "receive", "--out", missing, "--count", "0"),
            new Case("--tag must be KEY=VALUE", 1, "send", file, "--to", to, "--tag", "no-equals-sign", "--socket",
                sink),
            new Case("must be positive", 1, "demo", "--frames", "0"),
            new Case("--wait must be", 1, "demo", "--wait", "sometimes"),
            new Case("--sync must be", 1, "demo", "--sync", "telepathy"),
            new Case("multiple of 8", 1, "demo", "--size", "7"),
            new Case("over 2 GiB", 1, "stream-producer", "--socket", sink, "--to", to, "--width", "100000",
                "--height", "100000"),
            new Case("--only takes", 1, "bench", "--only", "no-such-figure"),
            // missing files and bad policy files
            new Case(missing + ": no such file", 1, "send", missing, "--to", to, "--socket", sink),
            new Case("is a directory", 1, "send", dir.toString(), "--to", to, "--socket", sink),
            new Case("exists (and is not a directory)", 1, "receive", "--out", file, "--socket", source),
            new Case("exists (and is not a directory)", 1, "xen-emu", "--dir", file),
            new Case("the policy was not accepted", 2, "policy", "check", missing),
            new Case("the policy was not accepted", 2, "policy", "check", badPolicy),
            new Case("TOML syntax", 1, "sink", "--policy", badPolicy, "--socket", dir.resolve("x4.sock").toString()),
            new Case("not a directory", 1, "source", "--policy", noPolicy, "--policy-dir", file, "--socket",
                dir.resolve("x5.sock").toString()),
            // unknown ids and targets
            new Case("buffer id must look like", 1, "write-import", "--socket", source, "--id", "no-such-id"),
            new Case("ENOENT", 1, "write-import", "--socket", source, "--id", unknownId),
            new Case("ENOPEER", 1, "send", file, "--to", "6", "--socket", sink));
        final Set<String> covered = cases.stream().map(c -> c.args()[0]).collect(Collectors.toSet());
        final Set<String> all = new TreeSet<>(new CommandLine(new Hdmabuf()).getSubcommands().keySet());
        all.removeAll(covered);
        assertTrue(all.isEmpty(), "subcommands without a failure case: " + all);
        final List<String> failures = new ArrayList<>();
        for (int first = 0; first < cases.size(); first += BATCH)
        {
            final List<ChildProcess> running = new ArrayList<>();
            final List<Case> batch = cases.subList(first, Math.min(cases.size(), first + BATCH));
            for (final Case c : batch)
            {
                running.add(system.spawn("fail-" + c.args()[0], c.args()));
            }
            for (int i = 0; i < batch.size(); i++)
            {
                final String problem = check(batch.get(i), running.get(i));
                if (problem != null)
                {
                    failures.add(problem);
                }
            }
        }
        if (!failures.isEmpty())
        {
            fail(failures.size() + " of " + cases.size() + " failure modes misreported:\n\n" +
                String.join("\n\n", failures));
        }
    }

    /** What is wrong with how {@code p} failed, or null. */
    private static String check(final Case c, final ChildProcess p) throws InterruptedException
    {
        final int exit = p.waitFor(EXIT_TIMEOUT);
        if (exit == -1)
        {
            p.close();
        }
        final List<String> out = p.output();
        final List<String> message = out.stream().filter(l -> !LOG_LINE.matcher(l).matches() &&
            !l.startsWith("READY ")).toList();
        final String what = "hdmabuf " + String.join(" ", c.args()) + " (exit " + exit + "):\n" + String.join("\n", out);
        if (out.stream().anyMatch(l -> l.startsWith("\tat ") || l.contains("Exception in thread")))
        {
            return "stack trace: " + what;
        }
        if (exit <= 0)
        {
            return "exit status: " + what;
        }
        if (message.size() != c.lines() || message.stream().noneMatch(l -> l.contains(c.expected())))
        {
            return "expected " + c.lines() + " line(s) with '" + c.expected() + "': " + what;
        }
        return null;
    }
}
