package org.hyperdmabuf.hv.xen.store;

import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

import static org.hyperdmabuf.hv.xen.abi.XsWireDescriptor.XS_DIRECTORY;
import static org.hyperdmabuf.hv.xen.abi.XsWireDescriptor.XS_ERROR;
import static org.hyperdmabuf.hv.xen.abi.XsWireDescriptor.XS_GET_DOMAIN_PATH;
import static org.hyperdmabuf.hv.xen.abi.XsWireDescriptor.XS_GET_PERMS;
import static org.hyperdmabuf.hv.xen.abi.XsWireDescriptor.XS_MKDIR;
import static org.hyperdmabuf.hv.xen.abi.XsWireDescriptor.XS_READ;
import static org.hyperdmabuf.hv.xen.abi.XsWireDescriptor.XS_RM;
import static org.hyperdmabuf.hv.xen.abi.XsWireDescriptor.XS_SET_PERMS;
import static org.hyperdmabuf.hv.xen.abi.XsWireDescriptor.XS_TRANSACTION_END;
import static org.hyperdmabuf.hv.xen.abi.XsWireDescriptor.XS_TRANSACTION_START;
import static org.hyperdmabuf.hv.xen.abi.XsWireDescriptor.XS_UNWATCH;
import static org.hyperdmabuf.hv.xen.abi.XsWireDescriptor.XS_WATCH;
import static org.hyperdmabuf.hv.xen.abi.XsWireDescriptor.XS_WATCH_EVENT;
import static org.hyperdmabuf.hv.xen.abi.XsWireDescriptor.XS_WRITE;

/**
 * A xenstore client speaking the {@code xsd_sockmsg} protocol, as libxenstore's {@code xs.c} does: the socket at
 * {@code XENSTORED_PATH} (or {@code $XENSTORED_RUNDIR/socket}, default {@code /var/run/xenstored/socket}) when
 * it exists, else {@code /dev/xen/xenbus}. Requests may come from any thread; a reader thread matches replies
 * by req_id and hands watch events to the {@link WatchListener} (on that thread: do not block in it).
 * Transaction id 0 means "no transaction".
 */
public final class XenStoreClient implements AutoCloseable
{
    public static final String DEFAULT_SOCKET = "/var/run/xenstored/socket";
    public static final String XENBUS_DEVICE = "/dev/xen/xenbus";

    private static final Logger LOG = LoggerFactory.getLogger(XenStoreClient.class);
    private static final long TIMEOUT_SECONDS = 30;

    /** Receives {@code XS_WATCH_EVENT}s: the path that changed and the token given to {@link #watch}. */
    @FunctionalInterface
    public interface WatchListener
    {
        void onWatch(String path, String token);
    }

    private final XsTransport transport;
    private final WatchListener watches;
    private final Map<Integer, CompletableFuture<XsMessage>> pending = new ConcurrentHashMap<>();
    private final AtomicInteger nextReqId = new AtomicInteger(1);
    private final Thread reader;
    private volatile IOException failure;

    private XenStoreClient(final XsTransport transport, final WatchListener watches, final String name)
    {
        this.transport = transport;
        this.watches = watches;
        this.reader = new Thread(this::readLoop, "xenstore-" + name);
        this.reader.setDaemon(true);
        this.reader.start();
    }

    /** A client over an open transport (the emulation's per-domain connection). */
    public static XenStoreClient over(final XsTransport transport, final WatchListener watches, final String name)
    {
        return new XenStoreClient(transport, watches, name);
    }

    /** Connects to the xenstored socket at {@code socketPath}. */
    public static XenStoreClient connectSocket(final String socketPath, final WatchListener watches)
        throws NativeIoException
    {
        return new XenStoreClient(XsTransport.socket(socketPath), watches, socketPath);
    }

