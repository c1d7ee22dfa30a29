package org.hyperdmabuf.hv.spi;

import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.hv.nativeio.Errno;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class ErrorCodesTest
{
    /** hyperdmabuf's own codes, which no errno has. */
    private static final Map<ErrorCode, Integer> OWN = Map.of(ErrorCode.EPEERLOST, 1000, ErrorCode.ENOPEER, 1001);

    @Test
    void errnosOfDevicesAndMappingsKeepTheirCause()
    {
        assertEquals(ErrorCode.ENODEV, ErrorCodes.fromErrno(19));
        assertEquals(ErrorCode.ENXIO, ErrorCodes.fromErrno(6));
        assertEquals(ErrorCode.EFAULT, ErrorCodes.fromErrno(14));
        assertEquals(ErrorCode.E2BIG, ErrorCodes.fromErrno(7));
        assertEquals(ErrorCode.ENOSYS, ErrorCodes.fromErrno(38));
        assertEquals(ErrorCode.EOVERFLOW, ErrorCodes.fromErrno(75));
        assertEquals(ErrorCode.EINTR, ErrorCodes.fromErrno(4));
        assertEquals(ErrorCode.ENOTSUP, ErrorCodes.fromErrno(Errno.EOPNOTSUPP));
        assertEquals(ErrorCode.ENODEV, ErrorCodes.of(new NativeIoException("open", Errno.ENODEV)));
    }

    @Test
    void everyErrnoTheNativeLayerNamesHasItsOwnCode() throws IllegalAccessException
    {
        for (final Map.Entry<String, Integer> e : errnoConstants().entrySet())
        {
            final ErrorCode code = ErrorCodes.fromErrno(e.getValue());
            assertEquals(e.getValue().intValue(), code.getNumber(), e.getKey() + " became " + code);
        }
    }

    @Test
    void everyCodeIsTheLinuxErrnoOfItsName() throws IllegalAccessException
    {
        final Map<String, Integer> errnos = errnoConstants();
        errnos.put("ENOTSUP", Errno.EOPNOTSUPP); // one value on Linux
        for (final ErrorCode code : ErrorCode.values())
        {
            if (code == ErrorCode.UNRECOGNIZED || code == ErrorCode.OK)
            {
                continue;
            }
            if (OWN.containsKey(code))
            {
                assertEquals(OWN.get(code).intValue(), code.getNumber(), code.name());
                assertEquals(ErrorCode.EIO, ErrorCodes.fromErrno(code.getNumber()), "no errno is taken for " + code);
                continue;
            }
            final Integer errno = errnos.get(code.name());
            assertNotNull(errno, code + " has no errno constant in Errno");
            assertEquals(errno.intValue(), code.getNumber(), code.name());
            assertEquals(code, ErrorCodes.fromErrno(errno), code.name());
        }
    }

    /** Errno's numbers are the kernel's, where the kernel's headers are installed to tell. */
    @Test
    void errnoConstantsMatchTheKernelHeaders() throws IOException, IllegalAccessException
    {
        final Path base = Path.of("/usr/include/asm-generic/errno-base.h");
        final Path more = Path.of("/usr/include/asm-generic/errno.h");
        assumeTrue(Files.isReadable(base) && Files.isReadable(more), "no kernel errno headers");
        final Map<String, Integer> kernel = new HashMap<>();
        final Pattern define = Pattern.compile("^#define\\s+(E[A-Z0-9]+)\\s+(\\d+)", Pattern.MULTILINE);
        for (final Path p : new Path[] {base, more})
        {
            final Matcher m = define.matcher(Files.readString(p));
            while (m.find())
            {
                kernel.put(m.group(1), Integer.parseInt(m.group(2)));
            }
        }
        for (final Map.Entry<String, Integer> e : errnoConstants().entrySet())
        {
            assertEquals(kernel.get(e.getKey()), e.getValue(), e.getKey());
        }
    }

    @Test
    void anUnknownErrnoIsEioAndKeepsItsNumberInTheMessage()
    {
        assertEquals(ErrorCode.EIO, ErrorCodes.fromErrno(200));
        assertEquals(ErrorCode.EIO, ErrorCodes.fromErrno(0));
        assertEquals(ErrorCode.EIO, ErrorCodes.fromErrno(-1));
        final NativeIoException e = new NativeIoException("ioctl", 200);
        assertEquals(ErrorCode.EIO, ErrorCodes.of(e));
        assertTrue(e.getMessage().contains("errno 200"), e.getMessage());
    }

    private static Map<String, Integer> errnoConstants() throws IllegalAccessException
    {
        final Map<String, Integer> result = new HashMap<>();
        for (final Field f : Errno.class.getFields())
        {
            if (Modifier.isStatic(f.getModifiers()) && f.getType() == int.class)
            {
                result.put(f.getName(), f.getInt(null));
            }
        }
        assertTrue(result.size() > 20, "Errno's constants: " + result);
        return result;
    }
}
