package org.hyperdmabuf.hv.xen.emu;

import org.hyperdmabuf.hv.conformance.Await;
import org.hyperdmabuf.hv.nativeio.Errno;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.nativeio.Poller;
import org.hyperdmabuf.hv.xen.dev.EventChannelDevice;
import org.hyperdmabuf.hv.xen.dev.GrantAllocDevice;
import org.hyperdmabuf.hv.xen.dev.GrantMapDevice;
import org.hyperdmabuf.hv.xen.store.XenStoreClient;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The emulated grant table and event channels keep Xen's rules, through the same device interfaces the backend
 * uses: real sockets to the emulator, real memfd pages and real eventfds.
 */
class XenHypervisorEmulatorTest extends EmulatedXenTestBase
{
    private static final Duration TIMEOUT = Duration.ofSeconds(10);
    private static final int PAGE = 4096;
    private static final int LIMIT = 16;

    @Override
    protected int gntallocLimit()
    {
        return LIMIT;
    }

    @Test
    void aGrantIsMappableByItsGranteeOnlyAndIsZeroCopy() throws Exception
    {
        try (GrantAllocDevice alloc = dom1.openGrantAlloc(); GrantMapDevice map = dom2.openGrantMap();
             GrantMapDevice wrong = dom3.openGrantMap())
        {
            final int[] refs = new int[2];
            final long index = alloc.allocate(2, 2, true, refs);
            assertTrue(refs[0] >= 8 && refs[1] >= 8, "refs 0-7 are reserved");
            try (MappedMemory exporter = MappedMemory.map(alloc.fd(), index, 2 * PAGE, false))
            {
                assertEquals(0, exporter.buffer().getLong(PAGE), "pages come zeroed");
                final long mindex = map.map(1, refs, 2);
                try (MappedMemory importer = MappedMemory.map(map.fd(), mindex, 2 * PAGE, false))
                {
                    exporter.buffer().putLong(PAGE + 8, 0x1234_5678_9abcL);
                    assertEquals(0x1234_5678_9abcL, importer.buffer().getLong(PAGE + 8));
                    importer.buffer().putInt(0, 42);
                    assertEquals(42, exporter.buffer().getInt(0), "a writable grant is writable");
                }
                assertEquals(Errno.EINVAL, assertThrows(NativeIoException.class, () -> wrong.map(1, refs, 2)).errno(),
                    "dom3 is not the grantee");
                assertEquals(Errno.EINVAL, assertThrows(NativeIoException.class,
                    () -> dom2.openGrantMap().map(1, new int[] {refs[0] + 100}, 1)).errno(), "unknown ref");
            }
        }
    }

    @Test
    void aReadOnlyGrantCannotBeMappedWritable() throws Exception
    {
        try (GrantAllocDevice alloc = dom1.openGrantAlloc(); GrantMapDevice map = dom2.openGrantMap())
        {
            final int[] refs = new int[1];
            final long index = alloc.allocate(2, 1, false, refs);
            try (MappedMemory exporter = MappedMemory.map(alloc.fd(), index, PAGE, false))
            {
                exporter.buffer().putInt(100, 7);
                final long mindex = map.map(1, refs, 1);
                final NativeIoException e = assertThrows(NativeIoException.class,
                    () -> MappedMemory.map(map.fd(), mindex, PAGE, false));
                assertEquals(Errno.EACCES, e.errno());
                try (MappedMemory ro = MappedMemory.map(map.fd(), mindex, PAGE, true))
                {
                    assertEquals(7, ro.buffer().getInt(100));
                }
            }
        }
    }

