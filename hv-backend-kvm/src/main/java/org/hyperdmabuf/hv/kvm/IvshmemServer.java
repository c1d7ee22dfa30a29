package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.hv.nativeio.Errno;
import org.hyperdmabuf.hv.nativeio.EventFd;
import org.hyperdmabuf.hv.nativeio.MemFd;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.nativeio.Poller;
import org.hyperdmabuf.hv.nativeio.UnixSocket;
import org.hyperdmabuf.hv.shm.RegionLayout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * An embedded ivshmem server speaking QEMU's protocol ({@code contrib/ivshmem-server}), because Debian ships no
 * server binary and QEMU blocks at start-up until a server has sent it the shared memory.
 * <p>
 * Every message is one little-endian int64 in its own {@code sendmsg}, optionally with one fd. On connect a
 * client gets: version 0; its own id; -1 with the shm fd; then for each existing peer that peer's id once per
 * vector, each with the eventfd that interrupts that peer on that vector; then its own id once per vector with
 * the eventfds it receives on. Existing clients get the new id once per vector with its eventfds. Any input
 * or EOF from a client frees it and its id is broadcast without an fd (a disconnect).
 * <p>
 * Ids: a new client gets the lowest id in {@code [firstId, maxId]} that no connected client holds, so a
 * restarted daemon gets its id back and the ids stay within the region's peer slots ({@code maxId} defaults to
 * the default region's {@code max_peers - 1}). QEMU's own server instead counts up to 65535 and never hands out a
 * connected id; reuse of a freed id is safe because every peer slot names its owner's session (ABI.md
 * "Peer table").
 * <p>
 * The shared memory is a memfd of the configured size, which must be a power of two: QEMU exposes it as
 * BAR2 and refuses other sizes. It is created sealable and sealed {@code F_SEAL_SHRINK}, so that host-mode
 * daemons can turn single buffers into dma-bufs with udmabuf (ABI.md "Dma-buf imports"). One daemon thread
 * runs a {@code poll(2)} loop; all protocol state is confined to it. Sends to clients are blocking, as in
 * QEMU's server: a client that stops reading while its socket buffer is full stalls the server (QEMU always
 * reads; our peers read on their receive threads).
 */
public final class IvshmemServer implements AutoCloseable
{
    public static final int PROTOCOL_VERSION = 0;
    /** Vectors per peer: 0 messages, 1 the fence doorbell, 2..15 wake vectors (ABI.md "Direct fence wake-ups"). */
    public static final int DEFAULT_VECTORS = 16;
    public static final int MAX_VECTORS = 64;
    public static final int DEFAULT_FIRST_ID = 1;
    /** Peer ids are uint16 on the wire (QEMU's IVSHMEM_MAX_PEERS). */
    public static final int MAX_ID = 65535;
    /** Largest id by default: the last peer slot of a region with the default {@code max-peers}. */
    public static final int DEFAULT_MAX_ID = RegionLayout.DEFAULT_MAX_PEERS - 1;
    public static final long DEFAULT_SIZE = 4L * 1024 * 1024;

    private static final Logger LOG = LoggerFactory.getLogger(IvshmemServer.class);
    private static final long JOIN_TIMEOUT_MS = 5000;

    private final String socketPath;
    private final long size;
    private final int vectors;
    private final int firstId;
    private final int maxId;
    private final Runnable heartbeat;
    private final long heartbeatNanos;
    private final Map<Integer, Peer> peers = new ConcurrentHashMap<>();
    private final ByteBuffer message = ByteBuffer.allocateDirect(8).order(ByteOrder.LITTLE_ENDIAN);
    private final int[] fdScratch = new int[1];
    private final EventFd waker = new EventFd();
    // Written under the monitor by start and by close (after the server thread has stopped), read without it by
    // the server thread and by regionFd from any thread: volatile so every reader sees the latest value.
    private volatile int shmFd = -1;
    private volatile int listenFd = -1;
    private volatile int wakeFd = -1;
    private Thread thread;
    private volatile boolean running;
    private boolean closed;

    /** Server options, fluent like an Aeron context. */
    public static final class Options
    {
        private String socketPath;
        private long size = DEFAULT_SIZE;
        private int vectors = DEFAULT_VECTORS;
        private int firstId = DEFAULT_FIRST_ID;
        private int maxId = DEFAULT_MAX_ID;
        private long heartbeatMillis;
        private Runnable heartbeat;

        public Options socketPath(final String socketPath)
        {
            this.socketPath = socketPath;
            return this;
        }

        public String socketPath()
        {
            return socketPath;
        }

        /** Bytes of shared memory; a power of two (QEMU's BAR2 requirement). */
        public Options size(final long size)
        {
            this.size = size;
            return this;
        }

