package org.hyperdmabuf.hv.spi;

import org.hyperdmabuf.abi.v1.ErrorCode;
import java.util.Map;
import java.util.ServiceLoader;

/**
 * Discovered with {@link ServiceLoader}: daemons pick a backend by name from configuration, or the first
 * available one, so applications never need to know which hypervisor they run on.
 */
public interface BackendProvider
{
    String name();

    /** Whether this backend can run here (device nodes present, native layer loaded...). */
    boolean isAvailable();

    /** Why it cannot, when {@link #isAvailable()} is false. */
    String unavailabilityCause();

    /** Creates an unstarted backend from string options (documented per backend). */
    HypervisorBackend create(Map<String, String> options) throws BackendException;

    /** The provider named {@code name}, or the first available one when {@code name} is null. */
    static BackendProvider find(final String name) throws BackendException
    {
        final StringBuilder seen = new StringBuilder();
        for (final BackendProvider provider : ServiceLoader.load(BackendProvider.class))
        {
            seen.append(' ').append(provider.name());
            if (name == null ? provider.isAvailable() : provider.name().equals(name))
            {
                return provider;
            }
        }
        throw new BackendException(ErrorCode.ENOTSUP,
            "no backend " + (name == null ? "available" : "named '" + name + "'") +
            "; installed:" + seen);
    }
}
