/**
 * ivshmem PCI devices seen from inside a guest, through sysfs only (no driver of ours): find them
 * ({@link org.hyperdmabuf.hv.pci.IvshmemPciScanner}, {@link org.hyperdmabuf.hv.pci.IvshmemDeviceSelector}),
 * open them ({@link org.hyperdmabuf.hv.pci.IvshmemDeviceHandle}: BAR2 shared memory, BAR0 registers) and
 * drive their registers ({@link org.hyperdmabuf.hv.pci.IvshmemRegisters}: IVPosition, Doorbell). Used by the KVM
 * backend's guest mode and the ACRN backend. Receiving doorbells needs MSI-X, which sysfs cannot deliver: on a
 * device bound to vfio-pci {@link org.hyperdmabuf.hv.pci.IvshmemInterrupts} arms it with eventfds; otherwise
 * callers poll shared memory with {@link org.hyperdmabuf.hv.shm.BackoffIdleStrategy}.
 */
package org.hyperdmabuf.hv.pci;
