package org.hyperdmabuf.daemon;

import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.daemon.policy.Policy;

/**
 * The checks an export passes on both sides (ABI.md "EXPORT"): in the exporter's daemon before it announces
 * the export, and again in the importer's daemon when the announcement arrives, since that daemon trusts only
 * its own policy. The export's length, its access, its metadata (ABI limits, then the policy's
 * {@code max_metadata}), the pair of VMs and then the policy's share rules, in this order; the first that fails
 * is the error (EINVAL, or EACCES for the share rules).
 */
public final class ExportValidation
{
    /** Which daemon checks: the wording of its errors (to its own client, or to the exporter in a reject). */
    public enum Side
    {
        EXPORTER, IMPORTER
    }

    private ExportValidation()
    {
    }

    /**
     * @param accessValue the access as sent on the wire, named in the error when it is not a known value
     * @throws ApiException the first check that fails
     */
    public static void check(final Side side, final Policy policy, final int exporterVm, final int importerVm,
        final long length, final Access access, final int accessValue, final Metadata metadata) throws ApiException
    {
        if (length <= 0)
        {
            throw new ApiException(ErrorCode.EINVAL, "length must be positive");
        }
        if (access == Access.UNRECOGNIZED)
        {
            throw new ApiException(ErrorCode.EINVAL, side == Side.EXPORTER ? "access=" + accessValue +
                " is not a known Access value" : "unknown access value " + accessValue);
        }
        MetadataValidator.validate(metadata, length);
        final int encoded = metadata.getSerializedSize();
        if (encoded > policy.maxMetadataBytes())
        {
            throw new ApiException(ErrorCode.EINVAL, side == Side.EXPORTER ? "metadata is " + encoded +
                " bytes encoded; the policy allows " + policy.maxMetadataBytes() :
                "metadata above this VM's policy limit of " + policy.maxMetadataBytes() + " bytes");
        }
        if (exporterVm == importerVm)
        {
            throw new ApiException(ErrorCode.EINVAL, "target VM " + importerVm + " is this VM");
        }
        final Policy.Decision decision = policy.checkShare(exporterVm, importerVm, metadata.getContentType(),
            access == Access.ACCESS_READ_ONLY);
        if (!decision.allowed())
        {
            throw new ApiException(ErrorCode.EACCES, decision.denial());
        }
    }
}
