package org.hyperdmabuf.client;

import com.google.protobuf.CodedOutputStream;
import org.hyperdmabuf.abi.UEvent;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.Alloc;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.BufferInfo;
import org.hyperdmabuf.abi.v1.BufferList;
import org.hyperdmabuf.abi.v1.Caps;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Event;
import org.hyperdmabuf.abi.v1.Export;
import org.hyperdmabuf.abi.v1.Exported;
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
import org.hyperdmabuf.abi.v1.ServerFrame;
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
import java.util.ArrayDeque;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A connection to a local hyperdmabuf daemon (sink or source). Thread-safe: many requests may be in
 * flight from several threads; one reader thread matches responses by request id and queues events.
 * <p>
 * File descriptors arrive with SCM_RIGHTS no later than the first byte of their frame; the reader keeps
 * them in a FIFO and gives each response the {@code fd_count} fds at its head (ABI.md "Framing").
 */
public final class HdmabufClient implements AutoCloseable
{
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);
    /** Largest frame a client may send (ABI.md "Framing"). */
    private static final int MAX_FRAME = 65536;
    /** Largest frame a daemon may send (a LIST of many buffers). */
    private static final int MAX_SERVER_FRAME = 16 << 20;

    private final UnixSocket socket;
    private final Map<Long, CompletableFuture<Reply>> pending = new ConcurrentHashMap<>();
    private final BlockingQueue<ReceivedEvent> events = new LinkedBlockingQueue<>();
    private final AtomicLong requestIds = new AtomicLong();
    private final Thread reader;
    private final ByteBuffer sendBuffer = ByteBuffer.allocateDirect(MAX_FRAME + 5);
    private volatile IOException failure;
    private Duration timeout = DEFAULT_TIMEOUT;
    private volatile int pageSize;

    /** A response and the fds that came with it (owned by the caller). */
    public record Reply(Response response, int[] fds)
    {
    }

    private HdmabufClient(final UnixSocket socket)
    {
        this.socket = socket;
        this.reader = new Thread(this::readLoop, "hdmabuf-client-reader");
        this.reader.setDaemon(true);
        this.reader.start();
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
        final Reply reply = call(Request.newBuilder().setAlloc(Alloc.newBuilder().setSize(size)));
        final var a = reply.response().getAllocated();
        final int fd = onlyFd(reply);
        try
        {
            return new Allocation(a.getHandle(), SharedBuffer.mapKeepingFd(fd, a.getOffset(), a.getLength(), false), fd);
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

    public void release(final BufferId id) throws IOException
    {
        call(Request.newBuilder().setRelease(Release.newBuilder().setId(id)));
    }

    /** The next event, waiting up to {@code wait}; null on timeout. */
    public ReceivedEvent nextEvent(final Duration wait) throws IOException, InterruptedException
    {
        final ReceivedEvent e = events.poll(wait.toNanos(), TimeUnit.NANOSECONDS);
        if (e == null && failure != null)
        {
            throw failure;
        }
        return e;
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
        final CompletableFuture<Reply> future = new CompletableFuture<>();
        pending.put(id, future);
        try
        {
            try
            {
                sendFrame(request.setRequestId(id).build());
            }
            catch (final NativeIoException e)
            {
                throw daemonClosed(e);
            }
            final Reply reply = future.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            final Response r = reply.response();
            if (r.getError() != ErrorCode.OK)
            {
                closeFds(reply.fds());
                throw new HdmabufException(r.getError(), r.getMessage());
            }
            return reply;
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
            throw new HdmabufException(ErrorCode.EIO, "interrupted", e);
        }
        catch (final ExecutionException e)
        {
            throw e.getCause() instanceof IOException io ? io : new IOException(e.getCause());
        }
        catch (final TimeoutException e)
        {
            throw new HdmabufException(ErrorCode.ETIMEDOUT, request.getOpCase() + " got no response within " +
                timeout.toMillis() + " ms");
        }
        finally
        {
            pending.remove(id);
        }
    }

    /** Writes raw bytes to the daemon (for tests of malformed input). */
    public void sendRaw(final byte[] bytes) throws IOException
    {
        synchronized (sendBuffer)
        {
            final ByteBuffer b = ByteBuffer.allocateDirect(bytes.length).put(bytes).flip();
            socket.sendFully(b, null, 0);
        }
    }

    private void sendFrame(final Request request) throws IOException
    {
        final IOException f = failure;
        if (f != null)
        {
            throw f;
        }
        final int size = request.getSerializedSize();
        if (size > MAX_FRAME)
        {
            throw new HdmabufException(ErrorCode.EMSGSIZE, "request of " + size + " bytes exceeds the frame limit of " +
                MAX_FRAME);
        }
        synchronized (sendBuffer)
        {
            sendBuffer.clear();
            final CodedOutputStream out = CodedOutputStream.newInstance(sendBuffer);
            out.writeUInt32NoTag(size);
            request.writeTo(out);
            out.flush();
            sendBuffer.flip();
            socket.sendFully(sendBuffer, null, 0);
        }
    }

    // ---- reader ----

    private void readLoop()
    {
        ByteBuffer in = ByteBuffer.allocateDirect(4 * MAX_FRAME);
        final ArrayDeque<Integer> fds = new ArrayDeque<>();
        try
        {
            while (true)
            {
                final int n = socket.receive(in, fds::add);
                if (n == 0)
                {
                    throw new HdmabufException(ErrorCode.EPEERLOST, "the daemon closed the connection");
                }
                in.flip();
                while (true)
                {
                    final int start = in.position();
                    final long prefix = readVarint(in);
                    if (prefix > MAX_SERVER_FRAME)
                    {
                        throw new HdmabufException(ErrorCode.EPROTO, "daemon sent a frame of " + prefix +
                            " bytes, limit " + MAX_SERVER_FRAME);
                    }
                    if (prefix < 0)
                    {
                        in.position(start);
                        break;
                    }
                    final int length = (int)prefix;
                    if (in.remaining() < length)
                    {
                        in.position(start);
                        if (in.capacity() < length + 5)
                        {
                            in = ByteBuffer.allocateDirect(length + 5).put(in);
                            in.flip();
                        }
                        break;
                    }
                    final ByteBuffer body = in.slice(in.position(), length);
                    in.position(in.position() + length);
                    dispatch(ServerFrame.parseFrom(body), fds);
                }
                in.compact();
            }
        }
        catch (final IOException e)
        {
            fail(e);
        }
        catch (final RuntimeException e)
        {
            fail(new HdmabufException(ErrorCode.EPROTO, "client reader failed: " + e, e));
        }
        finally
        {
            closeFds(fds.stream().mapToInt(Integer::intValue).toArray());
        }
    }

    private void dispatch(final ServerFrame frame, final ArrayDeque<Integer> fds) throws HdmabufException
    {
        if (frame.hasEvent())
        {
            final Event e = frame.getEvent();
            events.add(new ReceivedEvent(e.getSubscriptionId(),
                e.getOverflowDropped() > 0 ? null : UEvent.decode(e.getUevent().toByteArray()), e.getOverflowDropped()));
            return;
        }
        final Response r = frame.getResponse();
        if (r.getFdCount() > fds.size())
        {
            throw new HdmabufException(ErrorCode.EPROTO, "response announces " + r.getFdCount() + " fds, " +
                fds.size() + " arrived");
        }
        final int[] mine = new int[r.getFdCount()];
        for (int i = 0; i < mine.length; i++)
        {
            mine[i] = fds.poll();
        }
        final CompletableFuture<Reply> f = pending.get(r.getRequestId());
        if (f == null || !f.complete(new Reply(r, mine)))
        {
            closeFds(mine); // late answer to a request that timed out, or an error on request id 0
            if (r.getRequestId() == 0 && r.getError() != ErrorCode.OK)
            {
                fail(new HdmabufException(r.getError(), r.getMessage()));
            }
        }
    }

    /** Reads a varint32 (as an unsigned value) at the position; -1 (position unspecified) if incomplete. */
    private static long readVarint(final ByteBuffer in) throws HdmabufException
    {
        long result = 0;
        for (int shift = 0; shift < 35; shift += 7)
        {
            if (!in.hasRemaining())
            {
                return -1;
            }
            final byte b = in.get();
            result |= (long)(b & 0x7f) << shift;
            if (b >= 0)
            {
                return result;
            }
        }
        throw new HdmabufException(ErrorCode.EPROTO, "malformed varint from the daemon");
    }

    private void fail(final IOException e)
    {
        if (failure == null)
        {
            failure = e;
        }
        for (final CompletableFuture<Reply> f : pending.values())
        {
            f.completeExceptionally(e);
        }
    }

    /**
     * The daemon closed the connection under us (EPIPE): it usually said why first (e.g. EACCES for a uid
     * the policy refuses), so report that reason once the reader has seen it.
     */
    private IOException daemonClosed(final NativeIoException sendFailure) throws IOException
    {
        try
        {
            reader.join(2000);
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
        }
        final IOException said = failure;
        return said != null ? said : new HdmabufException(ErrorCode.EPEERLOST, "the daemon closed the connection (" +
            sendFailure.errnoName() + ")", sendFailure);
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
        for (final int fd : fds)
        {
            Native.closeQuietly(fd);
        }
    }

    /** Whether the connection has failed (daemon gone); subsequent calls throw. */
    public boolean isBroken()
    {
        return failure != null;
    }

    @Override
    public void close()
    {
        socket.shutdown();
        try
        {
            reader.join(2000);
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
        }
        socket.close();
    }
}