    /**
     * Connects as libxenstore does: {@code socketPath} if given, else {@code $XENSTORED_PATH}, else the default
     * socket if it is a socket, else the xenbus device.
     */
    public static XenStoreClient open(final String socketPath, final WatchListener watches) throws NativeIoException
    {
        String path = socketPath != null ? socketPath : System.getenv("XENSTORED_PATH");
        if (path == null)
        {
            final String rundir = System.getenv("XENSTORED_RUNDIR");
            path = rundir != null ? rundir + "/socket" : DEFAULT_SOCKET;
        }
        final Path p = Paths.get(path);
        if (socketPath != null || Files.exists(p) && !Files.isRegularFile(p) && !Files.isDirectory(p))
        {
            return connectSocket(path, watches);
        }
        return new XenStoreClient(XsTransport.device(XENBUS_DEVICE), watches, XENBUS_DEVICE);
    }

    /** READ; ENOENT if absent. */
    public String read(final int tx, final String path) throws IOException
    {
        return request(XS_READ, tx, XsMessage.strings(path), path).text();
    }

    /** READ that returns null instead of ENOENT. */
    public String readOrNull(final int tx, final String path) throws IOException
    {
        try
        {
            return read(tx, path);
        }
        catch (final XenStoreException e)
        {
            if ("ENOENT".equals(e.error()))
            {
                return null;
            }
            throw e;
        }
    }

    /** WRITE (missing parents are created). */
    public void write(final int tx, final String path, final String value) throws IOException
    {
        request(XS_WRITE, tx, XsMessage.pathAndValue(path, value.getBytes(StandardCharsets.UTF_8)), path);
    }

    public void mkdir(final int tx, final String path) throws IOException
    {
        request(XS_MKDIR, tx, XsMessage.strings(path), path);
    }

    /** RM of a node and its children. */
    public void rm(final int tx, final String path) throws IOException
    {
        request(XS_RM, tx, XsMessage.strings(path), path);
    }

    /** RM that treats an already absent node as removed. */
    public void rmIfPresent(final int tx, final String path) throws IOException
    {
        try
        {
            rm(tx, path);
        }
        catch (final XenStoreException e)
        {
            if (!"ENOENT".equals(e.error()))
            {
                throw e;
            }
        }
    }

    public List<String> directory(final int tx, final String path) throws IOException
    {
        return request(XS_DIRECTORY, tx, XsMessage.strings(path), path).split();
    }

    /**
     * SET_PERMS with strings like {@code n0} (owner dom0, others none) then {@code r5} (dom5 may read): the first
     * entry names the owner and the default for everyone else.
     */
    public void setPermissions(final int tx, final String path, final String... perms) throws IOException
    {
        final String[] parts = new String[perms.length + 1];
        parts[0] = path;
        System.arraycopy(perms, 0, parts, 1, perms.length);
        request(XS_SET_PERMS, tx, XsMessage.strings(parts), path);
    }

    /** GET_PERMS: the node's list, owner entry first. */
    public List<String> permissions(final String path) throws IOException
    {
        return request(XS_GET_PERMS, 0, XsMessage.strings(path), path).split();
    }

    public String domainPath(final int domid) throws IOException
    {
        return request(XS_GET_DOMAIN_PATH, 0, XsMessage.strings(Integer.toString(domid)), "domid " + domid).text();
    }

    /** WATCH; fires once immediately, then on every change at or below {@code path}. */
    public void watch(final String path, final String token) throws IOException
    {
        request(XS_WATCH, 0, XsMessage.strings(path, token), path);
    }

    public void unwatch(final String path, final String token) throws IOException
    {
        request(XS_UNWATCH, 0, XsMessage.strings(path, token), path);
    }

    public int transactionStart() throws IOException
    {
        return Integer.parseUnsignedInt(request(XS_TRANSACTION_START, 0, XsMessage.strings(""), "transaction").text());
    }

    /** TRANSACTION_END; false if xenstored answered EAGAIN (a conflicting change: redo the transaction). */
    public boolean transactionEnd(final int tx, final boolean commit) throws IOException
    {
        try
        {
            request(XS_TRANSACTION_END, tx, XsMessage.strings(commit ? "T" : "F"), "transaction " + tx);
            return true;
        }
        catch (final XenStoreException e)
        {
            if (commit && "EAGAIN".equals(e.error()))
            {
                return false;
            }
            throw e;
        }
    }

