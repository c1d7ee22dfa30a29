package org.hyperdmabuf.hv.acrn;

import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.BackendProvider;
import org.hyperdmabuf.hv.spi.HypervisorBackend;

import java.util.Map;

/** ServiceLoader entry for the ACRN backend ({@link AcrnBackendConfig} lists the options). */
public final class AcrnIvshmemBackendProvider implements BackendProvider
{
    public static final String NAME = "acrn-ivshmem";

    @Override
    public String name()
    {
        return NAME;
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

    @Override
    public HypervisorBackend create(final Map<String, String> options) throws BackendException
    {
        return AcrnBackendConfig.parse(options).newBackend();
    }
}
