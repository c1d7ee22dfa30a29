package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.abi.FenceAbi;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.hv.shm.MemoryWindow;
import org.hyperdmabuf.hv.shm.PeerSlotDescriptor;
import org.hyperdmabuf.hv.shm.RecordDescriptor;
import org.hyperdmabuf.hv.shm.RingReader;
import org.hyperdmabuf.hv.shm.RingWriter;
import org.hyperdmabuf.hv.shm.SharedRegion;
import org.hyperdmabuf.hv.shm.ShmCorruptionException;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.BackendListener;
import org.hyperdmabuf.hv.spi.PeerInfo;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * The wire messages between us and the other peers of a region, over the SPSC rings {@code (me, j)} and
 * {@code (j, me)} (ABI.md "Rings", "Sessions on a ring"): a channel per up peer session, a {@code SESSION_START}
 * before our first record to each, delivery only of records addressed to the current sessions of both sides, and
 * the bookkeeping of rings a peer corrupted. Sends come from any thread (each ring's lock orders them); reads,
 * channel changes and resyncs from the pass thread.
 * <p>
 * <b>Sessions on the rings.</b> A joining daemon continues its outgoing rings at the tail it finds (a live
 * consumer may still be reading the bytes before it) and skips its incoming rings to their tail. The first
 * record it writes to peer {@code j}, and the first after it sees a new session of {@code j}, is a
 * {@code SESSION_START} naming both sessions; incoming records are delivered only while the last
 * {@code SESSION_START} on that ring names the producer's current session and ours, so nothing written by an
 * earlier incarnation of either side is taken for the current one (ABI.md "Sessions on a ring").
 */
final class RingChannels
{
    private static final Logger LOG = LoggerFactory.getLogger(RingChannels.class);
    private static final int BATCH = 256;

    private final String name;
    private final SharedRegion region;
    private final IvshmemTransport transport;
    private final BackendListener listener;
    private final int localVm;
    private final int capacity;
    private final Inbound[] inbound;
    private final Outbound[] outbound;
    private final AtomicReferenceArray<PeerChannel> channels;
    /** Ours, as the SESSION_STARTs we write and the records we accept name it. */
    private volatile long session;

    /** Attaches to our rings: continues the outgoing ones at their tail, skips the incoming ones to theirs. */
    RingChannels(final String name, final SharedRegion region, final IvshmemTransport transport,
        final BackendListener listener, final int localVm, final long session)
    {
        this.name = name;
        this.region = region;
        this.transport = transport;
        this.listener = listener;
        this.localVm = localVm;
        this.session = session;
        this.capacity = region.layout().ringCapacity();
        final int peers = region.layout().maxPeers();
        this.inbound = new Inbound[peers];
        this.outbound = new Outbound[peers];
        this.channels = new AtomicReferenceArray<>(peers);
        for (int j = 0; j < peers; j++)
        {
            if (j != localVm)
            {
                // Whatever a previous holder of our id left in its incoming rings is not for us.
                final RingReader reader = new RingReader(region.ring(j, localVm), capacity);
                reader.skipToTail(session);
                inbound[j] = new Inbound(reader);
                // A live consumer may still be reading what precedes the tail: continue after it.
                final RingWriter writer = new RingWriter(region.ring(localVm, j), capacity);
                if (!writer.attach(session))
                {
                    LOG.warn("{} peer {}: ring to peer {} failed validation; reset it", name, localVm, j);
                }
                outbound[j] = new Outbound(writer);
            }
        }
    }

    /** The up channel to {@code vm}, or null. */
    PeerChannel channel(final int vm)
    {
        if (vm < 0 || vm >= channels.length() || vm == localVm)
        {
            return null;
        }
        final PeerChannel ch = channels.get(vm);
        return ch != null && ch.up ? ch : null;
    }

    /** The channel to {@code vm} whether or not it is still up (pass thread). */
    PeerChannel current(final int vm)
    {
        return channels.get(vm);
    }

    List<PeerInfo> peers()
    {
        final List<PeerInfo> result = new ArrayList<>();
        for (int j = 0; j < channels.length(); j++)
        {
            final PeerChannel ch = channels.get(j);
            if (ch != null && ch.up)
            {
                result.add(new PeerInfo(ch.vm, ch.session, ch.roles));
            }
        }
        return result;
    }

    /** The session that last wrote {@code session} of ours into {@code dropped_session} of its ring to us. */
    boolean droppedUs(final int vm)
    {
        return inbound[vm].reader.droppedSession() == session;
    }

    /** Records from {@code vm} discarded because they belonged to another session of it or of ours. */
    long discarded(final int vm)
    {
        return vm < 0 || vm >= inbound.length || inbound[vm] == null ? 0 : inbound[vm].discarded.get();
    }

    boolean send(final int peerVm, final ByteBuffer message, final int offset, final int length)
        throws BackendException
    {
        final PeerChannel ch = channel(peerVm);
        if (ch == null)
        {
            throw new BackendException(ErrorCode.ENOPEER, "peer " + peerVm + " is not reachable");
        }
        final Outbound out = outbound[peerVm];
        final boolean sent;
        synchronized (out)
        {
            if (!ch.up || ch.writerFault != null)
            {
                throw new BackendException(ErrorCode.ENOPEER, "peer " + peerVm + " is not reachable");
            }
            try
            {
                sent = writeSessionStart(out, ch) &&
                    out.writer.offer(RecordDescriptor.PEER_MESSAGE_TYPE, message, offset, length);
            }
            catch (final ShmCorruptionException e)
            {
                ch.writerFault = e.getMessage();
                throw new BackendException(ErrorCode.EPEERLOST, "ring to peer " + peerVm + " is corrupt: " +
                    e.getMessage());
            }
        }
        if (sent)
        {
            ring(peerVm);
        }
        return sent;
    }

    /**
     * Opens the channel to {@code session} of {@code vm} and writes its SESSION_START. The previous session broke
     * the ring if it is faulted: the new one gets a fresh reader from the shared head.
     */
    PeerChannel open(final int vm, final long peerSession, final int peerRoles)
    {
        final Inbound in = inbound[vm];
        if (in.faulted)
        {
            in.reader = new RingReader(region.ring(vm, localVm), capacity);
            in.faulted = false;
            in.faultedSession = 0;
            in.discardRefusedLogged = false;
            in.startProducer = 0;
            in.startConsumer = 0;
        }
        final PeerChannel ch = new PeerChannel(vm, peerSession, peerRoles, in);
        final Outbound out = outbound[vm];
        boolean started = false;
        synchronized (out)
        {
            try
            {
                started = writeSessionStart(out, ch);
            }
            catch (final ShmCorruptionException e)
            {
                ch.writerFault = e.getMessage();
            }
        }
        if (started)
        {
            ring(vm);
        }
        channels.set(vm, ch);
        return ch;
    }

    /**
     * Closes {@code ch}; {@code tellDropped}: write its session into {@code dropped_session} of our ring to it, so
     * that if it is still running (stopped and resumed, or a false notice) it learns to rejoin (ABI.md "Resync").
     */
    void close(final PeerChannel ch, final boolean tellDropped)
    {
        synchronized (outbound[ch.vm])
        {
            ch.up = false;
            if (tellDropped)
            {
                outbound[ch.vm].writer.markDropped(ch.session);
            }
        }
        channels.compareAndSet(ch.vm, ch, null);
    }

    /** A new session of ours: nothing queued for the old one is read, and each peer gets a new SESSION_START. */
    void renew(final long fresh)
    {
        session = fresh;
        for (int j = 0; j < inbound.length; j++)
        {
            if (j == localVm)
            {
                continue;
            }
            final Inbound in = inbound[j];
            in.reader.skipToTail(fresh); // whatever was queued for the old session is not for the new one
            in.startProducer = 0;
            in.startConsumer = 0;
            final Outbound out = outbound[j];
            synchronized (out)
            {
                if (!out.writer.renew(fresh))
                {
                    LOG.warn("{} peer {}: ring to peer {} failed validation; reset it", name, localVm, j);
                }
                out.addressed = 0;
            }
        }
    }

    /** Whether the ring from {@code vm} was broken by {@code slotSession}, which still owns its slot. */
    boolean brokenBy(final int vm, final long slotSession)
    {
        return inbound[vm].faulted && slotSession == inbound[vm].faultedSession;
    }

    /**
     * Drops whatever the session that broke ring {@code j -> us} has published, while that session still owns the
     * slot. Its successor continues the ring at the tail it finds (ABI.md "Joining"), so garbage left between
     * our head and that tail would otherwise be read, and refused, as the successor's first records. The
     * successor publishes its slot before it writes its SESSION_START: if the slot still names the broken session
     * after we loaded the tail, nothing up to that tail is the successor's.
     */
    void discardFaulted(final int j, final MemoryWindow slot, final long brokenSession)
    {
        final Inbound in = inbound[j];
        final long tail = in.reader.publishedTail();
        if (slot.getLongVolatile(PeerSlotDescriptor.SESSION_ID_OFFSET) == brokenSession && !in.reader.discardTo(tail) &&
            !in.discardRefusedLogged)
        {
            in.discardRefusedLogged = true;
            LOG.debug("peer {} session {}: ring to us has inconsistent counters; its next session resets it", j,
                Long.toHexString(brokenSession));
        }
    }

    /**
     * Delivers what every up peer has written to us; true if any record was consumed. A ring found corrupt is
     * no longer read: its channel is returned through {@code corrupt} to be brought down.
     */
    boolean drain(final MemoryWindow[] slots, final CorruptRing corrupt)
    {
        boolean consumed = false;
        for (int j = 0; j < channels.length(); j++)
        {
            final PeerChannel ch = channels.get(j);
            if (ch == null)
            {
                continue;
            }
            final Inbound in = ch.inbound;
            try
            {
                consumed |= in.reader.controlledPoll(ch.handler, BATCH) > 0;
                if (in.violation != null)
                {
                    throw new ShmCorruptionException(in.violation);
                }
            }
            catch (final ShmCorruptionException e)
            {
                LOG.warn("peer {} session {}: ring to us is corrupt ({}); no longer reading it", j,
                    Long.toHexString(ch.session), e.getMessage());
                in.faulted = true;
                in.faultedSession = ch.session;
                in.violation = null;
                discardFaulted(j, slots[j], ch.session);
                corrupt.down(ch);
            }
        }
        return consumed;
    }

    /** Brings down the channel of a ring found corrupt. */
    @FunctionalInterface
    interface CorruptRing
    {
        void down(PeerChannel ch);
    }

    /**
     * Makes sure the ring to {@code ch.vm} has a SESSION_START addressed to {@code ch}'s session before any other
     * record of ours; false if the ring is full (try again later). Caller holds {@code out}'s lock.
     */
    private boolean writeSessionStart(final Outbound out, final PeerChannel ch) throws ShmCorruptionException
    {
        if (out.addressed == ch.session)
        {
            return true;
        }
        out.scratch.putLong(RecordDescriptor.SESSION_START_PRODUCER_OFFSET, session);
        out.scratch.putLong(RecordDescriptor.SESSION_START_CONSUMER_OFFSET, ch.session);
        if (!out.writer.offer(RecordDescriptor.SESSION_START_TYPE, out.scratch, 0,
            RecordDescriptor.SESSION_START_LENGTH))
        {
            return false;
        }
        out.addressed = ch.session;
        return true;
    }

    /**
     * One record from {@code ch}'s ring. Returns false to end the batch at a SESSION_START of another session
     * of the producer, so that its records wait until that session is brought up instead of being discarded.
     */
    private boolean onRecord(final PeerChannel ch, final int type, final ByteBuffer payload, final int length)
    {
        final Inbound in = ch.inbound;
        if (type == RecordDescriptor.SESSION_START_TYPE)
        {
            if (length < RecordDescriptor.SESSION_START_LENGTH)
            {
                in.violation = "SESSION_START record with a payload of " + length + " bytes";
                return false;
            }
            in.startProducer = payload.getLong(RecordDescriptor.SESSION_START_PRODUCER_OFFSET);
            in.startConsumer = payload.getLong(RecordDescriptor.SESSION_START_CONSUMER_OFFSET);
            LOG.debug("peer {}: session start of {} addressed to {}", ch.vm, Long.toHexString(in.startProducer),
                Long.toHexString(in.startConsumer));
            return in.startProducer == ch.session;
        }
        if (type != RecordDescriptor.PEER_MESSAGE_TYPE)
        {
            LOG.debug("peer {}: skipping record of unknown type {}", ch.vm, type);
            return true;
        }
        if (in.startProducer != ch.session || in.startConsumer != session)
        {
            final long discarded = in.discarded.incrementAndGet();
            LOG.debug("peer {} session {}: discarding a record of session {} addressed to {} ({} so far)", ch.vm,
                Long.toHexString(ch.session), Long.toHexString(in.startProducer), Long.toHexString(in.startConsumer),
                discarded);
            return true;
        }
        try
        {
            listener.onMessage(ch.vm, payload, length);
        }
        catch (final RuntimeException e)
        {
            LOG.error("listener failed in onMessage({})", ch.vm, e);
        }
        return true;
    }

    private void ring(final int vm)
    {
        try
        {
            transport.ring(vm, FenceAbi.MESSAGE_VECTOR);
        }
        catch (final IOException | IllegalArgumentException e)
        {
            LOG.debug("doorbell to peer {} vector {} failed: {}", vm, FenceAbi.MESSAGE_VECTOR, e.getMessage());
        }
    }

    /** Our channel to one up peer session: its session, roles and the handler of the ring it writes to us. */
    final class PeerChannel
    {
        final int vm;
        final long session;
        final int roles;
        final Inbound inbound;
        final RingReader.ControlledRecordHandler handler;
        /** Changed under the lock of {@code outbound[vm]}, which also orders sends. */
        volatile boolean up = true;
        volatile String writerFault;

        PeerChannel(final int vm, final long session, final int roles, final Inbound inbound)
        {
            this.vm = vm;
            this.session = session;
            this.roles = roles;
            this.inbound = inbound;
            this.handler = (type, payload, length) -> onRecord(this, type, payload, length);
        }
    }

    /** The ring a peer writes to us, across that peer's sessions (pass thread only). */
    private static final class Inbound
    {
        RingReader reader;
        /** Sessions named by the last SESSION_START read: producer's, and ours as the producer addressed it. */
        long startProducer;
        long startConsumer;
        boolean faulted;
        /** The session that broke the ring: what it publishes is discarded while it owns the slot. */
        long faultedSession;
        boolean discardRefusedLogged;
        String violation;
        /** Counted by the pass thread, read by any (discardedRecords). */
        final AtomicLong discarded = new AtomicLong();

        Inbound(final RingReader reader)
        {
            this.reader = reader;
        }
    }

    /** The ring we write to a peer, across its sessions; its lock orders every write. */
    private static final class Outbound
    {
        final RingWriter writer;
        final ByteBuffer scratch = ByteBuffer.allocate(RecordDescriptor.SESSION_START_LENGTH)
            .order(ByteOrder.LITTLE_ENDIAN);
        /** The consumer session our last SESSION_START on this ring addressed (0: none yet). */
        long addressed;

        Outbound(final RingWriter writer)
        {
            this.writer = writer;
        }
    }
}
