package org.hyperdmabuf.cli;

import org.hyperdmabuf.abi.v1.Target;
import org.hyperdmabuf.client.HdmabufClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "targets", mixinStandardHelpOptions = true,
    description = "List the VMs this daemon can share with now (the peers its backend reaches).")
final class TargetsCommand implements Callable<Integer>
{
    @Option(names = "--socket", description = "Daemon socket (default: <runtime dir>/sink.sock).")
    Path socket;

    @Option(names = "--json", description = "One JSON object instead of the table: {\"targets\": [Target...]} (client.proto).")
    boolean json;

    @Override
    public Integer call() throws Exception
    {
        try (HdmabufClient client = HdmabufClient.connect(socket == null ? Defaults.sinkSocket() : socket))
        {
            if (json)
            {
                System.out.println(Json.of(client.targets()));
                return 0;
            }
            System.out.printf("%-6s %-12s %s%n", "VM", "NAME", "ROLES");
            for (final Target t : client.targets().getTargetsList())
            {
                System.out.printf("%-6d %-12s %s%n", t.getVm(), t.getName(), String.join(",", t.getRolesList()));
            }
        }
        return 0;
    }
}
