package org.hyperdmabuf.daemon.policy;

import java.util.List;
import java.util.stream.Collectors;

/** A policy that could not be loaded; every error found, each with file and line. */
public final class PolicyException extends Exception
{
    private static final long serialVersionUID = 1L;

    private final transient List<PolicyError> errors;

    public PolicyException(final List<PolicyError> errors)
    {
        super(errors.stream().map(PolicyError::toString).collect(Collectors.joining("\n")));
        this.errors = List.copyOf(errors);
    }

    public List<PolicyError> errors()
    {
        return errors;
    }
}
