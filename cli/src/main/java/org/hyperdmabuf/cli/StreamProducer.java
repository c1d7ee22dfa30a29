package org.hyperdmabuf.cli;

import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.ImageInfo;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.abi.v1.Plane;
import org.hyperdmabuf.client.Fence;
import org.hyperdmabuf.client.FrameProducer;
import org.hyperdmabuf.client.HdmabufClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.concurrent.Callable;

@Command(name = "stream-producer", hidden = true, mixinStandardHelpOptions = true,
    description = "The fenced demo's producer: a FrameProducer writing test-pattern frames.")
final class StreamProducer implements Callable<Integer>
{
    /** Byte offset of the producer's signal timestamp in a frame (after the 8-byte sequence number). */
    static final int SIGNAL_NS_OFFSET = 8;

    @Mixin
    ProducerOptions opts = new ProducerOptions();

    @Option(names = "--wait", description = "SPIN, BLOCK or ADAPTIVE (default: ${DEFAULT-VALUE}).")
    Fence.WaitStrategy wait = Fence.WaitStrategy.ADAPTIVE;

    @Option(names = "--read-only", description = "Export read-only (the consumer then signals release through its daemon).")
    boolean readOnly;

    @Option(names = "--stream", description = "Stream name (default: ${DEFAULT-VALUE}).")
    String streamName = "demo";

    @Option(names = "--content-type", description = "Content type of the stream (default: ${DEFAULT-VALUE}).")
    String contentType = DemoFrames.CONTENT_TYPE;

    @Override
    public Integer call() throws Exception
    {
        final int frameBytes = opts.frameBytes();
        final Metadata template = Metadata.newBuilder().setVersion(1).setContentType(contentType)
            .setImage(ImageInfo.newBuilder().setWidth(opts.width).setHeight(opts.height).setFourcc(DemoFrames.FOURCC_AR24)
                .addPlanes(Plane.newBuilder().setOffset(0).setStride(opts.width * 4))).build();
        try (HdmabufClient client = HdmabufClient.connect(opts.socket))
        {
            DemoProducer.awaitTarget(client, opts.target);
            try (FrameProducer stream = FrameProducer.create(client, opts.target, streamName, opts.buffers, frameBytes,
                template, readOnly ? Access.ACCESS_READ_ONLY : Access.ACCESS_READ_WRITE, wait))
            {
                for (long seq = 0; seq < opts.frames; seq++)
                {
                    final ByteBuffer frame = stream.beginFrame(Duration.ofSeconds(30));
                    DemoFrames.fill(frame, seq, frameBytes);
                    frame.order(ByteOrder.LITTLE_ENDIAN).putLong(SIGNAL_NS_OFFSET, System.nanoTime());
                    stream.endFrame();
                }
                stream.drain(Duration.ofSeconds(30)); // every frame consumed before the buffers are unexported
            }
            System.out.println("producer: sent " + opts.frames + " frames of " + frameBytes + " bytes");
        }
        return 0;
    }
}