        public long size()
        {
            return size;
        }

        /** Interrupt vectors (eventfds) per peer, 1..64; QEMU devices should use the same {@code vectors=}. */
        public Options vectors(final int vectors)
        {
            this.vectors = vectors;
            return this;
        }

        public int vectors()
        {
            return vectors;
        }

        /** First id handed out (QEMU's server starts at 0; {@code master=on} devices need id 0). */
        public Options firstId(final int firstId)
        {
            this.firstId = firstId;
            return this;
        }

        public int firstId()
        {
            return firstId;
        }

        /**
         * Largest id handed out (default {@link #DEFAULT_MAX_ID}); a connection arriving when all ids are taken is
         * closed. Daemons join only with an id below the region's {@code max-peers}: use {@code max-peers - 1}.
         */
        public Options maxId(final int maxId)
        {
            this.maxId = maxId;
            return this;
        }

        public int maxId()
        {
            return maxId;
        }

        /**
         * A task the server thread runs every {@code periodMillis} between its polls, e.g. the systemd watchdog
         * ping: it proves the thread that accepts and serves peers is not stuck (in a blocking send to a client that
         * stopped reading, say). Null for none.
         */
        public Options heartbeat(final long periodMillis, final Runnable task)
        {
            if (task != null && periodMillis < 1)
            {
                throw new IllegalArgumentException("heartbeat period must be at least 1 ms: " + periodMillis);
            }
            this.heartbeatMillis = periodMillis;
            this.heartbeat = task;
            return this;
        }
    }

    public IvshmemServer(final Options options)
    {
        this.socketPath = Objects.requireNonNull(options.socketPath(), "socketPath");
        this.size = options.size();
        this.vectors = options.vectors();
        this.firstId = options.firstId();
        this.maxId = options.maxId();
        this.heartbeat = options.heartbeat;
        this.heartbeatNanos = TimeUnit.MILLISECONDS.toNanos(options.heartbeatMillis);
        if (size < 4096 || Long.bitCount(size) != 1)
        {
            throw new IllegalArgumentException("size=" + size + " must be a power of two >= 4096 (QEMU BAR2)");
        }
        if (vectors < 1 || vectors > MAX_VECTORS)
        {
            throw new IllegalArgumentException("vectors=" + vectors + " must be in [1, " + MAX_VECTORS + "]");
        }
        if (firstId < 0 || maxId > MAX_ID || firstId > maxId)
        {
            throw new IllegalArgumentException("ids [" + firstId + ", " + maxId + "] must lie in [0, " + MAX_ID + "]");
        }
    }

    /** Creates the shared memory, listens on the socket path and starts the server thread. */
    public synchronized IvshmemServer start() throws NativeIoException
    {
        if (thread != null || closed)
        {
            throw new IllegalStateException("already started or closed");
        }
        Native.ensureAvailability();
        try
        {
            checkMemory(size);
            shmFd = MemFd.createSealable("hyperdmabuf-ivshmem", size);
            wakeFd = EventFd.create();
            removeStaleSocket();
            listenFd = UnixSocket.listen(socketPath, 16);
        }
        catch (final NativeIoException e)
        {
            releaseFds();
            throw e;
        }
        running = true;
        thread = new Thread(this::run, "ivshmem-server");
        thread.setDaemon(true);
        thread.start();
        LOG.info("ivshmem server on {}: {} bytes, {} vectors, ids [{}, {}]", socketPath, size, vectors, firstId, maxId);
        return this;
    }

    /**
     * The memfd is sparse on purpose: its pages come from RAM and swap as peers touch them, and freed buffers'
     * pages go back (punched holes). Reserving it (fallocate) would hold the whole region's memory for the
     * server's lifetime, which most regions never use. A memfd has no filesystem limit to fill (touching it
     * too much wakes the OOM killer rather than SIGBUS), but a region larger than RAM and swap together could
     * never be backed: refused with ENOSPC. One larger than what is available now is only a warning.
     */
    private static void checkMemory(final long size) throws NativeIoException
    {
        final Map<String, Long> kib = new HashMap<>();
        try
        {
            for (final String line : Files.readAllLines(Path.of("/proc/meminfo")))
            {
                final String[] f = line.split("[:\\s]+");
                if (f.length >= 2 && f[1].matches("\\d+"))
                {
                    kib.put(f[0], Long.parseLong(f[1]));
                }
            }
        }
        catch (final IOException e)
        {
            LOG.warn("cannot read /proc/meminfo ({}): the region of {} bytes is not checked against memory", e,
                size);
            return;
        }
        final long total = (kib.getOrDefault("MemTotal", 0L) + kib.getOrDefault("SwapTotal", 0L)) << 10;
        final long available = (kib.getOrDefault("MemAvailable", 0L) + kib.getOrDefault("SwapFree", 0L)) << 10;
        if (total > 0 && size > total)
        {
            throw new NativeIoException("memfd of " + size + " bytes", Errno.ENOSPC, "the region is larger than " +
                "this host's memory and swap together (" + total + " bytes, MemTotal + SwapTotal); give a smaller " +
                "--size");
        }
        if (size > available)
        {
            LOG.warn("region of {} bytes is more than the memory available now ({} bytes, MemAvailable + SwapFree): " +
                "if peers fill it, the kernel kills processes to back it", size, available);
        }
    }

