package org.hyperdmabuf.daemon.policy;

import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * One {@code [[share]]} rule: VM {@code from} may share with the VMs in {@code to} (empty = any VM) buffers
 * whose content type matches one of {@code content} (udev-style globs, as in event filters). With
 * {@code readOnly} the importer may only get read-only access. {@code origin} is "file:line" for messages.
 */
public record ShareRule(int from, Set<Integer> to, List<String> content, boolean readOnly, String origin)
{
    /** Immutable copies (read once per policy load), in the order of the file. */
    public ShareRule
    {
        to = Collections.unmodifiableSet(new LinkedHashSet<>(to));
        content = List.copyOf(content);
    }

    public boolean coversPair(final int exporterVm, final int importerVm)
    {
        return from == exporterVm && (to.isEmpty() || to.contains(importerVm));
    }
}
