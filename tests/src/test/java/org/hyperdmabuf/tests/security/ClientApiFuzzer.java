package org.hyperdmabuf.tests.security;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnknownFieldSet;
import org.hyperdmabuf.abi.v1.Alloc;
import org.hyperdmabuf.abi.v1.AudioInfo;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Event;
import org.hyperdmabuf.abi.v1.Export;
import org.hyperdmabuf.abi.v1.FenceDoorbell;
import org.hyperdmabuf.abi.v1.FenceWake;
import org.hyperdmabuf.abi.v1.FenceSignal;
import org.hyperdmabuf.abi.v1.FenceWait;
import org.hyperdmabuf.abi.v1.Free;
import org.hyperdmabuf.abi.v1.ImageInfo;
import org.hyperdmabuf.abi.v1.Import;
import org.hyperdmabuf.abi.v1.List;
import org.hyperdmabuf.abi.v1.Match;
import org.hyperdmabuf.abi.v1.MatchRule;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.abi.v1.Plane;
import org.hyperdmabuf.abi.v1.Query;
import org.hyperdmabuf.abi.v1.QueryCaps;
import org.hyperdmabuf.abi.v1.QueryTargets;
import org.hyperdmabuf.abi.v1.Release;
import org.hyperdmabuf.abi.v1.Request;
import org.hyperdmabuf.abi.v1.Response;
import org.hyperdmabuf.abi.v1.ServerFrame;
import org.hyperdmabuf.abi.v1.Stats;
import org.hyperdmabuf.abi.v1.Subscribe;
import org.hyperdmabuf.abi.v1.Timeline;
import org.hyperdmabuf.abi.v1.Unexport;
import org.hyperdmabuf.abi.v1.Unsubscribe;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.Random;
import java.util.Set;

/**
 * A seeded generator of hostile client frames (ABI.md "Framing", "Client API"): well-formed requests with
 * adversarial field values, byte-level mutations of them, frames of the wrong message type, unknown and huge
 * repeated fields, fds the daemon never asked for, malformed length prefixes, truncated frames and requests on
 * other clients' objects. Each {@link Attack} says what a correct daemon answers, so the test is an oracle,
 * not only a crash detector. The same seed gives the same sequence (up to handles the daemon hands back).
 */
final class ClientApiFuzzer
{
    /** What the daemon must do with an attack. */
    enum Expect
    {
        /** Exactly one response with the attack's request id (error code free unless {@code exactError}). */
        ANSWER,
        /** A parseable request that may legitimately park (a FENCE_WAIT): any answer or none. */
        MAYBE_ANSWER,
        /** EBADMSG with request id 0; the connection stays usable. */
        EBADMSG,
        /** EMSGSIZE with request id 0, then the daemon closes the connection. */
        EMSGSIZE_AND_CLOSE,
        /** Nothing (the client closes mid-frame or mid-burst; the test then closes the connection). */
        CLIENT_CLOSES
    }

    /** Kinds of fds a hostile client attaches to requests (which carry none in ABI v1). */
    enum FdKind
    {
        MEMFD, DEV_NULL, SOCKET, EVENTFD, DAEMON_SOCKET
    }

    record Attack(String kind, byte[] bytes, FdKind[] fds, Expect expect, long requestId, ErrorCode exactError)
    {
        @Override
        public String toString()
        {
            return kind + " (" + bytes.length + " bytes, " + fds.length + " fds, expect " + expect +
                (exactError != null ? " " + exactError : "") + ")";
        }
    }

    private static final long[] INTERESTING = {0, 1, 2, 7, 4095, 4096, 4097, 65536, 1L << 31, (1L << 32) - 1,
        1L << 32, Long.MAX_VALUE, Long.MIN_VALUE, -1, -4096, 600_000, 600_001};
    private static final FdKind[] NO_FDS = {};
    /** ABI.md "Framing": the largest request frame, the prefix not counted. */
    private static final int MAX_FRAME_BYTES = 65536;

    private final Random random;
    private final boolean sink;
    private final int localVm;
    private final int otherVm;
    private final java.util.List<BufferId> victimIds;
    private final java.util.List<Long> victimHandles;
    private final java.util.List<Long> ownHandles = new ArrayList<>();
    private final java.util.List<BufferId> ownIds = new ArrayList<>();
    private final Set<Long> ownSubscriptions = new java.util.HashSet<>();
    private long nextRequestId = 1;

