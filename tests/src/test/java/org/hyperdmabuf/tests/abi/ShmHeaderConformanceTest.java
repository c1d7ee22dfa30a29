package org.hyperdmabuf.tests.abi;

import org.hyperdmabuf.abi.FenceAbi;
import java.io.File;
import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.hyperdmabuf.abi.FrameHeaderDescriptor;
import org.hyperdmabuf.hv.shm.FenceSlotDescriptor;
import org.hyperdmabuf.hv.shm.MemoryWindow;
import org.hyperdmabuf.hv.shm.PageTableDescriptor;
import org.hyperdmabuf.hv.shm.PeerSlotDescriptor;
import org.hyperdmabuf.hv.shm.RecordDescriptor;
import org.hyperdmabuf.hv.shm.RegionHeaderDescriptor;
import org.hyperdmabuf.hv.shm.RegionLayout;
import org.hyperdmabuf.hv.shm.RingDescriptor;
import org.hyperdmabuf.hv.shm.SharedRegion;
import org.hyperdmabuf.hv.shm.ShmCorruptionException;
import org.hyperdmabuf.tests.support.SystemTest;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * ABI conformance of {@code abi-spec/include/hyperdmabuf_shm.h} with the Java shared-memory descriptors:
 * compiles {@code src/test/c/shm_layout_dump.c} against the real header with gcc, runs it, and compares every
 * constant, offset, size, helper function and layout computation it prints with the Java side. Headers are
 * also exchanged in both directions (Java formats, C validates; C formats, Java validates) and must be
 * byte-identical. A missing gcc is a failure, not a skip: this test is the only guard of the C header.
 */
@SystemTest
class ShmHeaderConformanceTest
{
    private static final List<Class<?>> DESCRIPTORS = List.of(RegionHeaderDescriptor.class, PeerSlotDescriptor.class,
        RingDescriptor.class, RecordDescriptor.class, PageTableDescriptor.class, FenceSlotDescriptor.class,
        RegionLayout.class, FrameHeaderDescriptor.class, FenceAbi.class);

    private static Path basedir;
    private static Path includeDir;
    private static Path workDir;
    private static Path binary;

    /** Constants-only output (no options). */
    private static Map<String, String> constants;

    @BeforeAll
    static void compileDumpProgram() throws Exception
    {
        basedir = Paths.get(System.getProperty("basedir", System.getProperty("user.dir"))).toAbsolutePath();
        includeDir = basedir.resolve("../abi-spec/include").normalize();
        final Path header = includeDir.resolve("hyperdmabuf_shm.h");
        final Path source = basedir.resolve("src/test/c/shm_layout_dump.c");
        if (!Files.isRegularFile(header))
        {
            fail("C header not found at " + header + " (basedir=" + basedir + ")");
        }
        if (!Files.isRegularFile(source))
        {
            fail("C dump program not found at " + source);
        }
        final Path gcc = findOnPath("gcc").orElse(null);
        if (gcc == null)
        {
            fail("gcc not found on PATH (" + System.getenv("PATH") + "): ShmHeaderConformanceTest must compile " +
                header + " to check it against the Java descriptors. Install gcc (Debian: apt-get install gcc); " +
                "CI installs it.");
        }
        workDir = basedir.resolve("target/shm-abi");
        Files.createDirectories(workDir);
        binary = workDir.resolve("shm_layout_dump");
        final ProcessResult cc = exec(List.of(gcc.toString(), "-std=c11", "-Wall", "-Wextra", "-Werror",
            "-pedantic-errors", "-I", includeDir.toString(), "-o", binary.toString(), source.toString()));
        if (cc.exit != 0)
        {
            fail("gcc -std=c11 -Wall -Werror failed on " + source + " with " + header + " (exit " + cc.exit + "):\n" +
                cc.stderr + cc.stdout);
        }
        constants = dump();
    }

    // ------------------------------------------------------------------------------------------------------
    // Constants
    // ------------------------------------------------------------------------------------------------------

    /**
     * Every static final int/long field of every descriptor class (private ones too) must be printed by the C
     * program under {@code SimpleClassName.FIELD} with the same value, and every such key the C program prints
     * must name an existing Java field: adding a constant on either side without the other fails here.
     */
    @Test
    void everyDescriptorConstantMatchesTheHeader() throws Exception
    {
        final List<String> problems = new ArrayList<>();
        final TreeSet<String> javaKeys = new TreeSet<>();
        for (final Class<?> type : DESCRIPTORS)
        {
            for (final Field field : type.getDeclaredFields())
            {
                final int mod = field.getModifiers();
                if (!Modifier.isStatic(mod) || !Modifier.isFinal(mod) || field.isSynthetic() ||
                    (field.getType() != int.class && field.getType() != long.class))
                {
                    continue;
                }
                field.setAccessible(true);
                final long javaValue = ((Number)field.get(null)).longValue();
                final String key = type.getSimpleName() + "." + field.getName();
                javaKeys.add(key);
                final String cValue = constants.get(key);
                if (cValue == null)
                {
                    problems.add(key + ": missing from the C header dump (Java value " + javaValue + ")");
                }
                else if (Long.parseLong(cValue) != javaValue)
                {
                    problems.add(key + ": C header says " + cValue + ", Java says " + javaValue);
                }
            }
        }
        for (final String key : constants.keySet())
        {
            final String simple = key.contains(".") ? key.substring(0, key.indexOf('.')) : "";
            final boolean descriptorKey = DESCRIPTORS.stream().anyMatch(c -> c.getSimpleName().equals(simple));
            if (descriptorKey && !key.contains("(") && !javaKeys.contains(key))
            {
                problems.add(key + ": printed by the C program but no such static final field exists in Java");
            }
        }
        report("descriptor constants", problems);
    }

