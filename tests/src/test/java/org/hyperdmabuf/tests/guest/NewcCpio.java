package org.hyperdmabuf.tests.guest;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Writes a cpio archive in the "newc" format the kernel unpacks as an initramfs: directories and regular files at
 * their absolute paths (without the leading slash), parents first, files added from disk with their modification
 * time (a class-data archive checks its jars' times). The kernel unpacks archives concatenated to one another, so
 * this one can follow a prepared base archive.
 */
final class NewcCpio
{
    private final OutputStream out;
    private final Set<Path> written = new HashSet<>();
    private long offset;
    private int inode = 1_000_000;

    NewcCpio(final OutputStream out)
    {
        this.out = out;
    }

    /** Adds each path (a file or a directory tree) and every directory above it. */
    void addAll(final List<Path> paths) throws IOException
    {
        for (final Path p : paths)
        {
            final Path abs = p.toAbsolutePath().normalize();
            for (int i = 1; i < abs.getNameCount(); i++)
            {
                directory(abs.getRoot().resolve(abs.subpath(0, i)));
            }
            try (Stream<Path> tree = Files.walk(abs))
            {
                for (final Path f : (Iterable<Path>)tree.sorted()::iterator)
                {
                    if (Files.isDirectory(f))
                    {
                        directory(f);
                    }
                    else if (Files.isRegularFile(f) && written.add(f))
                    {
                        entry(f, 0100644, Files.readAllBytes(f), Files.getLastModifiedTime(f).to(TimeUnit.SECONDS));
                    }
                }
            }
        }
    }

    /** Adds a file with this content and mode (e.g. 0100755), and the directories above it. */
    void file(final Path path, final String content, final int mode) throws IOException
    {
        for (int i = 1; i < path.getNameCount(); i++)
        {
            directory(path.getRoot().resolve(path.subpath(0, i)));
        }
        entry(path, mode, content.getBytes(StandardCharsets.UTF_8), 0);
    }

    /** Writes the trailer; the stream stays open. */
    void finish() throws IOException
    {
        header("TRAILER!!!", 0, 0, 1, 0);
        out.flush();
    }

    private void directory(final Path dir) throws IOException
    {
        if (written.add(dir))
        {
            entry(dir, 040755, new byte[0], 0);
        }
    }

    private void entry(final Path path, final int mode, final byte[] data, final long mtime) throws IOException
    {
        header(path.toString().substring(1), mode, data.length, mode == 040755 ? 2 : 1, mtime);
        write(data);
        pad();
    }

    private void header(final String name, final int mode, final int size, final int links, final long mtime)
        throws IOException
    {
        final byte[] n = (name + "\0").getBytes(StandardCharsets.UTF_8);
        final StringBuilder h = new StringBuilder("070701");
        for (final long field : new long[] {inode++, mode, 0, 0, links, mtime, size, 0, 0, 0, 0, n.length, 0})
        {
            h.append(String.format("%08x", field));
        }
        write(h.toString().getBytes(StandardCharsets.US_ASCII));
        write(n);
        pad();
    }

    private void write(final byte[] b) throws IOException
    {
        out.write(b);
        offset += b.length;
    }

    private void pad() throws IOException
    {
        while (offset % 4 != 0)
        {
            out.write(0);
            offset++;
        }
    }
}
