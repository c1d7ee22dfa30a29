package org.hyperdmabuf.tests.support;

import org.hyperdmabuf.cli.ChildProcess;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A real system of separate processes on this host: an ivshmem server, a sink daemon ("VM 1") and a
 * source daemon ("VM 2") attached to it, plus any extra daemons a test starts (more "VMs"). Nothing is
 * mocked; every process is a JVM running the {@code hdmabuf} command line.
 */
// "try": stopping its processes may be interrupted.
@SuppressWarnings("try")
public final class TwoVmSystem implements AutoCloseable
{
    public static final Duration START_TIMEOUT = Duration.ofSeconds(60);
    /**
     * Daemon options for tests that load the machine with many JVMs: on 2 shared CI cores a daemon's receive
     * thread can be starved past the default 1.5 s liveness timeout and its peers then declare it dead. For tests
     * about something other than failure detection.
     */
    public static final List<String> PATIENT = List.of("--liveness-timeout-ms", "10000");
    private static final List<String> JVM = List.of("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=info");

    private final Path dir;
    private final List<ChildProcess> processes = new ArrayList<>();
    private boolean ownsDir;
    private ChildProcess server;
    private ChildProcess sink;
    private ChildProcess source;
    private int sinkVm;
    private int sourceVm;
    private int xenGntallocLimit;

    private TwoVmSystem(final Path dir)
    {
        this.dir = dir;
    }

    /** Starts the server (region of {@code regionSize} bytes), the sink and the source, without a policy. */
    public static TwoVmSystem start(final Path dir, final long regionSize) throws Exception
    {
        return start(dir, regionSize, List.of(), List.of());
    }

    /** As {@link #start(Path, long)}, with extra daemon options (e.g. {@code --policy FILE}) for sink and source. */
    public static TwoVmSystem start(final Path dir, final long regionSize, final List<String> sinkArgs,
        final List<String> sourceArgs) throws Exception
    {
        return startWith(dir, system ->
        {
            final ChildProcess server = system.spawn("server", "server", "--socket",
                system.ivshmemSocket().toString(), "--size", Long.toString(regionSize));
            server.awaitLine("READY", START_TIMEOUT);
            return server;
        }, sinkArgs, sourceArgs);
    }

    /** Starts the ivshmem server of a system: a process listening on {@link #ivshmemSocket()}, ready for peers. */
    @FunctionalInterface
    public interface ServerStarter
    {
        ChildProcess start(TwoVmSystem system) throws Exception;
    }

    /** As {@link #start(Path, long, List, List)}, with the ivshmem server {@code server} starts (e.g. QEMU's own). */
    public static TwoVmSystem startWith(final Path dir, final ServerStarter server, final List<String> sinkArgs,
        final List<String> sourceArgs) throws Exception
    {
        final TwoVmSystem s = new TwoVmSystem(dir);
        try
        {
            s.server = server.start(s);
            s.sink = s.startDaemon("sink", "sink", s.sinkSocket(), sinkArgs.toArray(new String[0]));
            s.sinkVm = vmOf(s.sink);
            s.source = s.startDaemon("source", "source", s.sourceSocket(), sourceArgs.toArray(new String[0]));
            s.sourceVm = vmOf(s.source);
            return s;
        }
        catch (final Exception | Error e)
        {
            s.close();
            throw e;
        }
    }

    /**
     * Starts a system in a new directory under /tmp (socket paths must stay under 108 bytes), which
     * {@link #closeAndVerify} deletes.
     */
    public static TwoVmSystem startInTempDir(final String prefix, final long regionSize, final List<String> sinkArgs,
        final List<String> sourceArgs) throws Exception
    {
        final Path dir = java.nio.file.Files.createTempDirectory(Path.of("/tmp"), prefix);
        final TwoVmSystem s = start(dir, regionSize, sinkArgs, sourceArgs);
        s.ownsDir = true;
        return s;
    }

