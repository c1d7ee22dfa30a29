package org.hyperdmabuf.cli;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.Import;
import org.hyperdmabuf.abi.v1.Imported;
import org.hyperdmabuf.abi.v1.Request;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.ImportedBuffer;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
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

    @Option(names = "--map-writable", description = {"Instead: map the import's fd writable with mmap and say whether",
        "that was refused (on Xen the hypervisor refuses a read-only grant), then read byte 0 through a read-only map",
        "of a second import."})
    boolean mapWritable;

    @Override
    public Integer call() throws Exception
    {
        if (mapWritable)
        {
            return mapWritable();
        }
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

    private int mapWritable() throws Exception
    {
        final BufferId bufferId = BufferIds.parse(id);
        try (HdmabufClient client = HdmabufClient.connect(socket))
        {
            final Request.Builder importIt = Request.newBuilder().setImport(Import.newBuilder().setId(bufferId));
            final HdmabufClient.Reply first = client.call(importIt);
            final Imported i = first.response().getImported();
            HdmabufClient.Reply second = null;
            try
            {
                try (MappedMemory w = MappedMemory.map(first.fds()[0], i.getOffset(), i.getLength(), false))
                {
                    System.out.println("MAPPED writable (access " + i.getAccess() + ", " + w.buffer().capacity() +
                        " bytes)");
                }
                catch (final NativeIoException e)
                {
                    System.out.println("REFUSED writable mapping: " + e.errnoName() + " (" + e.getMessage() + ")");
                }
                // A second import (a second reference, a fresh fd) for the read-only map: on Xen a refused
                // writable mmap leaves the first fd unmappable. Released after, so the exporter sees one release.
                second = client.call(importIt);
                final Imported again = second.response().getImported();
                try (MappedMemory ro = MappedMemory.map(second.fds()[0], again.getOffset(), again.getLength(), true))
                {
                    System.out.println("MAPPED read-only: byte 0 = " + ro.buffer().get(0));
                }
            }
            finally
            {
                Native.closeQuietly(first.fds()[0]);
                client.release(bufferId);
                if (second != null)
                {
                    Native.closeQuietly(second.fds()[0]);
                    client.release(bufferId);
                }
            }
        }
        return 0;
    }
}
