package org.hyperdmabuf.cli;

import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.ReceivedEvent;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "monitor", mixinStandardHelpOptions = true,
    description = {"Print buffer events as they happen, like `udevadm monitor --property`.",
        "Filters are udev-style globs on event properties: --match CONTENT_TYPE='video/*'"})
final class MonitorCommand implements Callable<Integer>
{
    @Option(names = "--socket", description = "Daemon socket (default: <runtime dir>/source.sock).")
    Path socket;

    @Option(names = "--match", description = "KEY=GLOB or KEY!=GLOB; several --match must all hold.")
    List<String> matches = new ArrayList<>();

    @Option(names = "--rule", description = "An alternative rule 'K=G,K2!=G2'; rules are ORed.")
    List<String> rules = new ArrayList<>();

    @Option(names = "--replay", description = "First print 'add' for buffers already present.")
    boolean replay;

    @Option(names = "--count", description = "Exit after this many events (default: run until interrupted).")
    long count = Long.MAX_VALUE;

    @Option(names = "--json", description = {"One JSON object per line per event instead of udevadm's format:",
        "{\"time\", \"action\", \"devpath\", \"properties\": {KEY: VALUE}}, or {\"time\", \"overflow\": N dropped}."})
    boolean json;

    @Override
    public Integer call() throws Exception
    {
        if (count < 1)
        {
            throw new IllegalArgumentException("--count must be at least 1: " + count);
        }
        try (HdmabufClient client = HdmabufClient.connect(socket == null ? Defaults.sourceSocket() : socket))
        {
            client.subscribe(MatchRules.parse(rules, matches), replay);
            if (!json)
            {
                System.out.println("monitor will print the received events for:");
                System.out.println("HDMABUF - the hyperdmabuf event stream");
                System.out.println();
                System.out.flush();
            }
            final long start = System.nanoTime();
            for (long seen = 0; seen < count; )
            {
                final ReceivedEvent e = client.nextEvent(Duration.ofSeconds(1));
                if (e == null)
                {
                    continue;
                }
                seen++;
                final double t = (System.nanoTime() - start) / 1e9;
                if (json)
                {
                    System.out.println(jsonLine(t, e));
                }
                else if (e.isOverflow())
                {
                    System.out.printf("HDMABUF [%.6f] overflow: %d events dropped (reader too slow)%n%n", t,
                        e.overflowDropped());
                }
                else
                {
                    System.out.printf("HDMABUF [%.6f] %-8s %s (hyperdmabuf)%n", t, e.event().action(), e.event().devpath());
                    for (final Map.Entry<String, String> p : e.event().properties().entrySet())
                    {
                        System.out.println(p.getKey() + "=" + p.getValue());
                    }
                    System.out.println();
                }
                System.out.flush();
            }
        }
        return 0;
    }

    /** One event as a JSON line; time: seconds since the monitor subscribed. */
    private static String jsonLine(final double time, final ReceivedEvent e)
    {
        final Map<String, Object> line = new LinkedHashMap<>();
        line.put("time", Math.round(time * 1e6) / 1e6);
        if (e.isOverflow())
        {
            line.put("overflow", e.overflowDropped());
        }
        else
        {
            line.put("action", e.event().action());
            line.put("devpath", e.event().devpath());
            line.put("properties", e.event().properties());
        }
        return Json.of(line);
    }
}
