package org.hyperdmabuf.daemon.policy;

import java.nio.file.Path;

/** One problem in a policy file, with where it is: printed as {@code file:line: message}. */
public record PolicyError(Path file, int line, String message)
{
    @Override
    public String toString()
    {
        return file + ":" + line + ": " + message;
    }
}
