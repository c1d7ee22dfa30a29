package org.hyperdmabuf.tests.fence;

import org.hyperdmabuf.tests.support.SystemTest;

/**
 * {@link FenceTest} on the xen backend: each export's fence slot is the fence page of the buffer's grant file.
 * The read-only importer's fences run too: that test's ALLOC declares its read-only export to the source, so the
 * pages are granted read-only from the start.
 */
@SystemTest
class XenFenceTest extends FenceTest
{
    @Override
    protected boolean xen()
    {
        return true;
    }
}