    /**
     * As {@link #startInTempDir}, on the xen backend over the Xen EMULATION ({@code hdmabuf xen-emu}, in the
     * {@link #server()} slot): the sink is dom1, the source dom2, each meeting the other.
     */
    public static TwoVmSystem startXenInTempDir(final String prefix, final int gntallocLimit,
        final List<String> sinkArgs, final List<String> sourceArgs) throws Exception
    {
        final TwoVmSystem s = new TwoVmSystem(java.nio.file.Files.createTempDirectory(Path.of("/tmp"), prefix));
        s.ownsDir = true;
        try
        {
            s.server = s.spawn("xen-emu", "xen-emu", "--dir", s.dir.resolve("xen").toString(), "--gntalloc-limit",
                Integer.toString(gntallocLimit));
            s.server.awaitLine("READY", START_TIMEOUT);
            s.xenGntallocLimit = gntallocLimit;
            final List<String> sink = new ArrayList<>(s.xenDaemonArgs(1, "2"));
            sink.addAll(sinkArgs);
            s.sink = s.startDaemon("sink", "sink", s.sinkSocket(), sink.toArray(new String[0]));
            s.sinkVm = vmOf(s.sink);
            final List<String> source = new ArrayList<>(s.xenDaemonArgs(2, "1"));
            source.addAll(sourceArgs);
            s.source = s.startDaemon("source", "source", s.sourceSocket(), source.toArray(new String[0]));
            s.sourceVm = vmOf(s.source);
            // The pair meets through xenstore after both are READY; an ALLOC granted to the source needs it up.
            s.awaitMet();
            return s;
        }
        catch (final Exception | Error e)
        {
            s.close();
            throw e;
        }
    }

