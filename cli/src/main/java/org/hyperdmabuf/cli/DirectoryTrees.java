package org.hyperdmabuf.cli;

import edu.umd.cs.findbugs.annotations.SuppressFBWarnings;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/** Clean-up of the temporary directories the demo and the benchmark harness run their daemons in. */
public final class DirectoryTrees
{
    private DirectoryTrees()
    {
    }

    /** Deletes {@code dir} and everything under it, as far as it can: what cannot be deleted stays. */
    @SuppressFBWarnings(value = "RV_RETURN_VALUE_IGNORED_BAD_PRACTICE",
        justification = "best effort: a file that cannot be deleted stays, and the rest is still deleted")
    public static void delete(final Path dir)
    {
        if (dir == null || !Files.exists(dir))
        {
            return;
        }
        final List<Path> deepestFirst;
        try (Stream<Path> files = Files.walk(dir))
        {
            deepestFirst = files.sorted(Comparator.reverseOrder()).toList();
        }
        catch (final IOException e)
        {
            return; // best effort
        }
        for (final Path p : deepestFirst)
        {
            p.toFile().delete();
        }
    }
}
