package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.hv.spi.BackendListener;
import org.hyperdmabuf.hv.spi.PeerInfo;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.Map;

/**
 * A host-mode backend in its own process, for tests that stop or kill a whole "VM" (SIGSTOP, SIGKILL).
 * Arguments are backend options as {@code key=value}. Prints {@code READY <vm> <session-hex>} once joined,
 * then runs until its stdin ends, and leaves the region cleanly.
 */
public final class PeerProcess
{
    private PeerProcess()
    {
    }

    public static void main(final String[] args) throws Exception
    {
        final Map<String, String> options = new HashMap<>();
        for (final String arg : args)
        {
            final int eq = arg.indexOf('=');
            options.put(arg.substring(0, eq), arg.substring(eq + 1));
        }
        final IvshmemBackend backend = new IvshmemBackend(options);
        backend.start(new BackendListener()
        {
            @Override
            public void onPeerUp(final PeerInfo peer)
            {
            }

            @Override
            public void onPeerDown(final int vm, final long sessionId, final String reason)
            {
            }

            @Override
            public void onMessage(final int vm, final ByteBuffer payload, final int length)
            {
            }
        });
        System.out.println("READY " + backend.localVm() + " " + Long.toHexString(backend.sessionId()));
        System.out.flush();
        try
        {
            while (System.in.read() >= 0)
            {
                // run until the parent closes our stdin (or dies)
            }
        }
        catch (final IOException e)
        {
            // the parent is gone
        }
        backend.close();
    }
}
