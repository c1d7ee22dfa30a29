package org.hyperdmabuf.tests.fence;

import org.hyperdmabuf.tests.support.SystemTest;

/**
 * {@link DelayedUnexportTest} on the xen backend over the Xen emulation: the reuse window keeps the grant of the
 * buffer's pages, so a re-export inside it reuses the id, the grant and the fence page.
 */
@SystemTest
class XenDelayedUnexportTest extends DelayedUnexportTest
{
    @Override
    protected boolean xen()
    {
        return true;
    }
}
