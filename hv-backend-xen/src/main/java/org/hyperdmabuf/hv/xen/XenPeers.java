package org.hyperdmabuf.hv.xen;

import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.shm.ShmCorruptionException;
import org.hyperdmabuf.hv.spi.BackendListener;
import org.hyperdmabuf.hv.spi.PeerInfo;
import org.hyperdmabuf.hv.spi.PeerLiveness;
import org.hyperdmabuf.hv.xen.abi.ChannelDescriptor;
import org.hyperdmabuf.hv.xen.dev.EventChannelDevice;
import org.hyperdmabuf.hv.xen.dev.XenDevices;
import org.hyperdmabuf.hv.xen.grant.GrantedBuffer;
import org.hyperdmabuf.hv.xen.grant.ImportedBuffer;
import org.hyperdmabuf.hv.xen.store.XenStoreClient;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The Xen backend's peers: meeting each through xenstore (the lower domid serves the channel, the other connects),
 * their channels and sessions, heartbeats ({@link PeerLiveness}), messages read from the channels, bringing them
 * down, and a new session of ours when a peer declared the current one down (ABI.md "Xen specifics", "Resync").
 * Changes come from the receive thread; sends and queries from any thread.
 */
final class XenPeers
{
    static final int MESSAGE_TYPE = 1;
    private static final Logger LOG = LoggerFactory.getLogger(XenPeers.class);

    private final int domid;
    private final XenConfig config;
    private final XenDevices devices;
    private final XenStoreClient xs;
    private final EventChannelDevice evtchn;
    private final BackendListener listener;
    private final PeerLiveness liveness;
    private final ImportedFences fences;
    private final XenOwnNodes own;
    /** The last session each peer showed (receive thread): a new one renews our nodes' permissions. */
    private final Map<Integer, Long> seenSessions = new HashMap<>();
    private final Map<Integer, XenChannel> channels = new ConcurrentHashMap<>();
    private final Map<Integer, PeerInfo> up = new ConcurrentHashMap<>();
    /** Orders sends with channels closing. */
    final Object sendLock = new Object();
    /** Ours; a new one after a resync (receive thread). */
    private volatile long session;

    XenPeers(final Parts parts, final long session)
    {
        this.domid = parts.domid();
        this.config = parts.config();
        this.devices = parts.devices();
        this.xs = parts.xs();
        this.evtchn = parts.evtchn();
        this.listener = parts.listener();
        this.liveness = parts.liveness();
        this.fences = parts.fences();
        this.own = parts.own();
        this.session = session;
    }

    /** What the peers are met and reached through, named, for the constructor. */
    record Parts(int domid, XenConfig config, XenDevices devices, XenStoreClient xs, EventChannelDevice evtchn,
        BackendListener listener, PeerLiveness liveness, ImportedFences fences, XenOwnNodes own)
    {
    }

    long session()
    {
        return session;
    }

    XenChannel channel(final int peer)
    {
        return channels.get(peer);
    }

    boolean isUp(final int peer)
    {
        return up.containsKey(peer);
    }

    Collection<PeerInfo> upPeers()
    {
        return up.values();
    }

    /** Advances our heartbeat in every channel. */
    void beat(final long value)
    {
        for (final XenChannel ch : channels.values())
        {
            ch.header.putLongRelease(ch.ownHeartbeatOffset(), value);
        }
    }

