package org.hyperdmabuf.hv.xen.emu;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

/** Tests on the Xen emulation: a fake xenstored, the emulated hypervisor and domains 1, 2 and 3, per test. */
public abstract class EmulatedXenTestBase
{
    @TempDir
    protected Path dir;

    protected FakeXenstored xenstored;
    protected XenHypervisorEmulator emulator;
    protected EmulatedXenDevices dom1;
    protected EmulatedXenDevices dom2;
    protected EmulatedXenDevices dom3;

    /** gntalloc pages each emulated domain may hold. */
    protected abstract int gntallocLimit();

    @BeforeEach
    void startEmulation() throws Exception
    {
        xenstored = new FakeXenstored(dir.resolve("xs.sock").toString());
        emulator = new XenHypervisorEmulator(dir.resolve("hv.sock").toString(), xenstored, gntallocLimit());
        dom1 = new EmulatedXenDevices(emulator.socketPath(), 1);
        dom2 = new EmulatedXenDevices(emulator.socketPath(), 2);
        dom3 = new EmulatedXenDevices(emulator.socketPath(), 3);
    }

    @AfterEach
    void stopEmulation()
    {
        dom1.close();
        dom2.close();
        dom3.close();
        emulator.close();
        xenstored.close();
    }
}
