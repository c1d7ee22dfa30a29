package org.hyperdmabuf.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** {@code --readme}: the report's table, without the per-run values, between two marker lines of a file. */
final class ReadmeResults
{
    static final String BEGIN = "<!-- bench-results:begin (written by Harness --readme) -->";
    static final String END = "<!-- bench-results:end -->";

    private ReadmeResults()
    {
    }

    /** What of the markdown {@code report} goes into the file. */
    static String of(final String report)
    {
        return report.substring(0, report.indexOf(Report.RUNS_HEADING)) +
            "The value of every run is in `bench/target/results.md` after a run.\n";
    }

    /** Replaces what lies between the two marker lines of {@code readme} with {@code text}. */
    static void update(final Path readme, final String text) throws IOException
    {
        final String old = Files.readString(readme, StandardCharsets.UTF_8);
        final int begin = old.indexOf(BEGIN);
        final int end = old.indexOf(END);
        if (begin < 0 || end < begin)
        {
            throw new IllegalArgumentException(readme + " has no " + BEGIN + " ... " + END + " block");
        }
        final String body = text.replaceFirst("^## hyperdmabuf benchmark results\n\n", "");
        Files.writeString(readme, old.substring(0, begin + BEGIN.length()) + "\n" + body + "\n" +
            old.substring(end), StandardCharsets.UTF_8);
    }
}