    /**
     * Checks every up peer's heartbeat at {@code now} and delivers what it wrote; true if one rang our fence
     * doorbell.
     */
    boolean scan(final long now)
    {
        boolean doorbell = false;
        for (final XenChannel ch : channels.values())
        {
            if (!up.containsKey(ch.peer))
            {
                continue;
            }
            liveness.observe(ch.peer, ch.peerSession, ch.header.getLongAcquire(ch.peerHeartbeatOffset()), now);
            if (liveness.stale(ch.peer, now))
            {
                LOG.warn("dom{} session {}: heartbeat stuck for {} ms; declaring it down", ch.peer,
                    Long.toHexString(ch.peerSession), liveness.stillFor(ch.peer, now) / 1_000_000);
                liveness.timedOut(ch.peer, ch.peerSession);
                down(ch.peer, "timeout", true);
                continue;
            }
            if (ch.header.getIntVolatile(ch.ownDoorbellOffset()) != 0)
            {
                ch.header.putIntVolatile(ch.ownDoorbellOffset(), 0);
                doorbell = true;
            }
            try
            {
                ch.reader.poll((type, payload, length) ->
                {
                    if (type == MESSAGE_TYPE)
                    {
                        listener.onMessage(ch.peer, payload, length);
                    }
                }, 1024);
            }
            catch (final ShmCorruptionException e)
            {
                LOG.error("dom{} broke the channel protocol: {}", ch.peer, e.getMessage());
                down(ch.peer, "corrupt", true);
            }
        }
        return doorbell;
    }

    /**
     * Starts a new session of ours when a peer says, in the trailer of its ring to us, that it declared our current
     * one down (we were stalled for longer than its liveness timeout). As on kvm-ivshmem (ABI.md "Resync"): we drop
     * everything of every peer, publish the new session in xenstore, and the peers see a restart and pair again.
     * At most once per liveness timeout. True if it did.
     */
    boolean resyncIfDropped(final long now)
    {
        if (!liveness.mayResync(now))
        {
            return false;
        }
        for (final XenChannel ch : channels.values())
        {
            if (ch.reader.droppedSession() == session)
            {
                liveness.resyncing(now);
                resync(ch.peer);
                return true;
            }
        }
        return false;
    }

    private void resync(final int by)
    {
        final long fresh = PeerLiveness.newSessionId();
        LOG.warn("dom{} session {}: dom{} declared this session down; dropping everything of every peer and " +
            "rejoining as session {}", domid, Long.toHexString(session), by, Long.toHexString(fresh));
        downAll(BackendListener.REASON_RESYNC, false);
        session = fresh;
        try
        {
            xs.inTransaction(tx -> xs.write(tx, XenStorePaths.session(domid), hex(fresh)));
        }
        catch (final IOException e)
        {
            LOG.error("dom{}: publishing session {} failed: {}", domid, Long.toHexString(fresh), e.getMessage());
        }
    }

    /** Moves the channel to {@code peer} one step towards up, or down if its session went away. */
    void rendezvous(final int peer)
    {
        try
        {
            final String s = xs.readOrNull(0, XenStorePaths.session(peer));
            final long peerSession = s == null ? 0 : Long.parseUnsignedLong(s, 16);
            final XenChannel current = channels.get(peer);
            if (current != null && current.peerSession != peerSession)
            {
                down(peer, peerSession == 0 ? "gone" : "restarted", false);
            }
            if (peerSession == 0 || liveness.isDead(peer, peerSession))
            {
                return;
            }
            final Long seen = seenSessions.get(peer);
            if (seen == null || seen != peerSession)
            {
                // Its domain exists now: our nodes' list must count for it (XenOwnNodes).
                own.renew(session);
                seenSessions.put(peer, peerSession);
                LOG.info("dom{} session {} seen; our nodes' permissions renewed for the domains that exist now", peer,
                    Long.toHexString(peerSession));
            }
            final String r = xs.readOrNull(0, XenStorePaths.roles(peer));
            final int peerRoles = r == null ? 0 : Integer.parseInt(r);
            if (domid < peer)
            {
                serve(peer, peerSession, peerRoles);
            }
            else
            {
                connect(peer, peerSession, peerRoles);
            }
        }
        catch (final IOException | NumberFormatException e)
        {
            LOG.warn("rendezvous with dom{}: {}", peer, e.getMessage());
        }
    }

