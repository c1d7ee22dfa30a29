package org.hyperdmabuf.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "daemon", mixinStandardHelpOptions = true,
    description = "Run both roles (sink and source) in one process and on one socket, for small VMs.")
final class DaemonCommand implements Callable<Integer>
{
    @Option(names = "--socket", description = "Client API socket (default: <runtime dir>/daemon.sock).")
    Path socket;

    @Mixin
    DaemonOptions daemon = new DaemonOptions();

    @Override
    public Integer call() throws Exception
    {
        return daemon.run("daemon", socket == null ? Defaults.runtimeDir().resolve("daemon.sock") : socket, true, true);
    }
}
