package org.hyperdmabuf.bench;

import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.cli.ClassDataArchive;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The daemons' class-data archive for the bench class path: the launcher's archive fits only the launcher's class
 * path, so the harness makes one for its own the same way (the same training run) before the figures, and the
 * daemons it starts use it as {@code hdmabuf} uses the launcher's. The trivial JVM of the start-up figure runs as
 * before, on the JVM's default archive.
 */
final class DaemonClassData
{
    private DaemonClassData()
    {
    }

    /** Makes the archive in {@code dir}; the JVM options that use it, or none if the training failed. */
    static List<String> jvmOptions(final Path dir, final PrintStream log, final PrintStream echo) throws Exception
    {
        final Path archive = dir.resolve("daemons.jsa");
        final Path classList = dir.resolve("daemons.classlist");
        final Path work = Files.createDirectories(dir.resolve("class-data-training"));
        int status;
        try (ChildProcess p = ChildProcess.java("class-data-training", ClassDataArchive.classListOptions(classList),
            ClassDataArchive.class.getName(), List.of(work.toString()), echo))
        {
            status = p.waitFor(BenchRun.START);
        }
        if (status == 0)
        {
            try (ChildProcess p = ChildProcess.java("class-data-dump", ClassDataArchive.dumpOptions(classList, archive),
                ClassDataArchive.class.getName(), List.of(), echo))
            {
                status = p.waitFor(BenchRun.START);
            }
        }
        if (status != 0 || !Files.isRegularFile(archive))
        {
            log.println("no class-data archive for the daemons (the training failed): they start without one");
            return List.of();
        }
        log.println("the daemons use a class-data archive, as the hdmabuf launcher does");
        return ClassDataArchive.useOptions(archive);
    }
}
