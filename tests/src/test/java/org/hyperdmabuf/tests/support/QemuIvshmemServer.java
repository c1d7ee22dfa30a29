package org.hyperdmabuf.tests.support;

import org.hyperdmabuf.cli.ChildProcess;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * QEMU's own ivshmem server ({@code contrib/ivshmem-server}), built from Debian's qemu source package by
 * {@code packaging/qemu-ivshmem-server/build.sh} (cached after the first build). Unlike ours it hands out ids
 * from 0 upwards without reusing them, and on SIGTERM announces every peer as disconnected before it closes.
 */
public final class QemuIvshmemServer
{
    private static final Duration BUILD_TIMEOUT = Duration.ofMinutes(5);
    /** build.sh's exit code for "a prerequisite or the source is not available here". */
    private static final int UNAVAILABLE = 2;

    private QemuIvshmemServer()
    {
    }

    /**
     * The server binary. When the build is impossible for want of something on this machine the test is skipped
     * with the script's reason, except in CI ({@code CI=true}), whose {@code .ci/run} installs what it needs: there
     * it fails.
     */
    public static Path binary() throws Exception
    {
        final Path basedir = Paths.get(System.getProperty("basedir", System.getProperty("user.dir"))).toAbsolutePath();
        final Path script = basedir.resolve("../packaging/qemu-ivshmem-server/build.sh").normalize();
        final ChildProcess build = ChildProcess.command("build-qemu-ivshmem-server", List.of("bash",
            script.toString()), System.out);
        final int exit = build.waitFor(BUILD_TIMEOUT);
        final List<String> output = build.output();
        final String said = String.join("\n", output);
        if (exit == UNAVAILABLE)
        {
            if ("true".equals(System.getenv("CI")))
            {
                fail("QEMU's ivshmem-server cannot be built in CI: " + said);
            }
            assumeTrue(false, "QEMU's ivshmem-server cannot be built on this machine: " + said);
        }
        if (exit != 0)
        {
            build.close();
            fail("building QEMU's ivshmem-server failed (exit " + exit + "): " + said);
        }
        final Path binary = Path.of(output.get(output.size() - 1));
        if (!Files.isExecutable(binary))
        {
            fail("build.sh did not end with the binary's path: " + said);
        }
        return binary;
    }

    /**
     * A {@link TwoVmSystem.ServerStarter} running {@code binary} in the foreground on the system's socket with a
     * region of {@code regionSize} bytes (file-backed in the system's directory, so private to it) and the
     * daemons' 16 vectors. Ready once the socket exists (QEMU's server prints nothing unbuffered).
     */
    public static TwoVmSystem.ServerStarter starter(final Path binary, final String regionSize)
    {
        return system ->
        {
            final Path socket = system.ivshmemSocket();
            final ChildProcess server = system.track(ChildProcess.command("qemu-ivshmem-server", List.of(
                binary.toString(), "-F", "-S", socket.toString(), "-m", system.dir().toString(), "-l", regionSize,
                "-n", "16"), System.out));
            Await.until("QEMU's ivshmem-server to listen on " + socket, TwoVmSystem.START_TIMEOUT,
                () -> Files.exists(socket) || !server.isAlive());
            if (!server.isAlive())
            {
                fail("QEMU's ivshmem-server exited: " + String.join("\n", server.output()));
            }
            return server;
        };
    }
}
