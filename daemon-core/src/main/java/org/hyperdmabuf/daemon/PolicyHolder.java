package org.hyperdmabuf.daemon;

import org.hyperdmabuf.daemon.policy.Policy;

/** The policy in force. Replaced whole on reload, on the event loop; readers see one consistent policy. */
public final class PolicyHolder
{
    private volatile Policy current;

    public PolicyHolder(final Policy initial)
    {
        this.current = initial;
    }

    public Policy get()
    {
        return current;
    }

    void set(final Policy policy)
    {
        current = policy;
    }
}
