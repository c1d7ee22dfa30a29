package org.hyperdmabuf.tests.security;

import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Exported;
import org.hyperdmabuf.abi.v1.FenceDoorbell;
import org.hyperdmabuf.abi.v1.FenceWake;
import org.hyperdmabuf.abi.v1.FenceSignal;
import org.hyperdmabuf.abi.v1.FenceWait;
import org.hyperdmabuf.abi.v1.Import;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.abi.v1.Query;
import org.hyperdmabuf.abi.v1.Release;
import org.hyperdmabuf.abi.v1.Request;
import org.hyperdmabuf.abi.v1.Timeline;
import org.hyperdmabuf.abi.v1.Unexport;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.HdmabufException;
import org.hyperdmabuf.tests.support.Await;
import org.hyperdmabuf.tests.support.SystemTest;
import org.hyperdmabuf.tests.support.TwoVmSystem;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A local client guessing buffer ids learns nothing: random ids, ids next to real ones, another client's
 * ids and ids of unexported buffers all answer ENOENT with the same message, on every operation that takes an
 * id, and without a latency difference worth naming. Ids carry a 64-bit nonce from a CSPRNG (SinkRole draws it
 * with {@code SecureRandom.nextLong()}); the test checks what it can of that from outside.
 */
@SystemTest
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class IdGuessingTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(20);
    private static final long SEED = Long.getLong("hdmabuf.fuzz.seed", System.nanoTime());

    private TwoVmSystem system;
    private HdmabufClient owner;
    private HdmabufClient guesser;
    private HdmabufClient consumer;
    private Allocation allocation;
    private BufferId real;
    private BufferId gone;

    @BeforeAll
    void start() throws Exception
    {
        system = TwoVmSystem.startInTempDir("hdg", 16L << 20, List.of(), List.of());
        owner = HdmabufClient.connect(system.sinkSocket());
        guesser = HdmabufClient.connect(system.sinkSocket());
        consumer = HdmabufClient.connect(system.sourceSocket());
        allocation = owner.alloc(4096);
        real = export().getId();
        final Exported withdrawn = owner.export(owner.alloc(4096).handle(), system.sourceVm(), metadata(),
            Access.ACCESS_READ_WRITE);
        gone = withdrawn.getId();
        owner.unexport(gone);
        Await.until("the source knows the live export", TIMEOUT, () -> known(real));
    }

    @AfterAll
    void stop() throws Exception
    {
        for (final AutoCloseable c : new AutoCloseable[] {allocation, owner, guesser, consumer})
        {
            if (c != null)
            {
                c.close();
            }
        }
        system.closeAndVerify();
    }

    /** Every id operation on the sink answers a guess exactly as it answers another client's real id. */
    @Test
    void everyGuessOnTheSinkIsEnoentWithOneMessagePerOperation() throws Exception
    {
        final Random random = new Random(SEED);
        final Map<String, Function<BufferId, Request.Builder>> ops = new TreeMap<>(Map.of(
            "QUERY", id -> Request.newBuilder().setQuery(Query.newBuilder().setId(id)),
            "UNEXPORT", id -> Request.newBuilder().setUnexport(Unexport.newBuilder().setId(id)),
            "FENCE_SIGNAL", id -> Request.newBuilder().setFenceSignal(FenceSignal.newBuilder().setId(id)
                .setTimeline(Timeline.TIMELINE_ACQUIRE).setValue(1)),
            "FENCE_WAIT", id -> Request.newBuilder().setFenceWait(FenceWait.newBuilder().setId(id)
                .setTimeline(Timeline.TIMELINE_RELEASE).setValue(1).setTimeoutMs(1)),
            "FENCE_DOORBELL", id -> Request.newBuilder().setFenceDoorbell(FenceDoorbell.newBuilder().setId(id)),
            "FENCE_WAKE", id -> Request.newBuilder().setFenceWake(FenceWake.newBuilder().setId(id))));
        for (final Map.Entry<String, Function<BufferId, Request.Builder>> op : ops.entrySet())
        {
            final Set<String> answers = new HashSet<>();
            for (final BufferId id : guesses(random, system.sinkVm(), 500))
            {
                answers.add(answer(guesser, op.getValue().apply(id)));
            }
            assertEquals(1, answers.size(), op.getKey() + " answers guesses differently: " + answers);
            final String guessed = answers.iterator().next();
            assertTrue(guessed.startsWith("ENOENT:"), op.getKey() + ": " + guessed);
            assertEquals(guessed, answer(guesser, op.getValue().apply(real)), op.getKey() +
                " on another client's export differs from a guess");
            assertEquals(guessed, answer(guesser, op.getValue().apply(gone)), op.getKey() +
                " on an unexported id differs from a guess");
            assertEquals(guessed, answer(owner, op.getValue().apply(gone)), op.getKey() +
                " on the owner's own unexported id differs from a guess");
        }
        assertEquals(system.sourceVm(), owner.query(real).getTargetVm(), "the owner still has its export");
    }

    /** The source answers IMPORT and RELEASE of guessed, near and withdrawn ids the same way. */
    @Test
    void everyGuessOnTheSourceIsEnoentWithOneMessage() throws Exception
    {
        final Random random = new Random(SEED + 1);
        final List<BufferId> ids = guesses(random, system.sinkVm(), 500);
        ids.add(gone);
        for (final String op : List.of("IMPORT", "RELEASE", "QUERY"))
        {
            final Set<String> answers = new HashSet<>();
            for (final BufferId id : ids)
            {
                answers.add(answer(consumer, switch (op)
                {
                    case "IMPORT" -> Request.newBuilder().setImport(Import.newBuilder().setId(id));
                    case "RELEASE" -> Request.newBuilder().setRelease(Release.newBuilder().setId(id));
                    default -> Request.newBuilder().setQuery(Query.newBuilder().setId(id));
                }));
            }
            assertEquals(1, answers.size(), op + " answers guesses differently: " + answers);
            assertTrue(answers.iterator().next().startsWith("ENOENT:"), op + ": " + answers);
        }
    }

    /**
     * Coarse timing: the median QUERY latency for guessed ids and for another client's real id, sampled
     * interleaved so both see the same load. A hash lookup hides nothing measurable behind a socket round trip;
     * the bound is generous (3x) so load on a shared CI machine cannot make it flaky.
     */
    @Test
    void aGuessAndAnotherClientsIdTakeTheSameTime() throws Exception
    {
        final Random random = new Random(SEED + 2);
        final int samples = 1500;
        final long[] guessed = new long[samples];
        final long[] existing = new long[samples];
        final Request.Builder warm = Request.newBuilder().setQuery(Query.newBuilder().setId(real));
        for (int i = 0; i < 200; i++)
        {
            answer(guesser, warm);
        }
        for (int i = 0; i < samples; i++)
        {
            final BufferId g = guesses(random, system.sinkVm(), 1).get(0);
            guessed[i] = timed(Request.newBuilder().setQuery(Query.newBuilder().setId(g)));
            existing[i] = timed(Request.newBuilder().setQuery(Query.newBuilder().setId(real)));
        }
        final double g = median(guessed) / 1e3;
        final double e = median(existing) / 1e3;
        System.out.printf("id guessing: median QUERY latency, guessed id %.1f us, another client's id %.1f us " +
            "(%d samples each)%n", g, e, samples);
        assertTrue(g < 3 * e && e < 3 * g, "medians differ more than 3x: guessed " + g + " us, existing " + e + " us");
    }

    /**
     * Nonces of 600 consecutive exports: no collision, every one of the 64 bits takes both values and is set in
     * about half of them (a fair bit is outside 35..65 % in 600 draws with probability below 10^-12), and the
     * export numbers (sequential by design) do not predict them.
     */
    @Test
    void nonceBitsAreUniformAndUnique() throws Exception
    {
        final int n = 600;
        final long[] nonces = new long[n];
        final Set<Long> distinct = new HashSet<>();
        final Allocation fresh = owner.alloc(4096);
        for (int i = 0; i < n; i++)
        {
            // Each EXPORT after an UNEXPORT is a new export with a new id (a re-export would keep the id).
            final Exported e = owner.export(fresh.handle(), system.sourceVm(), metadata(), Access.ACCESS_READ_WRITE);
            nonces[i] = e.getId().getNonce();
            distinct.add(nonces[i]);
            assertTrue(!e.getReexport(), "export " + i + " is new");
            owner.unexport(e.getId());
        }
        owner.free(fresh.handle());
        fresh.close();
        assertEquals(n, distinct.size(), "nonce collision");
        for (int bit = 0; bit < 64; bit++)
        {
            int set = 0;
            for (final long v : nonces)
            {
                set += (int)((v >>> bit) & 1);
            }
            assertTrue(set > n * 0.35 && set < n * 0.65, "nonce bit " + bit + " set in " + set + " of " + n);
        }
        int sameAsPrevPlusOne = 0;
        for (int i = 1; i < n; i++)
        {
            sameAsPrevPlusOne += nonces[i] == nonces[i - 1] + 1 ? 1 : 0;
        }
        assertEquals(0, sameAsPrevPlusOne, "nonces follow each other");
    }

    // ---- helpers ----

    /** Random ids, ids next to the real one (nonce +-1, one bit flipped, next export numbers). */
    private List<BufferId> guesses(final Random random, final int vm, final int n)
    {
        final List<BufferId> ids = new ArrayList<>();
        for (int i = 0; i < n; i++)
        {
            final BufferId.Builder b = real.toBuilder();
            switch (random.nextInt(5))
            {
                case 0 -> b.setNonce(real.getNonce() + (random.nextBoolean() ? 1 : -1));
                case 1 -> b.setNonce(real.getNonce() ^ (1L << random.nextInt(64)));
                case 2 -> b.setExportNumber(real.getExportNumber() + 1 + random.nextInt(4));
                case 3 -> b.setExportNumber(random.nextInt()).setNonce(random.nextLong());
                default -> b.setExporterVm(vm).setExportNumber(real.getExportNumber()).setNonce(random.nextLong());
            }
            ids.add(b.build());
        }
        return ids;
    }

    /** "CODE: message" of a request that must fail. */
    private static String answer(final HdmabufClient client, final Request.Builder request) throws Exception
    {
        try
        {
            client.call(request);
            return "OK";
        }
        catch (final HdmabufException e)
        {
            return e.code() + ": " + e.getMessage();
        }
    }

    private long timed(final Request.Builder request) throws Exception
    {
        final long t0 = System.nanoTime();
        final String a = answer(guesser, request);
        final long t = System.nanoTime() - t0;
        assertTrue(a.startsWith(ErrorCode.ENOENT + ":"), a);
        return t;
    }

    private static double median(final long[] values)
    {
        final long[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }

    private Exported export() throws Exception
    {
        return owner.export(allocation.handle(), system.sourceVm(), metadata(), Access.ACCESS_READ_WRITE);
    }

    private static Metadata metadata()
    {
        return Metadata.newBuilder().setVersion(1).setContentType("application/x-guess").build();
    }

    private boolean known(final BufferId id) throws Exception
    {
        try
        {
            return consumer.query(id).getExporterVm() > 0;
        }
        catch (final HdmabufException e)
        {
            return false;
        }
    }
}
