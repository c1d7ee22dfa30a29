package org.hyperdmabuf.cli;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.ImportedBuffer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "write-import", hidden = true, mixinStandardHelpOptions = true,
    description = {"Diagnostic: import a buffer and write one byte through the mapping.",
        "On a read-only import the write faults (SIGSEGV) and the process dies: that is the point."})
final class WriteImportCommand implements Callable<Integer>
{
    @Option(names = "--socket", required = true)
    Path socket;

    @Option(names = "--id", required = true)
    String id;

    @Override
    public Integer call() throws Exception
    {
        try (HdmabufClient client = HdmabufClient.connect(socket);
             ImportedBuffer b = client.importBuffer(BufferIds.parse(id)))
        {
            System.out.println("IMPORTED read-only=" + b.buffer().isReadOnly() + "; writing byte 0");
            System.out.flush();
            b.buffer().bytes().put(0, (byte)0x7f);
            System.out.println("WROTE");
            client.release(b.id());
        }
        return 0;
    }
}
