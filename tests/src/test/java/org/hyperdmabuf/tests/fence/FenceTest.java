package org.hyperdmabuf.tests.fence;

import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Exported;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.abi.v1.Timeline;
import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.Fence;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.HdmabufException;
import org.hyperdmabuf.client.ImportedBuffer;
import org.hyperdmabuf.tests.support.SystemTest;
import org.hyperdmabuf.tests.support.TwoVmSystem;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fence timelines across two "VMs" (separate daemon processes): frame streams through a ring of buffers
 * with every wait strategy, error words in both directions, and the rejections of bad signals.
 */
// "try": an import held open by try-with-resources for the duration of a check.
@SystemTest
@SuppressWarnings("try")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FenceTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(20);

    private TwoVmSystem system;
    private HdmabufClient producer;
    private HdmabufClient consumer;

    /** The producer's client (for subclasses). */
    protected HdmabufClient producer()
    {
        return producer;
    }

    /** Whether this class runs on the xen backend over the Xen emulation instead of kvm-ivshmem. */
    protected boolean xen()
    {
        return false;
    }

    @BeforeAll
    void start() throws Exception
    {
        system = xen() ? TwoVmSystem.startXenInTempDir("hdfx", (64 << 20) / 4096, List.of(), List.of()) :
            TwoVmSystem.startInTempDir("hdf", 64L << 20, List.of(), List.of());
        producer = HdmabufClient.connect(system.sinkSocket());
        consumer = HdmabufClient.connect(system.sourceSocket());
        consumer.subscribe(List.of(), false);
    }

    /** EXPORT answers once the announcement is sent; the consumer may import once its daemon says "add". */
    private void awaitAdd(final org.hyperdmabuf.abi.v1.BufferId id) throws Exception
    {
        final String text = org.hyperdmabuf.abi.BufferIds.format(id);
        final long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (System.nanoTime() < deadline)
        {
            final var e = consumer.nextEvent(Duration.ofMillis(200));
            if (e != null && !e.isOverflow() && "add".equals(e.event().action()) && text.equals(e.event().get("BUFFER")))
            {
                return;
            }
        }
        throw new AssertionError("no add event for " + text);
    }

    @AfterAll
    void stop() throws Exception
    {
        if (producer != null)
        {
            producer.close();
        }
        if (consumer != null)
        {
            consumer.close();
        }
        if (system != null)
        {
            system.closeAndVerify();
        }
    }

    /** 10 000 frames through 3 buffers between two processes; the consumer checks sequence and every byte. */
    @Test
    void tenThousandFramesThroughThreeBuffersLoseNoneRepeatNoneAndAreNeverOverwrittenEarly() throws Exception
    {
        assertStream(10_000, "SPIN");
    }

    @Test
    void blockingAndAdaptiveWaitsCarryAStreamToo() throws Exception
    {
        assertStream(1_500, "BLOCK");
        assertStream(1_500, "ADAPTIVE");
    }

    /** A video stream and an audio stream run side by side, each consumer finding only its own buffers. */
    @Test
    void aVideoAndAnAudioStreamRunSideBySide() throws Exception
    {
        final ChildProcess video = system.spawn("video-consumer", "stream-consumer", "--socket",
            system.sourceSocket().toString(), "--frames", "2000", "--stream", "video", "--wait", "ADAPTIVE");
        final ChildProcess audio = system.spawn("audio-consumer", "stream-consumer", "--socket",
            system.sourceSocket().toString(), "--frames", "2000", "--stream", "audio", "--wait", "ADAPTIVE");
        video.awaitLine("READY", TIMEOUT);
        audio.awaitLine("READY", TIMEOUT);
        final String to = Integer.toString(system.sourceVm());
        final ChildProcess vp = system.spawn("video-producer", "stream-producer", "--socket", system.sinkSocket().toString(),
            "--to", to, "--frames", "2000", "--width", "320", "--height", "180", "--stream", "video", "--content-type",
            "video/raw");
        final ChildProcess ap = system.spawn("audio-producer", "stream-producer", "--socket", system.sinkSocket().toString(),
            "--to", to, "--frames", "2000", "--width", "256", "--height", "1", "--stream", "audio", "--content-type",
            "audio/pcm");
        for (final ChildProcess c : List.of(video, audio, vp, ap))
        {
            assertEquals(0, c.waitFor(Duration.ofSeconds(120)), () -> c.name() + ": " + String.join("\n", c.output()));
        }
        assertTrue(video.output().stream().anyMatch(l -> l.startsWith("VERIFIED frames=2000 bytes=" + 2000L * 320 * 180 * 4)));
        assertTrue(audio.output().stream().anyMatch(l -> l.startsWith("VERIFIED frames=2000 bytes=" + 2000L * 256 * 4)));
    }

    private void assertStream(final int frames, final String wait) throws Exception
    {
        final ChildProcess c = system.spawn("stream-consumer-" + wait, "stream-consumer", "--socket",
            system.sourceSocket().toString(), "--frames", Integer.toString(frames), "--wait", wait);
        c.awaitLine("READY", TIMEOUT);
        final ChildProcess p = system.spawn("stream-producer-" + wait, "stream-producer", "--socket",
            system.sinkSocket().toString(), "--to", Integer.toString(system.sourceVm()), "--frames",
            Integer.toString(frames), "--width", "128", "--height", "64", "--buffers", "3", "--wait", wait);
        assertEquals(0, c.waitFor(Duration.ofSeconds(120)), () -> "consumer failed: " + c.output());
        assertEquals(0, p.waitFor(Duration.ofSeconds(30)), () -> "producer failed: " + p.output());
        assertTrue(c.output().stream().anyMatch(l -> l.startsWith("VERIFIED frames=" + frames + " ")),
            () -> String.join("\n", c.output()));
    }

    @Test
    void errorWordsTravelBothWaysAndBadSignalsAreRejected() throws Exception
    {
        try (Allocation a = producer.alloc(4096))
        {
            final Exported e = producer.export(a.handle(), system.sourceVm(), Metadata.newBuilder()
                .setContentType("application/x-fence").build(), Access.ACCESS_READ_WRITE);
            awaitAdd(e.getId());
            try (Fence mine = producer.fence(a, e);
                 ImportedBuffer theirs = consumer.importBuffer(e.getId()))
            {
                mine.signal(1, 4242);
                assertEquals(1, theirs.fence().await(1, TIMEOUT, Fence.WaitStrategy.SPIN));
                assertEquals(4242, theirs.fence().error());

                theirs.fence().signal(1, ErrorCode.EIO.getNumber());
                assertEquals(1, mine.await(1, TIMEOUT, Fence.WaitStrategy.BLOCK));
                assertEquals(ErrorCode.EIO.getNumber(), mine.error());

                assertEquals(ErrorCode.EINVAL, assertThrows(HdmabufException.class, () -> mine.signal(0)).code(),
                    "a value going backwards is refused locally");
                assertEquals(ErrorCode.EINVAL, assertThrows(HdmabufException.class, () ->
                    producer.fenceSignal(e.getId(), Timeline.TIMELINE_ACQUIRE, 0, 0)).code(),
                    "and by the daemon");
                assertEquals(ErrorCode.EINVAL, assertThrows(HdmabufException.class, () ->
                    producer.fenceSignal(e.getId(), Timeline.TIMELINE_RELEASE, 5, 0)).code(),
                    "the exporter does not signal release");
                assertEquals(ErrorCode.EINVAL, assertThrows(HdmabufException.class, () ->
                    consumer.fenceSignal(e.getId(), Timeline.TIMELINE_ACQUIRE, 5, 0)).code(),
                    "an importer does not signal acquire");
                assertEquals(ErrorCode.ETIMEDOUT, assertThrows(HdmabufException.class, () ->
                    theirs.fence().await(2, Duration.ofMillis(200), Fence.WaitStrategy.BLOCK)).code());
                assertEquals(ErrorCode.ETIMEDOUT, assertThrows(HdmabufException.class, () ->
                    theirs.fence().await(2, Duration.ofMillis(50), Fence.WaitStrategy.SPIN)).code());
                final var guessed = e.getId().toBuilder().setNonce(e.getId().getNonce() ^ 1).build();
                assertEquals(ErrorCode.ENOENT, assertThrows(HdmabufException.class, () ->
                    consumer.fenceWait(guessed, Timeline.TIMELINE_ACQUIRE, 1, 100)).code());

                // A blocked wait is woken by a later signal (doorbell), long before its timeout.
                final long before = System.nanoTime();
                final Thread signaller = new Thread(() ->
                {
                    try
                    {
                        Await.parked(Duration.ofMillis(100));
                        mine.signal(7);
                    }
                    catch (final Exception ex)
                    {
                        throw new IllegalStateException(ex);
                    }
                });
                signaller.start();
                assertEquals(7, theirs.fence().await(7, Duration.ofSeconds(10), Fence.WaitStrategy.BLOCK));
                signaller.join();
                assertTrue(System.nanoTime() - before < Duration.ofSeconds(5).toNanos(), "woken by the signal");
            }
            finally
            {
                consumer.release(e.getId());
                producer.unexport(e.getId());
                producer.free(a.handle());
            }
        }
    }

    /**
     * FENCE_DOORBELL (ABI.md): on ivshmem host mode each side gets an eventfd ringing the other VM's fence vector,
     * only for a buffer it owns or holds; where the backend has none (xen) the answer is ENOTSUP (-1 here) and
     * signals go through FENCE_SIGNAL, as the streams of this class show.
     */
    @Test
    void fenceDoorbellsAreEventfdsOnlyForTheBuffersOwnersAndHolders() throws Exception
    {
        try (Allocation a = producer.alloc(4096);
             HdmabufClient stranger = HdmabufClient.connect(system.sinkSocket()))
        {
            final Exported e = producer.export(a.handle(), system.sourceVm(), Metadata.newBuilder()
                .setContentType("application/x-fence-doorbell").build(), Access.ACCESS_READ_WRITE);
            awaitAdd(e.getId());
            assertEquals(ErrorCode.ENOENT, assertThrows(HdmabufException.class, () ->
                consumer.openFenceDoorbell(e.getId())).code(), "no import held yet");
            assertEquals(ErrorCode.ENOENT, assertThrows(HdmabufException.class, () ->
                stranger.openFenceDoorbell(e.getId())).code(), "another client's export");
            try (ImportedBuffer theirs = consumer.importBuffer(e.getId()))
            {
                final int producerSide = producer.openFenceDoorbell(e.getId());
                final int consumerSide = consumer.openFenceDoorbell(e.getId());
                try
                {
                    if (xen())
                    {
                        assertEquals(-1, producerSide, "xen has no doorbell fd for clients");
                        assertEquals(-1, consumerSide, "xen has no doorbell fd for clients");
                    }
                    else
                    {
                        for (final int fd : new int[] {producerSide, consumerSide})
                        {
                            assertTrue(fd >= 0, "a doorbell fd");
                            assertEquals("anon_inode:[eventfd]", Files.readSymbolicLink(Path.of("/proc/self/fd/" +
                                fd)).toString());
                        }
                    }
                }
                finally
                {
                    org.hyperdmabuf.hv.nativeio.Native.closeQuietly(producerSide);
                    org.hyperdmabuf.hv.nativeio.Native.closeQuietly(consumerSide);
                }
            }
            finally
            {
                consumer.release(e.getId());
                producer.unexport(e.getId());
                producer.free(a.handle());
            }
            assertEquals(ErrorCode.ENOENT, assertThrows(HdmabufException.class, () ->
                producer.openFenceDoorbell(e.getId())).code(), "unexported");
        }
    }

    @Test
    void aReadOnlyImporterSignalsReleaseThroughItsDaemon() throws Exception
    {
        // Declared at ALLOC: xen grants the pages read-only to the target then (ivshmem ignores the declaration).
        try (Allocation a = producer.alloc(4096, system.sourceVm(), Access.ACCESS_READ_ONLY))
        {
            final Exported e = producer.export(a.handle(), system.sourceVm(), Metadata.newBuilder()
                .setContentType("application/x-fence-ro").build(), Access.ACCESS_READ_ONLY);
            awaitAdd(e.getId());
            try (Fence mine = producer.fence(a, e);
                 ImportedBuffer theirs = consumer.importBuffer(e.getId()))
            {
                assertTrue(theirs.buffer().isReadOnly());
                mine.signal(3);
                assertEquals(3, theirs.fence().await(3, TIMEOUT, Fence.WaitStrategy.SPIN));
                theirs.fence().signal(3, 77);
                assertEquals(3, mine.await(3, TIMEOUT, Fence.WaitStrategy.SPIN));
                assertEquals(77, mine.error());
            }
            finally
            {
                consumer.release(e.getId());
                producer.unexport(e.getId());
                producer.free(a.handle());
            }
        }
    }

    /** A parking helper for the signaller thread (not test synchronization: it only delays the signal). */
    private static final class Await
    {
        static void parked(final Duration d)
        {
            java.util.concurrent.locks.LockSupport.parkNanos(d.toNanos());
        }
    }
}
