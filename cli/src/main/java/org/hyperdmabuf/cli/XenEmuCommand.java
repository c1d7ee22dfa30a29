package org.hyperdmabuf.cli;

import org.hyperdmabuf.hv.xen.abi.XenLimits;
import org.hyperdmabuf.hv.xen.emu.FakeXenstored;
import org.hyperdmabuf.hv.xen.emu.XenHypervisorEmulator;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

@Command(name = "xen-emu", mixinStandardHelpOptions = true,
    description = {"Run a Xen EMULATION for tests and demos (grant table, event channels, xenstored): not Xen.",
        "Daemons run the xen backend with it on a machine without a hypervisor. Start daemons with",
        "--backend xen -O domid=N -O peers=M -O emulator=DIR/hypervisor.sock -O xenstore=DIR/xenstored.sock.",
        "A daemon's domain dies when its process does. Domain ids are declared by the connecting process."})
final class XenEmuCommand implements Callable<Integer>
{
    @Option(names = "--dir", required = true, description = "Directory for hypervisor.sock and xenstored.sock.")
    Path dir;

    @Option(names = "--gntalloc-limit", description = "gntalloc pages per domain (default: ${DEFAULT-VALUE}, as the driver).")
    int gntallocLimit = XenLimits.GNTALLOC_DEFAULT_PAGE_LIMIT;

    @Override
    public Integer call() throws Exception
    {
        Files.createDirectories(dir);
        final FakeXenstored xenstored = new FakeXenstored(dir.resolve("xenstored.sock").toString());
        final XenHypervisorEmulator emulator = new XenHypervisorEmulator(dir.resolve("hypervisor.sock").toString(),
            xenstored, gntallocLimit);
        final CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() ->
        {
            emulator.close();
            xenstored.close();
            stop.countDown();
        }));
        System.out.println("READY xen-emu (EMULATION) hypervisor=" + emulator.socketPath() + " xenstore=" +
            xenstored.socketPath() + " gntalloc-limit=" + gntallocLimit);
        System.out.flush();
        stop.await();
        return 0;
    }
}
