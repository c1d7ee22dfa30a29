package org.hyperdmabuf.tests.e2e;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.UEvent;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.AudioInfo;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.ImageInfo;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.abi.v1.Plane;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.tests.support.SystemTest;
import org.hyperdmabuf.tests.support.TwoVmSystem;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.hyperdmabuf.tests.e2e.E2e.TIMEOUT;
import static org.hyperdmabuf.tests.e2e.E2e.nextEvent;
import static org.hyperdmabuf.tests.e2e.E2e.rule;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Two producers and three consumers at once: every consumer sees exactly the buffers its match rules select
 * (globs with classes, negation, OR of rules), add and remove alike, and a late subscriber with replay sees
 * the buffers already present.
 */
@SystemTest
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FilteredDispatchTest
{
    private static final long REGION = 64L << 20;
    private static final int SIZE = 64 << 10;
    private static final int PER_PRODUCER = 6;

    private Path dir;
    private TwoVmSystem system;
    private final ExecutorService pool = Executors.newFixedThreadPool(2);

    @BeforeAll
    void start() throws Exception
    {
        dir = E2e.shortTempDir();
        system = TwoVmSystem.start(dir, REGION);
    }

    @AfterAll
    void stop() throws Exception
    {
        pool.shutdownNow();
        if (system != null)
        {
            system.close();
            org.junit.jupiter.api.Assertions.assertEquals(java.util.List.of(), system.errorLines(),
                "daemons logged errors");
        }
        E2e.deleteTree(dir);
    }

    private static Metadata video(final String stream)
    {
        return Metadata.newBuilder().setVersion(1).setContentType("video/raw").setSize(SIZE).putTags("stream", stream)
            .setImage(ImageInfo.newBuilder().setWidth(128).setHeight(128).setFourcc(0x34325241)
                .addPlanes(Plane.newBuilder().setStride(512)))
            .build();
    }

    private static Metadata audio(final String stream)
    {
        return Metadata.newBuilder().setVersion(1).setContentType("audio/pcm").setSize(SIZE).putTags("stream", stream)
            .setAudio(AudioInfo.newBuilder().setRate(48000).setChannels(2).setSampleFormat("S16_LE").setFrames(1024))
            .build();
    }

    private static Metadata other(final String stream)
    {
        return Metadata.newBuilder().setVersion(1).setContentType("application/x-other").putTags("stream", stream)
            .build();
    }

    @Test
    void eachConsumerSeesExactlyTheBuffersItsRulesSelect() throws Exception
    {
        try (HdmabufClient producerA = HdmabufClient.connect(system.sinkSocket());
             HdmabufClient producerB = HdmabufClient.connect(system.sinkSocket());
             HdmabufClient video = HdmabufClient.connect(system.sourceSocket());
             HdmabufClient audio = HdmabufClient.connect(system.sourceSocket()))
        {
            video.subscribe(List.of(rule("CONTENT_TYPE=video/*", "TAG_STREAM=cam[0-9]")), false);
            audio.subscribe(List.of(rule("CONTENT_TYPE=audio/*", "TAG_STREAM!=cam*"), rule("TAG_STREAM=never")),
                false);

            final Future<List<BufferId>> exportsA = pool.submit(exportAll(producerA, video("cam0")));
            final Future<List<BufferId>> exportsB = pool.submit(exportAll(producerB, audio("mic")));
            final List<BufferId> idsA = exportsA.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
            final List<BufferId> idsB = exportsB.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);

            assertEquals(texts(idsA), bufferIds(video, "add", PER_PRODUCER), "video consumer's adds");
            assertEquals(texts(idsB), bufferIds(audio, "add", PER_PRODUCER), "audio consumer's adds");

            try (HdmabufClient late = HdmabufClient.connect(system.sourceSocket()))
            {
                late.subscribe(List.of(rule("CONTENT_TYPE=[av][iu][dd]*", "TAG_STREAM=cam0|mic")), true);
                final Set<String> all = new HashSet<>(texts(idsA));
                all.addAll(texts(idsB));
                assertEquals(all, bufferIds(late, "add", 2 * PER_PRODUCER), "replayed adds");

                final Future<?> unexportA = pool.submit(unexportAll(producerA, idsA));
                final Future<?> unexportB = pool.submit(unexportAll(producerB, idsB));
                unexportA.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
                unexportB.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
                assertEquals(all, bufferIds(late, "remove", 2 * PER_PRODUCER), "late subscriber's removes");
            }
            assertEquals(texts(idsA), bufferIds(video, "remove", PER_PRODUCER), "video consumer's removes");
            assertEquals(texts(idsB), bufferIds(audio, "remove", PER_PRODUCER), "audio consumer's removes");

            // Decoys that each rule must reject, then one sentinel per consumer: since the source publishes in
            // order, a consumer whose next event is its sentinel received none of the decoys.
            exportOne(producerA, video("camX"));    // [0-9] class does not match X
            exportOne(producerA, video("mic"));     // video, but not a camera
            exportOne(producerB, audio("cam0"));    // audio, but the negated match excludes cam*
            exportOne(producerB, other("sometimes"));
            final String sentinelVideo = exportOne(producerA, video("cam7"));
            final String sentinelAudio = exportOne(producerB, other("never")); // the second rule (OR)
            nextEvent(video, "add", sentinelVideo);
            nextEvent(audio, "add", sentinelAudio);
        }
    }

    private Callable<List<BufferId>> exportAll(final HdmabufClient producer, final Metadata metadata)
    {
        return () ->
        {
            final List<BufferId> ids = new ArrayList<>();
            for (int i = 0; i < PER_PRODUCER; i++)
            {
                try (Allocation a = producer.alloc(SIZE))
                {
                    ids.add(producer.export(a.handle(), system.sourceVm(), metadata, Access.ACCESS_READ_ONLY).getId());
                }
            }
            return ids;
        };
    }

    private static Callable<Void> unexportAll(final HdmabufClient producer, final List<BufferId> ids)
    {
        return () ->
        {
            for (final BufferId id : ids)
            {
                producer.unexport(id);
            }
            return null;
        };
    }

    private String exportOne(final HdmabufClient producer, final Metadata metadata) throws Exception
    {
        try (Allocation a = producer.alloc(SIZE))
        {
            return BufferIds.format(producer.export(a.handle(), system.sourceVm(), metadata, Access.ACCESS_READ_ONLY)
                .getId());
        }
    }

    /** The BUFFER of the next {@code count} events, which must all be {@code action}. */
    private static Set<String> bufferIds(final HdmabufClient consumer, final String action, final int count)
        throws Exception
    {
        final Set<String> ids = new HashSet<>();
        for (int i = 0; i < count; i++)
        {
            final UEvent e = nextEvent(consumer);
            assertEquals(action, e.action(), "event " + i + ": " + e.properties());
            ids.add(e.get("BUFFER"));
        }
        assertEquals(count, ids.size(), "distinct buffers");
        return ids;
    }

    private static Set<String> texts(final List<BufferId> ids)
    {
        final Set<String> texts = new HashSet<>();
        ids.forEach(id -> texts.add(BufferIds.format(id)));
        return texts;
    }
}
