package org.hyperdmabuf.cli;

import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.BufferInfo;
import org.hyperdmabuf.abi.v1.BufferList;
import org.hyperdmabuf.abi.v1.Caps;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code --json} output and the journal's priority prefixes. */
class MachineOutputTest
{
    @Test
    void protobufMessagesUseProtoFieldNamesWithDefaultsAndIdsAsText()
    {
        assertEquals("{\"backend\":\"xen\",\"local_vm\":3,\"page_size\":0,\"max_buffer_size\":0," +
            "\"read_only_enforcement\":\"\",\"isolation\":\"\",\"guest_to_guest\":false,\"doorbell\":false," +
            "\"max_metadata_bytes\":0,\"max_private_bytes\":0,\"roles\":[\"sink\",\"source\"],\"pool_bytes\":0," +
            "\"pool_free_bytes\":-1,\"abi_version\":0,\"notification\":\"\",\"dma_buf\":false," +
            "\"dma_buf_unavailable\":\"\"}",
            Json.of(Caps.newBuilder().setBackend("xen").setLocalVm(3).addRoles("sink").addRoles("source")
                .setPoolFreeBytes(-1).build()));
        final String list = Json.of(BufferList.newBuilder().addBuffers(BufferInfo.newBuilder()
            .setId(BufferId.newBuilder().setExporterVm(1).setExportNumber(2).setNonce(3)).setState("a\"b\n")).build());
        assertTrue(list.startsWith("{\"buffers\":[{\"id\":\"00000001-00000002-0000000000000003\","), list);
        assertTrue(list.contains("\"state\":\"a\\\"b\\n\""), list);
    }

    @Test
    void mapsListsAndNulls()
    {
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("a", List.of(1, 2L, true));
        m.put("b", null);
        m.put("c\u0001", Map.of("k", 1.5));
        assertEquals("{\"a\":[1,2,true],\"b\":null,\"c\\u0001\":{\"k\":1.5}}", Json.of(m));
    }

    @Test
    void policyCheckJsonListsEveryErrorWithItsLine(@TempDir final Path dir) throws Exception
    {
        final Path bad = dir.resolve("bad.toml");
        Files.writeString(bad, "bogus = 1\n[vms]\nivi = 2\n");
        final StringWriter out = new StringWriter();
        final var cl = Hdmabuf.commandLine();
        cl.setOut(new PrintWriter(out));
        assertEquals(1, cl.execute("policy", "check", "--json", bad.toString()));
        final String json = out.toString().trim();
        assertTrue(json.startsWith("{\"ok\":false,\"errors\":[{\"file\":\"" + bad + "\",\"line\":1,"), json);
        assertEquals(1, json.lines().count(), json);
    }

    @Test
    void journalLinesCarryTheirSyslogPriority()
    {
        final ByteArrayOutputStream sink = new ByteArrayOutputStream();
        try (PrintStream err = new PrintStream(new JournalLog.PriorityPrefixer(sink), true, StandardCharsets.UTF_8))
        {
            err.println("[main] WARN org.x.Y - careful");
            err.println("[loop-1] ERROR org.x.Y - policy reload failed:");
            err.println("/etc/hyperdmabuf/policy.toml:3: unknown key");
            err.println("[main] INFO org.x.Y - up");
            err.println("[main] DEBUG org.x.Y - detail");
            err.print("[main] TRACE partial");
        }
        assertEquals("<4>[main] WARN org.x.Y - careful\n<3>[loop-1] ERROR org.x.Y - policy reload failed:\n" +
            "<3>/etc/hyperdmabuf/policy.toml:3: unknown key\n<6>[main] INFO org.x.Y - up\n" +
            "<7>[main] DEBUG org.x.Y - detail\n", sink.toString(StandardCharsets.UTF_8));
    }

    @Test
    void onlyTheStreamJournalStreamNamesIsTheJournal() throws Exception
    {
        final Map<String, Object> stat = Files.readAttributes(Path.of("/proc/self/fd/2"), "unix:dev,ino");
        assertTrue(JournalLog.stderrIsJournal(stat.get("dev") + ":" + stat.get("ino")));
        assertFalse(JournalLog.stderrIsJournal(stat.get("dev") + ":" + ((Long)stat.get("ino") + 1)));
        assertFalse(JournalLog.stderrIsJournal("8:1:2"));
        assertFalse(JournalLog.stderrIsJournal(null));
    }
}
