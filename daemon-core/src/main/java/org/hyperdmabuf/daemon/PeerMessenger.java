package org.hyperdmabuf.daemon;

import io.netty.channel.EventLoop;
import org.hyperdmabuf.abi.v1.PeerMessage;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.HypervisorBackend;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Sends inter-VM messages in order per peer. A message that does not fit in the ring now waits in a
 * bounded per-peer outbox and is retried from the event loop; nothing is dropped silently: a full outbox
 * is an error for the caller (EAGAIN), a lost peer empties its outbox. Event-loop confined.
 */
public final class PeerMessenger
{
    private static final Logger LOG = LoggerFactory.getLogger(PeerMessenger.class);
    public static final int MAX_QUEUED_PER_PEER = 4096;

    private final HypervisorBackend backend;
    private final EventLoop loop;
    private final Map<Integer, ArrayDeque<byte[]>> outboxes = new HashMap<>();
    private final ByteBuffer scratch;
    private boolean retryScheduled;

    public PeerMessenger(final HypervisorBackend backend, final EventLoop loop)
    {
        this.backend = backend;
        this.loop = loop;
        this.scratch = ByteBuffer.allocateDirect(backend.maxMessageLength());
    }

    /**
     * Sends or queues {@code message} for {@code vm}.
     *
     * @throws ApiException EMSGSIZE if it can never fit, EAGAIN if the outbox is full, ENOPEER if the peer is gone.
     */
    public void send(final int vm, final PeerMessage message) throws ApiException
    {
        final byte[] bytes = message.toByteArray();
        if (bytes.length > backend.maxMessageLength())
        {
            throw new ApiException(org.hyperdmabuf.abi.v1.ErrorCode.EMSGSIZE, "message of " + bytes.length +
                " bytes exceeds the channel limit of " + backend.maxMessageLength());
        }
        final ArrayDeque<byte[]> outbox = outboxes.computeIfAbsent(vm, k -> new ArrayDeque<>());
        if (outbox.isEmpty() && trySend(vm, bytes))
        {
            return;
        }
        if (outbox.size() >= MAX_QUEUED_PER_PEER)
        {
            throw new ApiException(org.hyperdmabuf.abi.v1.ErrorCode.EAGAIN, "channel to VM " + vm +
                " is full; the peer is not keeping up");
        }
        outbox.add(bytes);
        scheduleRetry();
    }

    /** Drops everything queued for a peer that is gone. */
    public void forget(final int vm)
    {
        final ArrayDeque<byte[]> dropped = outboxes.remove(vm);
        if (dropped != null && !dropped.isEmpty())
        {
            LOG.info("dropped {} queued messages for lost VM {}", dropped.size(), vm);
        }
    }

    private boolean trySend(final int vm, final byte[] bytes) throws ApiException
    {
        scratch.clear();
        scratch.put(bytes).flip();
        try
        {
            return backend.send(vm, scratch, 0, bytes.length);
        }
        catch (final BackendException e)
        {
            throw new ApiException(e.code(), e.getMessage());
        }
    }

    private void scheduleRetry()
    {
        if (!retryScheduled)
        {
            retryScheduled = true;
            loop.schedule(this::retry, 100, TimeUnit.MICROSECONDS);
        }
    }

    private void retry()
    {
        retryScheduled = false;
        boolean pending = false;
        for (final var it = outboxes.entrySet().iterator(); it.hasNext(); )
        {
            final var e = it.next();
            final ArrayDeque<byte[]> outbox = e.getValue();
            try
            {
                while (!outbox.isEmpty() && trySend(e.getKey(), outbox.peek()))
                {
                    outbox.poll();
                }
            }
            catch (final ApiException ex)
            {
                LOG.warn("dropping {} queued messages for VM {}: {}", outbox.size(), e.getKey(), ex.getMessage());
                outbox.clear();
            }
            pending |= !outbox.isEmpty();
        }
        if (pending)
        {
            scheduleRetry();
        }
    }
}
