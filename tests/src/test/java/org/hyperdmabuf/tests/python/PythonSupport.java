package org.hyperdmabuf.tests.python;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * What the Python ABI tests share: Debian's {@code /usr/bin/python3} with python3-protobuf, bindings generated
 * by {@code /usr/bin/protoc} from the .proto files (never committed), and child processes whose output is
 * collected with bounded waits. Missing python3-protobuf or protoc is a failure, not a skip.
 */
// "try": Python runs are closed by try-with-resources, and stopping a process may be interrupted.
@SuppressWarnings("try")
final class PythonSupport
{
    static final Path PYTHON = Path.of("/usr/bin/python3");
    static final Path PROTOC = Path.of("/usr/bin/protoc");
    static final String INSTALL_HINT = "apt-get install python3-protobuf protobuf-compiler";
    static final Duration TOOL_TIMEOUT = Duration.ofSeconds(60);

    /** The repository root: the parent of the tests module surefire runs in. */
    static Path repo()
    {
        return moduleDir().getParent();
    }

    private static Path moduleDir()
    {
        return Path.of(System.getProperty("user.dir")).toAbsolutePath();
    }

    /** {@code examples/python/<name>}, which must exist. */
    static Path example(final String name)
    {
        final Path script = repo().resolve("examples/python").resolve(name);
        assertTrue(Files.isRegularFile(script), "no Python example at " + script + " (user.dir=" + moduleDir() + ")");
        return script;
    }

    /**
     * Checks the interpreter, google.protobuf and protoc, and generates the bindings into
     * {@code target/python-gen} of the tests module; returns that directory (for {@code HDMABUF_PY_GEN}).
     */
    static Path generateBindings() throws Exception
    {
        final Path protoDir = repo().resolve("abi-spec/src/main/proto");
        assertTrue(Files.isRegularFile(protoDir.resolve("client.proto")), "no client.proto under " + protoDir +
            " (user.dir=" + moduleDir() + ")");
        if (!Files.isExecutable(PYTHON) || !Files.isExecutable(PROTOC))
        {
            fail(PYTHON + " and " + PROTOC + " are needed for the Python ABI test: " + INSTALL_HINT);
        }
        try (Run probe = Run.start(List.of(PYTHON.toString(), "-c", "import google.protobuf"), Map.of()))
        {
            if (probe.waitFor(TOOL_TIMEOUT) != 0)
            {
                fail(PYTHON + " cannot import google.protobuf (" + INSTALL_HINT + "):\n" + probe.output());
            }
        }
        final Path generated = moduleDir().resolve("target/python-gen");
        Files.createDirectories(generated);
        try (Run protoc = Run.start(List.of(PROTOC.toString(), "-I", protoDir.toString(),
            "--python_out=" + generated, protoDir.resolve("hyperdmabuf_common.proto").toString(),
            protoDir.resolve("client.proto").toString()), Map.of()))
        {
            assertEquals(0, protoc.waitFor(TOOL_TIMEOUT), "protoc failed:\n" + protoc.output());
        }
        return generated;
    }

    /** A child process whose merged output is collected line by line; all waits are bounded. */
    static final class Run implements AutoCloseable
    {
        private final Process process;
        private final List<String> lines = new ArrayList<>();
        private final Thread pump;

        private Run(final Process process)
        {
            this.process = process;
            this.pump = new Thread(this::pump, "python-output");
            this.pump.setDaemon(true);
            this.pump.start();
        }

        /** Starts {@code cmd} in the repository root with {@code env} added to a clean Python environment. */
        static Run start(final List<String> cmd, final Map<String, String> env) throws IOException
        {
            final ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).directory(repo().toFile());
            // Debian's interpreter with Debian's protobuf only: nothing from a pyenv or virtualenv.
            pb.environment().remove("PYTHONPATH");
            pb.environment().remove("PYTHONHOME");
            pb.environment().put("PYTHONDONTWRITEBYTECODE", "1");
            pb.environment().putAll(env);
            return new Run(pb.start());
        }

        private void pump()
        {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(),
                StandardCharsets.UTF_8)))
            {
                String line;
                while ((line = r.readLine()) != null)
                {
                    System.out.println("[python] " + line);
                    synchronized (lines)
                    {
                        lines.add(line);
                        lines.notifyAll();
                    }
                }
            }
            catch (final IOException e)
            {
                // process gone
            }
            finally
            {
                synchronized (lines)
                {
                    lines.notifyAll();
                }
            }
        }

        boolean isAlive()
        {
            return process.isAlive();
        }

        /** Exit status; fails the test if the process is still running after {@code timeout}. */
        int waitFor(final Duration timeout) throws InterruptedException
        {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS))
            {
                process.destroyForcibly();
                fail("process did not exit within " + timeout + "; output:\n" + output());
            }
            pump.join(TimeUnit.SECONDS.toMillis(10));
            return process.exitValue();
        }

        void awaitLine(final String prefix, final Duration timeout) throws InterruptedException
        {
            final long deadline = System.nanoTime() + timeout.toNanos();
            synchronized (lines)
            {
                while (lines.stream().noneMatch(l -> l.startsWith(prefix)))
                {
                    final long left = deadline - System.nanoTime();
                    if (left <= 0 || (!process.isAlive() && !pump.isAlive()))
                    {
                        fail("no line '" + prefix + "' (" + (process.isAlive() ? "timed out" : "process exited") +
                            "); output:\n" + String.join("\n", lines));
                    }
                    lines.wait(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
                }
            }
        }

        boolean hasLine(final String prefix)
        {
            return !linesStartingWith(prefix).isEmpty();
        }

        List<String> linesStartingWith(final String prefix)
        {
            synchronized (lines)
            {
                return lines.stream().filter(l -> l.startsWith(prefix)).toList();
            }
        }

        String output()
        {
            synchronized (lines)
            {
                return String.join("\n", lines);
            }
        }

        @Override
        public void close() throws InterruptedException
        {
            if (process.isAlive())
            {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }
}
