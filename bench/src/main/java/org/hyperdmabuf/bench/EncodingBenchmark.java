package org.hyperdmabuf.bench;

import com.google.protobuf.InvalidProtocolBufferException;
import org.hyperdmabuf.abi.UEvent;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.ExportAnnounce;
import org.hyperdmabuf.abi.v1.ImageInfo;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.abi.v1.PeerMessage;
import org.hyperdmabuf.abi.v1.Plane;
import org.hyperdmabuf.daemon.BufferEvents;
import org.hyperdmabuf.daemon.EventHub;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/** Control-plane encoding costs per export: the inter-VM message and the uevent a subscriber receives. */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class EncodingBenchmark
{
    private PeerMessage announce;
    private byte[] encoded;
    private final EventHub hub = new EventHub();

    @Setup
    public void setup()
    {
        final Metadata m = Metadata.newBuilder().setVersion(1).setContentType("video/raw").setSize(8294400)
            .setImage(ImageInfo.newBuilder().setWidth(1920).setHeight(1080).setFourcc(0x34325241)
                .addPlanes(Plane.newBuilder().setStride(7680)))
            .putTags("seq", "12345").putTags("crc32c", "3735928559").build();
        announce = PeerMessage.newBuilder().setExport(ExportAnnounce.newBuilder()
            .setId(BufferId.newBuilder().setExporterVm(1).setExportNumber(42).setNonce(0x0123456789abcdefL))
            .setOffset(1 << 20).setLength(8294400).setAccess(Access.ACCESS_READ_ONLY).setMetadata(m).setRevision(7))
            .build();
        encoded = announce.toByteArray();
    }

    @Benchmark
    public byte[] encodeExportAnnounce()
    {
        return announce.toByteArray();
    }

    @Benchmark
    public PeerMessage decodeExportAnnounce() throws InvalidProtocolBufferException
    {
        return PeerMessage.parseFrom(encoded);
    }

    @Benchmark
    public byte[] formatAddEvent()
    {
        final ExportAnnounce a = announce.getExport();
        final UEvent e = BufferEvents.builder(hub, BufferEvents.ADD, a.getId(), 2, a.getLength(), a.getAccess(),
            a.getMetadata(), a.getRevision(), null).build();
        return e.encode();
    }
}