    /** Server side: grant the channel, publish it, and come up when the client says it attached. */
    private void serve(final int peer, final long peerSession, final int peerRoles) throws IOException
    {
        final int capacity = config.ringCapacity;
        XenChannel ch = channels.get(peer);
        if (ch == null)
        {
            final GrantedBuffer pages = GrantedBuffer.grant(devices, peer, ChannelDescriptor.channelLength(capacity),
                true);
            final MappedMemory memory;
            final int port;
            try
            {
                memory = MappedMemory.map(pages.dataFd(), pages.dataIndex(), pages.length(), false);
                port = evtchn.bindUnboundPort(peer);
            }
            catch (final NativeIoException e)
            {
                pages.close();
                throw e;
            }
            ch = new XenChannel(peer, peerSession, true, port, memory, pages, capacity);
            ch.header.putInt(ChannelDescriptor.VERSION_OFFSET, ChannelDescriptor.VERSION);
            ch.header.putInt(ChannelDescriptor.RING_CAPACITY_OFFSET, capacity);
            ch.header.putLong(ChannelDescriptor.SERVER_SESSION_OFFSET, session);
            ch.header.putLongRelease(ChannelDescriptor.MAGIC_OFFSET, ChannelDescriptor.MAGIC);
            channels.put(peer, ch);
            final String path = XenStorePaths.channel(domid, peer);
            xs.inTransaction(tx ->
            {
                pairNode(tx, peer);
                xs.write(tx, path + "/dir-ref", Integer.toString(pages.directoryRef()));
                xs.write(tx, path + "/length", Long.toString(pages.length()));
                xs.write(tx, path + "/event-channel", Integer.toString(port));
                xs.write(tx, path + "/session", hex(session));
                xs.write(tx, path + "/peer-session", hex(peerSession));
            });
        }
        if (!up.containsKey(peer))
        {
            final String connected = xs.readOrNull(0, XenStorePaths.channel(peer, domid) + "/connected");
            if (hex(session).equals(connected) &&
                ch.header.getLongAcquire(ChannelDescriptor.CLIENT_SESSION_OFFSET) == peerSession)
            {
                comeUp(ch, peerRoles);
            }
        }
    }

    /** Client side: map the server's channel made for our session, bind its port, say we attached. */
    private void connect(final int peer, final long peerSession, final int peerRoles) throws IOException
    {
        if (channels.containsKey(peer))
        {
            return;
        }
        final int capacity = config.ringCapacity;
        final String path = XenStorePaths.channel(peer, domid);
        final String forSession = xs.readOrNull(0, path + "/peer-session");
        final String serverSession = xs.readOrNull(0, path + "/session");
        if (!hex(session).equals(forSession) || !hex(peerSession).equals(serverSession))
        {
            return; // not (yet) made for this pair of sessions
        }
        final int dirRef = Integer.parseInt(xs.read(0, path + "/dir-ref"));
        final long length = Long.parseLong(xs.read(0, path + "/length"));
        final int remotePort = Integer.parseInt(xs.read(0, path + "/event-channel"));
        if (length != ChannelDescriptor.channelLength(capacity))
        {
            LOG.error("dom{} offers a {} B channel; ours is {} B (ring-capacity must match)", peer, length,
                ChannelDescriptor.channelLength(capacity));
            liveness.dead(peer, peerSession);
            return;
        }
        final ImportedBuffer pages = ImportedBuffer.map(devices, peer, dirRef, length);
        final MappedMemory memory;
        final int port;
        try
        {
            memory = MappedMemory.map(pages.fd(), pages.index(), pages.length(), false);
            port = evtchn.bindInterdomain(peer, remotePort);
        }
        catch (final NativeIoException e)
        {
            pages.close();
            throw e;
        }
        final XenChannel ch = new XenChannel(peer, peerSession, false, port, memory, pages, capacity);
        if (ch.header.getLongAcquire(ChannelDescriptor.MAGIC_OFFSET) != ChannelDescriptor.MAGIC ||
            ch.header.getLong(ChannelDescriptor.SERVER_SESSION_OFFSET) != peerSession ||
            ch.header.getInt(ChannelDescriptor.RING_CAPACITY_OFFSET) != capacity)
        {
            LOG.error("dom{}'s channel header is not a hyperdmabuf channel of its session", peer);
            ch.close();
            evtchn.unbind(port);
            liveness.dead(peer, peerSession);
            return;
        }
        ch.header.putLongRelease(ChannelDescriptor.CLIENT_SESSION_OFFSET, session);
        channels.put(peer, ch);
        xs.inTransaction(tx ->
        {
            pairNode(tx, peer);
            xs.write(tx, XenStorePaths.channel(domid, peer) + "/connected", hex(peerSession));
        });
        comeUp(ch, peerRoles);
        evtchn.notify(port);
    }

