package org.hyperdmabuf.daemon.policy;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/** Every problem found in a set of policy files, reported together in file order, then line order. */
final class PolicyProblems
{
    /** An error with the position of its file in the set, for sorting. */
    private record Found(int fileIndex, PolicyError error)
    {
    }

    private final List<Found> found = new ArrayList<>();

    void add(final int fileIndex, final PolicyError error)
    {
        found.add(new Found(fileIndex, error));
    }

    /** @throws PolicyException with every problem added, if there is any */
    void throwIfAny() throws PolicyException
    {
        if (!found.isEmpty())
        {
            found.sort(Comparator.comparingInt(Found::fileIndex).thenComparingInt(f -> f.error().line()));
            throw new PolicyException(found.stream().map(Found::error).toList());
        }
    }
}
