package org.hyperdmabuf.daemon;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.UEvent;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.AudioInfo;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.ImageInfo;
import org.hyperdmabuf.abi.v1.Metadata;

import java.util.Locale;
import java.util.Map;

/**
 * The properties of a buffer event (ABI.md "Events"). add, change and remove carry the same buffer
 * properties, so a subscriber's filter that matched the add also matches the remove.
 */
public final class BufferEvents
{
    public static final String ADD = "add";
    public static final String CHANGE = "change";
    public static final String REMOVE = "remove";

    private BufferEvents()
    {
    }

    public static UEvent.Builder builder(final EventHub hub, final String action, final BufferId id, final int importerVm,
        final long length, final Access access, final Metadata m, final int revision, final String reason)
    {
        final String idText = BufferIds.format(id);
        final UEvent.Builder e = hub.newEvent(action, DaemonContext.devpath(id.getExporterVm(), idText))
            .put("BUFFER", idText)
            .put("EXPORTER", id.getExporterVm())
            .put("IMPORTER", importerVm)
            .put("SIZE", length)
            .put("ACCESS", access == Access.ACCESS_READ_ONLY ? "ro" : "rw")
            .put("REVISION", revision)
            .put("CONTENT_TYPE", m.getContentType())
            .put("CONTENT_SIZE", m.getSize());
        if (m.getPrivateData().size() > 0)
        {
            e.put("PRIVATE_SIZE", m.getPrivateData().size());
        }
        if (m.hasImage())
        {
            final ImageInfo img = m.getImage();
            e.put("IMAGE_WIDTH", Integer.toUnsignedLong(img.getWidth()))
                .put("IMAGE_HEIGHT", Integer.toUnsignedLong(img.getHeight()))
                .put("IMAGE_FOURCC", fourcc(img.getFourcc()))
                .put("IMAGE_MODIFIER", "0x" + Long.toHexString(img.getModifier()))
                .put("IMAGE_PLANES", img.getPlanesCount());
        }
        if (m.hasAudio())
        {
            final AudioInfo a = m.getAudio();
            e.put("AUDIO_RATE", Integer.toUnsignedLong(a.getRate()))
                .put("AUDIO_CHANNELS", Integer.toUnsignedLong(a.getChannels()))
                .put("AUDIO_FORMAT", a.getSampleFormat())
                .put("AUDIO_FRAMES", Integer.toUnsignedLong(a.getFrames()));
        }
        for (final Map.Entry<String, String> tag : new java.util.TreeMap<>(m.getTagsMap()).entrySet())
        {
            e.put(tagKey(tag.getKey()), tag.getValue());
        }
        if (reason != null)
        {
            e.put("REASON", reason);
        }
        return e;
    }

    private static final java.util.regex.Pattern NOT_KEY_CHAR = java.util.regex.Pattern.compile("[^A-Z0-9_]");

    /** Tag "color.space" becomes property TAG_COLOR_SPACE. */
    public static String tagKey(final String tag)
    {
        return "TAG_" + NOT_KEY_CHAR.matcher(tag.toUpperCase(Locale.ROOT)).replaceAll("_");
    }

    static String fourcc(final int code)
    {
        final StringBuilder s = new StringBuilder(4);
        for (int i = 0; i < 4; i++)
        {
            final char c = (char)((code >>> (8 * i)) & 0xff);
            if (c < 0x20 || c > 0x7e)
            {
                return "0x" + Integer.toHexString(code);
            }
            s.append(c);
        }
        return s.toString();
    }
}
