package org.hyperdmabuf.bench;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** {@code Harness --readme}: only the block between the markers changes, and a file without them is refused. */
class ReadmeUpdateTest
{
    @Test
    void replacesOnlyTheMarkedBlock(@TempDir final Path dir) throws Exception
    {
        final Path readme = dir.resolve("README.md");
        Files.writeString(readme, "# Title\nintro\n" + Harness.README_BEGIN + "\nold table\n" + Harness.README_END +
            "\nafter\n");
        Harness.updateReadme(readme, "## hyperdmabuf benchmark results\n\n- date: today\n| a | b |\n");
        assertEquals("# Title\nintro\n" + Harness.README_BEGIN + "\n- date: today\n| a | b |\n\n" + Harness.README_END +
            "\nafter\n", Files.readString(readme));
        Harness.updateReadme(readme, "second\n");
        assertEquals("# Title\nintro\n" + Harness.README_BEGIN + "\nsecond\n\n" + Harness.README_END + "\nafter\n",
            Files.readString(readme));
    }

    @Test
    void refusesAFileWithoutMarkers(@TempDir final Path dir) throws Exception
    {
        final Path readme = dir.resolve("README.md");
        Files.writeString(readme, "no markers\n");
        assertThrows(IllegalArgumentException.class, () -> Harness.updateReadme(readme, "x"));
        assertEquals("no markers\n", Files.readString(readme));
    }
}
