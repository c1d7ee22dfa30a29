package org.hyperdmabuf.hv.spi;

/** Shareable memory allocated by a backend: {@code length} bytes at {@code offset} of the backend's memory. */
public record BackendBuffer(long offset, long length)
{
}
