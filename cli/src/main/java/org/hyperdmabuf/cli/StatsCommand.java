package org.hyperdmabuf.cli;

import org.hyperdmabuf.abi.v1.StatsResult;
import org.hyperdmabuf.abi.v1.Usage;
import org.hyperdmabuf.client.HdmabufClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "stats", mixinStandardHelpOptions = true,
    description = "Show pinned memory per VM and per client uid against the policy's quotas.")
final class StatsCommand implements Callable<Integer>
{
    @Option(names = "--socket", description = "Daemon socket (default: <runtime dir>/sink.sock).")
    Path socket;

    @Option(names = "--json",
        description = "One JSON object instead of the table: the StatsResult message (client.proto); -1: unlimited.")
    boolean json;

    @Override
    public Integer call() throws Exception
    {
        try (HdmabufClient client = HdmabufClient.connect(socket == null ? Defaults.sinkSocket() : socket))
        {
            final StatsResult s = client.stats();
            if (json)
            {
                System.out.println(Json.of(s));
                return 0;
            }
            System.out.println("policy: " + s.getPolicy());
            System.out.printf("%-6s %-8s %-14s %-14s %-10s %s%n", "SCOPE", "ID", "BYTES", "MAX_BYTES", "BUFFERS",
                "MAX_BUFFERS");
            for (final Usage u : s.getUsageList())
            {
                System.out.printf("%-6s %-8d %-14d %-14s %-10d %s%n", u.getScope(), u.getId(), u.getBytes(),
                    limit(u.getMaxBytes()), u.getBuffers(), limit(u.getMaxBuffers()));
            }
        }
        return 0;
    }

    private static String limit(final long value)
    {
        return value == -1L ? "unlimited" : Long.toString(value);
    }
}