    @Test
    void endingAccessToAMappedGrantIsDeferredUntilUnmap() throws Exception
    {
        final GrantAllocDevice alloc = dom1.openGrantAlloc();
        final int[] refs = new int[3];
        final long index = alloc.allocate(2, 3, true, refs);
        try (MappedMemory exporter = MappedMemory.map(alloc.fd(), index, 3 * PAGE, false))
        {
            exporter.buffer().putInt(2 * PAGE, 99);
        }
        final GrantMapDevice map = dom2.openGrantMap();
        final long mindex = map.map(1, refs, 3);
        assertEquals(3, emulator.mappedPages(2));
        final MappedMemory importer = MappedMemory.map(map.fd(), mindex, 3 * PAGE, true);
        alloc.close();
        Await.until(() -> emulator.gntallocPagesInUse(1) == 0, TIMEOUT, () -> "the gntalloc pages to be released");
        assertEquals(3, emulator.grantCount(1), "still-mapped grants end later, not now");
        assertEquals(99, importer.buffer().getInt(2 * PAGE), "the mapping stays valid");
        try (GrantMapDevice again = dom2.openGrantMap())
        {
            assertEquals(Errno.EINVAL, assertThrows(NativeIoException.class, () -> again.map(1, refs, 3)).errno(),
                "an ending grant cannot be mapped anew");
        }
        importer.close();
        map.unmap(mindex, 3);
        assertEquals(0, emulator.grantCount(1), "the deferred end completes at unmap");
        assertEquals(0, emulator.mappedPages(2));
        map.close();
    }

    @Test
    void closingAHandleTearsDownItsMapsAndGrants() throws Exception
    {
        final GrantAllocDevice alloc = dom1.openGrantAlloc();
        final int[] refs = new int[4];
        alloc.allocate(2, 4, false, refs);
        final GrantMapDevice map = dom2.openGrantMap();
        map.map(1, new int[] {refs[0], refs[1]}, 2);
        map.map(1, new int[] {refs[2], refs[3]}, 2);
        assertEquals(4, emulator.mappedPages(2));
        map.close(); // no UNMAP: closing the gntdev file drops every map it holds
        Await.until(() -> emulator.mappedPages(2) == 0, TIMEOUT, () -> "the closed file's maps to go");
        assertEquals(4, emulator.grantCount(1), "the grants live while their gntalloc file is open");
        alloc.close(); // unmapped: access ends at once
        Await.until(() -> emulator.grantCount(1) == 0 && emulator.gntallocPagesInUse(1) == 0, TIMEOUT,
            () -> "the closed gntalloc file's grants to end");
        try (GrantMapDevice again = dom2.openGrantMap())
        {
            assertEquals(Errno.EINVAL, assertThrows(NativeIoException.class, () -> again.map(1, refs, 1)).errno(),
                "an ended grant cannot be mapped");
        }
    }

    @Test
    void aDeadMapperReleasesItsPinsAndADeadDomainFiresReleaseDomain() throws Exception
    {
        final List<String> events = new CopyOnWriteArrayList<>();
        try (XenStoreClient xs = XenStoreClient.connectSocket(xenstored.socketPath(), (p, t) -> events.add(p)))
        {
            xs.write(0, "/local/domain/2/data/x", "1");
            xs.watch("@releaseDomain", "rel");
            Await.until(() -> events.contains("@releaseDomain"), TIMEOUT, () -> "initial fire");
            events.clear();

            final GrantAllocDevice alloc = dom1.openGrantAlloc();
            final int[] refs = new int[1];
            alloc.allocate(2, 1, true, refs);
            final GrantMapDevice map = dom2.openGrantMap();
            map.map(1, refs, 1);
            alloc.close();
            assertEquals(1, emulator.grantCount(1));
            dom2.close(); // the domain dies with a mapping (its gntdev file stays open in this process)
            Await.until(() -> emulator.grantCount(1) == 0, TIMEOUT, () -> "the dead mapper's pins to go");
            Await.until(() -> events.contains("@releaseDomain"), TIMEOUT, () -> "@releaseDomain " + events);
            assertNull(xs.readOrNull(0, "/local/domain/2/data/x"), "the toolstack removed the domain's subtree");
            assertTrue(!emulator.isAlive(2));
            assertEquals(Errno.ESRCH, assertThrows(NativeIoException.class, dom2::openGrantMap).errno());
            map.close();
        }
    }

