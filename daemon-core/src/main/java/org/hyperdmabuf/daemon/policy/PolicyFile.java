package org.hyperdmabuf.daemon.policy;

import org.tomlj.Toml;
import org.tomlj.TomlArray;
import org.tomlj.TomlParseError;
import org.tomlj.TomlParseResult;
import org.tomlj.TomlPosition;
import org.tomlj.TomlTable;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * One policy file of a set as read: its TOML, its lines (for the positions of array elements) and where its
 * problems go, each as {@code file:line: message}.
 */
final class PolicyFile
{
    private final Path path;
    private final int index;
    private final PolicyProblems problems;
    private List<String> lines = List.of();
    private TomlParseResult toml;

    private PolicyFile(final Path path, final int index, final PolicyProblems problems)
    {
        this.path = path;
        this.index = index;
        this.problems = problems;
    }

    /**
     * Reads and parses {@code path}, the {@code index}-th file of the set. A file that cannot be read is
     * reported and has no TOML; syntax errors are reported and the TOML is kept (see {@link #isValid()}).
     */
    static PolicyFile read(final Path path, final int index, final PolicyProblems problems)
    {
        final PolicyFile file = new PolicyFile(path, index, problems);
        try
        {
            if (Files.isDirectory(path))
            {
                file.error(0, "cannot read: is a directory");
                return file;
            }
            final String text = Files.readString(path);
            file.lines = List.of(text.split("\n", -1));
            file.toml = Toml.parse(text);
        }
        catch (final IOException | RuntimeException e)
        {
            file.error(0, "cannot read: " + TomlText.describe(e));
            return file;
        }
        for (final TomlParseError e : file.toml.errors())
        {
            file.error(line(e.position()), "TOML syntax: " + e.getMessage());
        }
        return file;
    }

    Path path()
    {
        return path;
    }

    /** The parsed TOML, even with syntax errors; null if the file could not be read. */
    TomlParseResult toml()
    {
        return toml;
    }

    /** Read and free of TOML syntax errors: checked in full. */
    boolean isValid()
    {
        return toml != null && toml.errors().isEmpty();
    }

    void error(final int line, final String message)
    {
        problems.add(index, new PolicyError(path, line, message));
    }

    /** {@code file:line}, for "defined twice" messages and a rule's origin. */
    String place(final int line)
    {
        return path + ":" + line;
    }

    /** Reports every key of {@code table} that is not {@code known}, with the known key it most likely means. */
    void unknownKeys(final TomlTable table, final List<String> known, final String where)
    {
        for (final String key : table.keySet())
        {
            if (!known.contains(key))
            {
                final String hint = KeyHints.suggest(key, known);
                error(line(table, key), "unknown key '" + key + "' in " + where + (hint == null ?
                    " (known: " + String.join(", ", known) + ")" : " (did you mean '" + hint + "'?)"));
            }
        }
    }

    /**
     * The line of an array element. tomlj 1.1.1 reports the position just after the preceding comma, so
     * for an element on a later line of a multi-line array it names the line before; skip whitespace,
     * newlines and comments from there to the element itself.
     */
    int elementLine(final TomlArray array, final int element)
    {
        final TomlPosition position = array.inputPositionOf(element);
        if (position == null)
        {
            return 0;
        }
        int line = position.line();
        int column = position.column() - 1;
        while (line >= 1 && line <= lines.size())
        {
            final String text = lines.get(line - 1);
            while (column < text.length() && Character.isWhitespace(text.charAt(column)))
            {
                column++;
            }
            if (column < text.length() && text.charAt(column) != '#')
            {
                return line;
            }
            line++;
            column = 0;
        }
        return position.line();
    }

    static int line(final TomlTable table, final String key)
    {
        return line(table.inputPositionOf(List.of(key)));
    }

    static int line(final TomlPosition position)
    {
        return position == null ? 0 : position.line();
    }
}