    /** Runs {@code body} in a transaction, redoing it while the commit answers EAGAIN (at most 100 times). */
    public void inTransaction(final TransactionBody body) throws IOException
    {
        for (int attempt = 0; attempt < 100; attempt++)
        {
            final int tx = transactionStart();
            try
            {
                body.run(tx);
            }
            catch (final IOException | RuntimeException e)
            {
                transactionEnd(tx, false);
                throw e;
            }
            if (transactionEnd(tx, true))
            {
                return;
            }
        }
        throw new XenStoreException("EAGAIN", "transaction still conflicting after 100 attempts");
    }

    /** Work done inside one transaction. */
    @FunctionalInterface
    public interface TransactionBody
    {
        void run(int tx) throws IOException;
    }

    private XsMessage request(final int type, final int tx, final byte[] payload, final String what)
        throws IOException
    {
        final IOException failed = failure;
        if (failed != null)
        {
            throw new XenStoreException("EIO", "xenstore connection lost (" + failed.getMessage() + ")");
        }
        final int reqId = nextReqId.getAndIncrement();
        final CompletableFuture<XsMessage> reply = new CompletableFuture<>();
        pending.put(reqId, reply);
        try
        {
            transport.write(new XsMessage(type, reqId, tx, payload));
            final XsMessage m = reply.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
            if (m.type() == XS_ERROR)
            {
                throw new XenStoreException(m.text(), "xenstore " + typeName(type) + " " + what);
            }
            if (m.type() != type)
            {
                throw new XenStoreException("EIO", "xenstore answered " + typeName(type) + " with type " + m.type());
            }
            return m;
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
            throw new XenStoreException("EINTR", "xenstore " + typeName(type) + " " + what);
        }
        catch (final ExecutionException e)
        {
            throw new XenStoreException("EIO", "xenstore " + typeName(type) + " " + what + " (" +
                e.getCause().getMessage() + ")");
        }
        catch (final TimeoutException e)
        {
            throw new XenStoreException("ETIMEDOUT", "xenstore " + typeName(type) + " " + what);
        }
        finally
        {
            pending.remove(reqId);
        }
    }

    private void readLoop()
    {
        try
        {
            while (true)
            {
                final XsMessage m = transport.read();
                if (m.type() == XS_WATCH_EVENT)
                {
                    final List<String> parts = m.split();
                    if (parts.size() >= 2 && watches != null)
                    {
                        try
                        {
                            watches.onWatch(parts.get(0), parts.get(1));
                        }
                        catch (final RuntimeException e)
                        {
                            LOG.error("xenstore watch listener failed on {}", parts.get(0), e);
                        }
                    }
                    continue;
                }
                final CompletableFuture<XsMessage> reply = pending.get(m.reqId());
                if (reply != null)
                {
                    reply.complete(m);
                }
            }
        }
        catch (final IOException e)
        {
            failure = e;
            pending.values().forEach(f -> f.completeExceptionally(e));
        }
    }

    /** Whether the connection to xenstored has failed (xenstored gone). */
    public boolean isBroken()
    {
        return failure != null;
    }

    private static String typeName(final int type)
    {
        switch (type)
        {
            case XS_DIRECTORY: return "DIRECTORY";
            case XS_READ: return "READ";
            case XS_WATCH: return "WATCH";
            case XS_UNWATCH: return "UNWATCH";
            case XS_TRANSACTION_START: return "TRANSACTION_START";
            case XS_TRANSACTION_END: return "TRANSACTION_END";
            case XS_GET_DOMAIN_PATH: return "GET_DOMAIN_PATH";
            case XS_WRITE: return "WRITE";
            case XS_MKDIR: return "MKDIR";
            case XS_RM: return "RM";
            case XS_SET_PERMS: return "SET_PERMS";
            case XS_GET_PERMS: return "GET_PERMS";
            default: return "type " + type;
        }
    }

    /** Stops the reader, then frees the connection (not before: see {@link XsTransport#shutdown}). */
    @Override
    public void close()
    {
        transport.shutdown();
        try
        {
            reader.join(TimeUnit.SECONDS.toMillis(5));
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
        }
        transport.close();
    }
}
