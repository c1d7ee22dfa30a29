package org.hyperdmabuf.bench;

import edu.umd.cs.findbugs.annotations.SuppressFBWarnings;

import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Exported;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.HdmabufException;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.LockSupport;

/** The {@code scale-producer} side of {@link BenchSide}, for the scale figure ({@link ScaleFigure}). */
final class ScaleSide
{
    private ScaleSide()
    {
    }

    /**
     * Scale: grows the number of live 4 KiB allocations through the levels, exporting each one too until the
     * region's fence slots run out (ENOSPC; the export count where that happened is reported, and 16 exports
     * are then undone to leave room for the probes). At each level it times K probe EXPORT calls (a separate
     * allocation, exported and unexported), prints a LEVEL line and waits for a line on stdin, while the
     * harness measures the daemons.
     */
    @SuppressFBWarnings(value = "RV_DONT_JUST_NULL_CHECK_READLINE",
        justification = "any line from the harness means go on; only the end of its input matters")
    static void scaleProducer(final Map<String, String> o) throws Exception
    {
        final int probes = Integer.parseInt(o.get("probes"));
        final Metadata m = BenchSide.meta(null, 0);
        final BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        final List<Allocation> live = new ArrayList<>();
        final List<BufferId> exported = new ArrayList<>();
        int exportLimit = -1;
        String limitMessage = "";
        try (HdmabufClient client = HdmabufClient.connect(Path.of(o.get("socket"))))
        {
            final int target = Integer.parseInt(o.get("target"));
            BenchSide.awaitTarget(client, target);
            final Allocation probe = client.alloc(4096);
            for (int i = 0; i < 2 * probes; i++) // warm-up, so level 0 is not measured cold
            {
                client.unexport(client.export(probe.handle(), target, m, Access.ACCESS_READ_ONLY).getId());
                LockSupport.parkNanos(200_000);
            }
            for (final String level : o.get("levels").split(","))
            {
                final int want = Integer.parseInt(level);
                final long[] allocNs = new long[Math.max(1, want - live.size())];
                int k = 0;
                while (live.size() < want)
                {
                    final long t0 = System.nanoTime();
                    final Allocation a = client.alloc(4096);
                    allocNs[k++] = System.nanoTime() - t0;
                    live.add(a);
                    if (exportLimit < 0)
                    {
                        try
                        {
                            exported.add(client.export(a.handle(), target, m, Access.ACCESS_READ_ONLY).getId());
                        }
                        catch (final HdmabufException e)
                        {
                            if (e.code() != ErrorCode.ENOSPC)
                            {
                                throw e;
                            }
                            exportLimit = exported.size();
                            limitMessage = e.getMessage().replace(' ', '_');
                            for (int u = 0; u < 16 && !exported.isEmpty(); u++)
                            {
                                client.unexport(exported.remove(exported.size() - 1));
                            }
                            Thread.sleep(500); // the target confirms the release, which frees the fence slots
                        }
                    }
                }
                long[] samples = new long[probes];
                int got = 0;
                int full = 0;
                while (got < probes && full < 200)
                {
                    final long t0 = System.nanoTime();
                    final Exported e;
                    try
                    {
                        e = client.export(probe.handle(), target, m, Access.ACCESS_READ_ONLY);
                    }
                    catch (final HdmabufException ex)
                    {
                        if (ex.code() != ErrorCode.ENOSPC)
                        {
                            throw ex;
                        }
                        full++; // no free fence slot yet: the unexported probe's slot is freed when the target confirms
                        Thread.sleep(5);
                        continue;
                    }
                    samples[got++] = System.nanoTime() - t0;
                    client.unexport(e.getId());
                    LockSupport.parkNanos(200_000);
                }
                samples = Arrays.copyOf(samples, Math.max(1, got));
                Arrays.sort(samples);
                final long[] allocSorted = Arrays.copyOf(allocNs, Math.max(1, k));
                Arrays.sort(allocSorted);
                System.out.printf("LEVEL live=%d exported=%d export_p50_ns=%d export_p99_ns=%d alloc_p50_ns=%d " +
                    "export_limit=%d probes=%d probe_enospc=%d limit_message=%s%n", live.size(), exported.size(),
                    Stats.percentile(samples, 0.5), Stats.percentile(samples, 0.99),
                    k == 0 ? 0 : Stats.percentile(allocSorted, 0.5), exportLimit, got, full,
                    limitMessage.isEmpty() ? "-" : limitMessage);
                System.out.flush();
                if (in.readLine() == null)
                {
                    return;
                }
            }
        }
    }
}
