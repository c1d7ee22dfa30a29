package org.hyperdmabuf.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A child process of the harness (a daemon JVM, a {@link BenchSide} JVM or a C baseline) whose merged
 * stdout/stderr lines are kept, so the harness can wait for READY and parse RESULT lines. Like the client's
 * ChildJvm, but for any command (ChildJvm always runs the hdmabuf CLI's main class).
 */
final class Proc implements AutoCloseable
{
    private final String name;
    private final Process process;
    private final List<String> lines = new ArrayList<>();
    private final Thread pump;
    private boolean eof;

    private Proc(final String name, final Process process, final PrintStream echo)
    {
        this.name = name;
        this.process = process;
        this.pump = new Thread(() -> pump(echo), "output-" + name);
        this.pump.setDaemon(true);
        this.pump.start();
    }

    static Proc start(final String name, final List<String> command, final PrintStream echo) throws IOException
    {
        return new Proc(name, new ProcessBuilder(command).redirectErrorStream(true).start(), echo);
    }

    /** {@code java JVM_OPTIONS -cp <this class path> MAIN ARGS...}. */
    static Proc java(final String name, final List<String> jvmOptions, final String mainClass, final List<String> args,
        final PrintStream echo) throws IOException
    {
        final List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse("java"));
        cmd.addAll(jvmOptions);
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(mainClass);
        cmd.addAll(args);
        return start(name, cmd, echo);
    }

    private void pump(final PrintStream echo)
    {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(),
            StandardCharsets.UTF_8)))
        {
            String line;
            while ((line = r.readLine()) != null)
            {
                synchronized (lines)
                {
                    lines.add(line);
                    lines.notifyAll();
                }
                if (echo != null)
                {
                    echo.println("  [" + name + "] " + line);
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
                eof = true;
                lines.notifyAll();
            }
        }
    }

    /** The first line starting with {@code prefix}; fails when the process ends first or time runs out. */
    String awaitLine(final String prefix, final Duration timeout) throws InterruptedException
    {
        return awaitLines(prefix, 1, timeout).get(0);
    }

    /** The first {@code n} lines starting with {@code prefix}; fails when the process ends first or time runs out. */
    List<String> awaitLines(final String prefix, final int n, final Duration timeout) throws InterruptedException
    {
        final long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (lines)
        {
            while (true)
            {
                final List<String> found = new ArrayList<>();
                for (final String l : lines)
                {
                    if (l.startsWith(prefix))
                    {
                        found.add(l);
                        if (found.size() == n)
                        {
                            return found;
                        }
                    }
                }
                final long left = deadline - System.nanoTime();
                if (eof || left <= 0)
                {
                    throw new IllegalStateException(name + (eof ? " ended" : " timed out") + " before printing '" +
                        prefix + "' " + n + " time(s); output:\n" + String.join("\n", lines));
                }
                lines.wait(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
            }
        }
    }

    /** Waits for exit 0 within {@code timeout}; otherwise kills it and fails with its output. */
    void awaitSuccess(final Duration timeout) throws InterruptedException
    {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS))
        {
            close();
            throw new IllegalStateException(name + " did not finish within " + timeout + "; output:\n" +
                String.join("\n", output()));
        }
        pump.join(5000);
        if (process.exitValue() != 0)
        {
            throw new IllegalStateException(name + " failed with exit " + process.exitValue() + "; output:\n" +
                String.join("\n", output()));
        }
    }

    /** Lines starting with {@code prefix}, in order. */
    List<String> linesStartingWith(final String prefix)
    {
        return output().stream().filter(l -> l.startsWith(prefix)).toList();
    }

    List<String> output()
    {
        synchronized (lines)
        {
            return new ArrayList<>(lines);
        }
    }

    String name()
    {
        return name;
    }

    long pid()
    {
        return process.pid();
    }

    /** Writes one line to the process's stdin. */
    void send(final String line) throws IOException
    {
        final var out = process.getOutputStream();
        out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    /** SIGTERM, then SIGKILL after 10 s. */
    @Override
    public void close() throws InterruptedException
    {
        if (process.isAlive())
        {
            process.destroy();
            if (!process.waitFor(10, TimeUnit.SECONDS))
            {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        }
        pump.join(2000);
    }

    /** Value of {@code key=} in a RESULT / READY line. */
    static String field(final String line, final String key)
    {
        for (final String part : line.split(" "))
        {
            if (part.startsWith(key + "="))
            {
                return part.substring(key.length() + 1);
            }
        }
        throw new IllegalArgumentException("no " + key + "= in: " + line);
    }
}
