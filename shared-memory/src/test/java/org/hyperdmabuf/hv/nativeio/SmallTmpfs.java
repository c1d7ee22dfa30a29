package org.hyperdmabuf.hv.nativeio;

import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A tmpfs of a few MiB mounted on a new temporary directory, for regions bigger than their filesystem. Mounting
 * needs root: elsewhere (or where mount is refused, e.g. a container without CAP_SYS_ADMIN) the calling test is
 * skipped, not failed. {@link #close()} unmounts it and deletes the directory.
 */
public final class SmallTmpfs implements AutoCloseable
{
    private final Path dir;

    private SmallTmpfs(final Path dir)
    {
        this.dir = dir;
    }

    /** Mounts a tmpfs of {@code size} (as mount takes it: {@code 2m}) or skips the test. */
    public static SmallTmpfs mount(final String size) throws IOException, InterruptedException
    {
        Assumptions.assumeTrue(Integer.valueOf(0).equals(Files.getAttribute(Path.of("/proc/self"), "unix:uid")),
            "mounting a tmpfs needs root");
        final Path dir = Files.createTempDirectory("hdmabuf-tmpfs");
        final String failure = run("mount", "-t", "tmpfs", "-o", "size=" + size + ",mode=0700", "hdmabuf-test",
            dir.toString());
        if (failure != null)
        {
            Files.delete(dir);
            Assumptions.abort("cannot mount a tmpfs: " + failure);
        }
        return new SmallTmpfs(dir);
    }

    public Path dir()
    {
        return dir;
    }

    /** Grows or shrinks the filesystem, keeping its files. */
    public void resize(final String size) throws IOException, InterruptedException
    {
        final String failure = run("mount", "-o", "remount,size=" + size, dir.toString());
        if (failure != null)
        {
            throw new IOException("remount " + dir + " size=" + size + ": " + failure);
        }
    }

    /** Free bytes, as statvfs reports them. */
    public long free() throws IOException
    {
        final FileStore store = Files.getFileStore(dir);
        return store.getUsableSpace();
    }

    @Override
    public void close() throws IOException
    {
        try
        {
            final String failure = run("umount", dir.toString());
            if (failure != null)
            {
                // still in use by a process the test left behind: detach now, the kernel frees it when unused
                run("umount", "-l", dir.toString());
            }
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while unmounting " + dir, e);
        }
        try (Stream<Path> paths = Files.walk(dir))
        {
            for (final Path p : paths.sorted(Comparator.reverseOrder()).toList())
            {
                Files.deleteIfExists(p);
            }
        }
    }

    /** Runs a command; null on success, otherwise its exit status and output. */
    private static String run(final String... command) throws IOException, InterruptedException
    {
        final Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        if (!p.waitFor(30, TimeUnit.SECONDS))
        {
            p.destroyForcibly();
            return String.join(" ", command) + ": timed out";
        }
        final String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        return p.exitValue() == 0 ? null : String.join(" ", command) + ": exit " + p.exitValue() + ": " + output;
    }
}
