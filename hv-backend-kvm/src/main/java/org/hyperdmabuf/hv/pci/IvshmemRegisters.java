package org.hyperdmabuf.hv.pci;

import edu.umd.cs.findbugs.annotations.SuppressFBWarnings;
import org.hyperdmabuf.hv.shm.MemoryWindow;

/**
 * The ivshmem BAR0 registers (QEMU {@code docs/specs/ivshmem-spec.rst}; ACRN hv-land uses the same layout),
 * read and written as single 32-bit accesses: MMIO registers must not be touched with wider or split
 * accesses.
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |          IntrMask (RW, revision-0 INTx only)                  |  0x00
 *  +---------------------------------------------------------------+
 *  |          IntrStatus (RW, revision-0 INTx only, read clears)   |  0x04
 *  +---------------------------------------------------------------+
 *  |          IVPosition (RO): own peer id (ACRN: VM id)           |  0x08
 *  +-------------------------------+-------------------------------+
 *  |  Doorbell (WO): target peer   |        vector                 |  0x0C
 *  +-------------------------------+-------------------------------+
 *  |                reserved to 0x100                              |
 * </pre>
 * IVPosition reads 0 on a device without interrupts ({@code ivshmem-plain}), where "0 could be either", so
 * callers must not take it as an identity there. QEMU honours only the low 8 bits of the vector and drops
 * doorbells to unconnected peers or vectors silently.
 */
public final class IvshmemRegisters
{
    public static final int INTR_MASK_OFFSET = 0x00;
    public static final int INTR_STATUS_OFFSET = 0x04;
    public static final int IV_POSITION_OFFSET = 0x08;
    public static final int DOORBELL_OFFSET = 0x0C;
    /** BAR0 size. */
    public static final int LENGTH = 0x100;
    /** Largest peer id a doorbell can address (16 bits). */
    public static final int MAX_PEER_ID = 0xFFFF;
    /** Largest vector QEMU honours ({@code val & 0xff}); ACRN has 8 vectors. */
    public static final int MAX_VECTOR = 0xFF;

    private final MemoryWindow bar0;

    /** {@code bar0} must cover at least {@link #IV_POSITION_OFFSET} to {@link #DOORBELL_OFFSET} + 4. */
    @SuppressFBWarnings(value = "EI_EXPOSE_REP2",
        justification = "a view of the caller's BAR0 mapping: the registers are the device's, not a copy")
    public IvshmemRegisters(final MemoryWindow bar0)
    {
        if (bar0.capacity() < DOORBELL_OFFSET + 4)
        {
            throw new IllegalArgumentException("BAR0 window of " + bar0.capacity() + " bytes is too small");
        }
        this.bar0 = bar0;
    }

    public int intrMask()
    {
        return bar0.getIntVolatile(INTR_MASK_OFFSET);
    }

    public void intrMask(final int mask)
    {
        bar0.putIntVolatile(INTR_MASK_OFFSET, mask);
    }

    /** Reading clears the status on a real device. */
    public int intrStatus()
    {
        return bar0.getIntVolatile(INTR_STATUS_OFFSET);
    }

    /** The own peer id given by the ivshmem server (KVM) or the VM id (ACRN hv-land). */
    public int ivPosition()
    {
        return bar0.getIntVolatile(IV_POSITION_OFFSET);
    }

    /** Rings {@code vector} of {@code peer}: one 32-bit store of {@link #doorbellValue}. */
    public void ringDoorbell(final int peer, final int vector)
    {
        bar0.putIntVolatile(DOORBELL_OFFSET, doorbellValue(peer, vector));
    }

    /** {@code (peer << 16) | vector}, with both checked against what the device honours. */
    public static int doorbellValue(final int peer, final int vector)
    {
        if (peer < 0 || peer > MAX_PEER_ID)
        {
            throw new IllegalArgumentException("doorbell peer " + peer + " outside [0, " + MAX_PEER_ID + "]");
        }
        if (vector < 0 || vector > MAX_VECTOR)
        {
            throw new IllegalArgumentException("doorbell vector " + vector + " outside [0, " + MAX_VECTOR + "]");
        }
        return peer << 16 | vector;
    }
}
