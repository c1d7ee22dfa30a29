package org.hyperdmabuf.bench;

import java.util.List;

/** Every figure of the harness, in the order they run and their rows appear. */
final class Figures
{
    /**
     * Start-up runs before the shared daemons exist (it starts its own), peers after they stopped (it starts 16 of
     * its own) and c and gst (the C library's and the GStreamer elements' programs, with daemons of
     * their own) after it; the others measure
     * through the shared daemons.
     */
    static final List<Figure> ALL = List.of(
        new Figure("startup", false, StartupFigure::run),
        new Figure("fence", true, FenceFigure::run),
        new Figure("events", true, EventsFigure::run),
        new Figure("frames", true, FramesFigure::run),
        new Figure("control", true, ControlFigure::run),
        new Figure("scale", true, ScaleFigure::run),
        new Figure("peers", false, PeersFigure::run),
        new Figure("c", false, CLibraryFigure::run),
        new Figure("gst", false, GstFigure::run));

    private Figures()
    {
    }

    /** The {@code --only} names, in run order. */
    static List<String> names()
    {
        return ALL.stream().map(Figure::name).toList();
    }
}
