/*
 * What the ACRN backend takes from <linux/acrn.h> (the HSM uapi): nothing. /dev/acrn_hsm belongs to acrn-dm,
 * which creates hv-land ivshmem devices with ACRN_IOCTL_CREATE_VDEV; the daemon only sees the resulting PCI
 * device. The ivshmem facts the backend mirrors (2-512 MiB power-of-two sizes, at most 8 hv-land regions,
 * region ids 0x1000-0xffff under subsystem vendor 0x8086, 8 doorbell vectors, {u16 vector; u16 peer}) live in
 * the hypervisor's and acrn-dm's sources, not in this header; AcrnUapiHeaderTest checks that the header still
 * defines none of them. This program proves the header is present and compiles, and prints the ioctl type and
 * the CREATE_VDEV request the README names as acrn-dm's. The header uses _IOW without including
 * <linux/ioctl.h>, so that comes first.
 */
#include <linux/ioctl.h>
#include <linux/acrn.h>
#include <stdio.h>

int main(void)
{
    printf("ACRN_IOCTL_TYPE=0x%x\n", (unsigned)ACRN_IOCTL_TYPE);
    printf("ACRN_IOCTL_CREATE_VDEV=0x%lx\n", (unsigned long)ACRN_IOCTL_CREATE_VDEV);
    return 0;
}
