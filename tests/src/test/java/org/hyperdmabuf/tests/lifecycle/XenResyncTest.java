package org.hyperdmabuf.tests.lifecycle;

import org.hyperdmabuf.tests.support.SystemTest;
import org.hyperdmabuf.tests.support.TwoVmSystem;

import java.util.List;

/**
 * {@link ResyncTest} on the xen backend over the Xen emulation: the domain declared down learns it from the trailer
 * of its peer's ring in their channel, publishes a new session in xenstore, and the two domains pair again.
 */
@SystemTest
class XenResyncTest extends ResyncTest
{
    @Override
    protected boolean xen()
    {
        return true;
    }

    @Override
    protected TwoVmSystem startSystem() throws Exception
    {
        return TwoVmSystem.startXenInTempDir("hdrx", (64 << 20) / 4096, List.of(), List.of());
    }
}
