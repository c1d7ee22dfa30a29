package org.hyperdmabuf.bench;

import com.sun.tools.attach.VirtualMachine;

import javax.management.remote.JMXConnector;
import javax.management.remote.JMXConnectorFactory;
import javax.management.remote.JMXServiceURL;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;

/** A JMX connection to a daemon JVM through the attach API, for its heap after GC. */
final class JvmProbe implements AutoCloseable
{
    private final JMXConnector connector;
    private final MemoryMXBean memory;

    JvmProbe(final long pid) throws Exception
    {
        final VirtualMachine vm = VirtualMachine.attach(Long.toString(pid));
        try
        {
            connector = JMXConnectorFactory.connect(new JMXServiceURL(vm.startLocalManagementAgent()));
        }
        finally
        {
            vm.detach();
        }
        memory = ManagementFactory.newPlatformMXBeanProxy(connector.getMBeanServerConnection(),
            ManagementFactory.MEMORY_MXBEAN_NAME, MemoryMXBean.class);
    }

    /** Heap in use after two full collections. */
    long heapAfterGc()
    {
        memory.gc();
        memory.gc();
        return memory.getHeapMemoryUsage().getUsed();
    }

    /**
     * RssAnon of {@code pid}: the process's own resident memory (heap, malloc, metaspace, code, stacks). VmRSS
     * also counts the pages of the shared region the daemon has touched, which move with the pool (freed
     * buffers' pages are punched out) and are the buffers' memory, not the daemon's.
     */
    static long rss(final long pid)
    {
        return MachineFacts.read("/proc/" + pid + "/status").lines().filter(l -> l.startsWith("RssAnon:"))
            .findFirst().map(l -> Long.parseLong(l.replaceAll("[^0-9]", "")) * 1024).orElse(-1L);
    }

    @Override
    public void close() throws IOException
    {
        connector.close();
    }
}