    @Test
    void aDeadGrantersPagesStayAliveInItsMappers() throws Exception
    {
        final GrantAllocDevice alloc = dom1.openGrantAlloc();
        final int[] refs = new int[1];
        final long index = alloc.allocate(2, 1, true, refs);
        try (MappedMemory exporter = MappedMemory.map(alloc.fd(), index, PAGE, false))
        {
            exporter.buffer().putInt(0, 5150);
        }
        final GrantMapDevice map = dom2.openGrantMap();
        final long mindex = map.map(1, refs, 1);
        try (MappedMemory importer = MappedMemory.map(map.fd(), mindex, PAGE, false))
        {
            dom1.close();
            Await.until(() -> !emulator.isAlive(1), TIMEOUT, () -> "dom1 to die");
            assertEquals(1, emulator.grantCount(1), "the zombie's grant is pinned by the mapper");
            assertEquals(5150, importer.buffer().getInt(0));
        }
        map.close();
        Await.until(() -> emulator.grantCount(1) == 0, TIMEOUT, () -> "the zombie's grant to go at unmap");
        alloc.close();
    }

    @Test
    void theGntallocLimitAnswersEnospcAndClaimsNothing() throws Exception
    {
        final GrantAllocDevice a = dom1.openGrantAlloc();
        a.allocate(2, LIMIT - 2, true, new int[LIMIT]);
        try (GrantAllocDevice b = dom1.openGrantAlloc(); GrantAllocDevice other = dom3.openGrantAlloc())
        {
            final NativeIoException e = assertThrows(NativeIoException.class, () -> b.allocate(2, 3, true, new int[3]));
            assertEquals(Errno.ENOSPC, e.errno());
            assertEquals(LIMIT - 2, emulator.gntallocPagesInUse(1), "the failure claims nothing");
            b.allocate(2, 2, true, new int[2]);
            other.allocate(2, LIMIT, true, new int[LIMIT]); // each domain's kernel has its own limit
        }
        a.close();
        Await.until(() -> emulator.gntallocPagesInUse(1) == 0, TIMEOUT, () -> "pages back");
        try (GrantAllocDevice c = dom1.openGrantAlloc())
        {
            c.allocate(2, LIMIT, true, new int[LIMIT]);
        }
    }

    @Test
    void eventChannelsBindNotifyMaskAndClose() throws Exception
    {
        try (EventChannelDevice e1 = dom1.openEventChannel(); EventChannelDevice e2 = dom2.openEventChannel();
             EventChannelDevice e3 = dom3.openEventChannel())
        {
            final int unbound = e1.bindUnboundPort(2);
            assertEquals(Errno.EINVAL, assertThrows(NativeIoException.class,
                () -> e3.bindInterdomain(1, unbound)).errno(), "only the named remote domain may bind");
            final int p2 = e2.bindInterdomain(1, unbound);
            assertEquals(Errno.ENOTCONN, assertThrows(NativeIoException.class, () -> e1.notify(p2 + 1000)).errno());
            final int[] ports = new int[8];
            e2.notify(p2);
            awaitReadable(e1);
            assertEquals(1, e1.readPending(ports));
            assertEquals(unbound, ports[0]);
            e2.notify(p2);
            e2.notify(p2);
            assertEquals(0, e1.readPending(ports), "the port stays masked until unmasked");
            e1.unmask(unbound);
            awaitReadable(e1);
            assertEquals(1, e1.readPending(ports), "one delivery for the notifies while masked");
            e1.unmask(unbound);
            e1.notify(unbound);
            awaitReadable(e2);
            assertEquals(1, e2.readPending(ports));
            assertEquals(p2, ports[0]);
        }
    }

    @Test
    void aDomainIdCanBeLiveOnlyOnce()
    {
        assertEquals(Errno.EEXIST, assertThrows(NativeIoException.class,
            () -> new EmulatedXenDevices(emulator.socketPath(), 1)).errno());
    }

    private static void awaitReadable(final EventChannelDevice device) throws Exception
    {
        final Poller poller = new Poller();
        poller.add(device.fd());
        final long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (poller.poll(100) == 0)
        {
            assertTrue(System.nanoTime() < deadline, "event channel never became readable");
        }
    }
}
