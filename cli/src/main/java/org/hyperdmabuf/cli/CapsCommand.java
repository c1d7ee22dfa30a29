package org.hyperdmabuf.cli;

import org.hyperdmabuf.abi.v1.Caps;
import org.hyperdmabuf.client.HdmabufClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "caps", mixinStandardHelpOptions = true, description = "Show what the local daemon's backend can do.")
final class CapsCommand implements Callable<Integer>
{
    @Option(names = "--socket", description = "Daemon socket (default: <runtime dir>/sink.sock).")
    Path socket;

    @Option(names = "--json",
        description = "One JSON object instead of the table: the fields of the Caps message (client.proto).")
    boolean json;

    @Override
    public Integer call() throws Exception
    {
        try (HdmabufClient client = HdmabufClient.connect(socket == null ? Defaults.sinkSocket() : socket))
        {
            final Caps c = client.caps();
            if (json)
            {
                System.out.println(Json.of(c));
                return 0;
            }
            System.out.printf("backend:               %s%n", c.getBackend());
            System.out.printf("local VM:              %d%n", c.getLocalVm());
            System.out.printf("roles:                 %s%n", String.join(",", c.getRolesList()));
            System.out.printf("ABI version:           %d%n", c.getAbiVersion());
            System.out.printf("page size:             %d%n", c.getPageSize());
            System.out.printf("max buffer size:       %d%n", c.getMaxBufferSize());
            System.out.printf("pool:                  %d bytes, %d free%n", c.getPoolBytes(), c.getPoolFreeBytes());
            System.out.printf("read-only enforcement: %s%n", c.getReadOnlyEnforcement());
            System.out.printf("isolation:             %s%n", c.getIsolation());
            System.out.printf("guest to guest:        %s%n", c.getGuestToGuest() ? "yes" : "no");
            System.out.printf("doorbell:              %s%n", c.getDoorbell() ? "yes" : "no");
            System.out.printf("notification:          %s%n", c.getNotification());
            System.out.printf("dma-buf:               %s%n",
                c.getDmaBuf() ? "yes" : "no (" + c.getDmaBufUnavailable() + ")");
            System.out.printf("max metadata:          %d bytes (private data %d)%n", c.getMaxMetadataBytes(),
                c.getMaxPrivateBytes());
        }
        return 0;
    }
}
