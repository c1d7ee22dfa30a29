package org.hyperdmabuf.hv.xen.store;

import org.hyperdmabuf.hv.conformance.Await;
import org.hyperdmabuf.hv.xen.emu.FakeXenstored;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Node permissions of the fake xenstored as xenstored enforces them, seen by domain connections (the emulated
 * {@code /dev/xen/xenbus}) through the real client: owner and per-domain entries, inheritance at creation,
 * SET_PERMS for the owner only, watch events only for readable nodes, and entries for domains younger than
 * the node ignored (XSA-322) or gone with their domain.
 */
class XenStorePermissionsTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    private FakeXenstored xenstored;
    private XenStoreClient dom1;
    private XenStoreClient dom2;
    private final List<String> dom2Events = new CopyOnWriteArrayList<>();

    @BeforeEach
    void start() throws Exception
    {
        xenstored = new FakeXenstored(dir.resolve("xs.sock").toString());
        xenstored.introduceDomain(1);
        xenstored.introduceDomain(2);
        dom1 = XenStoreClient.over(FakeXenstored.connectAsDomain(xenstored.socketPath(), 1), null, "dom1");
        dom2 = XenStoreClient.over(FakeXenstored.connectAsDomain(xenstored.socketPath(), 2),
            (path, token) -> dom2Events.add(path), "dom2");
    }

    @AfterEach
    void stop()
    {
        dom1.close();
        dom2.close();
        xenstored.close();
    }

    private static String error(final XenStoreCall call)
    {
        return assertThrows(XenStoreException.class, call::run).error();
    }

    private interface XenStoreCall
    {
        void run() throws Exception;
    }

    @Test
    void aDomainReadsAndWritesOnlyWhatItsPermissionsAllow() throws Exception
    {
        assertEquals("1", dom1.read(0, "domid"), "relative paths resolve in the caller's own domain");
        assertEquals(List.of("n0", "r1"), dom1.permissions("/local/domain/1"));
        assertEquals("EACCES", error(() -> dom1.write(0, "/local/domain/1/name", "x")), "home is read-only to it");
        assertEquals("EACCES", error(() -> dom1.write(0, "/local/domain/2/data/x", "1")), "another's data");
        assertEquals("EACCES", error(() -> dom1.read(0, "/local/domain/2/domid")), "another's home");
        dom1.write(0, "/local/domain/1/data/x/early", "1");
        assertEquals(List.of("n1"), dom1.permissions("/local/domain/1/data/x/early"), "inherited, owned by dom1");
        assertEquals("EACCES", error(() -> dom2.read(0, "/local/domain/1/data/x/early")));
        assertEquals("EACCES", error(() -> dom2.directory(0, "/local/domain/1/data/x")));
        dom1.setPermissions(0, "/local/domain/1/data/x", "n1", "r2");
        assertEquals("", dom2.read(0, "/local/domain/1/data/x"));
        assertEquals("EACCES", error(() -> dom2.read(0, "/local/domain/1/data/x/early")),
            "a node keeps the list it was created with");
        dom1.write(0, "/local/domain/1/data/x/late", "2");
        assertEquals("2", dom2.read(0, "/local/domain/1/data/x/late"), "a new child inherits r2");
        assertEquals("EACCES", error(() -> dom2.write(0, "/local/domain/1/data/x/late", "3")), "read-only");
        assertEquals("EACCES", error(() -> dom2.rm(0, "/local/domain/1/data/x")));
        assertEquals("EACCES", error(() -> dom2.setPermissions(0, "/local/domain/1/data/x", "b2")), "not the owner");
        assertEquals("EPERM", error(() -> dom1.setPermissions(0, "/local/domain/1/data/x", "n2")),
            "an unprivileged owner cannot give a node away");
        assertEquals("2", dom1.read(0, "/local/domain/1/data/x/late"), "refused requests changed nothing");
        dom1.rm(0, "/local/domain/1/data/x");
        assertEquals("ENOENT", error(() -> dom2.read(0, "/local/domain/1/data/x")));
    }

    @Test
    void watchEventsReachOnlyDomainsThatMayReadTheNode() throws Exception
    {
        dom1.mkdir(0, "/local/domain/1/data/w");
        dom1.setPermissions(0, "/local/domain/1/data/w", "n1", "r2");
        dom2.watch("/local/domain/1/data/w", "w");
        Await.until(() -> dom2Events.contains("/local/domain/1/data/w"), TIMEOUT, () -> "initial fire " + dom2Events);
        dom2Events.clear();
        dom1.inTransaction(tx ->
        {
            // Created with its own list in one commit: never readable by dom2, so never reported to it.
            dom1.mkdir(tx, "/local/domain/1/data/w/secret");
            dom1.setPermissions(tx, "/local/domain/1/data/w/secret", "n1");
            dom1.write(tx, "/local/domain/1/data/w/secret", "s");
        });
        dom1.write(0, "/local/domain/1/data/w/public", "p");
        Await.until(() -> dom2Events.contains("/local/domain/1/data/w/public"), TIMEOUT, () -> "event " + dom2Events);
        // The watched node itself may fire once more: dom1's own mkdir/setPermissions above can reach the watch
        // after its initial fire (xenstored fires after it answers). What matters: nothing of the secret node.
        assertEquals(List.of("/local/domain/1/data/w/public"), dom2Events.stream()
            .filter(e -> !e.equals("/local/domain/1/data/w")).toList(),
            "events are in order, and none for the node dom2 cannot read: " + dom2Events);
    }

    @Test
    void theSocketIsPrivilegedAndADeclarationComesFirstOnly() throws Exception
    {
        try (XenStoreClient dom0 = XenStoreClient.connectSocket(xenstored.socketPath(), null))
        {
            dom1.write(0, "/local/domain/1/data/private", "p");
            assertEquals("p", dom0.read(0, "/local/domain/1/data/private"), "dom0 reads everything");
            dom0.write(0, "/local/domain/1/name", "guest");
            assertEquals("guest", dom1.read(0, "/local/domain/1/name"), "inherits n0 r1 from the home node");
        }
    }

    @Test
    void anEntryForADomainThatDidNotExistWhenTheNodeWasWrittenIsIgnoredUntilSetPermsRenewsIt() throws Exception
    {
        dom1.inTransaction(tx ->
        {
            dom1.mkdir(tx, "/local/domain/1/data/y");
            dom1.setPermissions(tx, "/local/domain/1/data/y", "n1", "r2", "r3");
            dom1.write(tx, "/local/domain/1/data/y/session", "s1");
        });
        assertEquals(List.of("n1", "r2"), dom1.permissions("/local/domain/1/data/y/session"),
            "dom3 does not exist: its entry is ignored, and not shown");
        xenstored.introduceDomain(3);
        try (XenStoreClient dom3 = XenStoreClient.over(FakeXenstored.connectAsDomain(xenstored.socketPath(), 3),
                 null, "dom3"))
        {
            assertEquals("s1", dom2.read(0, "/local/domain/1/data/y/session"));
            assertEquals("EACCES", error(() -> dom3.read(0, "/local/domain/1/data/y/session")),
                "an entry written before its domain existed stays ignored");
            dom1.write(0, "/local/domain/1/data/y/session", "s2");
            assertEquals("EACCES", error(() -> dom3.read(0, "/local/domain/1/data/y/session")),
                "a later write of the value does not revive it");
            dom1.setPermissions(0, "/local/domain/1/data/y/session", "n1", "r2", "r3");
            assertEquals("s2", dom3.read(0, "/local/domain/1/data/y/session"), "SET_PERMS renews it");
        }
        xenstored.releaseDomain(2);
        assertEquals(List.of("n1", "r3"), dom1.permissions("/local/domain/1/data/y/session"),
            "a released domain's entries leave the list");
        xenstored.introduceDomain(2);
        assertEquals("EACCES", error(() -> dom2.read(0, "/local/domain/1/data/y/session")),
            "a new domain under that domid inherits nothing");
    }
}
