package org.hyperdmabuf.daemon.policy;

import org.hyperdmabuf.abi.Limits;
import org.tomlj.TomlTable;

import java.util.List;

import static org.hyperdmabuf.daemon.policy.PolicyFile.line;
import static org.hyperdmabuf.daemon.policy.TomlText.typeOf;

/** The {@code [limits]} table of a policy file set: {@code max_metadata}, within the ABI's ceiling. */
final class LimitsParser
{
    private static final List<String> LIMITS_KEYS = List.of("max_metadata");

    private Defined<Integer> maxMetadata;

    /** The metadata limit set, or the ABI's ceiling. */
    int maxMetadata()
    {
        return maxMetadata == null ? Limits.MAX_METADATA_BYTES : maxMetadata.value();
    }

    /** Reads the value of a top-level {@code limits} key of {@code file}. */
    void read(final PolicyFile file, final Object value, final int line)
    {
        if (!(value instanceof TomlTable limits))
        {
            file.error(line, "limits must be a table ([limits]), not " + typeOf(value));
            return;
        }
        file.unknownKeys(limits, LIMITS_KEYS, "[limits]");
        final Object max = limits.get(List.of("max_metadata"));
        if (max == null)
        {
            return;
        }
        final int maxLine = line(limits, "max_metadata");
        if (!(max instanceof Long l))
        {
            file.error(maxLine, "max_metadata must be an integer (bytes), not " + typeOf(max));
            return;
        }
        if (l > Limits.MAX_METADATA_BYTES)
        {
            file.error(maxLine, "max_metadata " + l + " is above the ABI ceiling of " + Limits.MAX_METADATA_BYTES +
                " bytes");
            return;
        }
        if (l < PolicyLoader.MIN_METADATA_BYTES)
        {
            file.error(maxLine, "max_metadata " + l + " is below the minimum of " + PolicyLoader.MIN_METADATA_BYTES +
                " bytes");
            return;
        }
        if (maxMetadata != null && maxMetadata.value() != l.intValue())
        {
            file.error(maxLine, "max_metadata defined twice differently: " + l + " here, " + maxMetadata.value() +
                " at " + maxMetadata.place());
        }
        else if (maxMetadata == null)
        {
            maxMetadata = new Defined<>(l.intValue(), file.place(maxLine));
        }
    }
}
