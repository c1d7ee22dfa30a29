package org.hyperdmabuf.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A child process whose output lines are kept and optionally echoed with a prefix: mostly an
 * {@code hdmabuf} subcommand in its own JVM (a "VM" of the demo, the tests and the benchmarks), but any
 * program will do (the benchmark harness compiles its C baselines through it). Callers wait for a line
 * (such as the READY line every daemon prints) with a deadline instead of sleeping.
 */
public final class ChildProcess implements AutoCloseable
{
    private final String name;
    private final Process process;
    private final List<String> lines = new ArrayList<>();
    private final Thread pump;
    private boolean eof;

    private ChildProcess(final String name, final Process process, final PrintStream echo)
    {
        this.name = name;
        this.process = process;
        this.pump = new Thread(() -> pump(echo), "output-" + name);
        this.pump.setDaemon(true);
        this.pump.start();
    }

    /**
     * Starts {@code hdmabuf ARGS...} in a new JVM with this JVM's class path. stderr is merged into stdout.
     *
     * @param echo where to copy output lines prefixed with [name], or null to keep them quiet
     */
    public static ChildProcess start(final String name, final List<String> jvmOptions, final List<String> args,
        final PrintStream echo) throws IOException
    {
        return java(name, jvmOptions, Hdmabuf.class.getName(), args, echo);
    }

    /** As {@link #start}, with {@code env} added to this process's environment (e.g. systemd's NOTIFY_SOCKET). */
    public static ChildProcess start(final String name, final List<String> jvmOptions, final List<String> args,
        final Map<String, String> env, final PrintStream echo) throws IOException
    {
        final ProcessBuilder builder = new ProcessBuilder(javaCommand(jvmOptions, Hdmabuf.class.getName(), args));
        builder.environment().putAll(env);
        return command(name, builder, echo);
    }

    /** {@code java JVM_OPTIONS -cp <this JVM's class path> MAIN ARGS...}. */
    public static ChildProcess java(final String name, final List<String> jvmOptions, final String mainClass,
        final List<String> args, final PrintStream echo) throws IOException
    {
        return command(name, javaCommand(jvmOptions, mainClass, args), echo);
    }

    private static List<String> javaCommand(final List<String> jvmOptions, final String mainClass,
        final List<String> args)
    {
        final List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse("java"));
        cmd.addAll(jvmOptions);
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(mainClass);
        cmd.addAll(args);
        return cmd;
    }

    /** Starts any program; stderr is merged into stdout. */
    public static ChildProcess command(final String name, final List<String> command, final PrintStream echo)
        throws IOException
    {
        return command(name, new ProcessBuilder(command), echo);
    }

    /** Starts what {@code builder} describes (its command, environment, directory); stderr is merged into stdout. */
    public static ChildProcess command(final String name, final ProcessBuilder builder, final PrintStream echo)
        throws IOException
    {
        return new ChildProcess(name, builder.redirectErrorStream(true).start(), echo);
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
                    echo.println("[" + name + "] " + line);
                }
            }
        }
        catch (final IOException e)
        {
            // process gone; waiters see the end of output
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

    /** Waits for the first output line starting with {@code prefix}; fails if the output ends or time runs out. */
    public String awaitLine(final String prefix, final Duration timeout) throws InterruptedException
    {
        return awaitLines(prefix, 1, timeout).get(0);
    }

    /** Waits for the first {@code n} lines starting with {@code prefix}; fails if the output ends or time runs out. */
    public List<String> awaitLines(final String prefix, final int n, final Duration timeout) throws InterruptedException
    {
        final long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (lines)
        {
            while (true)
            {
                final List<String> found = new ArrayList<>();
                for (final String l : lines)
                {
                    if (l.startsWith(prefix) && found.size() < n)
                    {
                        found.add(l);
                    }
                }
                if (found.size() == n)
                {
                    return found;
                }
                final long left = deadline - System.nanoTime();
                if (eof)
                {
                    throw new IllegalStateException(name + " ended its output (" + exitStatus() + ") before printing '" +
                        prefix + "' " + n + " time(s); output:\n" + String.join("\n", lines));
                }
                if (left <= 0)
                {
                    throw new IllegalStateException(name + " did not print '" + prefix + "' " + n + " time(s) within " +
                        timeout + "; output:\n" + String.join("\n", lines));
                }
                lines.wait(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
            }
        }
    }

    private String exitStatus()
    {
        try
        {
            return process.waitFor(2, TimeUnit.SECONDS) ? "exit " + process.exitValue() : "still running";
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
            return "interrupted";
        }
    }

    /** Waits for exit 0 within {@code timeout}; otherwise stops it and fails with its output. */
    public void awaitSuccess(final Duration timeout) throws InterruptedException
    {
        final int exit = waitFor(timeout);
        if (exit == -1)
        {
            close();
            throw new IllegalStateException(name + " did not finish within " + timeout + "; output:\n" +
                String.join("\n", output()));
        }
        if (exit != 0)
        {
            throw new IllegalStateException(name + " failed with exit " + exit + "; output:\n" +
                String.join("\n", output()));
        }
    }

    /** Value of {@code key=} in a READY-style line, e.g. vm from "READY sink vm=1 socket=...". */
    public static String field(final String line, final String key)
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

    /** Everything printed so far. */
    public List<String> output()
    {
        synchronized (lines)
        {
            return new ArrayList<>(lines);
        }
    }

    /** Lines printed so far that start with {@code prefix}, in order. */
    public List<String> linesStartingWith(final String prefix)
    {
        return output().stream().filter(l -> l.startsWith(prefix)).toList();
    }

    /** Writes one line to the process's stdin. */
    public void send(final String line) throws IOException
    {
        final var in = process.getOutputStream();
        in.write((line + "\n").getBytes(StandardCharsets.UTF_8));
        in.flush();
    }

    /** Waits for exit; -1 if still running after {@code timeout}. */
    public int waitFor(final Duration timeout) throws InterruptedException
    {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS))
        {
            return -1;
        }
        pump.join(2000);
        return process.exitValue();
    }

    public boolean isAlive()
    {
        return process.isAlive();
    }

    public long pid()
    {
        return process.pid();
    }

    /** SIGKILL, as a crash would. */
    public void kill() throws InterruptedException
    {
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
    }

    /** SIGTERM, then SIGKILL if it has not exited within 10 s. */
    /** Stops the process (SIGTERM, then SIGKILL after 10 s). Interrupted, it kills at once and keeps the flag. */
    @Override
    public void close()
    {
        try
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
        catch (final InterruptedException e)
        {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    public String name()
    {
        return name;
    }
}
