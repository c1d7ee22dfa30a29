package org.hyperdmabuf.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "sink", mixinStandardHelpOptions = true,
    description = "Run a sink daemon: allocates and exports buffers of local producers to other VMs.")
final class SinkCommand implements Callable<Integer>
{
    @Option(names = "--socket", description = "Client API socket (default: <runtime dir>/sink.sock).")
    Path socket;

    @Mixin
    DaemonOptions daemon = new DaemonOptions();

    @Override
    public Integer call() throws Exception
    {
        return daemon.run("sink", socket == null ? Defaults.sinkSocket() : socket, true, false);
    }
}