    /** sizeof() of every struct and the start of every reserved area, against the Java lengths. */
    @Test
    void structSizesAndReservedAreasMatch()
    {
        final Map<String, Long> expected = new LinkedHashMap<>();
        expected.put("sizeof(struct hdmabuf_region_header)", (long)RegionHeaderDescriptor.HEADER_LENGTH);
        expected.put("offsetof(struct hdmabuf_region_header, reserved)", (long)RegionHeaderDescriptor.DEFINED_LENGTH);
        // Javadoc of RegionHeaderDescriptor: "reserved" u32 between fence_slots (80) and pool_offset (88).
        expected.put("offsetof(struct hdmabuf_region_header, reserved0)",
            (long)RegionHeaderDescriptor.FENCE_SLOTS_OFFSET + 4);
        expected.put("sizeof(struct hdmabuf_peer_slot)", (long)PeerSlotDescriptor.SLOT_LENGTH);
        // Javadoc of PeerSlotDescriptor: u64 claim at 40 (after the u32 notify), reserved (zero) from 48 to 64,
        // u64 fence_bell, reserved from 72 to 128.
        expected.put("offsetof(struct hdmabuf_peer_slot, claim)", (long)PeerSlotDescriptor.NOTIFY_OFFSET + 4);
        expected.put("offsetof(struct hdmabuf_peer_slot, reserved0)", (long)PeerSlotDescriptor.CLAIM_OFFSET + 8);
        expected.put("offsetof(struct hdmabuf_peer_slot, reserved)", (long)PeerSlotDescriptor.FENCE_BELL_OFFSET + 8);
        expected.put("sizeof(struct hdmabuf_ring_trailer)", (long)RingDescriptor.TRAILER_LENGTH);
        expected.put("sizeof(struct hdmabuf_record_header)", (long)RecordDescriptor.HEADER_LENGTH);
        expected.put("sizeof(struct hdmabuf_fence_slot)", (long)FenceSlotDescriptor.SLOT_LENGTH);
        // Javadoc of FenceSlotDescriptor: each timeline line is value u64, error u32, waiters u32, wake u32,
        // reserved.
        expected.put("offsetof(struct hdmabuf_fence_slot, reserved1)",
            (long)FenceSlotDescriptor.ACQUIRE_WAKE_OFFSET + 4);
        expected.put("offsetof(struct hdmabuf_fence_slot, reserved2)",
            (long)FenceSlotDescriptor.RELEASE_WAKE_OFFSET + 4);
        // The named macros, not only the struct offsets, carry the Java values.
        expected.put("macro.HDMABUF_FENCE_ACQUIRE_WAITERS_OFFSET", (long)FenceSlotDescriptor.ACQUIRE_WAITERS_OFFSET);
        expected.put("macro.HDMABUF_FENCE_RELEASE_WAITERS_OFFSET", (long)FenceSlotDescriptor.RELEASE_WAITERS_OFFSET);
        expected.put("macro.HDMABUF_PEER_FENCE_BELL_OFFSET", (long)PeerSlotDescriptor.FENCE_BELL_OFFSET);
        expected.put("limit.HDMABUF_SESSION_START_LENGTH", (long)RecordDescriptor.SESSION_START_LENGTH);
        // ABI.md "ivshmem specifics": vector 0 = control-ring doorbell, vector 1 = fences.
        expected.put("vector.HDMABUF_IVSHMEM_VECTOR_CONTROL", (long)FenceAbi.MESSAGE_VECTOR);
        expected.put("vector.HDMABUF_IVSHMEM_VECTOR_FENCE", (long)FenceAbi.FENCE_VECTOR);
        expected.put("vector.HDMABUF_IVSHMEM_VECTOR_FIRST_WAKE", (long)FenceAbi.FIRST_WAKE_VECTOR);
        // hdmabuf_fence_signal_rings with waiters = 1 and wake = 0x800d: the fence doorbell (bit 1) and the
        // wake bits 2, 3 and 15; bit 0 is not a wake vector. Nothing when neither is set.
        expected.put("check.hdmabuf_fence_signal_rings", 0x800eL);
        expected.put("check.fence_value_after_signal", 7L);
        expected.put("check.hdmabuf_fence_signal_rings_none", 0L);
        // hdmabuf_fence_signal_exchange from a stale last value (3, the timeline holds 8) stores nothing and
        // reports 8; from 8 it stores 9 and names the same rings as above.
        expected.put("check.hdmabuf_fence_signal_exchange_stale", 0L);
        expected.put("check.exchange_last_after_stale", 8L);
        expected.put("check.exchange_value_after_stale", 8L);
        expected.put("check.hdmabuf_fence_signal_exchange", 1L);
        expected.put("check.exchange_rings", 0x800eL);
        expected.put("check.exchange_value_after", 9L);
        expected.put("check.exchange_last_after", 9L);
        // Javadoc of FrameHeaderDescriptor: metadata_revision (u32) right after private_length, reserved from 44
        // to 64, and after the defined fields to the end.
        expected.put("sizeof(struct hdmabuf_frame_header)", (long)FrameHeaderDescriptor.HEADER_LENGTH);
        expected.put("macro.HDMABUF_FRAME_METADATA_REVISION_OFFSET",
            (long)FrameHeaderDescriptor.PRIVATE_LENGTH_OFFSET + 4);
        expected.put("sizeof(hdmabuf_frame_header.metadata_revision)", 4L);
        expected.put("offsetof(struct hdmabuf_frame_header, reserved0)",
            (long)FrameHeaderDescriptor.METADATA_REVISION_OFFSET + 4);
        expected.put("offsetof(struct hdmabuf_frame_header, reserved)", (long)FrameHeaderDescriptor.DEFINED_LENGTH);
        expected.put("macro.HDMABUF_FRAME_PRIVATE_MAX", (long)FrameHeaderDescriptor.PRIVATE_MAX);
        final List<String> problems = new ArrayList<>();
        expected.forEach((key, value) -> compare(problems, constants, key, value));
        if (!FrameHeaderDescriptor.TAG.equals(constants.get("tag.HDMABUF_FRAME_HEADER_TAG")))
        {
            problems.add("tag.HDMABUF_FRAME_HEADER_TAG: C says \"" + constants.get("tag.HDMABUF_FRAME_HEADER_TAG") +
                "\", Java says \"" + FrameHeaderDescriptor.TAG + "\"");
        }
        final String magicBytes = new String(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN)
            .putLong(0, RegionHeaderDescriptor.MAGIC).array(), StandardCharsets.US_ASCII);
        if (!magicBytes.equals(constants.get("magic.bytes")))
        {
            problems.add("magic.bytes: C stores \"" + constants.get("magic.bytes") + "\", Java stores \"" +
                magicBytes + "\"");
        }
        report("struct sizes", problems);
    }

    /** The C helper functions against the Java static methods, for every argument the C program printed. */
    @Test
    void helperFunctionsMatchDescriptorMethods()
    {
        final Pattern call = Pattern.compile("(\\w+)\\.(\\w+)\\((-?\\d+)\\)");
        final List<String> problems = new ArrayList<>();
        int checked = 0;
        for (final Map.Entry<String, String> e : constants.entrySet())
        {
            final Matcher m = call.matcher(e.getKey());
            if (!m.matches())
            {
                continue;
            }
            final String fn = m.group(1) + "." + m.group(2);
            final long arg = Long.parseLong(m.group(3));
            final long expected;
            switch (fn)
            {
                case "RingDescriptor.stride" -> expected = RingDescriptor.stride((int)arg);
                case "RingDescriptor.maxRecordLength" -> expected = RingDescriptor.maxRecordLength((int)arg);
                case "RingDescriptor.checkCapacity" -> expected = capacityAccepted((int)arg) ? 1 : 0;
                case "RecordDescriptor.align" -> expected = RecordDescriptor.align((int)arg);
                case "PeerSlotDescriptor.slotOffset" -> expected = PeerSlotDescriptor.slotOffset((int)arg);
                // The C program's claims: peer arg in session 0xABCD... + arg (peer 0's tag is 0), held in slot 3.
                case "PeerSlotDescriptor.claimWord" -> expected = PeerSlotDescriptor.claimWord((int)arg,
                    0xABCD_0000_0000_0000L + arg);
                case "PeerSlotDescriptor.claimHolder" -> expected = PeerSlotDescriptor.claimHolder(arg < 0 ? 0 :
                    PeerSlotDescriptor.claimWord((int)arg, 0xABCD_0000_0000_0000L + arg), 3);
                case "FenceSlotDescriptor.slotOffset" -> expected = FenceSlotDescriptor.slotOffset((int)arg);
                case "PageTableDescriptor.ownerPeer" -> expected = PageTableDescriptor.ownerPeer(arg);
                default ->
                {
                    problems.add(e.getKey() + ": no Java counterpart known to this test");
                    continue;
                }
            }
            checked++;
            compare(problems, constants, e.getKey(), expected);
        }
        if (checked < 20)
        {
            problems.add("only " + checked + " helper values were printed by the C program; expected at least 20");
        }
        report("helper functions", problems);
    }

    /** The frame header's placement and validity rules, C helpers against the Java descriptor. */
    @Test
    void frameHeaderRulesMatch()
    {
        final Pattern call = Pattern.compile("frame\\.(\\w+)\\((\\d+),(\\d+),(\\d+)\\)");
        final List<String> problems = new ArrayList<>();
        int checked = 0;
        for (final Map.Entry<String, String> e : constants.entrySet())
        {
            final Matcher m = call.matcher(e.getKey());
            if (!m.matches())
            {
                continue;
            }
            final long a = Long.parseUnsignedLong(m.group(2));
            final long b = Long.parseUnsignedLong(m.group(3));
            final long c = Long.parseUnsignedLong(m.group(4));
            final boolean java;
            switch (m.group(1))
            {
                case "placementValid" -> java = a >= 0 && c >= 0 && FrameHeaderDescriptor.placementValid(a, b, c);
                // The C program checks each header as frame 5 of a stream of 1000-byte frames.
                case "valid" -> java = FrameHeaderDescriptor.valid(5, a, b, (int)c, 1000);
                default ->
                {
                    problems.add(e.getKey() + ": no Java counterpart known to this test");
                    continue;
                }
            }
            checked++;
            compare(problems, constants, e.getKey(), java ? 1 : 0);
        }
        if (checked < 15)
        {
            problems.add("only " + checked + " frame header checks were printed by the C program; expected 17");
        }
        report("frame header rules", problems);
    }

    // ------------------------------------------------------------------------------------------------------
    // Layout computation
    // ------------------------------------------------------------------------------------------------------

    /** Parameter sets: {region_size, page_size, max_peers, ring_capacity, fence_slots} as unsigned values. */
    private static final long[][] LAYOUTS = {
        // valid
        {16L << 20, 4096, 8, 64 * 1024, 1024},                 // the defaults on 16 MiB
        {64L << 20, 4096, 2, 4096, 0},                         // smallest rings, no fences
        {256L << 20, 65536, 16, 256 * 1024, 4096},             // 64 KiB pages
        {1L << 30, 2L << 20, 4, 1 << 20, 1 << 20},             // 2 MiB pages, max fence slots
        {(512L << 20) + 12345, 8192, 3, 8192, 77},             // odd region size, odd peer count
        {512L << 20, 4096, 256, 4096, 100},                    // max_peers limit: 256^2 rings
        {(4L << 30) + 4096, 1 << 30, 2, 1 << 24, 1},           // largest page size and ring capacity
        {5L << 40, 4096, 8, 65536, 1024},                      // 5 TiB region: 64-bit arithmetic
        {1L << 20, 4096, 2, 4096, 0},                          // tiny region, a few pages
        // invalid, one parameter each (and the order the parameters are checked in)
        {16L << 20, 2048, 8, 65536, 1024},                     // page_size < 4096
        {16L << 20, 6144, 8, 65536, 1024},                     // page_size not a power of two
        {16L << 20, 1L << 31, 8, 65536, 1024},                 // page_size 2^31: negative as a Java int
        {16L << 20, 4096, 1, 65536, 1024},                     // max_peers < 2
        {16L << 20, 4096, 257, 65536, 1024},                   // max_peers > 256
        {16L << 20, 4096, 0xFFFFFFFFL, 65536, 1024},           // max_peers -1 as a Java int
        {16L << 20, 4096, 8, 2048, 1024},                      // ring too small
        {16L << 20, 4096, 8, 3 * 4096, 1024},                  // ring not a power of two
        {16L << 20, 4096, 8, 1 << 25, 1024},                   // ring too big
        {16L << 20, 4096, 8, 65536, (1 << 20) + 1},            // too many fence slots
        {16L << 20, 4096, 8, 65536, 0x80000000L},              // fence_slots negative as a Java int
        {4L << 20, 4096, 8, 65536, 1024},                      // rings alone exceed the region
        {0, 4096, 2, 4096, 0},                                 // empty region
        {16L << 20, 1024, 300, 3, 0x80000000L},                // all bad: page_size is reported first
        {16L << 20, 4096, 300, 3, 0x80000000L},                // then max_peers
        {16L << 20, 4096, 8, 3, 0x80000000L},                  // then ring capacity
        {1, 4096, 8, 4096, 0x80000000L},                       // then fence_slots, before region_size
    };

    /**
     * The C inline {@code hdmabuf_region_layout_compute} against {@link RegionLayout#compute}: every field for
     * valid parameters, and for invalid ones the same verdict naming the same parameter.
     */
    @Test
    void layoutComputationMatchesRegionLayoutCompute() throws Exception
    {
        final List<String> args = new ArrayList<>();
        for (final long[] p : LAYOUTS)
        {
            args.add("--layout");
            args.add(layoutArg(p));
        }
        final Map<String, String> out = dump(args.toArray(new String[0]));
        final List<String> problems = new ArrayList<>();
        int valid = 0;
        for (final long[] p : LAYOUTS)
        {
            final String prefix = "layout[" + layoutArg(p) + "]";
            final String status = out.get(prefix + ".status");
            RegionLayout java = null;
            String javaError = null;
            try
            {
                // Java reads these as signed ints from the header (SharedRegion.validate): mirror that.
                java = RegionLayout.compute(p[0], (int)p[1], (int)p[2], (int)p[3], (int)p[4]);
            }
            catch (final IllegalArgumentException e)
            {
                javaError = e.getMessage();
            }
            if (java != null)
            {
                valid++;
                if (!"ok".equals(status))
                {
                    problems.add(prefix + ": C rejects the parameters (" + status + "), Java computes " + java);
                    continue;
                }
                compareLayout(problems, out, prefix, java);
            }
            else
            {
                final String expectedPrefix = switch (String.valueOf(status))
                {
                    case "page_size" -> "page_size=";
                    case "max_peers" -> "max_peers=";
                    case "ring_capacity" -> "ring capacity=";
                    case "fence_slots" -> "fence_slots=";
                    case "region_size" -> "region_size=";
                    default -> null;
                };
                if (expectedPrefix == null)
                {
                    problems.add(prefix + ": Java rejects (" + javaError + ") but C says status=" + status);
                }
                else if (!javaError.startsWith(expectedPrefix))
                {
                    problems.add(prefix + ": C rejects " + status + ", Java rejects another parameter: " + javaError);
                }
            }
        }
        if (valid < 5)
        {
            problems.add("only " + valid + " valid parameter sets; the test needs at least 5");
        }
        report("RegionLayout.compute", problems);
    }

    /** The C limits that RegionLayout.compute expresses as literals, probed at and beyond each boundary. */
    @Test
    void layoutLimitsMatchRegionLayoutBehaviour()
    {
        final List<String> problems = new ArrayList<>();
        final long region = 8L << 30;
        final int minPeers = Integer.parseInt(constants.get("limit.HDMABUF_LAYOUT_MIN_MAX_PEERS"));
        probe(problems, "MIN_MAX_PEERS accepted", () -> RegionLayout.compute(region, 4096, minPeers, 4096, 0), true);
        probe(problems, "MIN_MAX_PEERS - 1 rejected",
            () -> RegionLayout.compute(region, 4096, minPeers - 1, 4096, 0), false);
        final int minPage = Integer.parseInt(constants.get("limit.HDMABUF_LAYOUT_MIN_PAGE_SIZE"));
        probe(problems, "MIN_PAGE_SIZE accepted", () -> RegionLayout.compute(region, minPage, 2, 4096, 0), true);
        probe(problems, "MIN_PAGE_SIZE / 2 rejected",
            () -> RegionLayout.compute(region, minPage / 2, 2, 4096, 0), false);
        final long maxPage = Long.parseLong(constants.get("limit.HDMABUF_LAYOUT_MAX_PAGE_SIZE"));
        probe(problems, "MAX_PAGE_SIZE accepted", () -> RegionLayout.compute(region, (int)maxPage, 2, 4096, 0), true);
        probe(problems, "MAX_PAGE_SIZE * 2 rejected",
            () -> RegionLayout.compute(region, (int)(maxPage * 2), 2, 4096, 0), false);
        final int maxFences = Integer.parseInt(constants.get("limit.HDMABUF_LAYOUT_MAX_FENCE_SLOTS"));
        probe(problems, "MAX_FENCE_SLOTS accepted", () -> RegionLayout.compute(region, 4096, 2, 4096, maxFences), true);
        probe(problems, "MAX_FENCE_SLOTS + 1 rejected",
            () -> RegionLayout.compute(region, 4096, 2, 4096, maxFences + 1), false);
        report("layout limits", problems);
    }

    // ------------------------------------------------------------------------------------------------------
    // Page-table owner words
    // ------------------------------------------------------------------------------------------------------

    @Test
    void ownerWordsMatchPageTableDescriptor() throws Exception
    {
        final long[][] pairs = {
            {0, 0}, {0, 1}, {1, 0xFFFF_FFFFL}, {3, 0xDEADBEEFCAFEF00DL}, {7, 0x8000_0000_0000_0000L},
            {254, 0x1_0000_0000L}, {255, -1L}, {65535, 0x0123_4567_89AB_CDEFL},
        };
        final List<String> args = new ArrayList<>();
        for (final long[] p : pairs)
        {
            args.add("--owner");
            args.add(p[0] + "," + Long.toUnsignedString(p[1]));
        }
        final Map<String, String> out = dump(args.toArray(new String[0]));
        final List<String> problems = new ArrayList<>();
        for (final long[] p : pairs)
        {
            final String prefix = "owner[" + p[0] + "," + Long.toUnsignedString(p[1]) + "]";
            final long word = PageTableDescriptor.ownerWord((int)p[0], p[1]);
            compare(problems, out, prefix + ".word", word);
            compare(problems, out, prefix + ".peer", PageTableDescriptor.ownerPeer(word));
            compare(problems, out, prefix + ".session_low", p[1] & 0xFFFF_FFFFL);
        }
        report("page-table owner words", problems);
    }

    // ------------------------------------------------------------------------------------------------------
    // Headers exchanged between the implementations
    // ------------------------------------------------------------------------------------------------------

    private static final long[][] HEADER_PARAMS = {
        {16L << 20, 4096, 8, 64 * 1024, 1024},
        {4L << 20, 4096, 2, 4096, 16},
        {(8L << 20) + 4096, 16384, 3, 8192, 5},
    };

    /**
     * Java formats a region ({@link SharedRegion#formatOrAttach}), C validates its header with
     * {@code hdmabuf_region_header_validate}; then C formats the same parameters and the two headers must be
     * byte-identical, and Java's {@link SharedRegion#validate} accepts the C one.
     */
    @Test
    void headersAreByteIdenticalAndCrossValidate() throws Exception
    {
        final List<String> problems = new ArrayList<>();
        int n = 0;
        for (final long[] p : HEADER_PARAMS)
        {
            final long session = 0x5EC7_10AA_0000_0000L + n;
            final byte[] javaHeader = javaFormattedHeader(p, session);
            final Path javaFile = workDir.resolve("java-header-" + n + ".bin");
            Files.write(javaFile, javaHeader);
            final Path cFile = workDir.resolve("c-header-" + n + ".bin");
            Files.deleteIfExists(cFile);
            final Map<String, String> out = dump("--check-header", javaFile + "," + p[0],
                "--write-header", cFile + "," + layoutArg(p) + "," + Long.toUnsignedString(session));
            final String what = "header " + layoutArg(p);
            final RegionLayout layout = RegionLayout.compute(p[0], (int)p[1], (int)p[2], (int)p[3], (int)p[4]);
            if (!"ok".equals(out.get("check.status")))
            {
                problems.add(what + ": C rejects the Java-formatted header: check.status=" + out.get("check.status"));
            }
            else
            {
                compareLayout(problems, out, "check", layout);
                compare(problems, out, "check.format_state", RegionHeaderDescriptor.FORMAT_STATE_READY);
                compare(problems, out, "check.formatter_session", session);
            }
            if (!"ok".equals(out.get("write.status")))
            {
                problems.add(what + ": C refused to format: write.status=" + out.get("write.status"));
                n++;
                continue;
            }
            final byte[] cHeader = Files.readAllBytes(cFile);
            final int diff = firstDifference(javaHeader, cHeader);
            if (diff >= 0)
            {
                problems.add(what + ": C and Java headers differ first at byte " + diff + " (Java " +
                    (diff < javaHeader.length ? javaHeader[diff] & 0xFF : "EOF") + ", C " +
                    (diff < cHeader.length ? cHeader[diff] & 0xFF : "EOF") + ")");
            }
            final MemoryWindow window = window(cHeader);
            if (window.getLongAcquire(RegionHeaderDescriptor.MAGIC_OFFSET) != RegionHeaderDescriptor.MAGIC)
            {
                problems.add(what + ": C-formatted header has no magic");
            }
            try
            {
                final RegionLayout fromC = SharedRegion.validate(window, p[0]);
                if (!fromC.equals(layout))
                {
                    problems.add(what + ": Java validates the C header to " + fromC + ", expected " + layout);
                }
            }
            catch (final ShmCorruptionException e)
            {
                problems.add(what + ": Java rejects the C-formatted header: " + e.getMessage());
            }
            n++;
        }
        report("header exchange", problems);
    }

    /**
     * Corrupted headers: Java and C must both refuse each one, for the same reason class. This pins the
     * attach-time validation rules of ABI.md ("refuse on mismatch") in both implementations.
     */
    @Test
    void corruptedHeadersAreRefusedByBothImplementations() throws Exception
    {
        final long[] p = HEADER_PARAMS[0];
        final long session = 77;
        final byte[] good = javaFormattedHeader(p, session);
        final Map<String, Consumer<ByteBuffer>> corruptions = new LinkedHashMap<>();
        corruptions.put("version", b -> b.putInt(RegionHeaderDescriptor.LAYOUT_VERSION_OFFSET, 2));
        corruptions.put("size:header_length", b -> b.putInt(RegionHeaderDescriptor.HEADER_LENGTH_OFFSET, 8192));
        corruptions.put("size:region_size", b -> b.putLong(RegionHeaderDescriptor.REGION_SIZE_OFFSET, p[0] * 2));
        corruptions.put("params:page_size", b -> b.putInt(RegionHeaderDescriptor.PAGE_SIZE_OFFSET, 3000));
        corruptions.put("params:max_peers", b -> b.putInt(RegionHeaderDescriptor.MAX_PEERS_OFFSET, 100_000));
        corruptions.put("params:ring_capacity", b -> b.putInt(RegionHeaderDescriptor.RING_CAPACITY_OFFSET, -65536));
        corruptions.put("params:fence_slots", b -> b.putInt(RegionHeaderDescriptor.FENCE_SLOTS_OFFSET, -1));
        corruptions.put("offsets:peer_table_offset", b -> b.putLong(RegionHeaderDescriptor.PEER_TABLE_OFFSET_OFFSET, 0));
        corruptions.put("offsets:ring_area_offset", b -> b.putLong(RegionHeaderDescriptor.RING_AREA_OFFSET_OFFSET,
            b.getLong(RegionHeaderDescriptor.RING_AREA_OFFSET_OFFSET) + 4096));
        corruptions.put("offsets:ring_stride", b -> b.putLong(RegionHeaderDescriptor.RING_STRIDE_OFFSET,
            b.getLong(RegionHeaderDescriptor.RING_STRIDE_OFFSET) + 256));
        corruptions.put("offsets:page_table_offset", b -> b.putLong(RegionHeaderDescriptor.PAGE_TABLE_OFFSET_OFFSET,
            -1L));
        corruptions.put("offsets:fence_table_offset", b -> b.putLong(
            RegionHeaderDescriptor.FENCE_TABLE_OFFSET_OFFSET, b.getLong(RegionHeaderDescriptor.FENCE_TABLE_OFFSET_OFFSET) - 8));
        corruptions.put("offsets:pool_offset", b -> b.putLong(RegionHeaderDescriptor.POOL_OFFSET_OFFSET, 4096));
        corruptions.put("offsets:pool_pages", b -> b.putLong(RegionHeaderDescriptor.POOL_PAGES_OFFSET,
            b.getLong(RegionHeaderDescriptor.POOL_PAGES_OFFSET) + 1));
        final List<String> problems = new ArrayList<>();
        for (final Map.Entry<String, Consumer<ByteBuffer>> c : corruptions.entrySet())
        {
            final byte[] bad = good.clone();
            c.getValue().accept(ByteBuffer.wrap(bad).order(ByteOrder.LITTLE_ENDIAN));
            final Path file = workDir.resolve("corrupt-" + c.getKey().replace(':', '-') + ".bin");
            Files.write(file, bad);
            final String cStatus = dump("--check-header", file + "," + p[0]).get("check.status");
            final String expected = c.getKey().contains(":") ? c.getKey().substring(0, c.getKey().indexOf(':'))
                : c.getKey();
            if (!expected.equals(cStatus))
            {
                problems.add("corruption " + c.getKey() + ": C check.status=" + cStatus + ", expected " + expected);
            }
            try
            {
                final RegionLayout accepted = SharedRegion.validate(window(bad), p[0]);
                problems.add("corruption " + c.getKey() + ": Java SharedRegion.validate accepted it as " + accepted);
            }
            catch (final ShmCorruptionException expectedException)
            {
                // refused, as it must be
            }
        }
        report("corrupted headers", problems);
    }

    // ------------------------------------------------------------------------------------------------------
    // helpers
    // ------------------------------------------------------------------------------------------------------

    private static byte[] javaFormattedHeader(final long[] p, final long session) throws Exception
    {
        final ByteBuffer region = ByteBuffer.allocateDirect((int)p[0]).order(ByteOrder.LITTLE_ENDIAN);
        final SharedRegion.Mapper mapper = (offset, length) -> new MemoryWindow(region.slice((int)offset, (int)length));
        final SharedRegion shm = SharedRegion.formatOrAttach(p[0], mapper,
            new SharedRegion.FormatParams((int)p[1], (int)p[2], (int)p[3], (int)p[4]), session, 1000);
        if (!shm.formattedByUs())
        {
            fail("SharedRegion.formatOrAttach did not format a blank region");
        }
        final byte[] header = new byte[RegionHeaderDescriptor.HEADER_LENGTH];
        region.get(0, header);
        return header;
    }

    private static MemoryWindow window(final byte[] bytes)
    {
        final ByteBuffer direct = ByteBuffer.allocateDirect(bytes.length);
        direct.put(0, bytes);
        return new MemoryWindow(direct);
    }

    private static int firstDifference(final byte[] a, final byte[] b)
    {
        final int n = Math.min(a.length, b.length);
        for (int i = 0; i < n; i++)
        {
            if (a[i] != b[i])
            {
                return i;
            }
        }
        return a.length == b.length ? -1 : n;
    }

    private static void compareLayout(final List<String> problems, final Map<String, String> out, final String prefix,
        final RegionLayout java)
    {
        compare(problems, out, prefix + ".region_size", java.regionSize());
        compare(problems, out, prefix + ".page_size", java.pageSize());
        compare(problems, out, prefix + ".max_peers", java.maxPeers());
        compare(problems, out, prefix + ".ring_capacity", java.ringCapacity());
        compare(problems, out, prefix + ".fence_slots", java.fenceSlots());
        compare(problems, out, prefix + ".peer_table_offset", java.peerTableOffset());
        compare(problems, out, prefix + ".ring_area_offset", java.ringAreaOffset());
        compare(problems, out, prefix + ".ring_stride", java.ringStride());
        compare(problems, out, prefix + ".page_table_offset", java.pageTableOffset());
        compare(problems, out, prefix + ".fence_table_offset", java.fenceTableOffset());
        compare(problems, out, prefix + ".pool_offset", java.poolOffset());
        compare(problems, out, prefix + ".pool_pages", java.poolPages());
        compare(problems, out, prefix + ".control_length", java.controlLength());
        compare(problems, out, prefix + ".pool_bytes", java.poolBytes());
        compare(problems, out, prefix + ".ring_offset(0,1)", java.ringOffset(0, 1));
        compare(problems, out, prefix + ".ring_offset(1,0)", java.ringOffset(1, 0));
        compare(problems, out, prefix + ".ring_offset(last,last)",
            java.ringOffset(java.maxPeers() - 1, java.maxPeers() - 1));
    }

    private static void compare(final List<String> problems, final Map<String, String> out, final String key,
        final long expected)
    {
        final String value = out.get(key);
        if (value == null)
        {
            problems.add(key + ": not printed by the C program (Java value " + expected + ")");
        }
        else if (Long.parseLong(value) != expected)
        {
            problems.add(key + ": C says " + value + ", Java says " + expected);
        }
    }

    private static boolean capacityAccepted(final int capacity)
    {
        try
        {
            RingDescriptor.checkCapacity(capacity);
            return true;
        }
        catch (final IllegalArgumentException e)
        {
            return false;
        }
    }

    private static void probe(final List<String> problems, final String what, final Runnable compute,
        final boolean accepted)
    {
        boolean ok;
        try
        {
            compute.run();
            ok = true;
        }
        catch (final IllegalArgumentException e)
        {
            ok = false;
        }
        if (ok != accepted)
        {
            problems.add(what + ": RegionLayout.compute " + (ok ? "accepts" : "rejects") + " it, the C limit says " +
                (accepted ? "accept" : "reject"));
        }
    }

    private static String layoutArg(final long[] p)
    {
        return Long.toUnsignedString(p[0]) + "," + p[1] + "," + p[2] + "," + p[3] + "," + p[4];
    }

    private static void report(final String what, final List<String> problems)
    {
        if (!problems.isEmpty())
        {
            fail(what + ": " + problems.size() + " mismatch(es) between abi-spec/include/hyperdmabuf_shm.h and " +
                "org.hyperdmabuf.hv.shm:\n  " + String.join("\n  ", problems));
        }
    }

    private static Map<String, String> dump(final String... args) throws IOException, InterruptedException
    {
        final List<String> command = new ArrayList<>();
        command.add(binary.toString());
        command.addAll(List.of(args));
        final ProcessResult r = exec(command);
        assertEquals(0, r.exit, () -> "shm_layout_dump " + String.join(" ", args) + " failed: " + r.stderr);
        final Map<String, String> values = new LinkedHashMap<>();
        for (final String line : r.stdout.split("\n"))
        {
            if (line.isEmpty())
            {
                continue;
            }
            final int eq = line.indexOf('=');
            if (eq <= 0)
            {
                fail("malformed line from shm_layout_dump: \"" + line + "\"");
            }
            if (values.put(line.substring(0, eq), line.substring(eq + 1)) != null)
            {
                fail("shm_layout_dump printed " + line.substring(0, eq) + " twice");
            }
        }
        return values;
    }

    private record ProcessResult(int exit, String stdout, String stderr)
    {
    }

    private static ProcessResult exec(final List<String> command) throws IOException, InterruptedException
    {
        final Path err = Files.createTempFile("shm-abi", ".err");
        try
        {
            final Process process = new ProcessBuilder(command).redirectError(err.toFile()).start();
            process.getOutputStream().close();
            final String stdout = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!process.waitFor(60, TimeUnit.SECONDS))
            {
                process.destroyForcibly();
                fail("timed out: " + String.join(" ", command));
            }
            return new ProcessResult(process.exitValue(), stdout, Files.readString(err));
        }
        finally
        {
            Files.deleteIfExists(err);
        }
    }

    private static Optional<Path> findOnPath(final String name)
    {
        final String path = System.getenv("PATH");
        if (path == null)
        {
            return Optional.empty();
        }
        for (final String dir : path.split(File.pathSeparator))
        {
            final Path candidate = Paths.get(dir.isEmpty() ? "." : dir, name);
            if (Files.isExecutable(candidate) && !Files.isDirectory(candidate))
            {
                return Optional.of(candidate);
            }
        }
        return Optional.empty();
    }

    /** The header must also be usable from C++ (static_assert instead of _Static_assert, extern "C"). */
    @Test
    void headerCompilesAsCxx() throws Exception
    {
        final Optional<Path> gxx = findOnPath("g++");
        assumeTrue(gxx.isPresent(), "g++ not installed: C++ compatibility of the header not checked");
        final Path source = workDir.resolve("cxx_include.cc");
        Files.writeString(source, "#include \"hyperdmabuf_shm.h\"\nint main() { struct hdmabuf_region_layout l; " +
            "return hdmabuf_region_layout_compute(&l, 16u << 20, 4096, 8, 65536, 1024) == HDMABUF_LAYOUT_OK ? 0 : 1; }\n");
        final Path out = workDir.resolve("cxx_include");
        final ProcessResult cc = exec(List.of(gxx.get().toString(), "-std=c++11", "-Wall", "-Wextra", "-Werror",
            "-pedantic-errors", "-I", includeDir.toString(), "-o", out.toString(), source.toString()));
        assertEquals(0, cc.exit, () -> "g++ -std=c++11 failed on hyperdmabuf_shm.h:\n" + cc.stderr);
        final ProcessResult run = exec(List.of(out.toString()));
        assertEquals(0, run.exit, "C++ build of hdmabuf_region_layout_compute rejected the default parameters");
    }
}
