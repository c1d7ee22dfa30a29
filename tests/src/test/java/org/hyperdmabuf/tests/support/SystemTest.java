package org.hyperdmabuf.tests.support;

import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Timeout;

/**
 * A test that starts processes (daemons, servers, clients, QEMU): tagged {@code system} so a developer can
 * leave these out ({@code -Dhdmabuf.excludedGroups=system,qemu-guests,xen-real}), and bounded so a hung peer
 * fails one test instead of hanging the build. The bound is per test method (and per lifecycle method); a
 * method-level {@code @Timeout} overrides it where a test needs longer.
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@Inherited
@Tag("system")
@Timeout(value = 4, unit = TimeUnit.MINUTES)
public @interface SystemTest
{
}
