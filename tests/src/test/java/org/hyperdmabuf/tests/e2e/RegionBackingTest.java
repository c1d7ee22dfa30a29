package org.hyperdmabuf.tests.e2e;

import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.hv.nativeio.SmallTmpfs;
import org.hyperdmabuf.tests.support.SystemTest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * ACRN dm-land daemons in the Service VM on a {@code /dev/shm} too small for their region (a tmpfs of a few MiB
 * mounted for the test; root only, skipped otherwise): refused at start with ENOSPC and the numbers in one line,
 * no stack trace, the region left blank, and formatted by the next daemon once there is room.
 */
@SystemTest
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class RegionBackingTest
{
    private static final Duration EXIT_TIMEOUT = Duration.ofSeconds(60);
    private static final long SIZE = 64L << 20;
    private static final List<String> JVM = List.of("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1");

    private Path dir;
    private final List<ChildProcess> processes = new ArrayList<>();

    @BeforeEach
    void createDir() throws Exception
    {
        dir = E2e.shortTempDir();
    }

    @AfterEach
    void stop() throws Exception
    {
        for (final ChildProcess p : processes)
        {
            p.close();
        }
        E2e.deleteTree(dir);
    }

    private ChildProcess daemon(final String role, final int vm, final Path shmDir) throws Exception
    {
        final ChildProcess p = ChildProcess.start(role + vm, JVM, List.of(role, "--backend", "acrn-ivshmem",
            "-O", "mode=service-vm", "-O", "region=dm:/ring0", "-O", "size-mb=" + (SIZE >> 20), "-O", "vm-id=" + vm,
            "-O", "shm-dir=" + shmDir, "--socket", dir.resolve(role + vm + ".sock").toString(),
            "--policy", dir.resolve("no-policy.toml").toString(), "--policy-dir", dir.resolve("no.d").toString()),
            System.out);
        processes.add(p);
        return p;
    }

    /** Waits for the daemon to fail at start; returns its one error line, after checking the rest. */
    private static String assertRefused(final ChildProcess p) throws Exception
    {
        final int exit = p.waitFor(EXIT_TIMEOUT);
        final String output = String.join("\n", p.output());
        assertTrue(exit > 0, "exit status " + exit + " (-1: still running); output:\n" + output);
        assertFalse(output.contains("\tat ") || output.contains("Exception in thread"), "no stack trace:\n" + output);
        assertTrue(p.linesStartingWith("READY").isEmpty(), output);
        final List<String> errors = p.linesStartingWith("hdmabuf ");
        assertEquals(1, errors.size(), "one error line:\n" + output);
        return errors.get(0);
    }

    private static int formatState(final Path region) throws Exception
    {
        try (RandomAccessFile f = new RandomAccessFile(region.toFile(), "r"))
        {
            f.seek(36);
            return Integer.reverseBytes(f.readInt());
        }
    }

    @Test
    void aRegionBiggerThanItsFilesystemIsRefusedAtStartWithEnospcAndTheNumbers() throws Exception
    {
        try (SmallTmpfs tmpfs = SmallTmpfs.mount("16m"))
        {
            final long free = tmpfs.free();
            final String error = assertRefused(daemon("sink", 0, tmpfs.dir()));
            final Path region = tmpfs.dir().resolve("ring0");
            for (final String part : List.of("ENOSPC", Long.toString(SIZE), Long.toString(free), region.toString()))
            {
                assertTrue(error.contains(part), part + " in: " + error);
            }
            assertFalse(Files.exists(region), "no region file left that nobody can back");
        }
    }

    /**
     * acrn-dm made the shm object sparse (shm_open, ftruncate) on a 2 MiB tmpfs, where the formatting daemon used
     * to die of SIGBUS half-way and leave format_state 1 for good.
     */
    @Test
    void aRegionItsFilesystemCannotBackIsLeftBlankAndTheNextDaemonFormatsIt() throws Exception
    {
        try (SmallTmpfs tmpfs = SmallTmpfs.mount("2m"))
        {
            final Path region = tmpfs.dir().resolve("ring0");
            try (RandomAccessFile f = new RandomAccessFile(region.toFile(), "rw"))
            {
                f.setLength(SIZE);
            }
            final String error = assertRefused(daemon("sink", 0, tmpfs.dir()));
            assertTrue(error.contains("ENOSPC") && error.contains(region.toString()), error);
            assertTrue(Files.exists(region), "acrn-dm's file stays");
            assertEquals(0, formatState(region), "blank: formattable");

            tmpfs.resize("128m");
            final ChildProcess sink = daemon("sink", 0, tmpfs.dir());
            sink.awaitLine("READY", EXIT_TIMEOUT);
            assertEquals(2, formatState(region), "formatted by the next daemon");
            final ChildProcess source = daemon("source", 1, tmpfs.dir());
            source.awaitLine("READY", EXIT_TIMEOUT);
            sink.close();
            source.close();
        }
    }
}
