package org.hyperdmabuf.tests.lifecycle;

/**
 * {@link ResyncTest} on the xen backend over the Xen emulation: the domain declared down learns it from the trailer
 * of its peer's ring in their channel, publishes a new session in xenstore, and the two domains pair again.
 */
class XenResyncTest extends ResyncTest
{
    @Override
    protected boolean xen()
    {
        return true;
    }
}