    /**
     * As {@link #startInTempDir}, in kvm-ivshmem GUEST mode without any server: each daemon sees an ivshmem PCI
     * device of its own in an EMULATED sysfs tree ({@code EmulatedIvshmemSysfs}: IVPosition 1 for the sink, 2 for
     * the source), whose BAR2 is the same region file, as two QEMU guests on one memory backend. Doorbells land
     * nowhere (a guest without vfio), so both daemons poll, as real guests do.
     */
    public static TwoVmSystem startGuestInTempDir(final String prefix, final long regionSize) throws Exception
    {
        final TwoVmSystem s = new TwoVmSystem(java.nio.file.Files.createTempDirectory(Path.of("/tmp"), prefix));
        s.ownsDir = true;
        try
        {
            final Path region = s.dir.resolve("region");
            try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(region.toFile(), "rw"))
            {
                f.setLength(regionSize);
            }
            s.sink = s.startDaemon("sink", "sink", s.sinkSocket(), s.guestDaemonArgs("vm1", region, 1));
            s.sinkVm = vmOf(s.sink);
            s.source = s.startDaemon("source", "source", s.sourceSocket(), s.guestDaemonArgs("vm2", region, 2));
            s.sourceVm = vmOf(s.source);
            s.awaitMet();
            return s;
        }
        catch (final Exception | Error e)
        {
            s.close();
            throw e;
        }
    }

    /** Until the sink and the source each logged the other up. */
    private void awaitMet() throws Exception
    {
        Await.until("the sink and the source to meet", START_TIMEOUT, () ->
            sink.output().stream().anyMatch(l -> l.contains("peer VM " + sourceVm + " up")) &&
            source.output().stream().anyMatch(l -> l.contains("peer VM " + sinkVm + " up")));
    }

    private String[] guestDaemonArgs(final String vm, final Path region, final int ivPosition) throws IOException
    {
        final org.hyperdmabuf.hv.pci.EmulatedIvshmemSysfs sysfs =
            new org.hyperdmabuf.hv.pci.EmulatedIvshmemSysfs(dir.resolve(vm + "-sys"));
        sysfs.addIvshmem("0000:00:06.0", region, ivPosition, true);
        return new String[]{"--backend", "kvm-ivshmem", "-O", "mode=guest", "-O", "sysfs=" + sysfs.devicesDir(),
            "-O", "enable=false"};
    }

    /** Daemon options selecting the xen backend on this system's emulator as domain {@code domid}. */
    public List<String> xenDaemonArgs(final int domid, final String peers)
    {
        return List.of("--backend", "xen", "-O", "domid=" + domid, "-O", "peers=" + peers,
            "-O", "emulator=" + dir.resolve("xen/hypervisor.sock"), "-O", "xenstore=" + dir.resolve("xen/xenstored.sock"),
            "-O", "gntalloc-limit=" + xenGntallocLimit);
    }

    /**
     * Stops everything, then fails if any process logged an error other than lines containing one of
     * {@code expected}, and deletes the directory if this system created it.
     */
    public void closeAndVerify(final String... expected) throws Exception
    {
        close();
        final List<String> errors = errorLines().stream()
            .filter(l -> java.util.Arrays.stream(expected).noneMatch(l::contains)).toList();
        if (ownsDir)
        {
            try (java.util.stream.Stream<Path> files = java.nio.file.Files.walk(dir))
            {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
        if (!errors.isEmpty())
        {
            throw new AssertionError("daemons logged errors:\n" + String.join("\n", errors));
        }
    }

    /** Starts one more daemon ({@code role} = sink, source or daemon) attached to the same server. */
    public ChildProcess startDaemon(final String name, final String role, final Path socket, final String... extra)
        throws Exception
    {
        final List<String> args = new ArrayList<>(List.of(role, "--ivshmem", ivshmemSocket().toString(), "--socket",
            socket.toString(), "--name", name));
        if (!List.of(extra).contains("--policy"))
        {
            // Never pick up a policy installed on the machine running the tests.
            args.addAll(List.of("--policy", dir.resolve("no-policy.toml").toString(), "--policy-dir",
                dir.resolve("no-policy.d").toString()));
        }
        args.addAll(List.of(extra));
        final ChildProcess d = spawn(name, args.toArray(new String[0]));
        d.awaitLine("READY", START_TIMEOUT);
        return d;
    }

    /** Runs another hdmabuf subcommand (e.g. monitor, send) as its own process. */
    public ChildProcess spawn(final String name, final String... args) throws IOException
    {
        final ChildProcess p = ChildProcess.start(name, JVM, List.of(args), System.out);
        synchronized (processes)
        {
            processes.add(p);
        }
        return p;
    }

    /**
     * Adds a process started elsewhere (e.g. a test's own main class via {@code ChildProcess.java}) to those this
     * system stops and checks for logged errors.
     */
    public ChildProcess track(final ChildProcess process)
    {
        synchronized (processes)
        {
            processes.add(process);
        }
        return process;
    }

    public static int vmOf(final ChildProcess daemon) throws InterruptedException
    {
        return Integer.parseInt(ChildProcess.field(daemon.awaitLine("READY", START_TIMEOUT), "vm"));
    }

    /**
     * Log lines at ERROR level printed so far by any process of this system. A daemon that logs an
     * error while serving well-behaved clients has a bug; tests assert this list is empty.
     */
    public List<String> errorLines()
    {
        final List<String> errors = new ArrayList<>();
        synchronized (processes)
        {
            for (final ChildProcess p : processes)
            {
                for (final String line : p.output())
                {
                    if (line.contains(" ERROR ") || line.contains("Exception in thread"))
                    {
                        errors.add("[" + p.name() + "] " + line);
                    }
                }
            }
        }
        return errors;
    }

    public Path dir()
    {
        return dir;
    }

    public Path ivshmemSocket()
    {
        return dir.resolve("ivshmem.sock");
    }

    public Path sinkSocket()
    {
        return dir.resolve("sink.sock");
    }

    public Path sourceSocket()
    {
        return dir.resolve("source.sock");
    }

    public ChildProcess server()
    {
        return server;
    }

    public ChildProcess sink()
    {
        return sink;
    }

    public ChildProcess source()
    {
        return source;
    }

    public int sinkVm()
    {
        return sinkVm;
    }

    public int sourceVm()
    {
        return sourceVm;
    }

    /** Stops everything, newest first. */
    @Override
    public void close() throws InterruptedException
    {
        final List<ChildProcess> all;
        synchronized (processes)
        {
            all = new ArrayList<>(processes);
            processes.clear();
        }
        for (int i = all.size() - 1; i >= 0; i--)
        {
            all.get(i).close();
        }
    }
}
