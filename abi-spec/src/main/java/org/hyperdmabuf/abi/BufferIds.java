package org.hyperdmabuf.abi;

import org.hyperdmabuf.abi.v1.BufferId;

/**
 * Text form of a {@link BufferId}: {@code EEEEEEEE-NNNNNNNN-RRRRRRRRRRRRRRRR}, lower-case hex of the exporter
 * VM, the export number and the 64-bit nonce (ABI.md "Buffer ids"). Used in events and on the command line.
 */
public final class BufferIds
{
    private BufferIds()
    {
    }

    public static String format(final BufferId id)
    {
        return String.format("%08x-%08x-%016x", id.getExporterVm(), id.getExportNumber(), id.getNonce());
    }

    /** Parses the text form; IllegalArgumentException with the reason when malformed. */
    public static BufferId parse(final String text)
    {
        final String[] parts = text.split("-", -1);
        if (parts.length != 3 || parts[0].length() != 8 || parts[1].length() != 8 || parts[2].length() != 16)
        {
            throw new IllegalArgumentException("buffer id must look like 00000001-0000002a-0123456789abcdef: " + text);
        }
        try
        {
            return BufferId.newBuilder()
                .setExporterVm(Integer.parseUnsignedInt(parts[0], 16))
                .setExportNumber(Integer.parseUnsignedInt(parts[1], 16))
                .setNonce(Long.parseUnsignedLong(parts[2], 16))
                .build();
        }
        catch (final NumberFormatException e)
        {
            throw new IllegalArgumentException("buffer id has non-hex digits: " + text, e);
        }
    }
}
