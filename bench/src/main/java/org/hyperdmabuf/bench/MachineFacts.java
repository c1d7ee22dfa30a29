package org.hyperdmabuf.bench;

import org.hyperdmabuf.cli.ChildProcess;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;

/** The report's heading: date, machine, kernel, JVM, gcc and the command that made it. */
final class MachineFacts
{
    private MachineFacts()
    {
    }

    static String describe(final String argLine, final boolean quick)
    {
        final String cpuinfo = read("/proc/cpuinfo");
        final String model = cpuinfo.lines().filter(l -> l.startsWith("model name")).findFirst()
            .map(l -> l.substring(l.indexOf(':') + 1).trim()).orElse("unknown");
        final boolean vm = cpuinfo.lines().anyMatch(l -> l.startsWith("flags") && l.contains(" hypervisor"));
        final String mem = read("/proc/meminfo").lines().filter(l -> l.startsWith("MemTotal")).findFirst()
            .map(l -> l.replaceAll("\\s+", " ")).orElse("MemTotal unknown");
        String gcc;
        try
        {
            final ChildProcess p = ChildProcess.command("gcc", List.of("gcc", "-dumpfullversion"), null);
            p.awaitSuccess(Duration.ofSeconds(20));
            gcc = String.join(" ", p.output()).trim();
        }
        catch (final Exception e)
        {
            gcc = "unavailable (" + e.getMessage().lines().findFirst().orElse("") + ")";
        }
        return "## hyperdmabuf benchmark results\n\n" +
            "- date: " + ZonedDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME) + "\n" +
            "- machine: " + Runtime.getRuntime().availableProcessors() + " CPUs (nproc), " + model +
            (vm ? " (virtual machine: hypervisor flag set)" : "") + ", " + mem + "\n" +
            "- kernel " + read("/proc/sys/kernel/osrelease").trim() + ", " + System.getProperty("java.vm.name") + " " +
            System.getProperty("java.runtime.version") + ", gcc " + gcc + " (-O2)\n" +
            "- command: `java -cp \"bench/target/bench.jar:bench/target/lib/*\" " +
            Harness.class.getName() + (argLine.isEmpty() ? "" : " " + argLine) + "`" +
            (quick ? " (quick: CI-sized, fewer samples)" : "") + "\n";
    }

    /** A /proc file's text; empty if it cannot be read. */
    static String read(final String file)
    {
        try
        {
            return Files.readString(Path.of(file), StandardCharsets.UTF_8);
        }
        catch (final IOException e)
        {
            return "";
        }
    }
}
