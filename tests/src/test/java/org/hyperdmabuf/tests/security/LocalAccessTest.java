package org.hyperdmabuf.tests.security;

import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Response;
import org.hyperdmabuf.abi.v1.ServerFrame;
import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.tests.support.SystemTest;
import org.hyperdmabuf.tests.support.TwoVmSystem;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Who may talk to a daemon (ABI.md "Client API", "Mapping": the socket's mode and ownership and the policy's
 * {@code [access]} are the local trust boundary). The socket is created 0660; a uid outside its owner and group
 * cannot connect at all; one the mode admits but {@code [access]} does not is refused with EACCES and closed,
 * as often as it tries, without the daemon keeping anything. Unprivileged clients run as uid 65534 through
 * {@code setpriv} (so these tests need root, as CI has); {@code PolicyEnforcementTest} covers the refusal by
 * policy of the Java CLI and the service of an allowed uid.
 */
@SystemTest
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LocalAccessTest
{
    private static final int NOBODY = 65534;
    /**
     * Connects n times; per attempt prints CONNECT-ERRNO e, or CONNECTED (mode "connect"), or FRAME and the hex of
     * everything read until the daemon closes (mode "read").
     */
    private static final String CLIENT = String.join("\n",
        "import socket, sys, binascii",
        "path, n, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]",
        "for i in range(n):",
        "    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)",
        "    try:",
        "        s.connect(path)",
        "    except OSError as e:",
        "        print('CONNECT-ERRNO', e.errno, flush=True)",
        "        s.close()",
        "        continue",
        "    if mode == 'connect':",
        "        print('CONNECTED', flush=True)",
        "        s.close()",
        "        continue",
        "    s.settimeout(20)",
        "    data = b''",
        "    while True:",
        "        b = s.recv(65536)",
        "        if not b:",
        "            break",
        "        data += b",
        "    print('FRAME', binascii.hexlify(data).decode(), flush=True)",
        "    s.close()");

    private TwoVmSystem system;

    @BeforeAll
    void start() throws Exception
    {
        system = TwoVmSystem.startInTempDir("hdl", 16L << 20, List.of(), List.of());
    }

    @AfterAll
    void stop() throws Exception
    {
        system.closeAndVerify();
    }

    @Test
    void daemonSocketsAreCreatedWithMode0660() throws Exception
    {
        for (final Path socket : List.of(system.sinkSocket(), system.sourceSocket()))
        {
            final int mode = (Integer)Files.getAttribute(socket, "unix:mode");
            assertEquals(0140000, mode & 0170000, socket + " is a socket");
            assertEquals("rw-rw----", PosixFilePermissions.toString(Files.getPosixFilePermissions(socket)), socket.toString());
        }
    }

    /** The mode is the boundary: the same uid is refused by the kernel without the socket's group, admitted with it. */
    @Test
    void aUidOutsideTheSocketsOwnerAndGroupCannotConnect() throws Exception
    {
        assumeRoot();
        openDirectory();
        final int group = (Integer)Files.getAttribute(system.sinkSocket(), "unix:gid");
        for (final Path socket : List.of(system.sinkSocket(), system.sourceSocket()))
        {
            assertEquals(List.of("CONNECT-ERRNO 13"), runAs(List.of("--clear-groups"), socket, 1, "connect"),
                "EACCES from connect(2) for uid " + NOBODY + " on " + socket);
            assertEquals(List.of("CONNECTED"), runAs(List.of("--groups=" + group), socket, 1, "connect"),
                "a member of the socket's group connects to " + socket);
        }
    }

    /** [access] refuses uid 65534 with EACCES (request id 0) and closes, 50 times in a row; nothing is kept. */
    @Test
    void connectionsRefusedByPolicyGetEaccesAndLeaveNothingBehind() throws Exception
    {
        assumeRoot();
        openDirectory();
        final Path policy = system.dir().resolve("access-only.toml");
        Files.writeString(policy, "[access]\nuids = [1000]\n");
        final Path socket = system.dir().resolve("guarded.sock");
        final ChildProcess guarded = system.startDaemon("guarded", "source", socket, "--policy", policy.toString(),
            "--policy-dir", system.dir().resolve("none.d").toString());
        try
        {
            Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-rw-rw-"));
            try (HdmabufClient root = HdmabufClient.connect(socket))
            {
                root.caps(); // uid 0 is always admitted; its connection is part of the baseline
                final int fds = DaemonProbe.openFds(guarded);
                final List<String> lines = runAs(List.of("--clear-groups"), socket, 50, "read");
                assertEquals(50, lines.size(), lines.toString());
                for (final String line : lines)
                {
                    assertTrue(line.startsWith("FRAME "), line);
                    final Response r = parseOnlyFrame(HexFormat.of().parseHex(line.substring(6))).getResponse();
                    assertEquals(0, r.getRequestId());
                    assertEquals(ErrorCode.EACCES, r.getError(), r.getMessage());
                    assertTrue(r.getMessage().contains("uid " + NOBODY), r.getMessage());
                }
                DaemonProbe.awaitFds(guarded, fds, "after 50 refused connections");
                assertEquals("kvm-ivshmem", root.caps().getBackend(), "an admitted client is still served");
            }
        }
        finally
        {
            guarded.close();
        }
    }

    private static ServerFrame parseOnlyFrame(final byte[] bytes) throws IOException
    {
        final var in = com.google.protobuf.CodedInputStream.newInstance(bytes);
        final int length = in.readRawVarint32();
        final ServerFrame f = ServerFrame.parseFrom(in.readRawBytes(length));
        assertTrue(in.isAtEnd(), "exactly one frame before the close");
        return f;
    }

    private static void assumeRoot() throws IOException
    {
        Assumptions.assumeTrue((Integer)Files.getAttribute(Path.of("/proc/self"), "unix:uid") == 0,
            "switching to another uid needs root (CI runs as root)");
    }

    /** Lets other uids reach the sockets (the directory is 0700); the sockets keep their own mode. */
    private void openDirectory() throws IOException
    {
        Files.setPosixFilePermissions(system.dir(), PosixFilePermissions.fromString("rwx--x--x"));
    }

    private static List<String> runAs(final List<String> groups, final Path socket, final int attempts,
        final String mode)
        throws Exception
    {
        final List<String> command = new ArrayList<>(List.of("setpriv", "--reuid=" + NOBODY, "--regid=" + NOBODY));
        command.addAll(groups);
        command.addAll(List.of("/usr/bin/python3", "-c", CLIENT, socket.toString(), Integer.toString(attempts), mode));
        final Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        final List<String> lines = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).lines().toList();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the unprivileged client did not finish");
        assertEquals(0, p.exitValue(), "unprivileged client: " + lines);
        return lines;
    }
}
