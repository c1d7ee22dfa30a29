package org.hyperdmabuf.sink;

import org.hyperdmabuf.abi.v1.BufferId;

import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;

/** The ids of this VM's exports (ABI.md "Buffer ids"): this VM, a counter and an unpredictable nonce. */
final class ExportIds
{
    /**
     * Export nonces (64 unpredictable bits each). DRBG (NIST SP 800-90A) is seeded once from the OS; the default
     * NativePRNG read /dev/urandom on every export, a syscall on the EXPORT path. Made at the first export, not with
     * the sink: the JDK sets up its security providers first, about 20 ms of a daemon's start-up to READY.
     */
    private SecureRandom random;
    private int exportCounter;

    private static SecureRandom nonces()
    {
        try
        {
            return SecureRandom.getInstance("DRBG");
        }
        catch (final NoSuchAlgorithmException e)
        {
            return new SecureRandom();
        }
    }

    /** The id of the next export of VM {@code localVm}. */
    BufferId next(final int localVm)
    {
        if (random == null)
        {
            random = nonces();
        }
        return BufferId.newBuilder().setExporterVm(localVm).setExportNumber(++exportCounter)
            .setNonce(random.nextLong()).build();
    }
}