    /**
     * @param sink        whether the attacked daemon is the sink (else the source)
     * @param victimIds   ids of another client's exports; on the source they are never IMPORTed, because any
     *                    local client of the source may import and then signal release (ABI "Fences"), which
     *                    would break the victim's stream by design, not by a bug
     */
    ClientApiFuzzer(final long seed, final boolean sink, final int localVm, final int otherVm,
        final java.util.List<BufferId> victimIds, final java.util.List<Long> victimHandles)
    {
        this.random = new Random(seed);
        this.sink = sink;
        this.localVm = localVm;
        this.otherVm = otherVm;
        this.victimIds = victimIds;
        this.victimHandles = victimHandles;
    }

    /** Learns from a response (handles, ids, subscriptions of this hostile client) to aim later attacks. */
    void observe(final Response r)
    {
        if (r.hasAllocated())
        {
            ownHandles.add(r.getAllocated().getHandle());
        }
        if (r.hasExported())
        {
            ownIds.add(r.getExported().getId());
        }
        if (r.hasSubscribed())
        {
            ownSubscriptions.add(r.getSubscribed().getSubscriptionId());
        }
    }

    /** Forgets everything owned by the previous connection (a new one starts). */
    void newConnection()
    {
        ownHandles.clear();
        ownIds.clear();
        ownSubscriptions.clear();
    }

    Attack next()
    {
        final int dice = random.nextInt(100);
        if (dice < 30)
        {
            return answered("structured", structured());
        }
        if (dice < 55)
        {
            return mutated();
        }
        if (dice < 65)
        {
            return onOtherClientsObjects();
        }
        if (dice < 73)
        {
            return huge();
        }
        if (dice < 80)
        {
            return wrongType();
        }
        if (dice < 90)
        {
            final FdKind[] fds = new FdKind[1 + random.nextInt(random.nextBoolean() ? 3 : 16)];
            for (int i = 0; i < fds.length; i++)
            {
                fds[i] = FdKind.values()[random.nextInt(FdKind.values().length)];
            }
            final Attack a = answered("fds", structured());
            return new Attack("unrequested fds " + java.util.Arrays.toString(fds) + " with " + a.kind, a.bytes, fds,
                a.expect, a.requestId, a.exactError);
        }
        if (dice < 94)
        {
            return badLength();
        }
        if (dice < 97)
        {
            final byte[] whole = HostileConnection.frame(structured().build());
            final int cut = 1 + random.nextInt(Math.max(1, whole.length - 1));
            return new Attack("truncated frame (" + cut + " of " + whole.length + " bytes) then close",
                java.util.Arrays.copyOf(whole, cut), NO_FDS, Expect.CLIENT_CLOSES, 0, null);
        }
        return burst();
    }

    // ---- attack kinds ----

    private Attack answered(final String kind, final Request.Builder request)
    {
        final long rid = nextRequestId++;
        final Request r = request.setRequestId(rid).build();
        return new Attack(kind + " " + r.getOpCase(), HostileConnection.frame(r), NO_FDS,
            r.getOpCase() == Request.OpCase.FENCE_WAIT ? Expect.MAYBE_ANSWER : Expect.ANSWER, rid, null);
    }

    /** A valid request's bytes, mutated; the local parse of the result says what the daemon must answer. */
    private Attack mutated()
    {
        while (true)
        {
            final Request original = structured().setRequestId(nextRequestId++).build();
            byte[] body = original.toByteArray();
            final int rounds = 1 + random.nextInt(4);
            final StringBuilder how = new StringBuilder();
            for (int i = 0; i < rounds; i++)
            {
                final int m = random.nextInt(7);
                how.append(i > 0 ? "+" : "").append(m);
                body = mutate(body, m);
            }
            // A bit flip can turn an IMPORT of a near id into one of a victim's ids. On the source that
            // import would succeed by design and break the rule this fuzzer keeps there (see the
            // constructor): the hostile client would then hold the import and its RELEASE would be OK.
            if (sink || !importsAVictim(body))
            {
                return byParse("mutated(" + how + ") " + original.getOpCase(), body);
            }
        }
    }

    private boolean importsAVictim(final byte[] body)
    {
        try
        {
            final Request r = Request.parseFrom(body);
            return r.hasImport() && victimIds.contains(r.getImport().getId());
        }
        catch (final InvalidProtocolBufferException e)
        {
            return false;
        }
    }

