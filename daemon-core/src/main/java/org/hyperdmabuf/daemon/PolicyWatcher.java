package org.hyperdmabuf.daemon;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.util.List;

/**
 * Reloads the policy when a policy file changes (the main file's directory and the drop-in directory are
 * watched). Editors that write in several steps may trigger a reload of a half-written file: it fails, the
 * last good policy stays, and the next event reloads the finished file.
 */
public final class PolicyWatcher implements AutoCloseable
{
    private static final Logger LOG = LoggerFactory.getLogger(PolicyWatcher.class);

    private final WatchService watch;
    private final Thread thread;

    private PolicyWatcher(final WatchService watch, final Runnable reload)
    {
        this.watch = watch;
        this.thread = new Thread(() -> run(reload), "policy-watcher");
        this.thread.setDaemon(true);
        this.thread.start();
    }

    /** Watches the directories of {@code paths} that exist; null if none does (nothing to watch). */
    public static PolicyWatcher start(final List<Path> dirs, final Runnable reload) throws IOException
    {
        final WatchService watch = FileSystems.getDefault().newWatchService();
        int watched = 0;
        for (final Path dir : dirs)
        {
            if (Files.isDirectory(dir))
            {
                dir.register(watch, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_MODIFY,
                    StandardWatchEventKinds.ENTRY_DELETE);
                watched++;
            }
        }
        if (watched == 0)
        {
            watch.close();
            return null;
        }
        return new PolicyWatcher(watch, reload);
    }

    private void run(final Runnable reload)
    {
        try
        {
            while (true)
            {
                final WatchKey key = watch.take();
                final boolean relevant = key.pollEvents().stream()
                    .anyMatch(e -> String.valueOf(e.context()).endsWith(".toml"));
                key.reset();
                if (relevant)
                {
                    reload.run();
                }
            }
        }
        catch (final InterruptedException | ClosedWatchServiceException e)
        {
            LOG.debug("policy watcher stopped");
        }
    }

    @Override
    public void close()
    {
        try
        {
            watch.close();
        }
        catch (final IOException e)
        {
            LOG.debug("closing the policy watcher: {}", e.toString());
        }
    }
}