    /** The name the peer's daemon published from its toolstack name, or "" (none, or unreadable). */
    private String peerName(final int peer)
    {
        try
        {
            final String name = xs.readOrNull(0, XenStorePaths.name(peer));
            // Shown to users: a toolstack name's characters only, else none.
            return name != null && name.matches("[A-Za-z0-9._-]{1,64}") ? name : "";
        }
        catch (final IOException e)
        {
            LOG.debug("dom{}'s name: {}", peer, e.getMessage());
            return "";
        }
    }

    /** Our {@code channel/<peer>} node, readable by that peer only (its children inherit this list). */
    private void pairNode(final int tx, final int peer) throws IOException
    {
        final String path = XenStorePaths.channel(domid, peer);
        xs.mkdir(tx, path);
        xs.setPermissions(tx, path, "n" + domid, "r" + peer);
    }

    private void comeUp(final XenChannel ch, final int peerRoles)
    {
        ch.writer.reset(session);
        liveness.restart(ch.peer, ch.peerSession, 0, System.nanoTime());
        final PeerInfo info = new PeerInfo(ch.peer, ch.peerSession, peerRoles, peerName(ch.peer));
        up.put(ch.peer, info);
        LOG.info("dom{} session {} up ({})", ch.peer, Long.toHexString(ch.peerSession), ch.server ? "server" : "client");
        listener.onPeerUp(info);
    }

    /** Every peer down for {@code reason}; {@code forever}: those sessions never come back. */
    void downAll(final String reason, final boolean forever)
    {
        for (final Integer peer : new ArrayList<>(channels.keySet()))
        {
            down(peer, reason, forever);
        }
    }

    /** Tears the channel to {@code peer} down; {@code forever}: this session never comes back. */
    void down(final int peer, final String reason, final boolean forever)
    {
        final XenChannel ch = channels.remove(peer);
        if (ch == null)
        {
            return;
        }
        final PeerInfo was = up.remove(peer);
        synchronized (sendLock)
        {
            if (forever)
            {
                liveness.dead(peer, ch.peerSession);
                // If that session still runs (stopped and resumed), this is how it learns to rejoin (ABI.md "Resync").
                ch.writer.markDropped(ch.peerSession);
            }
            ch.close();
        }
        try
        {
            evtchn.unbind(ch.port);
            xs.rmIfPresent(0, XenStorePaths.channel(domid, peer)); // our side's nodes of this pair
        }
        catch (final IOException e)
        {
            LOG.debug("cleanup after dom{}: {}", peer, e.getMessage());
        }
        fences.forget(peer);
        if (was != null)
        {
            LOG.info("dom{} session {} down: {}", peer, Long.toHexString(ch.peerSession), reason);
            listener.onPeerDown(peer, ch.peerSession, reason);
        }
    }

    /** Closes every channel without reporting (the backend closes). */
    void closeAll()
    {
        for (final Integer peer : new ArrayList<>(channels.keySet()))
        {
            final XenChannel ch = channels.remove(peer);
            up.remove(peer);
            ch.close();
        }
    }

    static String hex(final long session)
    {
        return String.format("%016x", session);
    }
}
