package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.BackendProvider;
import org.hyperdmabuf.hv.spi.HypervisorBackend;

import java.util.Map;

/** ServiceLoader entry for {@link IvshmemHostBackend}: runs wherever the native layer (memfd, eventfd) loads. */
public final class IvshmemBackendProvider implements BackendProvider
{
    @Override
    public String name()
    {
        return IvshmemHostBackend.NAME;
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

    /** See {@link IvshmemHostBackend} for the options. */
    @Override
    public HypervisorBackend create(final Map<String, String> options) throws BackendException
    {
        return new IvshmemHostBackend(options);
    }
}
