package org.hyperdmabuf.daemon;

import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.BufferInfo;
import org.hyperdmabuf.abi.v1.BufferList;
import org.hyperdmabuf.abi.v1.PeerMessage;
import org.hyperdmabuf.abi.v1.Request;
import org.hyperdmabuf.hv.spi.PeerInfo;

import java.util.Optional;

/**
 * A role a daemon plays (sink or source). A daemon runs one or both; the runtime routes each request to
 * the role whose {@link RoleKind} serves it (a fence request to the one that serves its buffer's origin) and
 * every peer event to all roles. All calls are on the event loop.
 */
public interface Role
{
    /** Which role this is: its name, role bit and the requests it serves. */
    RoleKind kind();

    default String name()
    {
        return kind().text();
    }

    /** PeerSlotDescriptor role bit announced to other VMs. */
    default int roleBit()
    {
        return kind().roleBit();
    }

    /** Serves one request; answers through {@code client} exactly once, or throws for an error response. */
    void onRequest(ClientConnection client, Request request) throws ApiException;

    void onPeerUp(PeerInfo peer);

    void onPeerDown(int vm, long sessionId, String reason);

    void onPeerMessage(int vm, PeerMessage message);

    /** Frees what the client held, as closing a device file would. */
    void onDisconnected(ClientConnection client);

    /** Adds the buffers visible to {@code client} for LIST. */
    void list(ClientConnection client, BufferList.Builder out);

    /** Emits "add" to a new subscription for every buffer already present that the client may see. */
    void replay(ClientConnection client, long subscriptionId);

    /** Describes a buffer for QUERY, if this role knows it and {@code client} may see it. */
    Optional<BufferInfo> query(ClientConnection client, BufferId id);

    /** A new policy is in force: revoke what it forbids (REASON=policy). */
    default void onPolicyChanged(final org.hyperdmabuf.daemon.policy.Policy policy)
    {
    }

    /** Adds this role's quota usage to a STATS answer. */
    default void stats(final org.hyperdmabuf.abi.v1.StatsResult.Builder out)
    {
    }

    /** This role's part of the daemon's one-line status (systemd's STATUS=), e.g. "3 buffer(s) exported". */
    default String status()
    {
        return "";
    }

    /** Builds a role for a daemon. */
    @FunctionalInterface
    interface Factory
    {
        Role create(DaemonContext context);
    }
}
