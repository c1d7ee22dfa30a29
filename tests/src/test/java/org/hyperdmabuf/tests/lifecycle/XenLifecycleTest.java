package org.hyperdmabuf.tests.lifecycle;

import org.hyperdmabuf.tests.support.SystemTest;

/**
 * {@link LifecycleTest} on the xen backend over the Xen emulation: kill -9 and SIGSTOP of consumer, producer,
 * source domain, sink domain and a whole exporter domain (its daemon and producer). Where Xen differs it is
 * asserted: a restarted daemon is the same domid with a new session, and the emulation's teardown of a killed
 * domain (its mappings of others unmapped, its grants still mapped by the survivor deferred) is checked.
 */
@SystemTest
class XenLifecycleTest extends LifecycleTest
{
    @Override
    protected boolean xen()
    {
        return true;
    }

    /**
     * Not a test on xen. The kvm case kills the ivshmem server, a helper process the running daemons no longer
     * need. Its place here is taken by the Xen emulation, which plays the hypervisor and xenstored: killing it is
     * the host dying with every domain, which no daemon can survive or report, so there is nothing to assert.
     */
    @Override
    void ivshmemServerDies()
    {
    }
}
