package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.BackendProvider;
import org.hyperdmabuf.hv.spi.HypervisorBackend;

import java.util.Map;

/** ServiceLoader entry for {@link IvshmemBackend}: runs wherever the native layer (memfd, eventfd) loads. */
public final class IvshmemBackendProvider implements BackendProvider
{
    @Override
    public String name()
    {
        return IvshmemBackend.NAME;
    }

    @Override
    public boolean isAvailable()
    {
        return Native.isAvailable();
    }

    @Override
    public String unavailabilityCause()
    {
        final Throwable cause = Native.unavailabilityCause();
        return cause == null ? null : "native layer unavailable: " + cause;
    }

    /** See {@link IvshmemBackend} for the options. */
    @Override
    public HypervisorBackend create(final Map<String, String> options) throws BackendException
    {
        return new IvshmemBackend(options);
    }
}
