package org.hyperdmabuf.cli;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.v1.Allocated;
import org.hyperdmabuf.abi.v1.BufferInfo;
import org.hyperdmabuf.abi.v1.BufferList;
import org.hyperdmabuf.client.HdmabufClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "list", mixinStandardHelpOptions = true,
    description = {"List the buffers a daemon shows this connection.",
        "On a source socket: the buffers exported to this VM;",
        "on a sink socket: this connection's own allocations (a new connection has none)."})
final class ListCommand implements Callable<Integer>
{
    @Option(names = "--socket", description = "Daemon socket (default: <runtime dir>/source.sock).")
    Path socket;

    @Option(names = "--json",
        description = "One JSON object instead of the table: the BufferList message (client.proto), ids as text.")
    boolean json;

    @Override
    public Integer call() throws Exception
    {
        try (HdmabufClient client = HdmabufClient.connect(socket == null ? Defaults.sourceSocket() : socket))
        {
            final BufferList list = client.list();
            if (json)
            {
                System.out.println(Json.of(list));
                return 0;
            }
            System.out.printf("%-35s %-8s %-6s %-12s %-8s %-8s %s%n", "BUFFER", "EXPORTER", "TARGET", "SIZE", "ACCESS",
                "IMPORTS", "CONTENT_TYPE / STATE");
            for (final BufferInfo b : list.getBuffersList())
            {
                System.out.printf("%-35s %-8d %-6d %-12d %-8s %-8d %s / %s%n", BufferIds.format(b.getId()),
                    b.getExporterVm(), b.getTargetVm(), b.getLength(), b.getAccessValue() == 1 ? "ro" : "rw",
                    b.getImportCount(), b.getMetadata().getContentType(), b.getState());
            }
            for (final Allocated a : list.getAllocationsList())
            {
                System.out.printf("allocation handle=%d offset=%d length=%d%n", a.getHandle(), a.getOffset(),
                    a.getLength());
            }
        }
        return 0;
    }
}
