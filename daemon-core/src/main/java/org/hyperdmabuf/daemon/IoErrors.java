package org.hyperdmabuf.daemon;

import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.util.Map;

/**
 * What went wrong with a file, in words for a user: java.nio's file exceptions carry only the path as their
 * message ("/x" for a missing /x), which reads like no error at all.
 */
public final class IoErrors
{
    /** Reasons by exception type (no type is a subtype of another, so the order does not matter). */
    private static final Map<Class<? extends FileSystemException>, String> REASONS = Map.of(
        NoSuchFileException.class, "no such file",
        AccessDeniedException.class, "permission denied",
        FileAlreadyExistsException.class, "exists (and is not a directory)",
        NotDirectoryException.class, "not a directory",
        DirectoryNotEmptyException.class, "directory not empty");

    private IoErrors()
    {
    }

    /** The reason alone, e.g. "no such file"; the message of other exceptions. */
    public static String reason(final Throwable e)
    {
        for (final Map.Entry<Class<? extends FileSystemException>, String> r : REASONS.entrySet())
        {
            if (r.getKey().isInstance(e))
            {
                return r.getValue();
            }
        }
        if (e instanceof FileSystemException f && f.getReason() != null)
        {
            return f.getReason();
        }
        return e.getMessage() == null ? e.toString() : e.getMessage();
    }

    /** "FILE: reason" for a file exception (its own file, else the other one it names); else {@link #reason}. */
    public static String describe(final Throwable e)
    {
        if (e instanceof FileSystemException f && (f.getFile() != null || f.getOtherFile() != null))
        {
            return (f.getFile() != null ? f.getFile() : f.getOtherFile()) + ": " + reason(e);
        }
        return reason(e);
    }
}