    private byte[] mutate(final byte[] in, final int how)
    {
        final byte[] b = in.clone();
        switch (how)
        {
            case 0 -> { // flip bits
                if (b.length > 0)
                {
                    b[random.nextInt(b.length)] ^= (byte)(1 << random.nextInt(8));
                }
                return b;
            }
            case 1 -> { // truncate the message inside a correct frame
                return java.util.Arrays.copyOf(b, b.length == 0 ? 0 : random.nextInt(b.length));
            }
            case 2 -> { // insert random bytes
                final int at = b.length == 0 ? 0 : random.nextInt(b.length + 1);
                final byte[] ins = new byte[1 + random.nextInt(8)];
                random.nextBytes(ins);
                return concat(java.util.Arrays.copyOf(b, at), ins, java.util.Arrays.copyOfRange(b, at, b.length));
            }
            case 3 -> { // a boundary byte value
                if (b.length > 0)
                {
                    b[random.nextInt(b.length)] = new byte[] {0, (byte)0x80, (byte)0xff, 0x7f, 0x0a, 0x12}[
                        random.nextInt(6)];
                }
                return b;
            }
            case 4 -> { // duplicate a slice (repeated or conflicting fields)
                if (b.length == 0)
                {
                    return b;
                }
                final int from = random.nextInt(b.length);
                final int to = from + random.nextInt(b.length - from) + 1;
                return concat(b, java.util.Arrays.copyOfRange(b, from, to));
            }
            case 5 -> { // an overlong or oversize varint inside the message
                final byte[] v = {(byte)0xff, (byte)0xff, (byte)0xff, (byte)0xff, (byte)0xff, (byte)0xff, (byte)0xff,
                    (byte)0xff, (byte)0xff, (byte)(random.nextBoolean() ? 0x01 : 0x7f)};
                final int at = b.length == 0 ? 0 : random.nextInt(b.length);
                return concat(java.util.Arrays.copyOf(b, at), v, java.util.Arrays.copyOfRange(b, at, b.length));
            }
            default -> { // garbage of the same length
                random.nextBytes(b);
                return b;
            }
        }
    }

    private Attack onOtherClientsObjects()
    {
        final long rid = nextRequestId++;
        final Request.Builder r = Request.newBuilder().setRequestId(rid);
        final BufferId victim = victimIds.get(random.nextInt(victimIds.size()));
        final String what;
        final int pick = random.nextInt(sink ? 7 : 4);
        if (sink)
        {
            final long handle = victimHandles.get(random.nextInt(victimHandles.size()));
            switch (pick)
            {
                case 0 -> r.setFree(Free.newBuilder().setHandle(handle));
                case 1 -> r.setExport(Export.newBuilder().setHandle(handle).setTargetVm(otherVm)
                    .setMetadata(Metadata.newBuilder().setVersion(1).setContentType("x/y")));
                case 2 -> r.setUnexport(Unexport.newBuilder().setId(victim).setDelayMs(random.nextInt(2)));
                case 3 -> r.setQuery(Query.newBuilder().setId(victim));
                case 4 -> r.setFenceSignal(FenceSignal.newBuilder().setId(victim).setTimeline(Timeline.TIMELINE_ACQUIRE)
                    .setValue(random.nextLong() & Long.MAX_VALUE));
                case 5 -> r.setFenceWait(FenceWait.newBuilder().setId(victim).setTimeline(Timeline.TIMELINE_RELEASE)
                    .setValue(1).setTimeoutMs(10));
                default -> r.setUnsubscribe(Unsubscribe.newBuilder().setSubscriptionId(notOwnSubscription()));
            }
            what = "another client's object (sink)";
        }
        else
        {
            switch (pick)
            {
                case 0 -> r.setRelease(Release.newBuilder().setId(victim));
                case 1 -> r.setFenceSignal(FenceSignal.newBuilder().setId(victim).setTimeline(Timeline.TIMELINE_RELEASE)
                    .setValue(random.nextLong() & Long.MAX_VALUE));
                case 2 -> r.setUnsubscribe(Unsubscribe.newBuilder().setSubscriptionId(notOwnSubscription()));
                default -> r.setImport(Import.newBuilder().setId(near(victim)));
            }
            what = "another client's object (source)";
        }
        final Request built = r.build();
        return new Attack(what + " " + built.getOpCase(), HostileConnection.frame(built), NO_FDS, Expect.ANSWER, rid,
            ErrorCode.ENOENT);
    }

