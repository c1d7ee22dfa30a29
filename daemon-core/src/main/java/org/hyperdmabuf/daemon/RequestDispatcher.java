package org.hyperdmabuf.daemon;

import org.hyperdmabuf.abi.v1.Request;

/** Receives decoded requests and connection lifecycle from the {@link ApiServer}, on the event loop. */
public interface RequestDispatcher
{
    void onConnected(ClientConnection client);

    /** Must answer with exactly one response for {@code request.getRequestId()}. */
    void onRequest(ClientConnection client, Request request);

    void onDisconnected(ClientConnection client);
}
