package org.hyperdmabuf.hv.spi;

/**
 * An optional part of a {@link HypervisorBackend}: an interface the backend implements when it supports that
 * part, found with {@link HypervisorBackend#capability(Class)}. A caller looks a capability up once, when it is
 * built, and takes its fallback path (the capability's {@code of} method answers one) for a backend without it.
 */
public interface BackendCapability
{
}
