package org.hyperdmabuf.tests.guest;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** What the tests that boot guests share: required tools, and removing their work directory. */
final class GuestTests
{
    private GuestTests()
    {
    }

    /**
     * Skips outside CI when a tool is missing; in CI ({@code CI=true}) a missing tool fails the test.
     * {@code packages} names the Debian packages that provide them (installed by {@code .ci/run}).
     */
    static void requireTools(final String packages, final String... tools)
    {
        for (final String tool : tools)
        {
            final boolean found = Stream.of(System.getenv().getOrDefault("PATH", "").split(":"))
                .anyMatch(dir -> Files.isExecutable(Path.of(dir, tool)));
            if (!found && "true".equals(System.getenv("CI")))
            {
                fail(tool + " is not installed (.ci/run installs " + packages + ")");
            }
            assumeTrue(found, tool + " is not installed: this test needs " + packages);
        }
    }

    /** Deletes a directory tree; nothing when it is null. */
    static void deleteTree(final Path dir) throws IOException
    {
        if (dir == null)
        {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir))
        {
            for (final Path p : (Iterable<Path>)paths.sorted(Comparator.reverseOrder())::iterator)
            {
                Files.deleteIfExists(p);
            }
        }
    }
}