    private long notOwnSubscription()
    {
        long id;
        do
        {
            id = 1 + random.nextInt(64);
        }
        while (ownSubscriptions.contains(id));
        return id;
    }

    /** Well-formed but big: limits on repeated fields, unknown fields, long strings, up to the frame limit. */
    private Attack huge()
    {
        final int kind = random.nextInt(4);
        final Request.Builder r = Request.newBuilder();
        switch (kind)
        {
            case 0 -> {
                final Subscribe.Builder s = Subscribe.newBuilder().setReplay(random.nextBoolean());
                final int rules = random.nextBoolean() ? 65 + random.nextInt(200) : 1 + random.nextInt(64);
                for (int i = 0; i < rules; i++)
                {
                    final MatchRule.Builder m = MatchRule.newBuilder();
                    final int matches = 1 + random.nextInt(random.nextInt(10) == 0 ? 40 : 4);
                    for (int j = 0; j < matches; j++)
                    {
                        m.addMatches(Match.newBuilder().setKey(random.nextInt(20) == 0 ? "K".repeat(65) : "TAG_X")
                            .setGlob("*a".repeat(random.nextInt(140))).setNegate(random.nextBoolean()));
                    }
                    s.addRules(m);
                }
                r.setSubscribe(s);
            }
            case 1 -> {
                final Metadata.Builder m = Metadata.newBuilder().setVersion(1).setContentType("x/y");
                final int tags = random.nextBoolean() ? 65 + random.nextInt(100) : random.nextInt(64);
                for (int i = 0; i < tags; i++)
                {
                    m.putTags("k" + i, "v".repeat(random.nextInt(random.nextInt(8) == 0 ? 1100 : 40)));
                }
                if (random.nextBoolean())
                {
                    m.setPrivateData(ByteString.copyFrom(new byte[random.nextInt(5000)]));
                }
                r.setExport(Export.newBuilder().setHandle(handle()).setTargetVm(otherVm).setMetadata(m));
            }
            case 2 -> {
                final UnknownFieldSet.Builder u = UnknownFieldSet.newBuilder();
                final int fields = 1 + random.nextInt(3000);
                for (int i = 0; i < fields; i++)
                {
                    final UnknownFieldSet.Field.Builder f = UnknownFieldSet.Field.newBuilder();
                    switch (random.nextInt(4))
                    {
                        case 0 -> f.addVarint(random.nextLong());
                        case 1 -> f.addFixed32(random.nextInt());
                        case 2 -> f.addFixed64(random.nextLong());
                        default -> f.addLengthDelimited(ByteString.copyFrom(new byte[random.nextInt(16)]));
                    }
                    u.mergeField(100 + random.nextInt(100_000), f.build());
                }
                r.setQueryCaps(QueryCaps.getDefaultInstance()).setUnknownFields(u.build());
            }
            default -> r.setQuery(Query.newBuilder().setId(BufferId.newBuilder().setExporterVm(otherVm)
                .setUnknownFields(UnknownFieldSet.newBuilder().addField(9, UnknownFieldSet.Field.newBuilder()
                    .addLengthDelimited(ByteString.copyFrom(new byte[40_000 + random.nextInt(20_000)])).build())
                    .build())));
        }
        final long rid = nextRequestId++;
        final Request built = r.setRequestId(rid).build();
        return byParse("huge " + built.getOpCase(), built.toByteArray());
    }

    private Attack wrongType()
    {
        final byte[] body = switch (random.nextInt(4))
        {
            case 0 -> ServerFrame.newBuilder().setEvent(Event.newBuilder().setSubscriptionId(random.nextLong())
                .setUevent(ByteString.copyFromUtf8("add@/x\0"))).build().toByteArray();
            case 1 -> ServerFrame.newBuilder().setResponse(Response.newBuilder().setRequestId(random.nextLong())
                .setError(ErrorCode.EIO).setFdCount(random.nextInt(5))).build().toByteArray();
            case 2 -> Metadata.newBuilder().setContentType("video/raw").putTags("a", "b").build().toByteArray();
            default -> {
                final byte[] b = new byte[random.nextInt(200)];
                random.nextBytes(b);
                yield b;
            }
        };
        return byParse("wrong message type", body);
    }