    public String socketPath()
    {
        return socketPath;
    }

    /** The shared-memory fd (owned by the server; for tests and for a daemon that maps the region itself). */
    public int regionFd()
    {
        return shmFd;
    }

    public long size()
    {
        return size;
    }

    public int vectors()
    {
        return vectors;
    }

    /** Connected clients. */
    public int peerCount()
    {
        return peers.size();
    }

    /** Ids of the connected clients, ascending. */
    public List<Integer> peerIds()
    {
        return new ArrayList<>(new TreeSet<>(peers.keySet()));
    }

    /**
     * Stops the server: closes every client connection (clients see EOF: they keep their eventfds and keep
     * working with each other, as with a crashed QEMU server), unlinks the socket path and closes the memory.
     */
    @Override
    public void close()
    {
        final Thread t;
        synchronized (this)
        {
            if (closed)
            {
                return;
            }
            closed = true;
            running = false;
            t = thread;
        }
        if (t != null)
        {
            try
            {
                waker.signal(wakeFd);
                t.join(JOIN_TIMEOUT_MS);
            }
            catch (final NativeIoException e)
            {
                LOG.warn("cannot wake the ivshmem server thread: {}", e.getMessage());
            }
            catch (final InterruptedException e)
            {
                Thread.currentThread().interrupt();
            }
            if (t.isAlive())
            {
                LOG.error("ivshmem server thread did not stop within {} ms; leaking its fds", JOIN_TIMEOUT_MS);
                return;
            }
        }
        for (final Peer peer : peers.values())
        {
            peer.close();
        }
        peers.clear();
        if (listenFd >= 0)
        {
            Native.libc().unlink(socketPath);
        }
        releaseFds();
    }

    private void releaseFds()
    {
        Native.closeQuietly(listenFd);
        Native.closeQuietly(shmFd);
        Native.closeQuietly(wakeFd);
        listenFd = -1;
        shmFd = -1;
        wakeFd = -1;
    }

    /**
     * A socket file nobody listens on (a crashed server's) is removed; a live server makes start fail. The probe
     * is a connect, so a live server sees one short-lived client (it is about to be reported as a conflict).
     */
    private void removeStaleSocket() throws NativeIoException
    {
        if (!Files.exists(Path.of(socketPath)))
        {
            return;
        }
        final UnixSocket probe;
        try
        {
            probe = UnixSocket.connect(socketPath);
        }
        catch (final NativeIoException e)
        {
            if (e.errno() != Errno.ECONNREFUSED)
            {
                throw e;
            }
            LOG.info("removing stale ivshmem socket {}", socketPath);
            Native.libc().unlink(socketPath);
            return;
        }
        probe.close();
        throw new NativeIoException("another ivshmem server is listening on " + socketPath, Errno.EADDRINUSE);
    }

    private void run()
    {
        final Poller poller = new Poller();
        final List<Peer> polled = new ArrayList<>();
        long nextBeat = System.nanoTime() + heartbeatNanos;
        while (running)
        {
            poller.clear();
            polled.clear();
            poller.add(wakeFd);
            poller.add(listenFd);
            for (final Peer peer : peers.values())
            {
                poller.add(peer.socket.fd());
                polled.add(peer);
            }
            try
            {
                // With a heartbeat, poll no longer than until it is due (rounded up: never a busy loop of 0 ms polls).
                poller.poll(heartbeat == null ? -1
                    : (int)Math.max(1, TimeUnit.NANOSECONDS.toMillis(nextBeat - System.nanoTime() + 999_999)));
                if (!running)
                {
                    break;
                }
                if (heartbeat != null && System.nanoTime() - nextBeat >= 0)
                {
                    heartbeat.run();
                    // From now, not from when it was due: a thread that was stuck does not catch up with a burst.
                    nextBeat = System.nanoTime() + heartbeatNanos;
                }
                if (poller.readable(0))
                {
                    waker.drain(wakeFd);
                }
                for (int i = 0; i < polled.size(); i++)
                {
                    if (poller.readable(i + 2))
                    {
                        // Clients never send anything: any input or EOF means the peer is gone (as QEMU's server).
                        removePeers(polled.get(i));
                    }
                }
                if (poller.readable(1))
                {
                    acceptClient();
                }
            }
            catch (final NativeIoException | RuntimeException e)
            {
                if (running)
                {
                    LOG.error("ivshmem server loop error", e);
                    sleepAfterError();
                }
            }
        }
    }

