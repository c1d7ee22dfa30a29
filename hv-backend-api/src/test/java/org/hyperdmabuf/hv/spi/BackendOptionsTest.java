package org.hyperdmabuf.hv.spi;

import org.hyperdmabuf.abi.v1.ErrorCode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BackendOptionsTest
{
    @Test
    void sizesTakeBinarySuffixes()
    {
        assertEquals(4096, BackendOptions.parseSize("4096"));
        assertEquals(64L << 10, BackendOptions.parseSize(" 64k "));
        assertEquals(256L << 20, BackendOptions.parseSize("256M"));
        assertEquals(1L << 30, BackendOptions.parseSize("1G"));
        assertThrows(IllegalArgumentException.class, () -> BackendOptions.parseSize("1T"));
        assertThrows(IllegalArgumentException.class, () -> BackendOptions.parseSize("-1K"));
        assertThrows(IllegalArgumentException.class, () -> BackendOptions.parseSize("9999999999999G"));
    }

    @Test
    void typedGettersReadValuesAndDefaults() throws BackendException
    {
        final BackendOptions o = new BackendOptions("test", Map.of("n", " 42 ", "size", "2M", "flag", "false",
            "pick", "b", "bits", "x,Y"));
        assertEquals(42, o.number("n", 7, 0, 100));
        assertEquals(7, o.integer("absent", 7, 0, 100));
        assertEquals(2L << 20, o.size("size", 0));
        assertEquals(0, o.size("absent", 0));
        assertFalse(o.bool("flag", true));
        assertTrue(o.bool("absent", true));
        assertEquals("b", o.choice("pick", "a", List.of("a", "b")));
        assertEquals(3, o.flags("bits", "x", Map.of("x", 1, "y", 2), "x or y"));
        assertEquals(42_000_000L, o.millisAsNanos("n", 1, 1, 100));
        o.checkKnown(List.of("n", "size", "flag", "pick", "bits"), "");
    }

    @Test
    void badValuesAndUnknownKeysAreEinvalNamingTheKey()
    {
        final BackendOptions o = new BackendOptions("test", Map.of("n", "x", "big", "1000", "size", "0", "flag",
            "yes", "pick", "c", "bits", "x,z"));
        assertInvalid("n", () -> o.number("n", 0, 0, 10));
        assertInvalid("big", () -> o.number("big", 0, 0, 10));
        assertInvalid("size", () -> o.size("size", 1));
        assertInvalid("flag", () -> o.bool("flag", true));
        assertInvalid("pick", () -> o.choice("pick", "a", List.of("a", "b")));
        assertInvalid("bits", () -> o.flags("bits", "x", Map.of("x", 1), "x"));
        assertInvalid("required", () -> o.required("required", "a thing"));
        final BackendOptions typo = new BackendOptions("test", Map.of("n", "1", "heartbeat-sm", "100"));
        assertInvalid("unknown option 'heartbeat-sm' in test mode", () -> typo.checkKnown(List.of("n"),
            " in test mode"));
    }

    private static void assertInvalid(final String named, final Executable call)
    {
        final BackendException e = assertThrows(BackendException.class, call);
        assertEquals(ErrorCode.EINVAL, e.code(), e.getMessage());
        assertTrue(e.getMessage().startsWith("test: ") && e.getMessage().contains(named), e.getMessage());
    }
}
