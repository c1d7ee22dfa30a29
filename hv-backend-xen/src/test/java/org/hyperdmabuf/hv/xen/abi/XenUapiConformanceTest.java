package org.hyperdmabuf.hv.xen.abi;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every ioctl number, struct size and field offset the Java Xen device code uses, against the kernel's uapi
 * headers ({@code /usr/include/xen/{gntalloc,gntdev,evtchn}.h} from linux-libc-dev): compiles
 * {@code src/test/c/xen_uapi_dump.c} with gcc, runs it and compares both ways (a Java constant the C program
 * does not print fails, and so does a printed key with no Java constant). Missing gcc or headers is a failure.
 */
class XenUapiConformanceTest
{
    private static final List<Class<?>> DESCRIPTORS =
        List.of(GntallocDescriptor.class, GntdevDescriptor.class, EvtchnDescriptor.class);

    private static Map<String, Long> printed;

    @BeforeAll
    static void compileAndRun() throws Exception
    {
        final Path basedir = Paths.get(System.getProperty("basedir", System.getProperty("user.dir")));
        final Path source = basedir.resolve("src/test/c/xen_uapi_dump.c");
        assertTrue(Files.isRegularFile(source), "C probe at " + source);
        for (final String header : List.of("gntalloc.h", "gntdev.h", "evtchn.h"))
        {
            assertTrue(Files.isRegularFile(Paths.get("/usr/include/xen", header)),
                "/usr/include/xen/" + header + " is missing: install linux-libc-dev");
        }
        final Path work = basedir.resolve("target/xen-abi");
        Files.createDirectories(work);
        final Path binary = work.resolve("xen_uapi_dump");
        final String cc = run(List.of("gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-o", binary.toString(),
            source.toString()), work);
        assertTrue(Files.isExecutable(binary), "gcc produced no binary: " + cc);
        printed = new TreeMap<>();
        for (final String line : run(List.of(binary.toString()), work).split("\n"))
        {
            final int eq = line.indexOf('=');
            if (eq > 0)
            {
                printed.put(line.substring(0, eq), Long.parseLong(line.substring(eq + 1).trim()));
            }
        }
    }

    @Test
    void everyJavaConstantMatchesTheKernelHeaders() throws Exception
    {
        final List<String> problems = new ArrayList<>();
        final TreeSet<String> javaKeys = new TreeSet<>();
        for (final Class<?> type : DESCRIPTORS)
        {
            for (final Field field : type.getDeclaredFields())
            {
                final int mod = field.getModifiers();
                if (!Modifier.isStatic(mod) || !Modifier.isFinal(mod) || field.getType() != int.class)
                {
                    continue;
                }
                final String key = type.getSimpleName() + "." + field.getName();
                javaKeys.add(key);
                final long javaValue = field.getInt(null) & 0xFFFFFFFFL;
                final Long cValue = printed.get(key);
                if (cValue == null)
                {
                    problems.add(key + " = " + javaValue + " is not checked by the C probe");
                }
                else if (cValue != javaValue)
                {
                    problems.add(key + ": kernel header " + cValue + ", Java " + javaValue);
                }
            }
        }
        for (final String key : printed.keySet())
        {
            if (!javaKeys.contains(key))
            {
                problems.add(key + " printed by the C probe has no Java constant");
            }
        }
        if (!problems.isEmpty())
        {
            fail(String.join("\n", problems));
        }
        assertTrue(javaKeys.size() >= 50, "all descriptors scanned: " + javaKeys.size());
    }

    /** The numbers the reference table gives, so a wrong header on the build machine cannot pass silently. */
    @Test
    void ioctlNumbersAreTheDocumentedOnes()
    {
        assertEquals(0x00184705, GntallocDescriptor.IOCTL_ALLOC_GREF);
        assertEquals(0x00104706, GntallocDescriptor.IOCTL_DEALLOC_GREF);
        assertEquals(0x00184700, GntdevDescriptor.IOCTL_MAP_GRANT_REF);
        assertEquals(0x00104701, GntdevDescriptor.IOCTL_UNMAP_GRANT_REF);
        assertEquals(0x00084501, EvtchnDescriptor.IOCTL_BIND_INTERDOMAIN);
        assertEquals(0x00044502, EvtchnDescriptor.IOCTL_BIND_UNBOUND_PORT);
        assertEquals(0x00044504, EvtchnDescriptor.IOCTL_NOTIFY);
        assertEquals(40, GntallocDescriptor.allocLength(6));
        assertEquals(24, GntallocDescriptor.allocLength(1));
        assertEquals(16 + 8 * 3, GntdevDescriptor.mapLength(3));
    }

    private static String run(final List<String> command, final Path dir) throws Exception
    {
        final Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
            .redirectInput(new File("/dev/null")).start();
        final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0)
        {
            p.destroyForcibly();
            fail(command + " failed:\n" + out);
        }
        return out;
    }
}
