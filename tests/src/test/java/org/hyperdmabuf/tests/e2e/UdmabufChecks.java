package org.hyperdmabuf.tests.e2e;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.Caps;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.DmaBufImport;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.HdmabufException;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.nativeio.UdmaBuf;
import org.hyperdmabuf.tests.support.Await;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BiConsumer;

import static org.hyperdmabuf.tests.e2e.E2e.errorOf;
import static org.hyperdmabuf.tests.e2e.E2e.fill;
import static org.hyperdmabuf.tests.e2e.E2e.firstMismatch;
import static org.hyperdmabuf.tests.e2e.E2e.longs;
import static org.hyperdmabuf.tests.e2e.E2e.nextEvent;
import static org.hyperdmabuf.tests.e2e.E2e.rule;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The checks of dma-buf imports (ABI.md "Dma-buf imports") between a producer on a sink and a consumer on a source
 * of one host-mode system: {@link DmaBufImportTest} runs them where this host has udmabuf, {@code UdmabufGuestTest}
 * in a QEMU guest whose kernel has it, through {@link #main}. Each check fails with an {@link AssertionError} and
 * reports what it observed.
 */
public final class UdmabufChecks
{
    /** The size of the buffers the checks share. */
    public static final int BUFFER = 1 << 20;
    /** The prefix of {@link #main}'s lines: {@code CHECK name PASS}, {@code CHECK name FAIL why}, observations. */
    public static final String LINE = "CHECK ";

    private final HdmabufClient producer;
    private final HdmabufClient consumer;
    private final BiConsumer<String, Object> observed;

    /** {@code observed} receives each observation as (name, value). */
    public UdmabufChecks(final HdmabufClient producer, final HdmabufClient consumer,
        final BiConsumer<String, Object> observed)
    {
        this.producer = producer;
        this.consumer = consumer;
        this.observed = observed;
    }

    /** Exports {@code a} to the consumer's VM, tagged {@code tag}; returns once the consumer saw it added. */
    BufferId exportTo(final Allocation a, final Access access, final String tag) throws Exception
    {
        final long subscription = consumer.subscribe(List.of(rule("TAG_TEST=" + tag)), false);
        final BufferId id = producer.export(a.handle(), consumer.caps().getLocalVm(), Metadata.newBuilder()
            .setVersion(1).putTags("test", tag).build(), access).getId();
        nextEvent(consumer, "add", BufferIds.format(id));
        // Later events of this buffer (its removal) must not be taken for the next export's
        consumer.unsubscribe(subscription);
        return id;
    }

    /** Both daemons' caps say dma-bufs are available. */
    public void capsSayAvailable() throws IOException
    {
        for (final Caps caps : List.of(producer.caps(), consumer.caps()))
        {
            observed.accept("caps.dma_buf", caps.getDmaBuf() + " " + caps.getDmaBufUnavailable());
            assertTrue(caps.getDmaBuf(), caps.getDmaBufUnavailable());
        }
    }

    /**
     * The consumer's dma-buf is a udmabuf of exactly the buffer, with its bytes, writes seen both ways, no mapping
     * beyond it; after unexport, release and free, a new allocation of exactly its range (its region offset, from
     * ALLOC, equal to the old one's) never shows through it.
     * {@code initialFree} is the sink's free pool bytes with nothing allocated.
     */
    public void consumerGetsExactlyItsBuffer(final long initialFree) throws Exception
    {
        try (Allocation a = producer.alloc(BUFFER))
        {
            fill(a.buffer().bytes(), 4);
            final BufferId id = exportTo(a, Access.ACCESS_READ_WRITE, "dmabuf-rw");
            try (DmaBufImport imported = consumer.importDmaBuf(id))
            {
                final String fdinfo = Files.readString(Path.of("/proc/self/fdinfo/" + imported.dmaBufFd()));
                observed.accept("fdinfo", fdinfo.replace('\n', ' ').replace('\t', ' '));
                assertTrue(fdinfo.contains("exp_name:\tudmabuf"), fdinfo);
                assertTrue(fdinfo.contains("size:\t" + BUFFER + "\n"), fdinfo);
                assertTrue(fdinfo.contains("name:\thdmabuf-"), fdinfo);
                final long end = Native.check(Native.libc().lseek(imported.dmaBufFd(), 0, Native.SEEK_END), "lseek");
                observed.accept("lseek.end", end);
                assertEquals(BUFFER, end);
                assertEquals(BUFFER, imported.buffer().length());
                final int mismatch = firstMismatch(imported.buffer().bytes(), 4);
                observed.accept("bytes.first_mismatch", mismatch);
                assertEquals(-1, mismatch, "first differing word");
                longs(imported.buffer().bytes()).put(7, 0x600DF00DL);
                final long seenByProducer = longs(a.buffer().bytes()).get(7);
                observed.accept("consumer_write.seen_by_producer", Long.toHexString(seenByProducer));
                assertEquals(0x600DF00DL, seenByProducer, "consumer's write seen by the producer");
                longs(a.buffer().bytes()).put(9, 0xFEEDL);
                final long seenByConsumer = longs(imported.buffer().bytes()).get(9);
                observed.accept("producer_write.seen_by_consumer", Long.toHexString(seenByConsumer));
                assertEquals(0xFEEDL, seenByConsumer, "producer's write seen by the consumer");
                final NativeIoException beyond = assertThrows(NativeIoException.class,
                    () -> MappedMemory.map(imported.dmaBufFd(), 0, BUFFER + 4096L, true).close());
                observed.accept("mmap_beyond", beyond.getMessage());

                // Unexport, release and free while the consumer keeps its dma-buf: the range is punched and
                // detaches; the next allocation of exactly that range must never show through the stale dma-buf.
                fill(a.buffer().bytes(), 5);
                consumer.release(id);
                producer.unexport(id);
                producer.free(a.handle());
                E2e.awaitPoolFree(producer, initialFree);
                final List<Allocation> made = new ArrayList<>();
                try
                {
                    final Allocation next = allocationAt(a.offset(), initialFree, made);
                    observed.accept("stale.offsets.old_new", a.offset() + " " + next.offset());
                    assertEquals(a.offset(), next.offset(), "the new allocation reuses the freed range");
                    fill(next.buffer().bytes(), 6);
                    final int stale = firstMismatch(imported.buffer().bytes(), 5);
                    observed.accept("stale.first_mismatch_to_old_bytes", stale);
                    assertEquals(-1, stale, "the stale dma-buf keeps its bytes");
                }
                finally
                {
                    for (final Allocation m : made)
                    {
                        producer.free(m.handle());
                        m.close();
                    }
                }
            }
        }
    }

    /**
     * Allocates {@link #BUFFER} bytes until an allocation starts at {@code offset}, keeping each one in {@code made}
     * (the sink's page pool is next-fit: the allocation after a free takes the next range, and comes back to the
     * freed one only once the rest is taken); at most one per {@link #BUFFER} of the pool's {@code poolBytes}.
     * Returns the one at {@code offset}, else the last one made.
     */
    private Allocation allocationAt(final long offset, final long poolBytes, final List<Allocation> made)
        throws IOException
    {
        for (long left = poolBytes / BUFFER + 1; left > 0; left--)
        {
            made.add(producer.alloc(BUFFER));
            if (made.get(made.size() - 1).offset() == offset)
            {
                break;
            }
        }
        return made.get(made.size() - 1);
    }

    /** A read-only export cannot be imported as a dma-buf: EACCES (udmabuf dma-bufs are always read-write). */
    public void readOnlyImportIsRefused() throws Exception
    {
        try (Allocation a = producer.alloc(BUFFER))
        {
            final BufferId id = exportTo(a, Access.ACCESS_READ_ONLY, "dmabuf-ro");
            final ErrorCode code = errorOf(() -> consumer.importDmaBuf(id));
            observed.accept("read_only.error", code);
            assertEquals(ErrorCode.EACCES, code);
            producer.free(a.handle());
        }
    }

    /** An ALLOC with dma_buf of a page over {@code limit} (udmabuf's size_limit_mb) fails E2BIG naming it. */
    public void bufferOverTheSizeLimitIsRefused(final long limit)
    {
        final HdmabufException refused = assertThrows(HdmabufException.class, () -> producer.allocDmaBuf(limit + 4096));
        observed.accept("over_limit.error", refused.code() + " " + refused.getMessage());
        assertEquals(ErrorCode.E2BIG, refused.code());
        assertTrue(refused.getMessage().contains("size_limit_mb"), refused.getMessage());
    }

    /**
     * {@code UdmabufChecks SINK_SOCKET SOURCE_SOCKET TIMEOUT_SECONDS}: waits for both daemons to serve and to have met,
     * runs every check with a producer on the sink and a consumer on the source and prints one {@link #LINE} line per
     * observation and per check; exits 0 if all passed.
     */
    public static void main(final String[] args) throws Exception
    {
        final Duration timeout = Duration.ofSeconds(Long.parseLong(args[2]));
        try (HdmabufClient producer = connect(Path.of(args[0]), timeout);
             HdmabufClient consumer = connect(Path.of(args[1]), timeout))
        {
            Await.until("the sink to see the source", timeout, () -> producer.targets().getTargetsList().stream()
                .anyMatch(t -> t.getRolesList().contains("source")));
            final long initialFree = producer.caps().getPoolFreeBytes();
            final UdmabufChecks checks = new UdmabufChecks(producer, consumer,
                (name, value) -> System.out.println(LINE + name + " = " + value));
            final boolean passed = run("caps", checks::capsSayAvailable)
                & run("import", () -> checks.consumerGetsExactlyItsBuffer(initialFree))
                & run("read-only", checks::readOnlyImportIsRefused)
                & run("size-limit", () -> checks.bufferOverTheSizeLimitIsRefused(UdmaBuf.sizeLimitBytes()));
            System.out.flush();
            System.exit(passed ? 0 : 1);
        }
    }

    /** A check, as JUnit's executables are. */
    @FunctionalInterface
    private interface Check
    {
        void run() throws Exception;
    }

    private static boolean run(final String name, final Check check)
    {
        try
        {
            check.run();
            System.out.println(LINE + name + " PASS");
            return true;
        }
        catch (final Exception | AssertionError e)
        {
            System.out.println(LINE + name + " FAIL " + e);
            return false;
        }
    }

    /** Connects once the daemon listens on {@code socket}. */
    private static HdmabufClient connect(final Path socket, final Duration timeout) throws Exception
    {
        final AtomicReference<HdmabufClient> client = new AtomicReference<>();
        Await.until("a daemon on " + socket, timeout, () ->
        {
            try
            {
                client.set(HdmabufClient.connect(socket).timeout(timeout));
                return true;
            }
            catch (final IOException notYet)
            {
                return false;
            }
        });
        return client.get();
    }
}
