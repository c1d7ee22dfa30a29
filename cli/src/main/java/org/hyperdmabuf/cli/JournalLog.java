package org.hyperdmabuf.cli;

import edu.umd.cs.findbugs.annotations.SuppressFBWarnings;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Log lines for the systemd journal. When stderr, where slf4j-simple writes, is the stream {@code JOURNAL_STREAM}
 * names, it is replaced by a stream that starts every line with its syslog priority ({@code <3>} error, {@code <4>}
 * warn, {@code <6>} info, {@code <7>} debug and trace: sd-daemon(3)), which journald strips and records. A
 * line without a level word (the rest of a multi-line message) keeps the previous line's priority. Also the
 * {@code --log-level} option, which must be applied before the first logger exists.
 */
final class JournalLog
{
    static final List<String> LEVELS = List.of("error", "warn", "info", "debug", "trace");
    private static final String LEVEL_PROPERTY = "org.slf4j.simpleLogger.defaultLogLevel";
    private static final String PROVIDER_PROPERTY = "slf4j.provider";
    private static final String VERBOSITY_PROPERTY = "slf4j.internal.verbosity";

    private JournalLog()
    {
    }

    /** Applies {@code --log-level LEVEL} / {@code --log-level=LEVEL} from {@code args}, and the journal's prefixes. */
    static void configure(final String[] args)
    {
        for (int i = 0; i < args.length; i++)
        {
            String level = null;
            if (args[i].equals("--log-level") && i + 1 < args.length)
            {
                level = args[i + 1];
            }
            else if (args[i].startsWith("--log-level="))
            {
                level = args[i].substring("--log-level=".length());
            }
            if (level != null && LEVELS.contains(level.toLowerCase(Locale.ROOT)))
            {
                System.setProperty(LEVEL_PROPERTY, level.toLowerCase(Locale.ROOT));
            }
        }
        if (stderrIsJournal(System.getenv("JOURNAL_STREAM")))
        {
            System.setErr(new PrintStream(new PriorityPrefixer(System.err), true, StandardCharsets.UTF_8));
        }
        withoutClassPathScan();
    }

    /**
     * Initialises slf4j without the two look-ups that open every jar of the class path (~50 ms of a daemon's start,
     * each jar's central directory read by interpreted code): the provider is named (its {@code ServiceLoader} would
     * search all jars for one), and slf4j-simple's optional {@code simplelogger.properties}, which none of our jars
     * holds (the launchers configure it with system properties), is looked up through a class loader without
     * resources, not the class path's (the JDK's own, used before, looked in the JDK's modules: the same answer, ~5 ms
     * later). A provider the user names with {@code -Dslf4j.provider} is left alone, and so is slf4j's notice
     * then.
     */
    @SuppressFBWarnings(value = "DP_CREATE_CLASSLOADER_INSIDE_DO_PRIVILEGED",
        justification = "no security manager runs (deprecated for removal); the loader only answers that it has none")
    static void withoutClassPathScan()
    {
        if (System.getProperty(PROVIDER_PROPERTY) == null)
        {
            System.setProperty(PROVIDER_PROPERTY, "org.slf4j.simple.SimpleServiceProvider");
            // Its one INFO report is the notice that the provider was named: we name it on every start.
            if (System.getProperty(VERBOSITY_PROPERTY) == null)
            {
                System.setProperty(VERBOSITY_PROPERTY, "WARN");
            }
        }
        final Thread thread = Thread.currentThread();
        final ClassLoader loader = thread.getContextClassLoader();
        thread.setContextClassLoader(new NoResources());
        try
        {
            LoggerFactory.getILoggerFactory();
        }
        finally
        {
            thread.setContextClassLoader(loader);
        }
    }

    /** A class loader without resources: slf4j-simple's look-up of its optional properties file ends at once. */
    private static final class NoResources extends ClassLoader
    {
        NoResources()
        {
            super(null);
        }

        @Override
        public InputStream getResourceAsStream(final String name)
        {
            return null;
        }
    }

    /**
     * Whether stderr is the journal stream systemd connected: {@code JOURNAL_STREAM} is "DEVICE:INODE" of it, and a
     * process started by the service with its stderr elsewhere (a pipe to a test, a terminal) inherits the variable.
     */
    static boolean stderrIsJournal(final String journalStream)
    {
        if (journalStream == null)
        {
            return false;
        }
        final String[] parts = journalStream.split(":");
        try
        {
            final Map<String, Object> stat = Files.readAttributes(Path.of("/proc/self/fd/2"), "unix:dev,ino");
            return parts.length == 2 && Long.parseLong(parts[0]) == (Long)stat.get("dev") &&
                Long.parseLong(parts[1]) == (Long)stat.get("ino");
        }
        catch (final IOException | RuntimeException e)
        {
            return false;
        }
    }

    /** The syslog priority of a slf4j-simple line ("[thread] LEVEL logger - message"), or -1 without a level. */
    static int priority(final String line)
    {
        String rest = line;
        if (rest.startsWith("["))
        {
            final int end = rest.indexOf("] ");
            rest = end < 0 ? rest : rest.substring(end + 2);
        }
        final int space = rest.indexOf(' ');
        switch (space < 0 ? rest : rest.substring(0, space))
        {
            case "ERROR": return 3;
            case "WARN": return 4;
            case "INFO": return 6;
            case "DEBUG":
            case "TRACE": return 7;
            default: return -1;
        }
    }

    /** Buffers a line, then writes it with its {@code <N>} prefix. */
    static final class PriorityPrefixer extends OutputStream
    {
        private final OutputStream out;
        private final ByteArrayOutputStream line = new ByteArrayOutputStream();
        /** Text that is not a log line (a command's own error message) counts as an error. */
        private int last = 3;

        PriorityPrefixer(final OutputStream out)
        {
            this.out = out;
        }

        @Override
        public synchronized void write(final int b)
        {
            if (b == '\n')
            {
                emit();
            }
            else
            {
                line.write(b);
            }
        }

        @Override
        public synchronized void flush()
        {
            // Only whole lines go out: a journal entry is one line.
        }

        private void emit()
        {
            final String text = line.toString(StandardCharsets.UTF_8);
            line.reset();
            final int p = priority(text);
            last = p < 0 ? last : p;
            try
            {
                out.write(("<" + last + ">" + text + "\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
            catch (final IOException e)
            {
                // stderr gone: nothing left to tell
            }
        }
    }
}
