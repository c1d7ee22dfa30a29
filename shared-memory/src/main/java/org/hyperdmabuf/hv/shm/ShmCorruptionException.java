package org.hyperdmabuf.hv.shm;

/**
 * Shared memory written by another VM failed validation (an index, length or header field out of range).
 * The reader stops using that structure and reports the peer; it never acts on the bad value.
 */
public final class ShmCorruptionException extends Exception
{
    private static final long serialVersionUID = 1L;

    public ShmCorruptionException(final String message)
    {
        super(message);
    }
}
