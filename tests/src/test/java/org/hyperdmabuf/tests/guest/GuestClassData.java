package org.hyperdmabuf.tests.guest;

import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.cli.ClassDataArchive;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Class-data archives (AppCDS) for the JVMs the guest tests start under QEMU TCG, where parsing and verifying the
 * classes a command loads is most of a JVM's start-up. One archive per JVM build (this JVM, or the jlink'ed one of
 * the Xen domU), made once per test run in {@code target/guest-class-data}: the classes a training run of
 * {@link ClassDataArchive} loads (an ivshmem server and a daemon up to READY), and every class of our own jars,
 * which also covers the client commands and the Xen backend that training does not run.
 * <p>
 * An archive fits one class path of unchanged jars, so the guests run {@link #classPath()}: this JVM's jars, then
 * its directories (a non-empty directory cannot be part of an archived class path; entries after the archived ones
 * are allowed). The guests see the jars at the same paths with the same size and modification time (the host's root
 * over 9p, or an initramfs that keeps both). A JVM given an archive that does not fit starts without one, as the
 * launchers do; so does one whose archive could not be made (said on the console once).
 */
final class GuestClassData
{
    private static final Duration STEP_TIMEOUT = Duration.ofMinutes(3);
    private static final Map<Path, Path> ARCHIVES = new HashMap<>();

    private GuestClassData()
    {
    }

    /** This JVM's class path reordered for archiving: the jars (the archived part), then the directories. */
    static String classPath()
    {
        return String.join(":", jars()) + dirSuffix();
    }

    /**
     * The archive of {@code java} (a path) for {@link #classPath()}, made now if this run has none yet; it may be
     * missing if making it failed.
     */
    static synchronized Path archive(final Path java) throws InterruptedException
    {
        Path archive = ARCHIVES.get(java);
        if (archive == null)
        {
            archive = make(java);
            ARCHIVES.put(java, archive);
        }
        return archive;
    }

    /** The JVM options that run {@code java} with its {@link #archive}. */
    static List<String> options(final Path java) throws InterruptedException
    {
        return ClassDataArchive.useOptions(archive(java));
    }

    /** {@link #options} of this JVM, as one string for a shell command line. */
    static String thisJvmOptions() throws InterruptedException
    {
        return String.join(" ", options(thisJava()));
    }

    /** The path of this JVM's {@code java}. */
    static Path thisJava()
    {
        return Path.of(ProcessHandle.current().info().command().orElseThrow());
    }

    private static Path make(final Path java) throws InterruptedException
    {
        final Path dir = GuestTests.basedir().resolve("target/guest-class-data")
            .resolve(Integer.toHexString(java.toString().hashCode()));
        final Path archive = dir.resolve("guests.jsa");
        final String cp = String.join(":", jars());
        try
        {
            if (Files.exists(dir))
            {
                GuestTests.deleteTree(dir);
            }
            Files.createDirectories(dir);
            final Path classes = dir.resolve("classes.txt");
            final List<String> training = new ArrayList<>(List.of(java.toString()));
            training.addAll(ClassDataArchive.classListOptions(classes));
            training.addAll(List.of("-cp", cp, ClassDataArchive.class.getName(), dir.resolve("training").toString()));
            run("class-data-training", training);
            Files.write(classes, ownClasses(), StandardOpenOption.APPEND);
            final List<String> dump = new ArrayList<>(List.of(java.toString()));
            dump.addAll(ClassDataArchive.dumpOptions(classes, archive));
            dump.addAll(List.of("-cp", cp));
            run("class-data-dump", dump);
        }
        catch (final IOException | IllegalStateException e)
        {
            System.out.println("guest tests: no class-data archive for " + java + " (its JVMs start without one): " +
                e);
        }
        return archive;
    }

    private static void run(final String name, final List<String> command) throws IOException, InterruptedException
    {
        try (ChildProcess p = ChildProcess.command(name, command, null))
        {
            p.awaitSuccess(STEP_TIMEOUT);
        }
    }

    /** Every class in our own jars on the class path, as class-list lines. */
    private static List<String> ownClasses() throws IOException
    {
        final Set<String> names = new LinkedHashSet<>();
        for (final String jar : jars())
        {
            try (JarFile j = new JarFile(jar))
            {
                for (final JarEntry e : (Iterable<JarEntry>)j.stream()::iterator)
                {
                    final String n = e.getName();
                    // module-info and package-info are no classes to load
                    if (n.startsWith("org/hyperdmabuf/") && n.endsWith(".class") && !n.contains("-info"))
                    {
                        names.add(n.substring(0, n.length() - ".class".length()));
                    }
                }
            }
        }
        return List.copyOf(names);
    }

    private static List<String> jars()
    {
        return entries().filter(e -> e.endsWith(".jar") && Files.isRegularFile(Path.of(e))).toList();
    }

    private static String dirSuffix()
    {
        final String dirs = entries().filter(e -> !e.endsWith(".jar")).collect(Collectors.joining(":"));
        return dirs.isEmpty() ? "" : ":" + dirs;
    }

    private static Stream<String> entries()
    {
        return Stream.of(System.getProperty("java.class.path").split(":")).filter(e -> !e.isEmpty());
    }
}
