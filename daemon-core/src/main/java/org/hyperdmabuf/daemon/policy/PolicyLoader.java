package org.hyperdmabuf.daemon.policy;

import org.hyperdmabuf.daemon.IoErrors;
import org.hyperdmabuf.abi.Limits;
import org.tomlj.Toml;
import org.tomlj.TomlArray;
import org.tomlj.TomlParseError;
import org.tomlj.TomlParseResult;
import org.tomlj.TomlPosition;
import org.tomlj.TomlTable;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.temporal.Temporal;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
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

    private static final List<String> TOP_LEVEL = List.of("vms", "share", "quota", "limits", "access");
    private static final List<String> SHARE_KEYS = List.of("from", "to", "content", "read_only");
    private static final List<String> QUOTA_TABLES = List.of("vm", "uid", "default_client");
    private static final List<String> QUOTA_KEYS = List.of("bytes", "buffers");
    private static final List<String> LIMITS_KEYS = List.of("max_metadata");
    private static final List<String> ACCESS_KEYS = List.of("uids", "gids");

    private static final Pattern VM_NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_-]{0,63}");
    private static final Pattern DIGITS = Pattern.compile("[0-9]+");
    private static final Pattern SIZE = Pattern.compile("([0-9]+)([KMGT]?)", Pattern.CASE_INSENSITIVE);

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
        return new Load(files).run();
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
                describe(e.getCause()))));
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

    // ---- one load ----

    /** A definition and where it is, for "defined twice" messages. */
    private record Place(Path file, int line)
    {
        @Override
        public String toString()
        {
            return file + ":" + line;
        }
    }

    private record Def<T>(T value, Place place)
    {
    }

    /** An error with the position of its file in the set, for sorting. */
    private record Found(int fileIndex, PolicyError error)
    {
    }

    private static final class Load
    {
        private final List<Path> files;
        private final List<Found> errors = new ArrayList<>();
        private final Map<String, Def<Integer>> vmByName = new LinkedHashMap<>();
        private final Map<Integer, Def<String>> vmById = new HashMap<>();
        private final List<ShareRule> shares = new ArrayList<>();
        private final Map<Integer, Def<Quota>> vmQuotas = new HashMap<>();
        private final Map<Integer, Def<Quota>> uidQuotas = new HashMap<>();
        private Def<Quota> defaultClient;
        private Def<Integer> maxMetadata;
        private final Set<Integer> uids = new LinkedHashSet<>();
        private final Set<Integer> gids = new LinkedHashSet<>();

        private int fileIndex;
        private Path file;
        /** The current file's lines, for the positions of array elements (see {@link #elementLine}). */
        private List<String> lines = List.of();

        Load(final List<Path> files)
        {
            this.files = List.copyOf(files);
        }

        Policy run() throws PolicyException
        {
            final List<TomlParseResult> parsed = new ArrayList<>();
            final List<List<String>> texts = new ArrayList<>();
            // Pass 1: syntax, and the VM names of every file, so that any file may use them.
            for (int i = 0; i < files.size(); i++)
            {
                at(i);
                final TomlParseResult result = parse();
                if (result != null)
                {
                    vms(result);
                }
                parsed.add(result == null || !result.errors().isEmpty() ? null : result);
                texts.add(lines);
            }
            // Pass 2: everything else, in the syntactically valid files.
            for (int i = 0; i < files.size(); i++)
            {
                if (parsed.get(i) != null)
                {
                    at(i);
                    lines = texts.get(i);
                    rest(parsed.get(i));
                }
            }
            if (!errors.isEmpty())
            {
                errors.sort(Comparator.comparingInt((Found f) -> f.fileIndex).thenComparingInt(f -> f.error.line()));
                throw new PolicyException(errors.stream().map(Found::error).toList());
            }
            final Map<String, Integer> names = new LinkedHashMap<>();
            vmByName.forEach((name, def) -> names.put(name, def.value()));
            final Map<Integer, Quota> vq = new HashMap<>();
            vmQuotas.forEach((vm, def) -> vq.put(vm, def.value()));
            final Map<Integer, Quota> uq = new HashMap<>();
            uidQuotas.forEach((uid, def) -> uq.put(uid, def.value()));
            return new Policy(names, shares, vq, uq, defaultClient == null ? Quota.UNLIMITED : defaultClient.value(),
                maxMetadata == null ? Limits.MAX_METADATA_BYTES : maxMetadata.value(), uids, gids, files);
        }

        private void at(final int index)
        {
            fileIndex = index;
            file = files.get(index);
            lines = List.of();
        }

        /**
         * The line of an array element. tomlj 1.1.1 reports the position just after the preceding comma, so
         * for an element on a later line of a multi-line array it names the line before; skip whitespace,
         * newlines and comments from there to the element itself.
         */
        private int elementLine(final TomlArray array, final int index)
        {
            final TomlPosition position = array.inputPositionOf(index);
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

        private void error(final int line, final String message)
        {
            errors.add(new Found(fileIndex, new PolicyError(file, line, message)));
        }

        private Place here(final int line)
        {
            return new Place(file, line);
        }

        private TomlParseResult parse()
        {
            final TomlParseResult result;
            try
            {
                if (Files.isDirectory(file))
                {
                    error(0, "cannot read: is a directory");
                    return null;
                }
                final String text = Files.readString(file);
                lines = List.of(text.split("\n", -1));
                result = Toml.parse(text);
            }
            catch (final IOException | RuntimeException e)
            {
                error(0, "cannot read: " + describe(e));
                return null;
            }
            for (final TomlParseError e : result.errors())
            {
                error(line(e.position()), "TOML syntax: " + e.getMessage());
            }
            return result;
        }

        // ---- [vms] ----

        private void vms(final TomlParseResult root)
        {
            final Object value = root.get(List.of("vms"));
            if (value == null)
            {
                return;
            }
            if (!(value instanceof TomlTable vms))
            {
                error(line(root, "vms"), "vms must be a table ([vms]), not " + typeOf(value));
                return;
            }
            for (final String name : vms.keySet())
            {
                final int line = line(vms, name);
                final Object id = vms.get(List.of(name));
                if (!VM_NAME.matcher(name).matches())
                {
                    error(line, "VM name '" + name + "' is not valid (a letter or '_', then letters, digits, " +
                        "'_' or '-'; at most 64 characters)");
                    continue;
                }
                if (!(id instanceof Long l))
                {
                    error(line, "VM id of '" + name + "' must be an integer, not " + typeOf(id));
                    continue;
                }
                if (l < MIN_VM_ID || l > MAX_VM_ID)
                {
                    error(line, "VM id " + l + " of '" + name + "' out of range [" + MIN_VM_ID + ", " + MAX_VM_ID +
                        "]");
                    continue;
                }
                final int vm = l.intValue();
                final Def<Integer> byName = vmByName.get(name);
                final Def<String> byId = vmById.get(vm);
                if (byName != null && byName.value() != vm)
                {
                    error(line, "duplicate VM name '" + name + "': " + vm + " here, " + byName.value() + " at " +
                        byName.place());
                    continue;
                }
                if (byId != null && !byId.value().equals(name))
                {
                    error(line, "duplicate VM id " + vm + ": named '" + name + "' here, '" + byId.value() + "' at " +
                        byId.place());
                    continue;
                }
                if (byName == null)
                {
                    vmByName.put(name, new Def<>(vm, here(line)));
                    vmById.put(vm, new Def<>(name, here(line)));
                }
            }
        }

        // ---- everything else ----

        private void rest(final TomlParseResult root)
        {
            for (final String key : root.keySet())
            {
                final Object value = root.get(List.of(key));
                final int line = line(root, key);
                switch (key)
                {
                    case "vms" ->
                    {
                        // pass 1
                    }
                    case "share" -> shares(value, line);
                    case "quota" -> quota(value, line);
                    case "limits" -> limits(value, line);
                    case "access" -> access(value, line);
                    default -> unknownTopLevel(key, value, line);
                }
            }
        }

        private void unknownTopLevel(final String key, final Object value, final int line)
        {
            final String hint = suggest(key, TOP_LEVEL);
            final String known = hint == null ? " (known: [vms], [[share]], [quota], [limits], [access])" :
                " (did you mean " + header(hint) + "?)";
            if (value instanceof TomlTable)
            {
                error(line, "unknown table [" + key + "]" + known);
            }
            else if (value instanceof TomlArray a && a.size() > 0 && a.get(0) instanceof TomlTable)
            {
                error(line, "unknown table [[" + key + "]]" + known);
            }
            else
            {
                error(line, "unknown key '" + key + "' (keys belong in a table: [vms], [[share]], [quota], " +
                    "[limits], [access])");
            }
        }

        private static String header(final String table)
        {
            return "share".equals(table) ? "[[share]]" : "[" + table + "]";
        }

        private void unknownKeys(final TomlTable table, final List<String> known, final String where)
        {
            for (final String key : table.keySet())
            {
                if (!known.contains(key))
                {
                    final String hint = suggest(key, known);
                    error(line(table, key), "unknown key '" + key + "' in " + where + (hint == null ?
                        " (known: " + String.join(", ", known) + ")" : " (did you mean '" + hint + "'?)"));
                }
            }
        }

        // ---- [[share]] ----

        private void shares(final Object value, final int line)
        {
            if (value instanceof TomlTable)
            {
                error(line, "share must be an array of tables: write [[share]], not [share]");
                return;
            }
            if (!(value instanceof TomlArray rules))
            {
                error(line, "share must be an array of tables ([[share]]), not " + typeOf(value));
                return;
            }
            for (int i = 0; i < rules.size(); i++)
            {
                final int ruleLine = elementLine(rules, i);
                if (rules.get(i) instanceof TomlTable rule)
                {
                    share(rule, ruleLine);
                }
                else
                {
                    error(ruleLine, "share entries must be tables ([[share]]), not " + typeOf(rules.get(i)));
                }
            }
        }

        private void share(final TomlTable rule, final int ruleLine)
        {
            unknownKeys(rule, SHARE_KEYS, "[[share]]");
            boolean ok = true;

            Integer from = null;
            final Object fromValue = rule.get(List.of("from"));
            if (fromValue == null)
            {
                error(ruleLine, "[[share]] without from (the exporting VM)");
                ok = false;
            }
            else if ("*".equals(fromValue))
            {
                error(line(rule, "from"), "from must name one VM, not \"*\"");
                ok = false;
            }
            else if (fromValue instanceof TomlArray)
            {
                error(line(rule, "from"), "from must be one VM name or id, not an array (write one rule per " +
                    "exporting VM)");
                ok = false;
            }
            else
            {
                from = vmRef(fromValue, line(rule, "from"), "from");
                ok &= from != null;
            }

            final Set<Integer> to = new LinkedHashSet<>();
            final Object toValue = rule.get(List.of("to"));
            final int toLine = line(rule, "to");
            if (toValue == null)
            {
                error(ruleLine, "[[share]] without to (the importing VMs, or \"*\" for any VM)");
                ok = false;
            }
            else if ("*".equals(toValue))
            {
                // any VM: the empty set
            }
            else if (toValue instanceof TomlArray list)
            {
                if (list.isEmpty())
                {
                    error(toLine, "to is empty (list the importing VMs, or write to = \"*\" for any VM)");
                    ok = false;
                }
                for (int i = 0; i < list.size(); i++)
                {
                    final Object item = list.get(i);
                    final int itemLine = elementLine(list, i);
                    if ("*".equals(item))
                    {
                        error(itemLine, "\"*\" must be the whole value of to (to = \"*\"), not a list entry");
                        ok = false;
                        continue;
                    }
                    final Integer vm = vmRef(item, itemLine, "to");
                    if (vm == null)
                    {
                        ok = false;
                    }
                    else
                    {
                        to.add(vm);
                    }
                }
            }
            else
            {
                final Integer vm = vmRef(toValue, toLine, "to");
                if (vm == null)
                {
                    ok = false;
                }
                else
                {
                    to.add(vm);
                }
            }
            if (from != null && to.contains(from))
            {
                error(toLine, "a VM cannot share with itself: " + label(from) + " is both from and to");
                ok = false;
            }

            final List<String> content = new ArrayList<>();
            final Object contentValue = rule.get(List.of("content"));
            final int contentLine = line(rule, "content");
            if (contentValue == null)
            {
                content.add("*");
            }
            else if (contentValue instanceof String glob)
            {
                ok &= glob(glob, contentLine);
                content.add(glob);
            }
            else if (contentValue instanceof TomlArray list)
            {
                if (list.isEmpty())
                {
                    error(contentLine, "content is empty (omit it to allow every content type)");
                    ok = false;
                }
                for (int i = 0; i < list.size(); i++)
                {
                    final int itemLine = elementLine(list, i);
                    if (list.get(i) instanceof String glob)
                    {
                        ok &= glob(glob, itemLine);
                        content.add(glob);
                    }
                    else
                    {
                        error(itemLine, "content entries must be strings (globs), not " + typeOf(list.get(i)));
                        ok = false;
                    }
                }
            }
            else
            {
                error(contentLine, "content must be a glob or an array of globs, not " + typeOf(contentValue));
                ok = false;
            }

            boolean readOnly = false;
            final Object roValue = rule.get(List.of("read_only"));
            if (roValue instanceof Boolean b)
            {
                readOnly = b;
            }
            else if (roValue != null)
            {
                error(line(rule, "read_only"), "read_only must be true or false, not " + typeOf(roValue));
                ok = false;
            }

            if (ok)
            {
                shares.add(new ShareRule(from, to, content, readOnly, file + ":" + ruleLine));
            }
        }

        private boolean glob(final String glob, final int line)
        {
            if (glob.isEmpty())
            {
                error(line, "content glob is empty (\"*\" matches every content type)");
                return false;
            }
            if (glob.length() > MAX_GLOB_CHARS)
            {
                error(line, "content glob longer than " + MAX_GLOB_CHARS + " characters");
                return false;
            }
            return true;
        }

        /** A VM given by name (known in some [vms]) or id; null (error reported) if it is not one. */
        private Integer vmRef(final Object value, final int line, final String key)
        {
            if (value instanceof Long l)
            {
                return vmId(l, line);
            }
            if (value instanceof String name)
            {
                final Def<Integer> def = vmByName.get(name);
                if (def != null)
                {
                    return def.value();
                }
                if (DIGITS.matcher(name).matches())
                {
                    error(line, "unknown VM '" + name + "' (write a VM id as an integer, without quotes)");
                }
                else
                {
                    error(line, "unknown VM '" + name + "' (not defined in any [vms])");
                }
                return null;
            }
            error(line, key + " must be a VM name or id, not " + typeOf(value));
            return null;
        }

        private Integer vmId(final long id, final int line)
        {
            if (id < MIN_VM_ID || id > MAX_VM_ID)
            {
                error(line, "VM id " + id + " out of range [" + MIN_VM_ID + ", " + MAX_VM_ID + "]");
                return null;
            }
            return (int) id;
        }

        private String label(final int vm)
        {
            final Def<String> def = vmById.get(vm);
            return def == null ? "VM " + vm : def.value() + " (" + vm + ")";
        }

        // ---- [quota] ----

        private void quota(final Object value, final int line)
        {
            if (!(value instanceof TomlTable quota))
            {
                error(line, "quota must be a table ([quota.vm.NAME], [quota.uid.UID], [quota.default_client]), " +
                    "not " + typeOf(value));
                return;
            }
            for (final String key : quota.keySet())
            {
                final Object sub = quota.get(List.of(key));
                final int subLine = line(quota, key);
                switch (key)
                {
                    case "vm" -> quotaMap(sub, subLine, "vm");
                    case "uid" -> quotaMap(sub, subLine, "uid");
                    case "default_client" ->
                    {
                        final Quota q = quotaTable(sub, subLine, "[quota.default_client]");
                        if (q != null)
                        {
                            if (defaultClient != null && !defaultClient.value().equals(q))
                            {
                                error(subLine, "[quota.default_client] defined twice differently: here and at " +
                                    defaultClient.place());
                            }
                            else if (defaultClient == null)
                            {
                                defaultClient = new Def<>(q, here(subLine));
                            }
                        }
                    }
                    default ->
                    {
                        final String hint = suggest(key, QUOTA_TABLES);
                        error(subLine, "unknown table [quota." + key + "]" + (hint == null ?
                            " (known: [quota.vm.NAME], [quota.uid.UID], [quota.default_client])" :
                            " (did you mean [quota." + hint + "]?)"));
                    }
                }
            }
        }

        private void quotaMap(final Object value, final int line, final String kind)
        {
            final String header = "vm".equals(kind) ? "[quota.vm.NAME]" : "[quota.uid.UID]";
            if (!(value instanceof TomlTable map))
            {
                error(line, "quota." + kind + " must be a table of tables (" + header + "), not " + typeOf(value));
                return;
            }
            for (final String key : map.keySet())
            {
                final int keyLine = line(map, key);
                final String where = "[quota." + kind + "." + key + "]";
                final Integer id = "vm".equals(kind) ? quotaVm(key, keyLine, where) : quotaUid(key, keyLine, where);
                final Quota q = quotaTable(map.get(List.of(key)), keyLine, where);
                if (id == null || q == null)
                {
                    continue;
                }
                final Map<Integer, Def<Quota>> target = "vm".equals(kind) ? vmQuotas : uidQuotas;
                final Def<Quota> previous = target.get(id);
                if (previous != null && !previous.value().equals(q))
                {
                    error(keyLine, "quota for " + ("vm".equals(kind) ? label(id) : "uid " + id) +
                        " defined twice differently: " + where + " here and at " + previous.place());
                }
                else if (previous == null)
                {
                    target.put(id, new Def<>(q, here(keyLine)));
                }
            }
        }

        private Integer quotaVm(final String key, final int line, final String where)
        {
            if (DIGITS.matcher(key).matches())
            {
                if (key.length() > 6 || Long.parseLong(key) > MAX_VM_ID)
                {
                    error(line, where + ": VM id " + key + " out of range [" + MIN_VM_ID + ", " + MAX_VM_ID + "]");
                    return null;
                }
                return Integer.parseInt(key);
            }
            final Def<Integer> def = vmByName.get(key);
            if (def == null)
            {
                error(line, where + ": unknown VM '" + key + "' (not defined in any [vms])");
                return null;
            }
            return def.value();
        }

        private Integer quotaUid(final String key, final int line, final String where)
        {
            if (!DIGITS.matcher(key).matches())
            {
                error(line, where + ": a uid must be a number, not '" + key + "'");
                return null;
            }
            if (key.length() > 10 || Long.parseLong(key) > Integer.MAX_VALUE)
            {
                error(line, where + ": uid " + key + " out of range [0, " + Integer.MAX_VALUE + "]");
                return null;
            }
            return Integer.parseInt(key);
        }

        /** A quota table ({@code bytes}, {@code buffers}); null (error reported) if it is not valid. */
        private Quota quotaTable(final Object value, final int line, final String where)
        {
            if (!(value instanceof TomlTable table))
            {
                error(line, where + " must be a table with bytes and/or buffers, not " + typeOf(value));
                return null;
            }
            unknownKeys(table, QUOTA_KEYS, where);
            boolean ok = true;
            long bytes = Long.MAX_VALUE;
            long buffers = Long.MAX_VALUE;
            final Object b = table.get(List.of("bytes"));
            if (b != null)
            {
                final Long parsed = size(b, line(table, "bytes"), where);
                ok &= parsed != null;
                bytes = parsed == null ? 0 : parsed;
            }
            final Object n = table.get(List.of("buffers"));
            if (n instanceof Long l && l >= 0)
            {
                buffers = l;
            }
            else if (n != null)
            {
                error(line(table, "buffers"), "buffers in " + where + " must be a non-negative integer, not " +
                    (n instanceof Long ? n.toString() : typeOf(n)));
                ok = false;
            }
            if (b == null && n == null && table.keySet().isEmpty())
            {
                error(line, where + " sets neither bytes nor buffers");
                ok = false;
            }
            return ok ? new Quota(bytes, buffers) : null;
        }

        private Long size(final Object value, final int line, final String where)
        {
            if (value instanceof Long l)
            {
                if (l >= 0)
                {
                    return l;
                }
                error(line, "bytes in " + where + " must not be negative: " + l);
                return null;
            }
            if (value instanceof String s)
            {
                final Matcher m = SIZE.matcher(s);
                if (m.matches())
                {
                    final int shift = switch (m.group(2).toUpperCase(Locale.ROOT))
                    {
                        case "K" -> 10;
                        case "M" -> 20;
                        case "G" -> 30;
                        case "T" -> 40;
                        default -> 0;
                    };
                    try
                    {
                        final long n = Long.parseLong(m.group(1));
                        if (n <= Long.MAX_VALUE >> shift)
                        {
                            return n << shift;
                        }
                    }
                    catch (final NumberFormatException e)
                    {
                        // too large
                    }
                    error(line, "bytes in " + where + ": '" + s + "' is too large");
                    return null;
                }
                error(line, "bytes in " + where + ": '" + s + "' is not a size (an integer, or a string like " +
                    "\"256M\": digits and one of the suffixes K, M, G, T)");
                return null;
            }
            error(line, "bytes in " + where + " must be an integer or a size string like \"256M\", not " +
                typeOf(value));
            return null;
        }

        // ---- [limits] ----

        private void limits(final Object value, final int line)
        {
            if (!(value instanceof TomlTable limits))
            {
                error(line, "limits must be a table ([limits]), not " + typeOf(value));
                return;
            }
            unknownKeys(limits, LIMITS_KEYS, "[limits]");
            final Object max = limits.get(List.of("max_metadata"));
            if (max == null)
            {
                return;
            }
            final int maxLine = line(limits, "max_metadata");
            if (!(max instanceof Long l))
            {
                error(maxLine, "max_metadata must be an integer (bytes), not " + typeOf(max));
                return;
            }
            if (l > Limits.MAX_METADATA_BYTES)
            {
                error(maxLine, "max_metadata " + l + " is above the ABI ceiling of " + Limits.MAX_METADATA_BYTES +
                    " bytes");
                return;
            }
            if (l < MIN_METADATA_BYTES)
            {
                error(maxLine, "max_metadata " + l + " is below the minimum of " + MIN_METADATA_BYTES + " bytes");
                return;
            }
            if (maxMetadata != null && maxMetadata.value() != l.intValue())
            {
                error(maxLine, "max_metadata defined twice differently: " + l + " here, " + maxMetadata.value() +
                    " at " + maxMetadata.place());
            }
            else if (maxMetadata == null)
            {
                maxMetadata = new Def<>(l.intValue(), here(maxLine));
            }
        }

        // ---- [access] ----

        private void access(final Object value, final int line)
        {
            if (!(value instanceof TomlTable access))
            {
                error(line, "access must be a table ([access]), not " + typeOf(value));
                return;
            }
            unknownKeys(access, ACCESS_KEYS, "[access]");
            ids(access, "uids", uids);
            ids(access, "gids", gids);
        }

        private void ids(final TomlTable access, final String key, final Set<Integer> into)
        {
            final Object value = access.get(List.of(key));
            if (value == null)
            {
                return;
            }
            if (!(value instanceof TomlArray list))
            {
                error(line(access, key), key + " must be an array of integers, not " + typeOf(value));
                return;
            }
            for (int i = 0; i < list.size(); i++)
            {
                final Object item = list.get(i);
                final int itemLine = elementLine(list, i);
                if (!(item instanceof Long l))
                {
                    error(itemLine, key + " entries must be non-negative integers, not " + typeOf(item));
                }
                else if (l < 0 || l > Integer.MAX_VALUE)
                {
                    error(itemLine, key + " entries must be non-negative integers (at most " + Integer.MAX_VALUE +
                        "), not " + l);
                }
                else
                {
                    into.add(l.intValue());
                }
            }
        }
    }

    // ---- helpers ----

    private static int line(final TomlTable table, final String key)
    {
        return line(table.inputPositionOf(List.of(key)));
    }

    private static int line(final TomlPosition position)
    {
        return position == null ? 0 : position.line();
    }

    private static String describe(final Throwable e)
    {
        return e instanceof CharacterCodingException ? "not UTF-8 text" : IoErrors.reason(e);
    }

    private static String typeOf(final Object value)
    {
        if (value instanceof String s)
        {
            return "a string (\"" + s + "\")";
        }
        if (value instanceof Long l)
        {
            return "an integer (" + l + ")";
        }
        if (value instanceof Double d)
        {
            return "a float (" + d + ")";
        }
        if (value instanceof Boolean b)
        {
            return "a boolean (" + b + ")";
        }
        if (value instanceof TomlArray)
        {
            return "an array";
        }
        if (value instanceof TomlTable)
        {
            return "a table";
        }
        if (value instanceof Temporal)
        {
            return "a date/time";
        }
        return Objects.toString(value);
    }

    /** The known name within edit distance 2 of {@code key}, if any. */
    private static String suggest(final String key, final List<String> known)
    {
        String best = null;
        int bestDistance = 3;
        for (final String k : known)
        {
            final int d = distance(key.toLowerCase(Locale.ROOT), k);
            if (d < bestDistance)
            {
                best = k;
                bestDistance = d;
            }
        }
        return best;
    }

    /** Optimal string alignment distance (Levenshtein plus adjacent transpositions: "form" -> "from" is 1). */
    private static int distance(final String a, final String b)
    {
        final int[][] d = new int[a.length() + 1][b.length() + 1];
        for (int i = 0; i <= a.length(); i++)
        {
            d[i][0] = i;
        }
        for (int j = 0; j <= b.length(); j++)
        {
            d[0][j] = j;
        }
        for (int i = 1; i <= a.length(); i++)
        {
            for (int j = 1; j <= b.length(); j++)
            {
                final int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                d[i][j] = Math.min(Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1), d[i - 1][j - 1] + cost);
                if (i > 1 && j > 1 && a.charAt(i - 1) == b.charAt(j - 2) && a.charAt(i - 2) == b.charAt(j - 1))
                {
                    d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
                }
            }
        }
        return d[a.length()][b.length()];
    }
}
