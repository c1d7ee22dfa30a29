package org.hyperdmabuf.cli;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.ImportedBuffer;
import org.hyperdmabuf.client.ReceivedEvent;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "receive", mixinStandardHelpOptions = true,
    description = "Receive files sent with `hdmabuf send`: import, verify the SHA-256, write to --out, release.")
final class ReceiveCommand implements Callable<Integer>
{
    @Option(names = "--out", required = true, description = "Directory to write received files to.")
    Path out;

    @Option(names = "--socket", description = "Source socket (default: <runtime dir>/source.sock).")
    Path socket;

    @Option(names = "--count", description = "Files to receive before exiting (default: ${DEFAULT-VALUE}).")
    int count = 1;

    @Option(names = "--timeout", description = "Seconds to wait for all files (default: ${DEFAULT-VALUE}).")
    long timeoutSeconds = 120;

    @Override
    public Integer call() throws Exception
    {
        if (count < 1 || timeoutSeconds < 1)
        {
            throw new IllegalArgumentException("--count and --timeout must be at least 1: " + count + ", " +
                timeoutSeconds);
        }
        Files.createDirectories(out);
        int failures = 0;
        try (HdmabufClient client = HdmabufClient.connect(socket == null ? Defaults.sourceSocket() : socket))
        {
            client.subscribe(MatchRules.parse(List.of(), List.of("ACTION=add", "TAG_FILENAME=?*")), true);
            System.out.println("READY receive");
            System.out.flush();
            final long deadline = System.nanoTime() + Duration.ofSeconds(timeoutSeconds).toNanos();
            int received = 0;
            while (received < count)
            {
                if (System.nanoTime() > deadline)
                {
                    System.err.println("receive: timed out with " + received + " of " + count + " files");
                    return 1;
                }
                final ReceivedEvent e = client.nextEvent(Duration.ofMillis(500));
                if (e == null || e.isOverflow())
                {
                    continue;
                }
                received++;
                failures += receiveOne(client, BufferIds.parse(e.event().get("BUFFER"))) ? 0 : 1;
            }
        }
        return failures == 0 ? 0 : 1;
    }

    private boolean receiveOne(final HdmabufClient client, final BufferId id) throws Exception
    {
        try (ImportedBuffer b = client.importBuffer(id))
        {
            // A tag with no file name in it ("/") is named as a missing one.
            final Path tagged = Path.of(b.metadata().getTagsOrDefault("filename", "unnamed")).getFileName();
            final String name = tagged == null ? "unnamed" : tagged.toString();
            final long size = b.metadata().getSize();
            final ByteBuffer content = b.buffer().bytes().duplicate().limit((int)size);
            final MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(content.duplicate());
            final String digest = HexFormat.of().formatHex(sha.digest());
            final String expected = b.metadata().getTagsOrDefault("sha256", "");
            if (!digest.equals(expected))
            {
                System.err.println("receive: " + name + " SHA-256 mismatch: got " + digest + ", sender said " + expected);
                client.release(id);
                return false;
            }
            final Path target = out.resolve(name);
            try (FileChannel fc = FileChannel.open(target, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING))
            {
                while (content.hasRemaining())
                {
                    fc.write(content);
                }
            }
            client.release(id);
            System.out.println("received " + name + " (" + size + " bytes, sha256 ok) from VM " +
                id.getExporterVm() + " -> " + target);
            return true;
        }
    }
}
