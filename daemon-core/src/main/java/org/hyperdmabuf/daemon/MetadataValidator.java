package org.hyperdmabuf.daemon;

import org.hyperdmabuf.abi.Limits;
import org.hyperdmabuf.abi.v1.AudioInfo;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.ImageInfo;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.abi.v1.Plane;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Checks metadata against the ABI limits and the buffer it describes. Everything oversize or inconsistent
 * is rejected with EINVAL naming the field; nothing is ever truncated. Used by the sink on EXPORT and again
 * by the source on every export message from another VM.
 */
public final class MetadataValidator
{
    private static final Pattern TAG_KEY = Pattern.compile("[A-Za-z0-9_.-]{1," + Limits.MAX_TAG_KEY_BYTES + "}");

    private MetadataValidator()
    {
    }

    /** Validates {@code m} for a buffer of {@code bufferLength} bytes. */
    public static void validate(final Metadata m, final long bufferLength) throws ApiException
    {
        final int encoded = m.getSerializedSize();
        if (encoded > Limits.MAX_METADATA_BYTES)
        {
            throw invalid("metadata is " + encoded + " bytes encoded, limit " + Limits.MAX_METADATA_BYTES);
        }
        if (Integer.toUnsignedLong(m.getVersion()) > 1)
        {
            throw invalid("metadata.version=" + Integer.toUnsignedString(m.getVersion()) + " not supported (max 1)");
        }
        final String ct = m.getContentType();
        if (ct.getBytes(StandardCharsets.UTF_8).length > Limits.MAX_CONTENT_TYPE_BYTES)
        {
            throw invalid("content_type longer than " + Limits.MAX_CONTENT_TYPE_BYTES + " bytes");
        }
        if (!ct.chars().allMatch(c -> c >= 0x20 && c < 0x7f))
        {
            throw invalid("content_type must be printable ASCII (0x20-0x7e)");
        }
        if (Long.compareUnsigned(m.getSize(), bufferLength) > 0)
        {
            throw invalid("metadata.size=" + Long.toUnsignedString(m.getSize()) + " exceeds the buffer length " + bufferLength);
        }
        if (m.getPrivateData().size() > Limits.MAX_PRIVATE_BYTES)
        {
            throw invalid("private_data is " + m.getPrivateData().size() + " bytes, limit " + Limits.MAX_PRIVATE_BYTES);
        }
        if (m.getTagsCount() > Limits.MAX_TAGS)
        {
            throw invalid(m.getTagsCount() + " tags, limit " + Limits.MAX_TAGS);
        }
        for (final Map.Entry<String, String> tag : m.getTagsMap().entrySet())
        {
            if (!TAG_KEY.matcher(tag.getKey()).matches())
            {
                throw invalid("tag key '" + tag.getKey() + "' must match [A-Za-z0-9_.-]{1,64}");
            }
            final String value = tag.getValue();
            if (value.getBytes(StandardCharsets.UTF_8).length > Limits.MAX_TAG_VALUE_BYTES)
            {
                throw invalid("tag '" + tag.getKey() + "' value longer than " + Limits.MAX_TAG_VALUE_BYTES + " bytes");
            }
            if (value.indexOf('\0') >= 0 || value.indexOf('\n') >= 0)
            {
                throw invalid("tag '" + tag.getKey() + "' value contains NUL or newline");
            }
        }
        if (m.hasImage())
        {
            validateImage(m.getImage(), bufferLength);
        }
        if (m.hasAudio())
        {
            validateAudio(m.getAudio());
        }
    }

    private static void validateImage(final ImageInfo image, final long bufferLength) throws ApiException
    {
        if (image.getWidth() == 0 || image.getHeight() == 0)
        {
            throw invalid("image width and height must be > 0");
        }
        if (image.getPlanesCount() > Limits.MAX_PLANES)
        {
            throw invalid(image.getPlanesCount() + " image planes, limit " + Limits.MAX_PLANES);
        }
        final long height = Integer.toUnsignedLong(image.getHeight());
        for (int i = 0; i < image.getPlanesCount(); i++)
        {
            final Plane p = image.getPlanes(i);
            final long stride = Integer.toUnsignedLong(p.getStride());
            if (stride == 0)
            {
                throw invalid("image plane " + i + " stride must be > 0");
            }
            // offset + stride * height <= bufferLength, arranged so nothing can overflow a signed long.
            final long offset = p.getOffset();
            if (offset < 0 || offset > bufferLength || stride > (bufferLength - offset) / height)
            {
                throw invalid("image plane " + i + " (offset " + p.getOffset() + ", stride " + stride + ", height " +
                    height + ") extends past the buffer length " + bufferLength);
            }
        }
    }

    private static void validateAudio(final AudioInfo audio) throws ApiException
    {
        if (audio.getRate() == 0 || audio.getChannels() == 0)
        {
            throw invalid("audio rate and channels must be > 0");
        }
        if (audio.getSampleFormat().length() > 32)
        {
            throw invalid("audio sample_format longer than 32 characters");
        }
    }

    private static ApiException invalid(final String message)
    {
        return new ApiException(ErrorCode.EINVAL, message);
    }
}
