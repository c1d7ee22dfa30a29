package org.hyperdmabuf.hv.spi;

/**
 * What an allocation's client declared at ALLOC about the export to come: the target VM and the access, each
 * possibly undeclared. A backend that must fix grantee and access when it makes the pages (xen: gntalloc grants
 * fresh pages to one domain with fixed access) uses it; backends whose memory any peer can map ignore it.
 *
 * @param targetVm the VM the buffer will be exported to, or {@link #ANY_VM} if undeclared
 * @param access   the access of that export, or {@link Access#UNDECLARED}
 */
public record AllocIntent(int targetVm, Access access)
{
    public static final int ANY_VM = -1;

    /** Nothing declared: the backend's defaults apply. */
    public static final AllocIntent NONE = new AllocIntent(ANY_VM, Access.UNDECLARED);

    public enum Access
    {
        UNDECLARED,
        READ_WRITE,
        READ_ONLY
    }

    public AllocIntent
    {
        if (targetVm < ANY_VM)
        {
            throw new IllegalArgumentException("targetVm " + targetVm);
        }
        if (access == null)
        {
            throw new IllegalArgumentException("access is null");
        }
    }

    public boolean declaresTarget()
    {
        return targetVm != ANY_VM;
    }
}
