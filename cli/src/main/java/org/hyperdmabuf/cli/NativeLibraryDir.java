package org.hyperdmabuf.cli;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The native libraries of jffi (jnr-ffi's stub library) and of netty's epoll transport, taken out of their jars once,
 * into a directory the launchers name: each library otherwise writes its own into a new temporary file at every start
 * and loads it from there (with a SecureRandom made for the file name), about a tenth of a daemon's CPU time to READY.
 * jffi looks in {@code jffi.boot.library.path} and netty in {@code java.library.path} before they unpack; a directory
 * without them (another architecture, an incomplete build) leaves both to unpack as before.
 * <p>
 * {@code main} writes them: {@code NativeLibraryDir DIR} (the build: {@code cli/target/native}; the Debian package
 * installs that directory's files in {@code /usr/lib/hyperdmabuf}).
 */
public final class NativeLibraryDir
{
    private NativeLibraryDir()
    {
    }

    /** JVM options that make jffi and netty load their libraries from {@code dir}. */
    public static List<String> useOptions(final Path dir)
    {
        return List.of("-Djffi.boot.library.path=" + dir, "-Djava.library.path=" + dir);
    }

    /**
     * Copies the libraries for this machine's architecture from the class path into {@code dir} (each written beside
     * and renamed, so a JVM starting meanwhile loads the old file or the new one); the names of those copied.
     */
    public static List<String> extract(final Path dir) throws IOException
    {
        Files.createDirectories(dir);
        final List<String> copied = new ArrayList<>();
        for (final String resource : resources(System.getProperty("os.arch", "")))
        {
            try (InputStream in = ClassLoader.getSystemResourceAsStream(resource))
            {
                if (in == null)
                {
                    continue;
                }
                final String name = resource.substring(resource.lastIndexOf('/') + 1);
                final Path tmp = dir.resolve(name + ".new");
                Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
                Files.move(tmp, dir.resolve(name), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                copied.add(name);
            }
        }
        return copied;
    }

    /** Where the jffi native jar and netty's epoll jar keep the library for {@code osArch} (Linux only). */
    static List<String> resources(final String osArch)
    {
        final String arch = osArch.toLowerCase(Locale.ROOT);
        if (arch.equals("amd64") || arch.equals("x86_64"))
        {
            return List.of("jni/x86_64-Linux/libjffi-1.2.so",
                "META-INF/native/libnetty_transport_native_epoll_x86_64.so");
        }
        if (arch.equals("aarch64"))
        {
            return List.of("jni/aarch64-Linux/libjffi-1.2.so",
                "META-INF/native/libnetty_transport_native_epoll_aarch_64.so");
        }
        return List.of();
    }

    public static void main(final String[] args) throws IOException
    {
        if (args.length != 1)
        {
            System.err.println("usage: NativeLibraryDir DIR");
            System.exit(2);
        }
        final List<String> copied = extract(Path.of(args[0]));
        if (copied.isEmpty())
        {
            System.err.println("hdmabuf: no native library to take out of the jars for " +
                System.getProperty("os.arch") + " (jffi and netty unpack theirs at every start)");
        }
    }
}
