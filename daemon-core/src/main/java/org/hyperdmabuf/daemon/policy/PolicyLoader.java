package org.hyperdmabuf.daemon.policy;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * Reads policy files (abi-spec/POLICY.md) into a {@link Policy}. All files of a set are merged into one policy;
 * every problem in any of them is collected (not only the first) and reported as {@code file:line: message}.
 * A file that cannot be read, or that is not valid TOML, is reported as such; of a file with TOML syntax errors
 * only its {@code [vms]} table is used further (so that other files' references to its VMs do not cascade
 * into more errors), the rest of it is not checked.
 * <p>
 * Stateless and thread-safe: every call reads the files again.
 */
public final class PolicyLoader
{
    /** Where a daemon looks by default. */
    public static final Path DEFAULT_FILE = Path.of("/etc/hyperdmabuf/policy.toml");
    public static final Path DEFAULT_DROP_IN_DIR = Path.of("/etc/hyperdmabuf/policy.d");

    public static final int MIN_VM_ID = 0;
    public static final int MAX_VM_ID = 65535;
    /** {@code [limits] max_metadata} must be in [MIN_METADATA_BYTES, Limits.MAX_METADATA_BYTES]. */
    public static final int MIN_METADATA_BYTES = 256;
    /** A content glob may be at most as long as a subscription glob (ABI.md, SUBSCRIBE). */
    public static final int MAX_GLOB_CHARS = 256;

    private PolicyLoader()
    {
    }

    /**
     * Loads and merges {@code files}, in this order. An empty list gives an empty (not permissive) policy:
     * nothing may be shared.
     *
     * @throws PolicyException with every error found in any of the files
     */
    public static Policy load(final List<Path> files) throws PolicyException
    {
        return new PolicyLoad(files).run();
    }

    /**
     * The files a daemon reads: {@code mainFile} if it exists, then the {@code *.toml} files of
     * {@code dropInDir} (not those whose name starts with a dot) sorted by file name. Either argument may be
     * null (not used).
     *
     * @throws UncheckedIOException if {@code dropInDir} exists but cannot be listed (for example, it is not
     *                              a directory): silently skipping it could loosen the policy
     */
    public static List<Path> defaultFiles(final Path mainFile, final Path dropInDir)
    {
        final List<Path> files = new ArrayList<>();
        if (mainFile != null && Files.exists(mainFile))
        {
            files.add(mainFile);
        }
        if (dropInDir != null && Files.exists(dropInDir))
        {
            try (Stream<Path> list = Files.list(dropInDir))
            {
                list.filter(p ->
                    {
                        final String name = p.getFileName().toString();
                        return name.endsWith(".toml") && !name.startsWith(".");
                    })
                    .sorted(Comparator.comparing(p -> p.getFileName().toString()))
                    .forEach(files::add);
            }
            catch (final IOException e)
            {
                throw new UncheckedIOException("cannot list policy drop-in directory " + dropInDir + ": " + e, e);
            }
        }
        return files;
    }

    /**
     * Loads {@link #defaultFiles}; {@link Policy#permissive()} if there is no file at all.
     *
     * @throws PolicyException with every error found, or if {@code dropInDir} cannot be listed
     */
    public static Policy loadDefault(final Path mainFile, final Path dropInDir) throws PolicyException
    {
        final List<Path> files;
        try
        {
            files = defaultFiles(mainFile, dropInDir);
        }
        catch (final UncheckedIOException e)
        {
            throw new PolicyException(List.of(new PolicyError(dropInDir, 0, "cannot list directory: " +
                TomlText.describe(e.getCause()))));
        }
        return files.isEmpty() ? Policy.permissive() : load(files);
    }

    /**
     * For a reload: like {@link #loadDefault}, except that a daemon running with a policy does not fall back
     * to the permissive default because every policy file disappeared (a botched package update, a wrong
     * rename). That is an error, so the last good policy stays; restart the daemon to run without a policy.
     *
     * @param current the policy in force
     */
    public static Policy reload(final Path mainFile, final Path dropInDir, final Policy current) throws PolicyException
    {
        final Policy next = loadDefault(mainFile, dropInDir);
        if (next.isPermissive() && !current.isPermissive())
        {
            throw new PolicyException(List.of(new PolicyError(mainFile != null ? mainFile : dropInDir, 0,
                "no policy file any more (nor *.toml in " + dropInDir + "); keeping the last good policy: " +
                "restart the daemon to run without a policy")));
        }
        return next;
    }
}
