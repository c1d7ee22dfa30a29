package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.hv.nativeio.EventFd;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The eventfds an {@link IvshmemPeerConnection} holds: our own vectors and each peer's, including peers announced
 * gone whose eventfds are still rung for a while (see the connection's class comment). Vectors beyond the device's
 * count are closed on arrival. Thread-safe: the receive thread adds and removes, any thread rings and drains.
 */
final class PeerVectorTable
{
    private static final Logger LOG = LoggerFactory.getLogger(PeerVectorTable.class);

    private final String path;
    private final int vectors;
    private final Object lock = new Object();
    private final Map<Integer, PeerVectors> peers = new TreeMap<>();
    /** Peers announced gone whose eventfds are still rung. */
    private final Map<Integer, PeerVectors> departed = new TreeMap<>();
    private final int[] ownFds;
    private final EventFd eventFd = new EventFd();
    private int ownCount;
    private int ownId = -1;
    private boolean closed;

    /** @param path the server socket, for messages */
    PeerVectorTable(final String path, final int vectors)
    {
        this.path = path;
        this.vectors = vectors;
        this.ownFds = new int[vectors];
        Arrays.fill(ownFds, -1);
    }

    void setOwnId(final int id)
    {
        synchronized (lock)
        {
            ownId = id;
        }
    }

    /** Adds {@code fd} as the next vector of {@code id} (ours or a peer's); true if it announces a new peer. */
    boolean addVector(final int id, final int fd)
    {
        synchronized (lock)
        {
            if (closed)
            {
                Native.closeQuietly(fd);
                return false;
            }
            if (id == ownId)
            {
                if (ownCount >= vectors)
                {
                    LOG.debug("{}: closing own eventfd for vector {} (device has {} vectors)", path, ownCount, vectors);
                    Native.closeQuietly(fd);
                    return false;
                }
                setNonBlocking(fd);
                ownFds[ownCount++] = fd;
                return false;
            }
            boolean first = false;
            PeerVectors peer = peers.get(id);
            if (peer == null)
            {
                closeDeparted(departed.remove(id)); // the id is back: its eventfds are the new peer's
                peer = new PeerVectors(vectors);
                peers.put(id, peer);
                first = true;
            }
            if (peer.count >= vectors)
            {
                LOG.debug("{}: closing eventfd for peer {} vector {} (device has {} vectors)", path, id, peer.count,
                    vectors);
                Native.closeQuietly(fd);
                return first;
            }
            peer.fds[peer.count++] = fd;
            return first;
        }
    }

    /** Moves {@code id} to the departed peers (its eventfds still rung); false if it was not connected. */
    boolean depart(final int id)
    {
        synchronized (lock)
        {
            final PeerVectors peer = peers.remove(id);
            if (peer == null)
            {
                LOG.debug("{}: disconnect for unknown peer {}", path, id);
                return false;
            }
            peer.departedAt = System.nanoTime();
            closeDeparted(departed.put(id, peer));
            return true;
        }
    }

    private static void closeDeparted(final PeerVectors peer)
    {
        if (peer != null)
        {
            peer.close();
        }
    }

    /** Closes the eventfds of peers announced gone more than {@code graceNs} before {@code now}. */
    void releaseDeparted(final long now, final long graceNs)
    {
        synchronized (lock)
        {
            departed.values().removeIf(peer ->
            {
                final boolean expired = now - peer.departedAt > graceNs;
                if (expired)
                {
                    peer.close();
                }
                return expired;
            });
        }
    }

    /** A peer's vectors, announced or departed; null if unknown. Caller holds {@link #lock}. */
    private PeerVectors vectorsOf(final int peerId)
    {
        final PeerVectors peer = peers.get(peerId);
        return peer != null ? peer : departed.get(peerId);
    }

    private static void setNonBlocking(final int fd)
    {
        final int flags = Native.libc().fcntl(fd, Native.F_GETFL, 0);
        if (flags >= 0 && (flags & Native.O_NONBLOCK) == 0)
        {
            Native.libc().fcntl(fd, Native.F_SETFL, flags | Native.O_NONBLOCK);
        }
    }

    int ownVectorFd(final int vector)
    {
        synchronized (lock)
        {
            return vector >= 0 && vector < ownCount ? ownFds[vector] : -1;
        }
    }

    int ownVectorCount()
    {
        synchronized (lock)
        {
            return ownCount;
        }
    }

    long drain(final int vector) throws NativeIoException
    {
        synchronized (lock)
        {
            if (closed || vector < 0 || vector >= ownCount)
            {
                return 0;
            }
            return eventFd.drain(ownFds[vector]);
        }
    }

    boolean ring(final int peerId, final int vector) throws NativeIoException
    {
        synchronized (lock)
        {
            if (closed || vector < 0)
            {
                return false;
            }
            final int fd;
            if (peerId == ownId)
            {
                fd = vector < ownCount ? ownFds[vector] : -1;
            }
            else
            {
                final PeerVectors peer = vectorsOf(peerId);
                fd = peer != null && vector < peer.count ? peer.fds[vector] : -1;
            }
            if (fd < 0)
            {
                return false;
            }
            eventFd.signal(fd);
            return true;
        }
    }

    int dupPeerVector(final int peerId, final int vector) throws NativeIoException
    {
        synchronized (lock)
        {
            final PeerVectors peer = closed || peerId == ownId || vector < 0 ? null : vectorsOf(peerId);
            if (peer == null || vector >= peer.count || peer.fds[vector] < 0)
            {
                return -1;
            }
            return Native.check(Native.libc().fcntl(peer.fds[vector], Native.F_DUPFD_CLOEXEC, 0),
                "fcntl(F_DUPFD_CLOEXEC) of peer " + peerId + " vector " + vector);
        }
    }

    int dupOwnVector(final int vector) throws NativeIoException
    {
        synchronized (lock)
        {
            if (closed || vector < 0 || vector >= ownCount || ownFds[vector] < 0)
            {
                return -1;
            }
            return Native.check(Native.libc().fcntl(ownFds[vector], Native.F_DUPFD_CLOEXEC, 0),
                "fcntl(F_DUPFD_CLOEXEC) of own vector " + vector);
        }
    }

    boolean isPeerConnected(final int peerId)
    {
        synchronized (lock)
        {
            return peers.containsKey(peerId);
        }
    }

    int peerVectorCount(final int peerId)
    {
        synchronized (lock)
        {
            final PeerVectors peer = peers.get(peerId);
            return peer == null ? 0 : peer.count;
        }
    }

    List<Integer> peerIds()
    {
        synchronized (lock)
        {
            return new ArrayList<>(peers.keySet());
        }
    }

    /** Closes every eventfd; later vectors are closed on arrival and nothing rings. */
    void close()
    {
        synchronized (lock)
        {
            if (closed)
            {
                return;
            }
            closed = true;
            peers.values().forEach(PeerVectors::close);
            peers.clear();
            departed.values().forEach(PeerVectors::close);
            departed.clear();
            for (int i = 0; i < ownCount; i++)
            {
                Native.closeQuietly(ownFds[i]);
            }
            ownCount = 0;
        }
    }

    private static final class PeerVectors
    {
        final int[] fds;
        int count;
        /** When the server announced it gone (departed peers only). */
        long departedAt;

        PeerVectors(final int vectors)
        {
            fds = new int[vectors];
            Arrays.fill(fds, -1);
        }

        void close()
        {
            for (int i = 0; i < count; i++)
            {
                Native.closeQuietly(fds[i]);
            }
            count = 0;
        }
    }
}
