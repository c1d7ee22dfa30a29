package org.hyperdmabuf.bench;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** {@code Harness --readme} (ReadmeResults): only the block between the markers changes, and a file without them is refused. */
class ReadmeUpdateTest
{
    @Test
    void replacesOnlyTheMarkedBlock(@TempDir final Path dir) throws Exception
    {
        final Path readme = dir.resolve("README.md");
        Files.writeString(readme, "# Title\nintro\n" + ReadmeResults.BEGIN + "\nold table\n" + ReadmeResults.END +
            "\nafter\n");
        ReadmeResults.update(readme, "## hyperdmabuf benchmark results\n\n- date: today\n| a | b |\n");
        assertEquals("# Title\nintro\n" + ReadmeResults.BEGIN + "\n- date: today\n| a | b |\n\n" + ReadmeResults.END +
            "\nafter\n", Files.readString(readme));
        ReadmeResults.update(readme, "second\n");
        assertEquals("# Title\nintro\n" + ReadmeResults.BEGIN + "\nsecond\n\n" + ReadmeResults.END + "\nafter\n",
            Files.readString(readme));
    }

    @Test
    void refusesAFileWithoutMarkers(@TempDir final Path dir) throws Exception
    {
        final Path readme = dir.resolve("README.md");
        Files.writeString(readme, "no markers\n");
        assertThrows(IllegalArgumentException.class, () -> ReadmeResults.update(readme, "x"));
        assertEquals("no markers\n", Files.readString(readme));
    }
}
