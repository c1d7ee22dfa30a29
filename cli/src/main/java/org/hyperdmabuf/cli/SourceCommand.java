package org.hyperdmabuf.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "source", mixinStandardHelpOptions = true,
    description = "Run a source daemon: receives buffers other VMs export here; emits events; serves imports.")
final class SourceCommand implements Callable<Integer>
{
    @Option(names = "--socket", description = "Client API socket (default: <runtime dir>/source.sock).")
    Path socket;

    @Mixin
    DaemonOptions daemon = new DaemonOptions();

    @Override
    public Integer call() throws Exception
    {
        return daemon.run("source", socket == null ? Defaults.sourceSocket() : socket, false, true);
    }
}
