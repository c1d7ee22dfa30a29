package org.hyperdmabuf.tests.e2e;

import org.hyperdmabuf.tests.support.SystemTest;

/**
 * {@link ErrorHandlingTest} on the xen backend over the Xen emulation. The pool is the sink domain's gntalloc page
 * limit (64 MiB here), so ENOSPC comes from that limit, and every allocation also takes its directory and fence
 * pages ({@link #poolCost}): the byte-exact accounting is asserted with them.
 */
@SystemTest
class XenErrorHandlingTest extends ErrorHandlingTest
{
    @Override
    protected boolean xen()
    {
        return true;
    }
}
