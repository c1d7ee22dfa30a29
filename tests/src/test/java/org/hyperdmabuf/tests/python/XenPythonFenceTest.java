package org.hyperdmabuf.tests.python;

import org.hyperdmabuf.tests.support.SystemTest;

/**
 * {@link PythonFenceTest} on the xen backend over the Xen emulation: the script's FENCE_WAIT/FENCE_SIGNAL go
 * through the source daemon to the fence page of the buffer's grant file. The read-only stream runs against a
 * second sink granting allocations read-only ({@code alloc-access=ro}); {@code XenPythonConsumerTest} asserts
 * the default sink's refusal.
 */
@SystemTest
class XenPythonFenceTest extends PythonFenceTest
{
    @Override
    protected boolean xen()
    {
        return true;
    }
}
