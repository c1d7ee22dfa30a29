package org.hyperdmabuf.hv.acrn;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The backend against {@code <linux/acrn.h>}, compiled with gcc: it uses nothing from the header (the HSM is
 * acrn-dm's), so this checks exactly that: the header exists and compiles as C, and it defines none of the
 * ivshmem facts the backend mirrors from ACRN's sources (were it to, they would have to be checked here). A missing
 * gcc or header is a failure, not a skip (CI installs gcc, which brings linux-libc-dev).
 */
class AcrnUapiHeaderTest
{
    private static final Path BASEDIR = Path.of(System.getProperty("basedir", System.getProperty("user.dir")));

    @Test
    void theHeaderCompilesAndTheHsmIsAcrnDmsIoctlType() throws Exception
    {
        final Path source = BASEDIR.resolve("src/test/c/acrn_uapi_check.c");
        final Path binary = Files.createDirectories(BASEDIR.resolve("target/acrn-uapi")).resolve("acrn_uapi_check");
        run("gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-o", binary.toString(), source.toString());
        final String out = run(binary.toString());
        assertTrue(out.contains("ACRN_IOCTL_TYPE=0xa2\n"), out);
        // _IOW(0xA2, 0x59, struct acrn_vdev): direction write, type 0xa2, nr 0x59
        final long createVdev = Long.decode(out.replaceAll("(?s).*ACRN_IOCTL_CREATE_VDEV=(0x[0-9a-f]+).*", "$1"));
        assertEquals(0xA2, createVdev >> 8 & 0xFF);
        assertEquals(0x59, createVdev & 0xFF);
    }

    @Test
    void theHeaderDefinesNoneOfTheIvshmemFactsTheBackendMirrors() throws Exception
    {
        final String macros = run("gcc", "-std=c11", "-dM", "-E", "-include", "linux/acrn.h", "-x", "c", "/dev/null");
        assertTrue(macros.contains("#define ACRN_IOCTL_TYPE "), "the header was included: " + macros.length());
        final List<String> found = new ArrayList<>();
        for (final String line : macros.split("\n"))
        {
            final String name = line.split(" ").length > 1 ? line.split(" ")[1].toUpperCase(Locale.ROOT) : "";
            if (name.contains("IVSHMEM") || name.contains("SHM_REGION") || name.contains("DOORBELL") ||
                name.contains("REGION_ID"))
            {
                found.add(line);
            }
        }
        assertEquals(List.of(), found, "<linux/acrn.h> now defines ivshmem constants: check " +
            "AcrnRegion's mirrored values against them with a compiled test");
    }

    /** Runs {@code command}; its output, or a failure with it. */
    private static String run(final String... command) throws IOException, InterruptedException
    {
        final Process process;
        try
        {
            process = new ProcessBuilder(command).redirectErrorStream(true).start();
        }
        catch (final IOException e)
        {
            throw new AssertionError(command[0] + " cannot run (" + e.getMessage() + "): install gcc " +
                "(Debian: apt-get install gcc, which brings linux-libc-dev and <linux/acrn.h>)", e);
        }
        process.getOutputStream().close();
        final String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!process.waitFor(60, TimeUnit.SECONDS))
        {
            process.destroyForcibly();
            fail("timed out: " + String.join(" ", command));
        }
        if (process.exitValue() != 0)
        {
            fail(String.join(" ", command) + " exited " + process.exitValue() + ":\n" + out);
        }
        return out;
    }
}
