package org.hyperdmabuf.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The native libraries the launchers name: taken from the jars on the class path, as jffi and netty look them up. */
class NativeLibraryDirTest
{
    @Test
    void bothLibrariesOfThisArchitectureComeOutOfTheirJars(@TempDir final Path dir) throws Exception
    {
        final List<String> expected = NativeLibraryDir.resources(System.getProperty("os.arch")).stream()
            .map(r -> r.substring(r.lastIndexOf('/') + 1)).toList();
        assertEquals(2, expected.size(), "no libraries known for " + System.getProperty("os.arch"));
        assertEquals(expected, NativeLibraryDir.extract(dir.resolve("native")));
        for (final String name : expected)
        {
            final byte[] elf = Files.readAllBytes(dir.resolve("native").resolve(name));
            assertTrue(elf.length > 4 && elf[0] == 0x7f && elf[1] == 'E' && elf[2] == 'L' && elf[3] == 'F',
                name + " is not an ELF file");
        }
        // Again over the first copies: replaced, nothing left beside them.
        assertEquals(expected, NativeLibraryDir.extract(dir.resolve("native")));
        try (var files = Files.list(dir.resolve("native")))
        {
            assertEquals(expected.stream().sorted().toList(),
                files.map(f -> f.getFileName().toString()).sorted().toList());
        }
    }

    @Test
    void anotherArchitectureHasNone()
    {
        assertEquals(List.of(), NativeLibraryDir.resources("s390x"));
    }

    @Test
    void theOptionsNameTheDirectoryForJffiAndNetty()
    {
        assertEquals(List.of("-Djffi.boot.library.path=/x/native", "-Djava.library.path=/x/native"),
            NativeLibraryDir.useOptions(Path.of("/x/native")));
    }
}
