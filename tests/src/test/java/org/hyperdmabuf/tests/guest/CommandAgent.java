package org.hyperdmabuf.tests.guest;

import org.hyperdmabuf.cli.Hdmabuf;

import java.io.BufferedReader;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Runs every {@code hdmabuf} command of one domain of {@link RealXenTest} in one JVM: under QEMU TCG a JVM takes
 * tens of seconds to start, a command in a running one milliseconds.
 * <p>
 * {@code CommandAgent DIR} reads lines {@code ID ARG...} from the FIFO {@code DIR/in} and runs each
 * {@code hdmabuf ARG...} on a thread of its own (daemons and clients side by side), whose {@code System.out} and
 * {@code System.err} (and those of the threads it starts) go to {@code DIR/ID.out}; the exit status then goes to
 * {@code DIR/ID.rc}, renamed into place whole. {@code packaging/xen-guest}'s scripts use it through
 * {@code xen-real/agent-lib.sh}.
 */
public final class CommandAgent
{
    private static final ThreadRoutedOutput ROUTE = new ThreadRoutedOutput(System.out);

    private CommandAgent()
    {
    }

    public static void main(final String[] args) throws IOException
    {
        final Path dir = Path.of(args[0]);
        System.setOut(new PrintStream(ROUTE, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(ROUTE, true, StandardCharsets.UTF_8));
        // Opened read-write, the FIFO never reports end of file between two writers.
        try (RandomAccessFile fifo = new RandomAccessFile(dir.resolve("in").toFile(), "rw");
             BufferedReader in = new BufferedReader(new InputStreamReader(new FileInputStream(fifo.getFD()),
                 StandardCharsets.UTF_8)))
        {
            ROUTE.fallback().println("AGENT READY " + dir);
            String line;
            while ((line = in.readLine()) != null)
            {
                final String[] words = line.strip().split("\\s+");
                if (words.length >= 2)
                {
                    start(dir, words);
                }
            }
        }
    }

    private static void start(final Path dir, final String[] words)
    {
        final String id = words[0];
        final String[] argv = java.util.Arrays.copyOfRange(words, 1, words.length);
        final Thread t = new Thread(() ->
        {
            int status;
            try (OutputStream out = Files.newOutputStream(dir.resolve(id + ".out")))
            {
                ROUTE.route(out);
                try
                {
                    status = Hdmabuf.commandLine().execute(argv);
                }
                catch (final RuntimeException | Error e)
                {
                    System.err.println("hdmabuf: " + e);
                    status = 1;
                }
                System.out.flush();
                System.err.flush();
            }
            catch (final IOException e)
            {
                ROUTE.fallback().println("AGENT " + id + ": " + e);
                status = 1;
            }
            try
            {
                final Path tmp = dir.resolve(id + ".rc.tmp");
                Files.writeString(tmp, status + "\n");
                Files.move(tmp, dir.resolve(id + ".rc"), StandardCopyOption.ATOMIC_MOVE);
            }
            catch (final IOException e)
            {
                ROUTE.fallback().println("AGENT " + id + ": no status: " + e);
            }
        }, "agent-" + id);
        t.start();
    }

    /** An output stream that writes to the stream its thread (or the thread that started it) was given. */
    private static final class ThreadRoutedOutput extends OutputStream
    {
        private final PrintStream fallback;
        private final InheritableThreadLocal<OutputStream> target = new InheritableThreadLocal<>();

        ThreadRoutedOutput(final PrintStream fallback)
        {
            this.fallback = fallback;
        }

        PrintStream fallback()
        {
            return fallback;
        }

        void route(final OutputStream out)
        {
            target.set(out);
        }

        private OutputStream current()
        {
            final OutputStream t = target.get();
            return t == null ? fallback : t;
        }

        @Override
        public void write(final int b) throws IOException
        {
            current().write(b);
        }

        @Override
        public void write(final byte[] b, final int off, final int len) throws IOException
        {
            current().write(b, off, len);
        }

        @Override
        public void flush() throws IOException
        {
            current().flush();
        }
    }
}