    private void acceptClient() throws NativeIoException
    {
        final UnixSocket socket = UnixSocket.accept(listenFd);
        final int id = allocateId();
        if (id < 0)
        {
            LOG.warn("ivshmem client rejected: all ids in [{}, {}] are in use", firstId, maxId);
            socket.close();
            return;
        }
        final int[] fds = new int[vectors];
        int created = 0;
        try
        {
            for (; created < vectors; created++)
            {
                fds[created] = EventFd.create();
            }
        }
        catch (final NativeIoException e)
        {
            LOG.error("ivshmem client rejected: cannot create eventfds: {}", e.getMessage());
            for (int i = 0; i < created; i++)
            {
                Native.closeQuietly(fds[i]);
            }
            socket.close();
            return;
        }
        final Peer peer = new Peer(id, socket, fds);
        try
        {
            sendMessage(peer, PROTOCOL_VERSION, -1);
            sendMessage(peer, id, -1);
            sendMessage(peer, -1, shmFd);
        }
        catch (final NativeIoException e)
        {
            LOG.warn("ivshmem client {} failed during setup: {}", id, e.getMessage());
            peer.close();
            return;
        }

        final List<Peer> failed = new ArrayList<>();
        for (final Peer other : peers.values())
        {
            try
            {
                for (int i = 0; i < vectors; i++)
                {
                    sendMessage(other, id, fds[i]);
                }
            }
            catch (final NativeIoException e)
            {
                LOG.warn("ivshmem peer {} unreachable: {}", other.id, e.getMessage());
                failed.add(other);
            }
        }
        peers.put(id, peer);
        try
        {
            for (final Peer other : peers.values())
            {
                if (other != peer && !failed.contains(other))
                {
                    for (int i = 0; i < vectors; i++)
                    {
                        sendMessage(peer, other.id, other.vectorFds[i]);
                    }
                }
            }
            for (int i = 0; i < vectors; i++)
            {
                sendMessage(peer, id, fds[i]);
            }
            LOG.info("ivshmem peer {} connected ({} peers)", id, peers.size());
        }
        catch (final NativeIoException e)
        {
            LOG.warn("ivshmem client {} failed during setup: {}", id, e.getMessage());
            failed.add(peer);
        }
        removePeers(failed.toArray(new Peer[0]));
    }

    /** Frees peers and broadcasts their disconnects; peers that fail to take a broadcast are freed in turn. */
    private void removePeers(final Peer... gone)
    {
        final ArrayDeque<Peer> queue = new ArrayDeque<>(List.of(gone));
        while (!queue.isEmpty())
        {
            final Peer peer = queue.poll();
            if (peers.remove(peer.id) != peer)
            {
                continue;
            }
            peer.close();
            LOG.info("ivshmem peer {} disconnected ({} peers)", peer.id, peers.size());
            for (final Peer other : peers.values())
            {
                try
                {
                    sendMessage(other, peer.id, -1);
                }
                catch (final NativeIoException e)
                {
                    LOG.warn("ivshmem peer {} unreachable: {}", other.id, e.getMessage());
                    if (!queue.contains(other))
                    {
                        queue.add(other);
                    }
                }
            }
        }
    }

    /** The lowest free id: ids stay within the peer slots however often daemons restart. */
    private int allocateId()
    {
        for (int id = firstId; id <= maxId; id++)
        {
            if (!peers.containsKey(id))
            {
                return id;
            }
        }
        return -1;
    }

    private void sendMessage(final Peer peer, final long value, final int fd) throws NativeIoException
    {
        message.clear();
        message.putLong(0, value);
        fdScratch[0] = fd;
        peer.socket.sendFully(message, fdScratch, fd >= 0 ? 1 : 0);
    }

    private static void sleepAfterError()
    {
        try
        {
            TimeUnit.MILLISECONDS.sleep(50);
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
        }
    }

    private static final class Peer
    {
        final int id;
        final UnixSocket socket;
        final int[] vectorFds;

        Peer(final int id, final UnixSocket socket, final int[] vectorFds)
        {
            this.id = id;
            this.socket = socket;
            this.vectorFds = vectorFds;
        }

        void close()
        {
            socket.close();
            for (final int fd : vectorFds)
            {
                Native.closeQuietly(fd);
            }
        }
    }
}
