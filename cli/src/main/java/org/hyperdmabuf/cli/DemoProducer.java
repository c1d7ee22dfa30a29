package org.hyperdmabuf.cli;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.ImageInfo;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.abi.v1.Plane;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.ReceivedEvent;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "demo-producer", hidden = true, mixinStandardHelpOptions = true,
    description = "The demo's producer: a ring of buffers, each re-exported per frame once the consumer released it.")
final class DemoProducer implements Callable<Integer>
{
    @Mixin
    ProducerOptions opts = new ProducerOptions();

    @Override
    public Integer call() throws Exception
    {
        final int frameBytes = opts.frameBytes();
        try (HdmabufClient client = HdmabufClient.connect(opts.socket))
        {
            awaitTarget(client, opts.target);
            client.subscribe(List.of(), false);
            final List<Allocation> slots = new ArrayList<>();
            final String[] exportIds = new String[opts.buffers];
            final BufferId[] ids = new BufferId[opts.buffers];
            final boolean[] busy = new boolean[opts.buffers];
            for (int i = 0; i < opts.buffers; i++)
            {
                slots.add(client.alloc(frameBytes, opts.target, Access.ACCESS_READ_ONLY));
            }
            for (int seq = 0; seq < opts.frames; seq++)
            {
                final int slot = seq % opts.buffers;
                while (busy[slot])
                {
                    awaitState(client, exportIds, busy);
                }
                final Allocation a = slots.get(slot);
                DemoFrames.fill(a.buffer().bytes(), seq, frameBytes);
                final long crc = DemoFrames.crc32c(a.buffer().bytes(), frameBytes);
                final Metadata m = Metadata.newBuilder().setVersion(1).setContentType(DemoFrames.CONTENT_TYPE)
                    .setSize(frameBytes)
                    .setImage(ImageInfo.newBuilder().setWidth(opts.width).setHeight(opts.height)
                        .setFourcc(DemoFrames.FOURCC_AR24).addPlanes(Plane.newBuilder().setOffset(0).setStride(opts.width * 4)))
                    .putTags("seq", Integer.toString(seq))
                    .putTags("crc32c", Long.toString(crc))
                    .putTags("export_ns", Long.toString(System.nanoTime()))
                    .build();
                busy[slot] = true;
                ids[slot] = client.export(a.handle(), opts.target, m, Access.ACCESS_READ_ONLY).getId();
                exportIds[slot] = BufferIds.format(ids[slot]);
            }
            for (int slot = 0; slot < opts.buffers; slot++)
            {
                while (busy[slot])
                {
                    awaitState(client, exportIds, busy);
                }
            }
            for (int slot = 0; slot < opts.buffers; slot++)
            {
                if (ids[slot] != null)
                {
                    client.unexport(ids[slot]);
                }
                client.free(slots.get(slot).handle());
                slots.get(slot).close();
            }
            System.out.println("producer: sent " + opts.frames + " frames of " + frameBytes + " bytes");
        }
        return 0;
    }

    /** Waits until the sink sees {@code target} running a source daemon (start-up ordering of the demo). */
    static void awaitTarget(final HdmabufClient client, final int target) throws Exception
    {
        final long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (client.targets().getTargetsList().stream().noneMatch(t -> t.getVm() == target &&
            t.getRolesList().contains("source")))
        {
            if (System.nanoTime() > deadline)
            {
                throw new IllegalStateException("VM " + target + " with a source daemon did not appear within 20 s");
            }
            Thread.sleep(20);
        }
    }

    /** Waits for one sink event and marks the slot whose export the consumer released as free. */
    private static void awaitState(final HdmabufClient client, final String[] exportIds, final boolean[] busy)
        throws Exception
    {
        final ReceivedEvent e = client.nextEvent(Duration.ofSeconds(30));
        if (e == null)
        {
            throw new IllegalStateException("no release from the consumer within 30 s");
        }
        if (e.isOverflow())
        {
            throw new IllegalStateException("event overflow on the producer's subscription");
        }
        final String state = e.event().get("STATE");
        if ("rejected".equals(state))
        {
            throw new IllegalStateException("the consumer VM rejected buffer " + e.event().get("BUFFER"));
        }
        if ("released".equals(state))
        {
            for (int i = 0; i < exportIds.length; i++)
            {
                if (e.event().get("BUFFER").equals(exportIds[i]))
                {
                    busy[i] = false;
                }
            }
        }
    }
}
