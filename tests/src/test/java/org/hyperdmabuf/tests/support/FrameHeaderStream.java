package org.hyperdmabuf.tests.support;

import org.hyperdmabuf.abi.FrameHeaderDescriptor;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.client.Fence;
import org.hyperdmabuf.client.FrameConsumer;
import org.hyperdmabuf.client.FrameInfo;
import org.hyperdmabuf.client.FrameProducer;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.HdmabufException;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The Java end of the frame-header interop tests (libhdmabuf/tests/meson.build runs it against the C library and
 * the Python example): frames whose every per-frame field and payload word follow the pattern of
 * {@code libhdmabuf/tests/frame_pattern.h}, ending with an end-of-stream frame.
 * <ul>
 * <li>{@code producer SOCKET TARGET STREAM FRAMES FRAME_BYTES}: a {@link FrameProducer}; prints {@code SENT n}.</li>
 * <li>{@code consumer SOCKET STREAM}: a {@link FrameConsumer} checking every frame until end-of-stream; prints
 * {@code READY consumer}, then {@code VERIFIED frames=n eos} or {@code FAILED why}.</li>
 * </ul>
 * Frame n of {@code total}, capacity {@code cap}: payload_length = cap - 8 * ((n * 7919) % (cap / 16 + 1)),
 * pts = pts0 + n * 16666667 (pts0 near CLOCK_REALTIME), duration 16666667, KEY_FRAME if n % 30 == 0,
 * DISCONTINUITY if n % 97 == 50, END_OF_STREAM on the last; private data n % 257 bytes (n * 31 + i * 7); payload
 * word w = n * GOLDEN + w.
 */
public final class FrameHeaderStream
{
    private static final long GOLDEN = 0x9E3779B97F4A7C15L;
    private static final long FRAME_NS = 16_666_667L;
    private static final long PTS_SLACK_NS = 600_000_000_000L;
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    private FrameHeaderStream()
    {
    }

    public static void main(final String[] args) throws Exception
    {
        final int status = switch (args[0])
        {
            case "producer" -> produce(Path.of(args[1]), Integer.parseInt(args[2]), args[3], Long.parseLong(args[4]),
                Integer.parseInt(args[5]));
            case "consumer" -> consume(Path.of(args[1]), args[2]);
            default -> throw new IllegalArgumentException("unknown mode " + args[0]);
        };
        System.out.flush();
        System.exit(status);
    }

    /** The header of frame {@code n} into {@code info} (as pattern_header in frame_pattern.h). */
    static void pattern(final long n, final long total, final long cap, final long pts0, final byte[] scratch,
        final FrameInfo info)
    {
        final int privateLength = (int)(n % 257);
        for (int i = 0; i < privateLength; i++)
        {
            scratch[i] = (byte)(n * 31 + i * 7);
        }
        info.clear().payloadLength(cap - 8 * ((n * 7919) % (cap / 16 + 1))).ptsNanos(pts0 + n * FRAME_NS)
            .durationNanos(FRAME_NS).flags((n % 30 == 0 ? FrameHeaderDescriptor.FLAG_KEY_FRAME : 0) |
                (n % 97 == 50 ? FrameHeaderDescriptor.FLAG_DISCONTINUITY : 0) |
                (n + 1 == total ? FrameHeaderDescriptor.FLAG_END_OF_STREAM : 0))
            .privateData(scratch, 0, privateLength);
    }

    private static long realtimeNanos()
    {
        final java.time.Instant now = java.time.Instant.now();
        return now.getEpochSecond() * 1_000_000_000L + now.getNano();
    }