    private Attack badLength()
    {
        final byte[] prefix = switch (random.nextInt(5))
        {
            case 0 -> varint(65537 + random.nextInt(1 << 20)); // above the limit
            case 1 -> new byte[] {(byte)0xff, (byte)0xff, (byte)0xff, (byte)0xff, 0x0f}; // "-1" as int32
            case 2 -> new byte[] {(byte)0x80, (byte)0x80, (byte)0x80, (byte)0x80, (byte)0x80, 0x01}; // 6 bytes
            case 3 -> new byte[] {(byte)0xff, (byte)0xff, (byte)0xff, (byte)0xff, 0x07}; // 2^31-1
            default -> varint(Integer.MAX_VALUE - random.nextInt(1000));
        };
        final byte[] tail = new byte[random.nextInt(64)];
        random.nextBytes(tail);
        return new Attack("bad length prefix", concat(prefix, tail), NO_FDS, Expect.EMSGSIZE_AND_CLOSE, 0, null);
    }

    /** Many requests that create daemon state or fds, and the client closes without reading any answer. */
    private Attack burst()
    {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        final int n = 10 + random.nextInt(90);
        for (int i = 0; i < n; i++)
        {
            final Request.Builder r = Request.newBuilder().setRequestId(nextRequestId++);
            switch (random.nextInt(4))
            {
                case 0 -> r.setAlloc(Alloc.newBuilder().setSize(4096L * (1 + random.nextInt(4))));
                case 1 -> r.setSubscribe(Subscribe.newBuilder().setReplay(true));
                case 2 -> r.setFenceWait(FenceWait.newBuilder().setId(id()).setTimeoutMs(60_000).setValue(1L << 40));
                default -> r.setQueryCaps(QueryCaps.getDefaultInstance());
            }
            out.writeBytes(HostileConnection.frame(r.build()));
        }
        return new Attack("burst of " + n + " requests then close", out.toByteArray(), NO_FDS, Expect.CLIENT_CLOSES,
            0, null);
    }

    /** Frames {@code body} correctly; the daemon's answer follows from whether it parses as a Request. */
    private Attack byParse(final String kind, final byte[] body)
    {
        final byte[] frame = concat(varint(body.length), body);
        if (body.length > MAX_FRAME_BYTES)
        {
            return new Attack(kind + " (over the frame limit)", frame, NO_FDS, Expect.EMSGSIZE_AND_CLOSE, 0, null);
        }
        try
        {
            final Request r = Request.parseFrom(body);
            return new Attack(kind, frame, NO_FDS, r.getOpCase() == Request.OpCase.FENCE_WAIT ? Expect.MAYBE_ANSWER :
                Expect.ANSWER, r.getRequestId(), null);
        }
        catch (final InvalidProtocolBufferException e)
        {
            return new Attack(kind + " (unparseable)", frame, NO_FDS, Expect.EBADMSG, 0, null);
        }
    }

    // ---- field values ----

    /** A request with one operation and adversarial field values. */
    private Request.Builder structured()
    {
        final Request.Builder r = Request.newBuilder();
        switch (random.nextInt(18))
        {
            case 0 -> r.setQueryCaps(QueryCaps.getDefaultInstance());
            case 1 -> r.setQueryTargets(QueryTargets.getDefaultInstance());
            case 2 -> r.setAlloc(Alloc.newBuilder().setSize(random.nextInt(3) == 0 ? interesting() :
                4096L * (1 + random.nextInt(8))));
            case 3 -> r.setExport(Export.newBuilder().setHandle(handle()).setTargetVm(vm()).setMetadata(metadata())
                .setAccessValue(random.nextInt(5) == 0 ? random.nextInt() : random.nextInt(2)));
            case 4 -> r.setUnexport(Unexport.newBuilder().setId(id()).setDelayMs((int)interesting()));
            case 5 -> r.setFree(Free.newBuilder().setHandle(handle()));
            case 6 -> {
                final Query.Builder q = Query.newBuilder();
                if (random.nextInt(4) > 0)
                {
                    q.setId(id());
                }
                r.setQuery(q);
            }
            case 7 -> r.setList(List.getDefaultInstance());
            case 8 -> r.setStats(Stats.getDefaultInstance());
            case 9 -> r.setSubscribe(Subscribe.newBuilder().setReplay(random.nextBoolean()).addRules(MatchRule
                .newBuilder().addMatches(Match.newBuilder().setKey(random.nextBoolean() ? "" : "ACTION")
                    .setGlob(random.nextBoolean() ? "[" : "*|?|[!a-"))));
            case 10 -> r.setUnsubscribe(Unsubscribe.newBuilder().setSubscriptionId(interesting()));
            case 11 -> r.setImport(Import.newBuilder().setId(id()));
            case 12 -> r.setRelease(Release.newBuilder().setId(id()));
            case 13 -> r.setFenceSignal(FenceSignal.newBuilder().setId(id()).setTimelineValue(random.nextInt(3))
                .setValue(interesting()).setError((int)interesting()));
            case 14 -> r.setFenceWait(FenceWait.newBuilder().setId(id()).setTimelineValue(random.nextInt(3))
                .setValue(interesting()).setTimeoutMs(random.nextInt(50)));
            case 15 -> r.setFenceDoorbell(FenceDoorbell.newBuilder().setId(id()).setVector(random.nextBoolean() ? 0 :
                (int)interesting()));
            case 16 -> r.setFenceWake(FenceWake.newBuilder().setId(id()));
            default -> { } // no operation: ENOTSUP
        }
        return r;
    }

