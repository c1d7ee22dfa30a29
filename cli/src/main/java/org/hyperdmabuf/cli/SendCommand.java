package org.hyperdmabuf.cli;

import edu.umd.cs.findbugs.annotations.SuppressFBWarnings;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.ReceivedEvent;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "send", mixinStandardHelpOptions = true,
    description = {"Share a file with another VM through shared memory (one copy: file -> shared pages).",
        "Waits until the receiver has imported and released it, then unexports and frees it.",
        "Fails (exit 1) if the receiver refuses it, its VM goes away first (peer-lost), or --timeout passes."})
final class SendCommand implements Callable<Integer>
{
    @Parameters(index = "0", description = "The file to send.")
    Path file;

    @Option(names = "--to", required = true, description = "Target VM id (see `hdmabuf targets`).")
    int target;

    @Option(names = "--socket", description = "Sink socket (default: <runtime dir>/sink.sock).")
    Path socket;

    @Option(names = "--content-type", description = "Content type (default: ${DEFAULT-VALUE}).")
    String contentType = "application/octet-stream";

    @Option(names = "--tag", description = "Extra KEY=VALUE tag.")
    List<String> tags = new ArrayList<>();

    @Option(names = "--read-only", description = "Export read-only to the receiver.")
    boolean readOnly;

    @Option(names = "--timeout", description = "Seconds to wait for the receiver (default: ${DEFAULT-VALUE}).")
    long timeoutSeconds = 120;

    @Override
    @SuppressFBWarnings(value = "NP_NULL_ON_SOME_PATH_FROM_RETURN_VALUE",
        justification = "a path without a file name is a directory, which call refuses before it reads the name")
    public Integer call() throws Exception
    {
        if (timeoutSeconds < 1)
        {
            throw new IllegalArgumentException("--timeout must be at least 1 second: " + timeoutSeconds);
        }
        if (Files.isDirectory(file))
        {
            throw new IllegalArgumentException(file + ": is a directory, not a file");
        }
        // The file first: a missing file is reported as such whether or not a daemon runs.
        try (FileChannel in = FileChannel.open(file, StandardOpenOption.READ);
             HdmabufClient client = HdmabufClient.connect(socket == null ? Defaults.sinkSocket() : socket))
        {
            final long size = in.size();
            final Access access = readOnly ? Access.ACCESS_READ_ONLY : Access.ACCESS_READ_WRITE;
            try (Allocation a = client.alloc(Math.max(1, size), target, access))
            {
                final MessageDigest sha = MessageDigest.getInstance("SHA-256");
                final ByteBuffer dst = a.buffer().bytes().duplicate();
                dst.limit((int)size);
                while (dst.hasRemaining())
                {
                    if (in.read(dst) < 0)
                    {
                        throw new IOException(file + " shrank while reading");
                    }
                }
                sha.update(a.buffer().bytes().duplicate().limit((int)size));
                final Metadata.Builder m = Metadata.newBuilder().setVersion(1).setContentType(contentType).setSize(size)
                    .putTags("filename", file.getFileName().toString())
                    .putTags("sha256", HexFormat.of().formatHex(sha.digest()));
                for (final String t : tags)
                {
                    final int eq = t.indexOf('=');
                    if (eq <= 0)
                    {
                        throw new IllegalArgumentException("--tag must be KEY=VALUE: " + t);
                    }
                    m.putTags(t.substring(0, eq), t.substring(eq + 1));
                }
                client.subscribe(List.of(), false);
                final BufferId id = client.export(a.handle(), target, m.build(), access).getId();
                System.out.println("exported " + file + " (" + size + " bytes) as " + BufferIds.format(id) + " to VM " +
                    target + "; waiting for the receiver");
                System.out.flush();
                final String result = awaitRelease(client, BufferIds.format(id));
                client.unexport(id);
                client.free(a.handle());
                if (!"released".equals(result))
                {
                    System.err.println("send: " + result);
                    return 1;
                }
                System.out.println("delivered " + file + " to VM " + target);
            }
        }
        return 0;
    }

    private String awaitRelease(final HdmabufClient client, final String id) throws Exception
    {
        final long deadline = System.nanoTime() + Duration.ofSeconds(timeoutSeconds).toNanos();
        boolean imported = false;
        while (System.nanoTime() < deadline)
        {
            final ReceivedEvent e = client.nextEvent(Duration.ofMillis(500));
            if (e == null || e.isOverflow() || !id.equals(e.event().get("BUFFER")))
            {
                continue;
            }
            final String state = e.event().get("STATE");
            if ("imported".equals(state))
            {
                imported = true;
            }
            else if ("released".equals(state) && imported)
            {
                return "released";
            }
            else if ("rejected".equals(state))
            {
                return "the receiver refused the buffer";
            }
            else if ("peer-lost".equals(state))
            {
                // Its daemon stopped, restarted or timed out: this export is gone with that session.
                return "VM " + target + " went away before it released the buffer (peer-lost); send it again";
            }
        }
        return "timed out after " + timeoutSeconds + " s waiting for the receiver";
    }
}