    private static int produce(final Path socket, final int target, final String stream, final long frames,
        final int frameBytes) throws Exception
    {
        final FrameInfo info = new FrameInfo();
        final byte[] scratch = new byte[FrameHeaderDescriptor.PRIVATE_MAX];
        final long pts0 = realtimeNanos();
        try (HdmabufClient client = HdmabufClient.connect(socket);
             FrameProducer producer = FrameProducer.create(client, target, stream, 3, frameBytes,
                 Metadata.newBuilder().setVersion(1).setContentType("video/x-frame-headers").build(),
                 Access.ACCESS_READ_ONLY, Fence.WaitStrategy.ADAPTIVE))
        {
            for (long n = 0; n < frames; n++)
            {
                final ByteBuffer frame = producer.beginFrame(TIMEOUT).duplicate().order(ByteOrder.LITTLE_ENDIAN);
                pattern(n, frames, frameBytes, pts0, scratch, info);
                for (int w = 0; w < info.payloadLength() / 8; w++)
                {
                    frame.putLong(8 * w, n * GOLDEN + w);
                }
                producer.endFrame(info);
            }
            try
            {
                producer.beginFrame(Duration.ZERO);
                System.out.println("FAILED a frame could begin after end-of-stream");
                return 1;
            }
            catch (final HdmabufException expected)
            {
                // nothing follows end-of-stream
            }
            producer.drain(TIMEOUT);
        }
        System.out.println("SENT " + frames);
        return 0;
    }

    private static int consume(final Path socket, final String stream) throws Exception
    {
        final FrameInfo want = new FrameInfo();
        final byte[] scratch = new byte[FrameHeaderDescriptor.PRIVATE_MAX];
        System.out.println("READY consumer");
        System.out.flush();
        try (HdmabufClient client = HdmabufClient.connect(socket);
             FrameConsumer consumer = FrameConsumer.open(client, stream, Duration.ofSeconds(60),
                 Fence.WaitStrategy.ADAPTIVE))
        {
            if (!consumer.hasFrameHeaders())
            {
                System.out.println("FAILED the stream has no frame headers");
                return 1;
            }
            final long cap = consumer.contentLength();
            long pts0 = 0;
            long n = 0;
            long total = Long.MAX_VALUE;
            ByteBuffer frame;
            while ((frame = consumer.beginFrame(TIMEOUT)) != null)
            {
                final FrameInfo got = consumer.frameInfo();
                if (n == 0)
                {
                    pts0 = got.ptsNanos();
                    if (Math.abs(pts0 - realtimeNanos()) > PTS_SLACK_NS)
                    {
                        System.out.println("FAILED frame 0: pts " + pts0 + " is not near CLOCK_REALTIME");
                        return 1;
                    }
                }
                if (got.isEndOfStream())
                {
                    total = n + 1;
                }
                pattern(n, total, cap, pts0, scratch, want);
                final String bad = differs(n, got, want, frame.duplicate().order(ByteOrder.LITTLE_ENDIAN));
                if (bad != null)
                {
                    System.out.println("FAILED frame " + n + ": " + bad);
                    return 1;
                }
                consumer.endFrame();
                n++;
            }
            if (total != n || consumer.beginFrame(TIMEOUT) != null)
            {
                System.out.println("FAILED the stream ended after " + n + " frames without end-of-stream");
                return 1;
            }
            System.out.println("VERIFIED frames=" + n + " eos");
        }
        return 0;
    }

    private static String differs(final long n, final FrameInfo got, final FrameInfo want, final ByteBuffer frame)
    {
        if (got.sequence() != n)
        {
            return "sequence " + got.sequence();
        }
        if (got.ptsNanos() != want.ptsNanos() || got.durationNanos() != want.durationNanos())
        {
            return "pts/duration " + got.ptsNanos() + "/" + got.durationNanos() + ", expected " + want.ptsNanos() +
                "/" + want.durationNanos();
        }
        // The stream is exported once: every frame is written for metadata revision 1 (never 0, "not stated").
        if (got.payloadLength() != want.payloadLength() || got.flags() != want.flags() ||
            got.privateLength() != want.privateLength() || got.metadataRevision() != 1)
        {
            return got + ", expected " + want;
        }
        if (!java.util.Arrays.equals(got.privateData(), want.privateData()))
        {
            return "private data differs";
        }
        for (int w = 0; w < want.payloadLength() / 8; w++)
        {
            if (frame.getLong(8 * w) != n * GOLDEN + w)
            {
                return "payload differs at byte " + 8 * w;
            }
        }
        return null;
    }
}
