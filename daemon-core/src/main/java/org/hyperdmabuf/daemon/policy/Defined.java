package org.hyperdmabuf.daemon.policy;

/** A definition read from a policy file and where it is ({@code file:line}), for "defined twice" messages. */
record Defined<T>(T value, String place)
{
}
