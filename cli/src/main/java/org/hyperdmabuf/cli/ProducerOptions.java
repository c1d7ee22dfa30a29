package org.hyperdmabuf.cli;

import picocli.CommandLine.Option;

import java.nio.file.Path;

/** The options both demo producers take (picocli mixin). */
final class ProducerOptions
{
    @Option(names = "--socket", required = true, description = "Sink socket.")
    Path socket;

    @Option(names = "--to", required = true, description = "Target VM id.")
    int target;

    @Option(names = "--frames", description = "Frames to send (default: ${DEFAULT-VALUE}).")
    int frames = 300;

    @Option(names = "--width", description = "Frame width in pixels (default: ${DEFAULT-VALUE}).")
    int width = 1920;

    @Option(names = "--height", description = "Frame height in pixels (default: ${DEFAULT-VALUE}).")
    int height = 1080;

    @Option(names = "--buffers", description = "Buffers in the ring (default: ${DEFAULT-VALUE}).")
    int buffers = 3;

    int frameBytes()
    {
        if (width < 1 || height < 1 || frames < 1 || buffers < 1)
        {
            throw new IllegalArgumentException("--width, --height, --frames and --buffers must be positive");
        }
        try
        {
            return Math.multiplyExact(Math.multiplyExact(width, height), 4);
        }
        catch (final ArithmeticException e)
        {
            throw new IllegalArgumentException("a frame of " + width + "x" + height + " RGBA pixels is over 2 GiB", e);
        }
    }
}
