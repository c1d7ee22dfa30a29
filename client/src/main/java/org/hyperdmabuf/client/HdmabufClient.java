package org.hyperdmabuf.client;

import edu.umd.cs.findbugs.annotations.SuppressFBWarnings;
import org.hyperdmabuf.abi.Limits;
import com.google.protobuf.CodedOutputStream;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.Alloc;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.BufferInfo;
import org.hyperdmabuf.abi.v1.BufferList;
import org.hyperdmabuf.abi.v1.Caps;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Export;
import org.hyperdmabuf.abi.v1.Exported;
import org.hyperdmabuf.abi.v1.FenceDoorbell;
import org.hyperdmabuf.abi.v1.FenceWake;
import org.hyperdmabuf.abi.v1.FenceSignal;
import org.hyperdmabuf.abi.v1.FenceState;
import org.hyperdmabuf.abi.v1.FenceWait;
import org.hyperdmabuf.abi.v1.Timeline;
import org.hyperdmabuf.abi.v1.Free;
import org.hyperdmabuf.abi.v1.Import;
import org.hyperdmabuf.abi.v1.Imported;
import org.hyperdmabuf.abi.v1.List;
import org.hyperdmabuf.abi.v1.MatchRule;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.abi.v1.Query;
import org.hyperdmabuf.abi.v1.QueryCaps;
import org.hyperdmabuf.abi.v1.QueryTargets;
import org.hyperdmabuf.abi.v1.Release;
import org.hyperdmabuf.abi.v1.Request;
import org.hyperdmabuf.abi.v1.Response;
import org.hyperdmabuf.abi.v1.Stats;
import org.hyperdmabuf.abi.v1.StatsResult;
import org.hyperdmabuf.abi.v1.Subscribe;
import org.hyperdmabuf.abi.v1.Targets;
import org.hyperdmabuf.abi.v1.Unexport;
import org.hyperdmabuf.abi.v1.Unsubscribe;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.nativeio.UnixSocket;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A connection to a local hyperdmabuf daemon (sink or source). Thread-safe: many requests may be in
 * flight from several threads, responses are matched by request id and events queued.
 * <p>
 * There is no reader thread: the threads that wait read (see {@link LeaderFollowerReader}). A call sends its
 * frame and, if no other thread is reading, reads the socket itself until its response arrives, handing
 * other threads' responses and events on as it reads them; otherwise it parks until the reading thread
 * hands it its response or the lead. A lone caller thus costs one wakeup per round trip. Events are read
 * when some thread calls or waits in {@link #nextEvent}; in between they wait in the socket and in the
 * daemon's bounded queue (ABI.md "Delivery and back-pressure").
 * <p>
 * File descriptors arrive with SCM_RIGHTS no later than the first byte of their frame; the reading thread
 * keeps them in a FIFO and gives each response the {@code fd_count} fds at its head (ABI.md "Framing").
 * Fds of a response nobody waits for any more (a timed-out call) are closed.
 */
public final class HdmabufClient implements AutoCloseable
{
    /**
     * How long a call waits for its answer: 30 s, or the system property {@code hdmabuf.client.timeout-ms} (for
     * machines where a daemon can stall that long, e.g. a guest under an emulated CPU).
     */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofMillis(Math.max(1,
        Long.getLong("hdmabuf.client.timeout-ms", 30_000)));
    /** Largest frame a client may send (ABI.md "Framing"). */
    /** How long a call whose send failed (EPIPE) reads on for the reason the daemon gave before closing. */
    private static final long CLOSE_REASON_WAIT_NANOS = TimeUnit.SECONDS.toNanos(2);

    private final UnixSocket socket;
    private final LeaderFollowerReader reader;
    private final AtomicLong requestIds = new AtomicLong();
    private final ByteBuffer sendBuffer = ByteBuffer.allocateDirect(Limits.MAX_FRAME_BYTES + 5);
    private boolean closed; // guarded by sendBuffer
    private Duration timeout = DEFAULT_TIMEOUT;
    private volatile int pageSize;

    /** A response and the fds that came with it (owned by the caller). */
    @SuppressFBWarnings(value = {"EI_EXPOSE_REP", "EI_EXPOSE_REP2"},
        justification = "hands the caller a protobuf message (immutable) and the fds it now owns and closes")
    public record Reply(Response response, int[] fds)
    {
    }

    private HdmabufClient(final UnixSocket socket)
    {
        this.socket = socket;
        this.reader = new LeaderFollowerReader(socket);
    }

    public static HdmabufClient connect(final Path socketPath) throws IOException
    {
        Native.ensureAvailability();
        try
        {
            return new HdmabufClient(UnixSocket.connect(socketPath.toString()));
        }
        catch (final NativeIoException e)
        {
            throw new HdmabufException(ErrorCode.EIO, "cannot connect to the daemon at " + socketPath + " (" +
                e.errnoName() + "); is it running?", e);
        }
    }

    public HdmabufClient timeout(final Duration timeout)
    {
        this.timeout = timeout;
        return this;
    }

    // ---- operations ----

    public Caps caps() throws IOException
    {
        return call(Request.newBuilder().setQueryCaps(QueryCaps.getDefaultInstance())).response().getCaps();
    }

    public Targets targets() throws IOException
    {
        return call(Request.newBuilder().setQueryTargets(QueryTargets.getDefaultInstance())).response().getTargets();
    }

    /** ALLOC: shareable memory of at least {@code size} bytes, mapped read-write into this process. */
    public Allocation alloc(final long size) throws IOException
    {
        return alloc(Alloc.newBuilder().setSize(size));
    }

    /**
     * ALLOC declaring the export to come: the buffer will be exported to {@code targetVm} with {@code access}.
     * Backends that fix grantee and access when they make the pages (xen) grant it so; the sink checks the policy
     * for that target now (EACCES). See ABI.md "Sink operations, in detail".
     */
    public Allocation alloc(final long size, final int targetVm, final Access access) throws IOException
    {
        return alloc(Alloc.newBuilder().setSize(size).setTargetVm(targetVm).setAccess(access));
    }

    /**
     * ALLOC handing the buffer over as a dma-buf of exactly its pages (ABI.md "Dma-buf imports"), for a producer
     * that gives buffers to a GPU or encoder: {@link Allocation#dmaBufFd()} is the dma-buf, mapped read-write.
     * The dma-buf does not reach the fence slot: signal with {@link #fenceSignal}. ENOTSUP where
     * {@code caps().getDmaBuf()} is false, E2BIG over the kernel's udmabuf size_limit_mb.
     */
    public Allocation allocDmaBuf(final long size) throws IOException
    {
        return alloc(Alloc.newBuilder().setSize(size).setDmaBuf(true));
    }

    private Allocation alloc(final Alloc.Builder request) throws IOException
    {
        final Reply reply = call(Request.newBuilder().setAlloc(request));
        final var a = reply.response().getAllocated();
        final int fd = onlyFd(reply);
        try
        {
            return new Allocation(a.getHandle(), a.getOffset(),
                SharedBuffer.mapKeepingFd(fd, a.getOffset(), a.getLength(), false), fd, a.getDmaBuf());
        }
        catch (final IOException | RuntimeException e)
        {
            Native.closeQuietly(fd);
            throw e;
        }
    }

    /** EXPORT (or re-export) an allocation to {@code targetVm}. */
    public Exported export(final long handle, final int targetVm, final Metadata metadata, final Access access)
        throws IOException
    {
        return call(Request.newBuilder().setExport(Export.newBuilder().setHandle(handle).setTargetVm(targetVm)
            .setMetadata(metadata).setAccess(access))).response().getExported();
    }

    /** The producer's side of the fence of an export of {@code allocation} (from EXPORT's response). */
    public Fence fence(final Allocation allocation, final Exported exported) throws IOException
    {
        if (allocation.isDmaBuf())
        {
            throw new HdmabufException(ErrorCode.ENOTSUP, "a dma-buf allocation does not reach its fence slot: use " +
                "fenceSignal and fenceWait");
        }
        return Fence.map(this, exported.getId(), Fence.Side.PRODUCER, allocation.fd(), exported.getFenceOffset(), true,
            pageSize());
    }

    /** FENCE_SIGNAL through the daemon (for sides that cannot store, and to ring the doorbell for waiters). */
    public void fenceSignal(final BufferId id, final Timeline timeline, final long value, final int error)
        throws IOException
    {
        call(Request.newBuilder().setFenceSignal(FenceSignal.newBuilder().setId(id).setTimeline(timeline)
            .setValue(value).setError(error)));
    }

    /**
     * FENCE_DOORBELL: an eventfd that rings the fence doorbell of the buffer's other VM (the caller owns it and
     * writes an 8-byte 1 to ring); -1 when the daemon cannot hand one out (ENOTSUP: use {@link #fenceSignal}).
     */
    public int openFenceDoorbell(final BufferId id) throws IOException
    {
        return openFenceDoorbell(id, 0);
    }

    /**
     * FENCE_DOORBELL for doorbell {@code vector} of the buffer's other VM (0: its fence doorbell; 2 and up: a wake
     * vector its timeline's wake mask names). -1 when the daemon cannot hand one out (ENOTSUP).
     */
    public int openFenceDoorbell(final BufferId id, final int vector) throws IOException
    {
        final Reply reply;
        try
        {
            reply = call(Request.newBuilder().setFenceDoorbell(FenceDoorbell.newBuilder().setId(id)
                .setVector(vector)));
        }
        catch (final HdmabufException e)
        {
            if (e.code() == ErrorCode.ENOTSUP)
            {
                return -1;
            }
            throw e;
        }
        return onlyFd(reply);
    }

    /** A leased wake vector: the eventfd to poll (the caller owns it), its number, and who sets its bit. */
    public record WakeLease(int fd, int vector, boolean bitHeldByDaemon)
    {
    }

    /**
     * FENCE_WAKE: leases a wake vector of this VM for the timeline this client waits on in buffer {@code id};
     * null when none can be had (EBUSY: all leased, or this connection holds the buffer's lease already;
     * ENOTSUP: the backend has none), so the caller waits with FENCE_WAIT.
     */
    public WakeLease openFenceWake(final BufferId id) throws IOException
    {
        final Reply reply;
        try
        {
            reply = call(Request.newBuilder().setFenceWake(FenceWake.newBuilder().setId(id)));
        }
        catch (final HdmabufException e)
        {
            if (e.code() == ErrorCode.ENOTSUP || e.code() == ErrorCode.EBUSY)
            {
                return null;
            }
            throw e;
        }
        final int fd = onlyFd(reply);
        final org.hyperdmabuf.abi.v1.WakeLease l = reply.response().getWakeLease();
        return new WakeLease(fd, l.getVector(), l.getBitHeldByDaemon());
    }

    /** The connection's socket fd, for a poller that watches for the daemon hanging up (never read it). */
    int socketFd()
    {
        return socket.fd();
    }

    /** FENCE_WAIT: blocks in the daemon until the timeline reaches {@code value}. */
    public FenceState fenceWait(final BufferId id, final Timeline timeline, final long value, final long timeoutMillis)
        throws IOException
    {
        final Duration saved = timeout;
        final Request.Builder r = Request.newBuilder().setFenceWait(FenceWait.newBuilder().setId(id)
            .setTimeline(timeline).setValue(value).setTimeoutMs((int)Math.min(Integer.MAX_VALUE, timeoutMillis)));
        return call(r, Duration.ofMillis(timeoutMillis).plus(saved)).response().getFence();
    }

    private int pageSize() throws IOException
    {
        int p = pageSize;
        if (p == 0)
        {
            p = caps().getPageSize();
            pageSize = p;
        }
        return p;
    }

    public void unexport(final BufferId id) throws IOException
    {
        call(Request.newBuilder().setUnexport(Unexport.newBuilder().setId(id)));
    }

    /**
     * Delayed unexport: the export stays usable for {@code delay}; exporting the same allocation to the same
     * target within it cancels the unexport and reuses the id (a reuse window).
     */
    public void unexport(final BufferId id, final Duration delay) throws IOException
    {
        call(Request.newBuilder().setUnexport(Unexport.newBuilder().setId(id).setDelayMs((int)delay.toMillis())));
    }

    public void free(final long handle) throws IOException
    {
        call(Request.newBuilder().setFree(Free.newBuilder().setHandle(handle)));
    }

    public BufferInfo query(final BufferId id) throws IOException
    {
        return call(Request.newBuilder().setQuery(Query.newBuilder().setId(id))).response().getBuffer();
    }

    /** STATS: pinned memory per VM and per client uid against the policy's quotas. */
    public StatsResult stats() throws IOException
    {
        return call(Request.newBuilder().setStats(Stats.getDefaultInstance())).response().getStats();
    }

    public BufferList list() throws IOException
    {
        return call(Request.newBuilder().setList(List.getDefaultInstance())).response().getBuffers();
    }

    /** SUBSCRIBE; events arrive through {@link #nextEvent}. No rules = every event. */
    public long subscribe(final Iterable<MatchRule> rules, final boolean replay) throws IOException
    {
        return call(Request.newBuilder().setSubscribe(Subscribe.newBuilder().addAllRules(rules).setReplay(replay)))
            .response().getSubscribed().getSubscriptionId();
    }

    public void unsubscribe(final long subscriptionId) throws IOException
    {
        call(Request.newBuilder().setUnsubscribe(Unsubscribe.newBuilder().setSubscriptionId(subscriptionId)));
    }

    /** IMPORT a buffer exported to this VM and map it (read-only if the export is). */
    public ImportedBuffer importBuffer(final BufferId id) throws IOException
    {
        final Reply reply = call(Request.newBuilder().setImport(Import.newBuilder().setId(id)));
        final Imported i = reply.response().getImported();
        final boolean readOnly = i.getAccess() == Access.ACCESS_READ_ONLY;
        final int fd = onlyFd(reply);
        try
        {
            final Fence fence = Fence.map(this, id, Fence.Side.CONSUMER, fd, i.getFenceOffset(), !readOnly, pageSize());
            try
            {
                return new ImportedBuffer(id, SharedBuffer.mapKeepingFd(fd, i.getOffset(), i.getLength(), readOnly),
                    i.getMetadata(), fence);
            }
            catch (final IOException | RuntimeException e)
            {
                fence.close();
                throw e;
            }
        }
        finally
        {
            Native.closeQuietly(fd);
        }
    }

    /**
     * IMPORT a buffer as a dma-buf of exactly its pages (ABI.md "Dma-buf imports") and map it read-write. Refused,
     * never silently replaced by a region mapping: ENOTSUP where {@code caps().getDmaBuf()} is false (the reason
     * is in {@code getDmaBufUnavailable()}: use {@link #importBuffer}), EACCES for a read-only export, E2BIG over
     * the kernel's udmabuf size_limit_mb.
     */
    public DmaBufImport importDmaBuf(final BufferId id) throws IOException
    {
        final Reply reply = call(Request.newBuilder().setImport(Import.newBuilder().setId(id).setDmaBuf(true)));
        final Imported i = reply.response().getImported();
        final int fd = onlyFd(reply);
        try
        {
            if (!i.getDmaBuf() || i.getOffset() != 0)
            {
                throw new HdmabufException(ErrorCode.EPROTO, "IMPORT with dma_buf answered without a dma-buf");
            }
            return new DmaBufImport(id, fd, SharedBuffer.mapKeepingFd(fd, 0, i.getLength(), false), i.getMetadata());
        }
        catch (final IOException | RuntimeException e)
        {
            Native.closeQuietly(fd);
            throw e;
        }
    }

    public void release(final BufferId id) throws IOException
    {
        call(Request.newBuilder().setRelease(Release.newBuilder().setId(id)));
    }

    /**
     * The next event, waiting up to {@code wait} (reading the socket if no other thread does); null on timeout.
     * Events already received come first; then the connection's failure is thrown.
     */
    public ReceivedEvent nextEvent(final Duration wait) throws IOException, InterruptedException
    {
        return reader.nextEvent(System.nanoTime() + wait.toNanos());
    }

    /**
     * Sends a request (a request id is assigned) and waits for its response. Error responses throw
     * {@link HdmabufException}; fds of a successful reply belong to the caller.
     */
    public Reply call(final Request.Builder request) throws IOException
    {
        return call(request, timeout);
    }

    private Reply call(final Request.Builder request, final Duration timeout) throws IOException
    {
        final long id = requestIds.incrementAndGet();
        final LeaderFollowerReader.Waiter waiter = reader.register(id);
        try
        {
            long deadline = System.nanoTime() + timeout.toNanos();
            NativeIoException sendFailure = null;
            try
            {
                sendFrame(request.setRequestId(id).build());
            }
            catch (final NativeIoException e)
            {
                // The daemon closed the connection under us (EPIPE): it usually said why first (e.g. EACCES
                // for a uid the policy refuses), so read on briefly to report that reason.
                sendFailure = e;
                deadline = System.nanoTime() + Math.min(timeout.toNanos(), CLOSE_REASON_WAIT_NANOS);
            }
            final Reply reply = reader.awaitReply(waiter, deadline);
            if (reply == null)
            {
                if (sendFailure != null)
                {
                    throw new HdmabufException(ErrorCode.EPEERLOST, "the daemon closed the connection (" +
                        sendFailure.errnoName() + ")", sendFailure);
                }
                if (Thread.currentThread().isInterrupted())
                {
                    throw new HdmabufException(ErrorCode.EIO, "interrupted", new InterruptedException());
                }
                throw new HdmabufException(ErrorCode.ETIMEDOUT, request.getOpCase() + " got no response within " +
                    timeout.toMillis() + " ms");
            }
            final Response r = reply.response();
            if (r.getError() != ErrorCode.OK)
            {
                closeFds(reply.fds());
                throw new HdmabufException(r.getError(), r.getMessage());
            }
            return reply;
        }
        finally
        {
            reader.deregister(waiter);
        }
    }

    /** Writes raw bytes to the daemon (for tests of malformed input). */
    public void sendRaw(final byte[] bytes) throws IOException
    {
        synchronized (sendBuffer)
        {
            checkOpen();
            final ByteBuffer b = ByteBuffer.allocateDirect(bytes.length).put(bytes).flip();
            socket.sendFully(b, null, 0);
        }
    }

    private void sendFrame(final Request request) throws IOException
    {
        final IOException f = reader.failure();
        if (f != null)
        {
            throw f;
        }
        final int size = request.getSerializedSize();
        if (size > Limits.MAX_FRAME_BYTES)
        {
            throw new HdmabufException(ErrorCode.EMSGSIZE, "request of " + size + " bytes exceeds the frame limit of " +
                Limits.MAX_FRAME_BYTES);
        }
        synchronized (sendBuffer)
        {
            checkOpen();
            sendBuffer.clear();
            final CodedOutputStream out = CodedOutputStream.newInstance(sendBuffer);
            out.writeUInt32NoTag(size);
            request.writeTo(out);
            out.flush();
            sendBuffer.flip();
            socket.sendFully(sendBuffer, null, 0);
        }
    }

    /** Under the send lock: the fd must not be used once {@link #close} closed it (its number may be reused). */
    private void checkOpen() throws IOException
    {
        if (closed)
        {
            final IOException f = reader.failure();
            throw f != null ? f : new HdmabufException(ErrorCode.EBADF, "the client was closed");
        }
    }

    private static int onlyFd(final Reply reply) throws HdmabufException
    {
        if (reply.fds().length != 1)
        {
            closeFds(reply.fds());
            throw new HdmabufException(ErrorCode.EPROTO, "expected 1 fd, got " + reply.fds().length);
        }
        return reply.fds()[0];
    }

    private static void closeFds(final int[] fds)
    {
        LeaderFollowerReader.closeFds(fds);
    }

    /**
     * Whether the connection has failed (daemon gone, or closed); subsequent calls throw. Reads what the
     * socket holds without blocking when no other thread is reading, so a daemon that left is noticed.
     */
    public boolean isBroken()
    {
        return reader.poke() != null;
    }

    /**
     * Closes the connection. Threads waiting in a call or in {@link #nextEvent} fail with EBADF (unless the
     * connection had already failed, then with that failure); fds of frames not yet handed out are closed.
     */
    @Override
    public void close()
    {
        synchronized (sendBuffer)
        {
            if (closed)
            {
                return;
            }
            closed = true;
        }
        reader.fail(new HdmabufException(ErrorCode.EBADF, "the client was closed"));
        socket.shutdown(); // wakes a thread blocked reading
        reader.stopReading();
        synchronized (sendBuffer)
        {
            socket.close();
        }
    }
}
