package org.hyperdmabuf.daemon.policy;

import org.hyperdmabuf.abi.Limits;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class PolicyLoaderTest
{
    private static final long M = 1L << 20;

    @TempDir
    Path dir;

    // ---- malformed inputs: each names its file and line ----

    /** {name, expected line, expected message fragment, file text}. Lines count from 1. */
    static Stream<Arguments> malformed()
    {
        return Stream.of(
            bad("TOML syntax error", 3, "TOML syntax", """
                [vms]
                cluster = 1
                [[share]
                from = "cluster"
                """),
            bad("duplicate key is a TOML error", 3, "previously defined", """
                [vms]
                cluster = 1
                cluster = 2
                """),
            bad("misspelt table [sahre]", 4, "unknown table [sahre] (did you mean [[share]]?)", """
                [vms]
                a = 1

                [sahre]
                from = "a"
                """),
            bad("misspelt array of tables [[shaer]]", 3, "unknown table [[shaer]]", """
                [vms]
                a = 1
                [[shaer]]
                from = "a"
                """),
            bad("misspelt key form", 6, "unknown key 'form' in [[share]] (did you mean 'from'?)", """
                [vms]
                a = 1
                b = 2

                [[share]]
                form = "a"
                to = "b"
                """),
            bad("top-level key", 1, "unknown key 'debug'", """
                debug = true
                """),
            bad("read_only not a boolean", 5, "read_only must be true or false, not a string", """
                [vms]
                a = 1
                [[share]]
                from = "a"
                read_only = "yes"
                to = "*"
                """),
            bad("negative buffer count", 3, "buffers in [quota.uid.1000] must be a non-negative integer, not -1", """
                [quota.uid.1000]
                bytes = "64M"
                buffers = -1
                """),
            bad("bad size suffix", 2, "'12X' is not a size", """
                [quota.default_client]
                bytes = "12X"
                """),
            bad("negative byte count", 2, "bytes in [quota.default_client] must not be negative", """
                [quota.default_client]
                bytes = -1
                """),
            bad("size overflow", 2, "is too large", """
                [quota.default_client]
                bytes = "99999999999999T"
                """),
            bad("bytes a float", 2, "must be an integer or a size string", """
                [quota.default_client]
                bytes = 1.5
                """),
            bad("unknown VM in from", 4, "unknown VM 'nav' (not defined in any [vms])", """
                [vms]
                ivi = 2
                [[share]]
                from = "nav"
                to = "ivi"
                """),
            bad("unknown VM in a multi-line to", 7, "unknown VM 'rear'", """
                [vms]
                ivi = 2
                cluster = 1
                [[share]]
                from = "ivi"
                to = ["cluster",
                      "rear"]
                """),
            bad("quoted VM id", 5, "write a VM id as an integer", """
                [vms]
                ivi = 2
                [[share]]
                from = "ivi"
                to = "3"
                """),
            bad("VM id above 65535 in [vms]", 3, "VM id 70000 of 'ivi' out of range [0, 65535]", """
                [vms]
                cluster = 1
                ivi = 70000
                """),
            bad("negative VM id in [vms]", 2, "VM id -1 of 'x' out of range", """
                [vms]
                x = -1
                """),
            bad("VM id above 65535 in to", 5, "VM id 65536 out of range [0, 65535]", """
                [vms]
                ivi = 2
                [[share]]
                from = "ivi"
                to = [1, 65536]
                """),
            bad("VM id a string in [vms]", 2, "VM id of 'ivi' must be an integer, not a string", """
                [vms]
                ivi = "2"
                """),
            bad("invalid VM name", 2, "VM name 'my vm' is not valid", """
                [vms]
                "my vm" = 3
                """),
            bad("one id, two names", 3, "duplicate VM id 1: named 'dash' here, 'cluster' at", """
                [vms]
                cluster = 1
                dash = 1
                """),
            bad("share without from", 3, "[[share]] without from", """
                [vms]
                a = 1
                [[share]]
                to = "*"
                """),
            bad("share without to", 4, "[[share]] without to", """
                [vms]
                a = 1

                [[share]]
                from = "a"
                content = ["video/*"]
                """),
            bad("from is *", 3, "from must name one VM, not \"*\"", """
                [[share]]
                to = 1
                from = "*"
                """),
            bad("to is empty", 5, "to is empty", """
                [vms]
                a = 1
                [[share]]
                from = "a"
                to = []
                """),
            bad("* inside to", 3, "\"*\" must be the whole value of to", """
                [[share]]
                from = 1
                to = [2, "*"]
                """),
            bad("share with itself", 6, "a VM cannot share with itself: a (1) is both from and to", """
                [vms]
                a = 1
                b = 2
                [[share]]
                from = "a"
                to = ["b", "a"]
                """),
            bad("empty content list", 4, "content is empty", """
                [[share]]
                from = 1
                to = 2
                content = []
                """),
            bad("empty content glob", 5, "content glob is empty", """
                [[share]]
                from = 1
                to = 2
                content = ["video/*",
                           ""]
                """),
            bad("content not a string", 4, "content must be a glob or an array of globs, not an integer", """
                [[share]]
                from = 1
                to = 2
                content = 5
                """),
            bad("[share] instead of [[share]]", 1, "write [[share]], not [share]", """
                [share]
                from = 1
                to = 2
                """),
            bad("max_metadata above the ABI ceiling", 2, "max_metadata 9000 is above the ABI ceiling of 8192", """
                [limits]
                max_metadata = 9000
                """),
            bad("max_metadata below 256", 3, "max_metadata 100 is below the minimum of 256", """
                # tiny
                [limits]
                max_metadata = 100
                """),
            bad("max_metadata a string", 2, "max_metadata must be an integer", """
                [limits]
                max_metadata = "4K"
                """),
            bad("unknown key in [limits]", 3, "unknown key 'max_meta' in [limits]", """
                [limits]
                max_metadata = 4096
                max_meta = 1
                """),
            bad("negative uid", 2, "uids entries must be non-negative integers (at most 2147483647), not -5", """
                [access]
                uids = [0, -5]
                """),
            bad("gid by name", 3, "gids entries must be non-negative integers, not a string", """
                [access]
                uids = [0]
                gids = ["wheel"]
                """),
            bad("uids not an array", 2, "uids must be an array of integers", """
                [access]
                uids = 1000
                """),
            bad("unknown key in [access]", 2, "unknown key 'users' in [access]", """
                [access]
                users = [1000]
                """),
            bad("quota for an unknown VM", 4, "[quota.vm.nav]: unknown VM 'nav'", """
                [vms]
                ivi = 2

                [quota.vm.nav]
                bytes = "1M"
                """),
            bad("quota for a VM id out of range", 1, "[quota.vm.70000]: VM id 70000 out of range", """
                [quota.vm.70000]
                buffers = 1
                """),
            bad("quota uid by name", 1, "[quota.uid.root]: a uid must be a number", """
                [quota.uid.root]
                buffers = 1
                """),
            bad("unknown quota table", 1, "unknown table [quota.users]", """
                [quota.users]
                buffers = 1
                """),
            bad("empty quota", 1, "[quota.default_client] sets neither bytes nor buffers", """
                [quota.default_client]
                """),
            bad("unknown key in a quota", 3, "unknown key 'byte' in [quota.vm.1] (did you mean 'bytes'?)", """
                [quota.vm.1]
                buffers = 4
                byte = 4096
                """),
            bad("same VM quota by name and id", 7, "quota for ivi (2) defined twice differently", """
                [vms]
                ivi = 2

                [quota.vm.ivi]
                buffers = 4

                [quota.vm.2]
                buffers = 5
                """),
            bad("vms not a table", 1, "vms must be a table", """
                vms = 3
                """),
            bad("bad entry after a comment in a multi-line array", 5, "uids entries must be non-negative", """
                [access]
                uids = [
                    0,
                    # the media service
                    "media",
                ]
                """),
            bad("inline share table without to", 2, "[[share]] without to", """
                share = [
                    { from = 1 },
                ]
                """));
    }

    private static Arguments bad(final String name, final int line, final String fragment, final String toml)
    {
        return Arguments.of(name, line, fragment, toml);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("malformed")
    void malformedInputsNameFileAndLine(final String name, final int line, final String fragment, final String toml)
        throws IOException
    {
        final Path file = write("policy.toml", toml);
        final PolicyException e = assertThrows(PolicyException.class, () -> PolicyLoader.load(List.of(file)));
        final boolean found = e.errors().stream().anyMatch(err ->
            err.file().equals(file) && err.line() == line && err.message().contains(fragment) &&
                err.toString().equals(file + ":" + line + ": " + err.message()));
        assertTrue(found, () -> name + ": expected " + file + ":" + line + ": ..." + fragment + "..., got:\n" +
            e.getMessage());
        assertTrue(e.getMessage().contains(file + ":" + line + ": "), e.getMessage());
    }

    @Test
    void tableIsLargeEnough()
    {
        assertTrue(malformed().count() >= 20);
    }

    @Test
    void everyErrorIsCollectedNotOnlyTheFirst() throws IOException
    {
        final Path file = write("policy.toml", """
            [vms]
            a = 1
            [[share]]
            form = "a"
            to = "a"
            read_only = "yes"
            [limits]
            max_metadata = 9000
            """);
        final PolicyException e = assertThrows(PolicyException.class, () -> PolicyLoader.load(List.of(file)));
        final List<Integer> lines = e.errors().stream().map(PolicyError::line).toList();
        assertEquals(List.of(3, 4, 6, 8), lines, e.getMessage());
    }

    @Test
    void errorsOfSeveralFilesAreAllReportedInFileOrder() throws IOException
    {
        final Path a = write("a.toml", """
            [limits]
            max_metadata = 1
            """);
        final Path b = write("b.toml", """
            [[share]
            """);
        final Path c = write("c.toml", """
            [access]
            uids = [-1]
            """);
        final PolicyException e = assertThrows(PolicyException.class, () -> PolicyLoader.load(List.of(a, b, c)));
        assertEquals(List.of(a, b, c), e.errors().stream().map(PolicyError::file).distinct().toList(),
            e.getMessage());
    }

    @Test
    void missingFileIsAnError()
    {
        final Path missing = dir.resolve("nope.toml");
        final PolicyException e = assertThrows(PolicyException.class, () -> PolicyLoader.load(List.of(missing)));
        assertEquals(missing + ":0: cannot read: no such file", e.errors().get(0).toString());
    }

    @Test
    void notUtf8IsAnError() throws IOException
    {
        final Path file = Files.write(dir.resolve("policy.toml"), new byte[] {'[', 'v', 'm', 's', ']', '\n', (byte) 0xff});
        final PolicyException e = assertThrows(PolicyException.class, () -> PolicyLoader.load(List.of(file)));
        assertEquals(file + ":0: cannot read: not UTF-8 text", e.errors().get(0).toString());
    }

    @Test
    void aReloadDoesNotFallBackToPermissiveWhenTheFilesDisappear() throws IOException, PolicyException
    {
        final Path main = write("policy.toml", "[vms]\nivi = 2\n");
        final Path d = dir.resolve("policy.d");
        final Policy first = PolicyLoader.reload(main, d, Policy.permissive());
        assertFalse(first.isPermissive());
        assertEquals(Map.of("ivi", 2), PolicyLoader.reload(main, d, first).vms());
        Files.delete(main);
        final PolicyException e = assertThrows(PolicyException.class, () -> PolicyLoader.reload(main, d, first));
        assertTrue(e.getMessage().contains("keeping the last good policy"), e.getMessage());
        assertTrue(PolicyLoader.reload(main, d, Policy.permissive()).isPermissive(), "still permissive");
    }

    // ---- several files ----

    @Test
    void sameVmNameWithTwoIdsInTwoFilesNamesBothPlaces() throws IOException
    {
        final Path a = write("a.toml", """
            [vms]
            cluster = 1
            ivi = 2
            """);
        final Path b = write("b.toml", """
            # drop-in
            [vms]
            ivi = 3
            """);
        final PolicyException e = assertThrows(PolicyException.class, () -> PolicyLoader.load(List.of(a, b)));
        assertEquals(1, e.errors().size(), e.getMessage());
        assertEquals(b + ":3: duplicate VM name 'ivi': 3 here, 2 at " + a + ":3", e.errors().get(0).toString());
    }

    @Test
    void sameVmIdWithTwoNamesInTwoFilesIsAContradiction() throws IOException
    {
        final Path a = write("a.toml", "[vms]\ncluster = 1\n");
        final Path b = write("b.toml", "[vms]\ndash = 1\n");
        final PolicyException e = assertThrows(PolicyException.class, () -> PolicyLoader.load(List.of(a, b)));
        assertEquals(b + ":2: duplicate VM id 1: named 'dash' here, 'cluster' at " + a + ":2",
            e.errors().get(0).toString());
    }

    @Test
    void repeatingAnIdenticalDefinitionIsFine() throws PolicyException, IOException
    {
        final Path a = write("a.toml", "[vms]\ncluster = 1\n[limits]\nmax_metadata = 4096\n");
        final Path b = write("b.toml", "[vms]\ncluster = 1\n[limits]\nmax_metadata = 4096\n");
        final Policy p = PolicyLoader.load(List.of(a, b));
        assertEquals(Map.of("cluster", 1), p.vms());
        assertEquals(4096, p.maxMetadataBytes());
    }

    @Test
    void conflictingSettingsInTwoFilesAreErrors() throws IOException
    {
        final Path a = write("a.toml", """
            [vms]
            ivi = 2
            [quota.vm.ivi]
            bytes = "1M"
            [quota.default_client]
            buffers = 1
            [limits]
            max_metadata = 4096
            """);
        final Path b = write("b.toml", """
            [quota.vm.2]
            bytes = "2M"
            [quota.default_client]
            buffers = 2
            [limits]
            max_metadata = 2048
            """);
        final PolicyException e = assertThrows(PolicyException.class, () -> PolicyLoader.load(List.of(a, b)));
        final List<String> messages = e.errors().stream().map(PolicyError::toString).toList();
        assertEquals(3, messages.size(), e.getMessage());
        assertTrue(messages.get(0).startsWith(b + ":1: quota for ivi (2) defined twice differently"), messages.get(0));
        assertTrue(messages.get(0).endsWith(a + ":3"), messages.get(0));
        assertTrue(messages.get(1).startsWith(b + ":3: [quota.default_client] defined twice differently: here and at " +
            a + ":5"), messages.get(1));
        assertTrue(messages.get(2).startsWith(b + ":6: max_metadata defined twice differently: 2048 here, 4096 at " +
            a + ":8"), messages.get(2));
    }

    @Test
    void syntaxErrorInOneFileDoesNotCascadeIntoUnknownVms() throws IOException
    {
        final Path a = write("a.toml", """
            [vms]
            cluster = 1
            ivi = 2
            [[share]
            """);
        final Path b = write("b.toml", """
            [[share]]
            from = "ivi"
            to = "cluster"
            """);
        final PolicyException e = assertThrows(PolicyException.class, () -> PolicyLoader.load(List.of(a, b)));
        assertTrue(e.errors().stream().allMatch(err -> err.file().equals(a)), e.getMessage());
    }

    @Test
    void mainFileAndDropInsMergeInFileNameOrderAndShareNames() throws IOException, PolicyException
    {
        final Path main = write("policy.toml", """
            [vms]
            cluster = 1
            ivi = 2

            [[share]]
            from = "ivi"
            to = "rear"          # defined in a drop-in
            content = "video/*"

            [access]
            uids = [1000]
            """);
        final Path d = Files.createDirectory(dir.resolve("policy.d"));
        write(d, "20-rear.toml", """
            [vms]
            rear = 3

            [[share]]
            from = "rear"
            to = "ivi"
            content = "audio/*"

            [access]
            gids = [27]
            uids = [1001]
            """);
        write(d, "10-quota.toml", """
            [quota.vm.rear]
            bytes = "32M"
            """);
        write(d, ".10-hidden.toml", "not = valid = toml");
        write(d, "README", "not a policy file");
        Files.createDirectory(d.resolve("old"));

        final List<Path> files = PolicyLoader.defaultFiles(main, d);
        assertEquals(List.of(main, d.resolve("10-quota.toml"), d.resolve("20-rear.toml")), files);

        final Policy p = PolicyLoader.loadDefault(main, d);
        assertFalse(p.isPermissive());
        assertEquals(files, p.sources());
        assertEquals(Map.of("cluster", 1, "ivi", 2, "rear", 3), p.vms());
        assertEquals(2, p.shares().size());
        assertEquals(main + ":5", p.shares().get(0).origin());
        assertTrue(p.checkShare(2, 3, "video/h264", false).allowed());
        assertTrue(p.checkShare(3, 2, "audio/pcm", false).allowed());
        assertFalse(p.checkShare(3, 2, "video/h264", false).allowed());
        assertEquals(new Quota(32 * M, Long.MAX_VALUE), p.vmQuota(3));
        assertEquals(Set.of(1000, 1001), p.accessUids());
        assertEquals(Set.of(27), p.accessGids());
    }

    @Test
    void defaultFilesWithNeitherFileNorDirectory()
    {
        assertEquals(List.of(), PolicyLoader.defaultFiles(dir.resolve("policy.toml"), dir.resolve("policy.d")));
        assertEquals(List.of(), PolicyLoader.defaultFiles(null, null));
    }

    @Test
    void noFileAtAllIsThePermissiveDefault() throws PolicyException
    {
        final Policy p = PolicyLoader.loadDefault(dir.resolve("policy.toml"), dir.resolve("policy.d"));
        assertTrue(p.isPermissive());
        assertTrue(p.mayShare(1, 2));
        assertTrue(p.checkShare(1, 2, "anything", false).allowed());
        assertEquals(Quota.UNLIMITED, p.clientQuota(1000));
        assertEquals(Limits.MAX_METADATA_BYTES, p.maxMetadataBytes());
    }

    @Test
    void onlyADropInIsEnough() throws IOException, PolicyException
    {
        final Path d = Files.createDirectory(dir.resolve("policy.d"));
        write(d, "a.toml", "[vms]\nivi = 2\n");
        final Policy p = PolicyLoader.loadDefault(dir.resolve("policy.toml"), d);
        assertFalse(p.isPermissive());
        assertFalse(p.mayShare(2, 1));
    }

    @Test
    void aDropInPathThatIsNotADirectoryIsAnError() throws IOException
    {
        final Path notDir = write("policy.d", "x");
        final PolicyException e = assertThrows(PolicyException.class,
            () -> PolicyLoader.loadDefault(dir.resolve("policy.toml"), notDir));
        assertEquals(notDir, e.errors().get(0).file());
        assertTrue(e.errors().get(0).message().startsWith("cannot list directory"), e.getMessage());
    }

    // ---- valid files and their decisions ----

    private static final String SCHEMA_EXAMPLE = """
        [vms]
        cluster = 1
        ivi = 2

        [[share]]
        from = "cluster"
        to = ["ivi", 3]
        content = ["video/*", "audio/pcm"]
        read_only = true

        [quota.vm.cluster]
        bytes = "256M"
        buffers = 64

        [quota.uid.1000]
        bytes = "64M"
        buffers = 16

        [quota.default_client]
        bytes = "128M"
        buffers = 32

        [limits]
        max_metadata = 4096

        [access]
        uids = [0, 1000]
        gids = [27]
        """;

    @Test
    void theSchemaExampleLoads() throws IOException, PolicyException
    {
        final Policy p = PolicyLoader.load(List.of(write("policy.toml", SCHEMA_EXAMPLE)));
        assertFalse(p.isPermissive());
        assertEquals(Map.of("cluster", 1, "ivi", 2), p.vms());
        assertEquals(1, p.shares().size());
        final ShareRule r = p.shares().get(0);
        assertEquals(1, r.from());
        assertEquals(Set.of(2, 3), r.to());
        assertEquals(List.of("video/*", "audio/pcm"), r.content());
        assertTrue(r.readOnly());
        assertEquals(Map.of(1, new Quota(256 * M, 64)), p.vmQuotas());
        assertEquals(Map.of(1000, new Quota(64 * M, 16)), p.uidQuotas());
        assertEquals(new Quota(128 * M, 32), p.defaultClientQuota());
        assertEquals(4096, p.maxMetadataBytes());
        assertEquals(Set.of(0, 1000), p.accessUids());
        assertEquals(Set.of(27), p.accessGids());
        assertEquals(1, p.vmId("cluster").orElseThrow());
        assertEquals("ivi", p.vmName(2));
        assertEquals("vm3", p.vmName(3));
    }

    @Test
    void shareDecisions() throws IOException, PolicyException
    {
        final Policy p = PolicyLoader.load(List.of(write("policy.toml", SCHEMA_EXAMPLE)));
        // allowed, read-only
        assertTrue(p.checkShare(1, 2, "video/h264", true).allowed());
        assertTrue(p.checkShare(1, 3, "audio/pcm", true).allowed());
        // read-write where the rule requires read-only
        final Policy.Decision rw = p.checkShare(1, 2, "video/h264", false);
        assertFalse(rw.allowed());
        assertTrue(rw.denial().contains("requires read-only"), rw.denial());
        assertTrue(rw.denial().contains("cluster") && rw.denial().contains("ivi"), rw.denial());
        // content the rule does not cover
        final Policy.Decision content = p.checkShare(1, 2, "audio/opus", true);
        assertFalse(content.allowed());
        assertTrue(content.denial().startsWith("no policy rule lets cluster share 'audio/opus' with ivi"),
            content.denial());
        // the reverse direction and unknown pairs
        assertFalse(p.checkShare(2, 1, "video/h264", true).allowed());
        assertFalse(p.checkShare(1, 4, "video/h264", true).allowed());
        // a target declared at ALLOC, before the content type is known
        assertTrue(p.checkTarget(1, 2, true).allowed());
        final Policy.Decision target = p.checkTarget(1, 2, false);
        assertFalse(target.allowed());
        assertTrue(target.denial().contains("requires read-only exports from cluster to ivi"), target.denial());
        assertEquals("no policy rule lets ivi share with cluster", p.checkTarget(2, 1, true).denial());
        assertFalse(p.checkTarget(1, 4, true).allowed());
        assertTrue(p.mayShare(1, 2));
        assertTrue(p.mayShare(1, 3));
        assertFalse(p.mayShare(2, 1));
        assertFalse(p.mayShare(1, 4));
    }

    @Test
    void readOnlyLimitsOnlyItsOwnRule() throws IOException, PolicyException
    {
        final Policy p = PolicyLoader.load(List.of(write("policy.toml", """
            [[share]]
            from = 1
            to = 2
            content = "video/*"
            read_only = true

            [[share]]
            from = 1
            to = "*"
            content = "video/raw"
            """)));
        assertFalse(p.checkShare(1, 2, "video/h264", false).allowed());
        assertTrue(p.checkShare(1, 2, "video/raw", false).allowed(), "the second rule grants read-write");
        assertTrue(p.checkShare(1, 9, "video/raw", false).allowed(), "to = \"*\" is any VM");
        assertFalse(p.checkShare(1, 9, "video/h264", true).allowed());
    }

    @Test
    void defaultsOfAnEmptyFile() throws IOException, PolicyException
    {
        final Policy p = PolicyLoader.load(List.of(write("policy.toml", "# nothing\n")));
        assertFalse(p.isPermissive(), "an installed file is default-deny");
        assertFalse(p.mayShare(1, 2));
        assertFalse(p.checkShare(1, 2, "video/h264", true).allowed());
        assertEquals(Quota.UNLIMITED, p.vmQuota(1));
        assertEquals(Quota.UNLIMITED, p.clientQuota(1000));
        assertEquals(Limits.MAX_METADATA_BYTES, p.maxMetadataBytes());
        assertTrue(p.mayConnect(1234, 1234), "no [access]: the socket's mode decides");
    }

    @Test
    void contentDefaultsToEverythingAndReadOnlyToFalse() throws IOException, PolicyException
    {
        final Policy p = PolicyLoader.load(List.of(write("policy.toml", """
            [vms]
            a = 1
            [[share]]
            from = "a"
            to = 2
            """)));
        final ShareRule r = p.shares().get(0);
        assertEquals(List.of("*"), r.content());
        assertFalse(r.readOnly());
        assertEquals(Set.of(2), r.to());
        assertTrue(p.checkShare(1, 2, "application/x-anything", false).allowed());
    }

    @Test
    void quotaSizesAndPartialQuotas() throws IOException, PolicyException
    {
        final Policy p = PolicyLoader.load(List.of(write("policy.toml", """
            [quota.vm.1]
            bytes = 4096
            [quota.vm.2]
            bytes = "64K"
            [quota.vm.3]
            bytes = "2m"
            [quota.vm.4]
            bytes = "1G"
            buffers = 0
            [quota.vm.5]
            buffers = 8
            """)));
        assertEquals(new Quota(4096, Long.MAX_VALUE), p.vmQuota(1));
        assertEquals(new Quota(64 * 1024, Long.MAX_VALUE), p.vmQuota(2));
        assertEquals(new Quota(2 * M, Long.MAX_VALUE), p.vmQuota(3));
        assertEquals(new Quota(1L << 30, 0), p.vmQuota(4));
        assertEquals(new Quota(Long.MAX_VALUE, 8), p.vmQuota(5));
        assertEquals(Quota.UNLIMITED, p.vmQuota(6));
        assertFalse(p.vmQuota(4).admits(0, 0, 4096), "buffers = 0 admits nothing");
    }

    @Test
    void quotaDecisions() throws IOException, PolicyException
    {
        final Policy p = PolicyLoader.load(List.of(write("policy.toml", SCHEMA_EXAMPLE)));
        assertEquals(new Quota(256 * M, 64), p.vmQuota(1));
        assertEquals(Quota.UNLIMITED, p.vmQuota(2));
        assertEquals(new Quota(64 * M, 16), p.clientQuota(1000));
        assertEquals(new Quota(128 * M, 32), p.clientQuota(1001), "uids without an entry get default_client");
        final Quota mine = p.clientQuota(1000);
        assertTrue(mine.admits(63 * M, 15, M));
        assertFalse(mine.admits(63 * M, 15, M + 1), "bytes");
        assertFalse(mine.admits(0, 16, 4096), "buffers");
    }

    @Test
    void accessDecisions() throws IOException, PolicyException
    {
        final Policy p = PolicyLoader.load(List.of(write("policy.toml", SCHEMA_EXAMPLE)));
        assertTrue(p.mayConnect(0, 0));
        assertTrue(p.mayConnect(1000, 1000));
        assertTrue(p.mayConnect(1001, 27), "by gid");
        assertFalse(p.mayConnect(1001, 1001));
        final Policy onlyGids = PolicyLoader.load(List.of(write("g.toml", "[access]\ngids = [27]\n")));
        assertTrue(onlyGids.mayConnect(0, 0), "uid 0 always");
        assertTrue(onlyGids.mayConnect(5, 27));
        assertFalse(onlyGids.mayConnect(5, 5));
    }

    @Test
    void thePackagedSampleIsValid() throws PolicyException
    {
        final Path sample = Path.of("..", "packaging", "policy.toml");
        assumeTrue(Files.exists(sample), "packaging/policy.toml not found from " + Path.of("").toAbsolutePath());
        final Policy p = PolicyLoader.load(List.of(sample));
        assertFalse(p.isPermissive());
        final int cluster = p.vmId("cluster").orElseThrow();
        final int ivi = p.vmId("ivi").orElseThrow();
        assertTrue(p.checkShare(ivi, cluster, "video/h264", true).allowed());
        assertFalse(p.checkShare(ivi, cluster, "video/h264", false).allowed(), "video to the cluster is read-only");
        assertTrue(p.checkShare(ivi, cluster, "audio/pcm", false).allowed());
        assertTrue(p.checkShare(cluster, ivi, "audio/pcm", false).allowed());
        assertNull(p.checkShare(ivi, cluster, "audio/pcm", false).denial());
    }

    // ---- helpers ----

    private Path write(final String name, final String text) throws IOException
    {
        return write(dir, name, text);
    }

    private static Path write(final Path in, final String name, final String text) throws IOException
    {
        return Files.writeString(in.resolve(name), text);
    }
}
