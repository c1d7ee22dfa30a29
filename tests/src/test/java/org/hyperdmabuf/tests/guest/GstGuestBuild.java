package org.hyperdmabuf.tests.guest;

import org.hyperdmabuf.cli.ChildProcess;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * The GStreamer plugin and {@code gst-stream-test} built with meson for a guest, which runs them from this build over
 * the host's read-only root: in {@code target/gst-guest} of this module (incremental after the first run), only the
 * targets the guest needs, and {@code hdmabuf-wayland} where the build has it. The tests module runs before the
 * libhdmabuf module, so no build of that one exists yet.
 */
final class GstGuestBuild
{
    private static final Duration BUILD_TIMEOUT = Duration.ofMinutes(4);
    private static final List<String> TARGETS = List.of("gst/gsthdmabuf", "gst/tests/gst-stream-test",
        "gst/tests/gst-system-plugins");
    /** Built too where the build has it (libwayland-dev and wayland-protocols installed). */
    static final String WAYLAND_CLIENT = "clients/wayland/hdmabuf-wayland";

    private GstGuestBuild()
    {
    }

    /**
     * The build directory, or empty (said on stdout) outside CI when meson or the GStreamer development files are
     * missing; in CI ({@code CI=true}) that fails the test.
     */
    static Optional<Path> build(final List<AutoCloseable> resources) throws Exception
    {
        final Path root = GuestTests.basedir().resolve("..").normalize();
        final Path dir = GuestTests.basedir().resolve("target/gst-guest");
        final boolean ci = "true".equals(System.getenv("CI"));
        if (!onPath("meson") || !onPath("ninja"))
        {
            return leftOut(ci, "meson and ninja are not installed");
        }
        final ChildProcess setup = ChildProcess.command("meson-setup", Files.isRegularFile(dir.resolve("build.ninja"))
            ? List.of("meson", "setup", "--reconfigure", "-Dgstreamer=enabled", dir.toString(), root.toString())
            : List.of("meson", "setup", "-Dgstreamer=enabled", dir.toString(), root.toString()), System.out);
        resources.add(setup);
        if (setup.waitFor(BUILD_TIMEOUT) != 0)
        {
            return leftOut(ci, "meson setup -Dgstreamer=enabled failed (libgstreamer-plugins-base1.0-dev missing?)");
        }
        final List<String> compile = new ArrayList<>(List.of("meson", "compile", "-C", dir.toString()));
        compile.addAll(TARGETS);
        if (Files.readString(dir.resolve("build.ninja")).contains("\nbuild " + WAYLAND_CLIENT + ":"))
        {
            compile.add(WAYLAND_CLIENT);
        }
        final ChildProcess build = ChildProcess.command("meson-compile", compile, System.out);
        resources.add(build);
        build.awaitSuccess(BUILD_TIMEOUT);
        return Optional.of(dir);
    }

    private static Optional<Path> leftOut(final boolean ci, final String why)
    {
        if (ci)
        {
            fail(why);
        }
        System.out.println("the guest's gst check is left out: " + why);
        return Optional.empty();
    }

    static boolean onPath(final String tool)
    {
        return Stream.of(System.getenv().getOrDefault("PATH", "").split(":"))
            .anyMatch(d -> Files.isExecutable(Path.of(d, tool)));
    }
}