    private long interesting()
    {
        return random.nextBoolean() ? INTERESTING[random.nextInt(INTERESTING.length)] : random.nextLong();
    }

    private int vm()
    {
        return switch (random.nextInt(4))
        {
            case 0 -> localVm;
            case 1 -> otherVm;
            case 2 -> random.nextInt(300);
            default -> random.nextInt();
        };
    }

    private long handle()
    {
        final int pick = random.nextInt(3);
        if (pick == 0 && !ownHandles.isEmpty())
        {
            return ownHandles.get(random.nextInt(ownHandles.size()));
        }
        if (pick == 1 && sink)
        {
            return victimHandles.get(random.nextInt(victimHandles.size()));
        }
        return interesting();
    }

    /** Never a victim id on the source (see the constructor); near ones, own ones and random ones. */
    private BufferId id()
    {
        final int pick = random.nextInt(5);
        if (pick == 0 && !ownIds.isEmpty())
        {
            return ownIds.get(random.nextInt(ownIds.size()));
        }
        if (pick == 1 && sink)
        {
            return victimIds.get(random.nextInt(victimIds.size()));
        }
        if (pick <= 2)
        {
            return near(victimIds.get(random.nextInt(victimIds.size())));
        }
        return BufferId.newBuilder().setExporterVm(vm()).setExportNumber((int)interesting()).setNonce(interesting())
            .build();
    }

    /** A real id with one part changed by a little: what a client guessing from a known id would try. */
    private BufferId near(final BufferId id)
    {
        final BufferId.Builder b = id.toBuilder();
        switch (random.nextInt(3))
        {
            case 0 -> b.setNonce(id.getNonce() + (random.nextBoolean() ? 1 : -1));
            case 1 -> b.setNonce(id.getNonce() ^ (1L << random.nextInt(64)));
            default -> b.setExportNumber(id.getExportNumber() + 1 + random.nextInt(3)).setNonce(random.nextLong());
        }
        return b.build();
    }

    private Metadata metadata()
    {
        final Metadata.Builder m = Metadata.newBuilder().setVersion(random.nextInt(8) == 0 ? random.nextInt() : 1)
            .setContentType(random.nextInt(6) == 0 ? "bad\u0001type" : "fuzz/x").setSize(interesting())
            .putTags("fuzz", "yes");
        if (random.nextBoolean())
        {
            m.setImage(ImageInfo.newBuilder().setWidth((int)interesting()).setHeight((int)interesting())
                .addPlanes(Plane.newBuilder().setOffset(interesting()).setStride((int)interesting())));
        }
        if (random.nextInt(4) == 0)
        {
            m.setAudio(AudioInfo.newBuilder().setRate((int)interesting()).setChannels((int)interesting())
                .setSampleFormat("s".repeat(random.nextInt(40))));
        }
        return m.build();
    }

    static byte[] varint(final int value)
    {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        int v = value;
        while ((v & ~0x7f) != 0)
        {
            out.write((v & 0x7f) | 0x80);
            v >>>= 7;
        }
        out.write(v);
        return out.toByteArray();
    }

    private static byte[] concat(final byte[]... parts)
    {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (final byte[] p : parts)
        {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }
}
