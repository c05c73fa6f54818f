#!/usr/bin/python3
"""test_group_protocol.py BROKER -- the group coordinator over raw requests.

Real clients (kcat, confluent-kafka, kafka-python, kafkajs) only ever take
the happy paths; this test speaks the wire protocol itself, with requests
encoded here from Kafka's schemas, to walk every state and error path of
the coordinator:

  - FindCoordinator names this broker and creates __consumer_offsets;
  - JoinGroup v4+: MEMBER_ID_REQUIRED, then the join with that id; the
    leader's answer lists the members, a follower's does not; a second
    member parks until the first rejoins (its Heartbeat says
    REBALANCE_IN_PROGRESS meanwhile); the generation goes up each time;
  - SyncGroup hands out the leader's assignment (empty for a member it
    left out); ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID;
  - INVALID_SESSION_TIMEOUT, INVALID_GROUP_ID, INCONSISTENT_GROUP_PROTOCOL;
  - static membership: the same group.instance.id rejoining without a
    member id gets a new id, no rebalance (same generation, same
    assignment), and the old id is FENCED_INSTANCE_ID;
  - OffsetCommit: by a member, by an admin while the group has members
    (UNKNOWN_MEMBER_ID), OFFSET_METADATA_TOO_LARGE,
    UNKNOWN_TOPIC_OR_PARTITION; OffsetFetch of some and of all partitions,
    and v8's several groups at once;
  - OffsetDelete: GROUP_SUBSCRIBED_TO_TOPIC while a member subscribes;
  - DeleteGroups: NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND, then a real delete;
  - a member that stops heartbeating is dropped after its session timeout;
  - batched LeaveGroup empties the group; ListGroups and DescribeGroups
    show the states;
  - a restart keeps committed offsets and groups; deleted ones stay gone.
"""
import os
import shutil
import socket
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_harness import Broker, wait_until  # noqa: E402

BROKER = sys.argv[1]
failures = []

NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
OFFSET_METADATA_TOO_LARGE = 12
ILLEGAL_GENERATION = 22
INCONSISTENT_GROUP_PROTOCOL = 23
INVALID_GROUP_ID = 24
UNKNOWN_MEMBER_ID = 25
INVALID_SESSION_TIMEOUT = 26
REBALANCE_IN_PROGRESS = 27
NON_EMPTY_GROUP = 68
GROUP_ID_NOT_FOUND = 69
MEMBER_ID_REQUIRED = 79
FENCED_INSTANCE_ID = 82
GROUP_SUBSCRIBED_TO_TOPIC = 86


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)


# ------------------------------------------------------------ wire helpers

def s16(v):
    return struct.pack(">h", v)


def s32(v):
    return struct.pack(">i", v)


def s64(v):
    return struct.pack(">q", v)


def string(s):
    if s is None:
        return s16(-1)
    b = s.encode()
    return s16(len(b)) + b


def bytes_(b):
    return s32(len(b)) + b


def array(items):
    return s32(len(items)) + b"".join(items)


def compact_string(s):
    if s is None:
        return b"\x00"
    b = s.encode()
    return uvarint(len(b) + 1) + b


def uvarint(v):
    out = b""
    while v >= 0x80:
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7
    return out + bytes([v])


def compact_array(items):
    return uvarint(len(items) + 1) + b"".join(items)


class Reader:
    def __init__(self, b):
        self.b = b
        self.p = 0

    def take(self, n):
        v = self.b[self.p:self.p + n]
        assert len(v) == n, "short response"
        self.p += n
        return v

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def str(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def bytes(self):
        n = self.i32()
        return None if n < 0 else self.take(n)

    def uvarint(self):
        v = shift = 0
        while True:
            c = self.take(1)[0]
            v |= (c & 0x7F) << shift
            if c < 0x80:
                return v
            shift += 7

    def cstr(self):
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1).decode()

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())


class Conn:
    """One connection; requests with header v1 (non-flexible) or v2."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.corr = 0

    def send(self, key, ver, body, flexible=False):
        self.corr += 1
        hdr = s16(key) + s16(ver) + s32(self.corr) + string("proto-test")
        if flexible:
            hdr += b"\x00"
        frame = hdr + body
        self.s.sendall(s32(len(frame)) + frame)
        return self.corr

    def recv(self, flexible=False):
        n = struct.unpack(">i", self.recv_exact(4))[0]
        r = Reader(self.recv_exact(n))
        r.i32()                               # correlation id
        if flexible:
            r.tags()
        return r

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            buf += chunk
        return buf

    def call(self, key, ver, body, flexible=False):
        self.send(key, ver, body, flexible)
        return self.recv(flexible)

    def close(self):
        self.s.close()


def consumer_meta(topics):
    """The consumer protocol's subscription: version 0, topics, no user data."""
    return s16(0) + array([string(t) for t in topics]) + bytes_(b"")


# JoinGroup v5: group, session, rebalance, member, instance, type, protocols
def join_send(c, group, member="", instance=None, session=6000, ptype="consumer",
              protocols=(("range", b"m"),), version=5):
    body = string(group) + s32(session) + s32(30000) + string(member)
    if version >= 5:
        body += string(instance)
    body += string(ptype) + array([string(n) + bytes_(m) for n, m in protocols])
    c.send(11, version, body)


def join_recv(c, version=5):
    r = c.recv()
    r.i32()                                   # throttle (v2+)
    out = {"error": r.i16(), "generation": r.i32(), "protocol": r.str(),
           "leader": r.str(), "member": r.str(), "members": []}
    for _ in range(r.i32()):
        mid = r.str()
        inst = r.str() if version >= 5 else None
        out["members"].append((mid, inst, r.bytes()))
    return out


def join(c, group, **kw):
    join_send(c, group, **kw)
    return join_recv(c, kw.get("version", 5))


def sync(c, group, gen, member, instance=None, assignments=()):
    body = string(group) + s32(gen) + string(member) + string(instance)
    body += array([string(m) + bytes_(a) for m, a in assignments])
    r = c.call(14, 3, body)
    r.i32()
    return r.i16(), r.bytes()


def heartbeat(c, group, gen, member, instance=None):
    r = c.call(12, 3, string(group) + s32(gen) + string(member) + string(instance))
    r.i32()
    return r.i16()


def leave(c, group, members):
    r = c.call(13, 3, string(group) + array([string(m) + string(i) for m, i in members]))
    r.i32()
    top = r.i16()
    per = []
    for _ in range(r.i32()):
        per.append((r.str(), r.str(), r.i16()))
    return top, per


def commit(c, group, gen, member, offsets, instance=None):
    """OffsetCommit v7: offsets {(topic, partition): (offset, metadata)}."""
    by_topic = {}
    for (t, p), (o, md) in offsets.items():
        by_topic.setdefault(t, []).append(s32(p) + s64(o) + s32(-1) + string(md))
    body = string(group) + s32(gen) + string(member) + string(instance)
    body += array([string(t) + array(ps) for t, ps in by_topic.items()])
    r = c.call(8, 7, body)
    r.i32()
    out = {}
    for _ in range(r.i32()):
        t = r.str()
        for _ in range(r.i32()):
            p = r.i32()
            out[(t, p)] = r.i16()
    return out


def fetch_offsets(c, group, topics):
    """OffsetFetch v5 (topics None = all): {(topic, p): (offset, metadata, error)}."""
    body = string(group)
    if topics is None:
        body += s32(-1)
    else:
        body += array([string(t) + array([s32(p) for p in ps]) for t, ps in topics.items()])
    r = c.call(9, 5, body)
    r.i32()
    out = {}
    for _ in range(r.i32()):
        t = r.str()
        for _ in range(r.i32()):
            p = r.i32()
            off = r.i64()
            r.i32()                           # leader epoch
            md = r.str()
            out[(t, p)] = (off, md, r.i16())
    check_top = r.i16()
    return out, check_top


def fetch_offsets_v8(c, groups):
    """OffsetFetch v8 (flexible): groups {group: None}; -> {group: {(t,p): offset}}."""
    body = compact_array([compact_string(g) + b"\x00" + b"\x00" for g in groups])  # null topics
    body += b"\x00" + b"\x00"                 # RequireStable, tags
    r = c.call(9, 8, body, flexible=True)
    r.i32()
    out = {}
    for _ in range(r.uvarint() - 1):
        g = r.cstr()
        out[g] = {}
        for _ in range(r.uvarint() - 1):
            t = r.cstr()
            for _ in range(r.uvarint() - 1):
                p = r.i32()
                off = r.i64()
                r.i32()
                r.cstr()
                r.i16()
                r.tags()
                out[g][(t, p)] = off
            r.tags()
        r.i16()
        r.tags()
    return out


def describe(c, group):
    r = c.call(15, 4, array([string(group)]) + b"\x00")
    r.i32()
    r.i32()                                   # one group
    g = {"error": r.i16(), "id": r.str(), "state": r.str(), "type": r.str(),
         "protocol": r.str(), "members": []}
    for _ in range(r.i32()):
        mid, inst, cid, host = r.str(), r.str(), r.str(), r.str()
        r.bytes()
        g["members"].append((mid, inst, cid, host, r.bytes()))
    r.i32()
    return g


def list_groups(c):
    r = c.call(16, 2, b"")
    r.i32()
    r.i16()
    return {r.str(): r.str() for _ in range(r.i32())}


def delete_groups(c, groups):
    r = c.call(42, 1, array([string(g) for g in groups]))
    r.i32()
    return {r.str(): r.i16() for _ in range(r.i32())}


def offset_delete(c, group, topic, parts):
    r = c.call(47, 0, string(group) + array([string(topic) + array([s32(p) for p in parts])]))
    top = r.i16()
    r.i32()
    per = {}
    for _ in range(r.i32()):
        t = r.str()
        for _ in range(r.i32()):
            p = r.i32()
            per[(t, p)] = r.i16()
    return top, per


def find_coordinator(c, group):
    r = c.call(10, 2, string(group) + b"\x00")
    r.i32()
    return r.i16(), r.str(), r.i32(), r.str(), r.i32()


def create_topic(c, name, parts):
    # CreateTopics v2: topics [name, partitions, replication, assignments, configs], timeout, validate
    body = array([string(name) + s32(parts) + s16(1) + s32(0) + s32(0)]) + s32(10000) + b"\x00"
    r = c.call(19, 2, body)
    r.i32()
    r.i32()
    r.str()
    return r.i16()


# ------------------------------------------------------------------- test

def main():
    tmp = tempfile.mkdtemp(prefix="rewind-group-proto-")
    b = Broker(BROKER, tmp, "group.min.session.timeout.ms=500",
               "group.initial.rebalance.delay.ms=0", "offsets.topic.num.partitions=3")
    try:
        b.start()
        c = Conn(b.port)
        check(create_topic(c, "t", 4) == NONE, "topic t created")

        err, _, node, host, port = find_coordinator(c, "g1")
        check(err == NONE and node == 0 and port == b.port and host,
              "FindCoordinator names this broker (%s %d %s:%d)" % (err, node, host, port))
        check("created __consumer_offsets" in b.text(), "the first FindCoordinator creates "
              "__consumer_offsets")

        # Bad joins.
        check(join(c, "g1", session=100)["error"] == INVALID_SESSION_TIMEOUT,
              "JoinGroup below group.min.session.timeout.ms: INVALID_SESSION_TIMEOUT")
        check(join(c, "")["error"] == INVALID_GROUP_ID, "JoinGroup with an empty group id: "
              "INVALID_GROUP_ID")
        check(join(c, "g1", member="nobody")["error"] == UNKNOWN_MEMBER_ID,
              "JoinGroup with a member id to an unknown group: UNKNOWN_MEMBER_ID")

        # Member A: the KIP-394 handshake, then leader of generation 1.
        a = Conn(b.port)
        j = join(a, "g1", protocols=(("range", consumer_meta(["t"])),))
        check(j["error"] == MEMBER_ID_REQUIRED and j["member"].startswith("proto-test-"),
              "JoinGroup v5 without a member id: MEMBER_ID_REQUIRED with a new id")
        ma = j["member"]
        j = join(a, "g1", member=ma, protocols=(("range", consumer_meta(["t"])),))
        check(j["error"] == NONE and j["generation"] == 1 and j["leader"] == ma and
              j["protocol"] == "range" and [m[0] for m in j["members"]] == [ma],
              "the rejoin with that id completes generation 1, A leads: %r" % (j,))
        check(join(c, "g1", ptype="connect")["error"] == INCONSISTENT_GROUP_PROTOCOL,
              "another protocol type: INCONSISTENT_GROUP_PROTOCOL")
        check(join(c, "g1", protocols=(("roundrobin", b"x"),))["error"] ==
              INCONSISTENT_GROUP_PROTOCOL, "no protocol in common: INCONSISTENT_GROUP_PROTOCOL")

        check(sync(a, "g1", 0, ma)[0] == ILLEGAL_GENERATION, "SyncGroup of another "
              "generation: ILLEGAL_GENERATION")
        check(sync(a, "g1", 1, "ghost")[0] == UNKNOWN_MEMBER_ID, "SyncGroup of an unknown "
              "member: UNKNOWN_MEMBER_ID")
        err, asg = sync(a, "g1", 1, ma, assignments=[(ma, b"all-of-t")])
        check(err == NONE and asg == b"all-of-t", "the leader's SyncGroup gets its assignment")
        check(heartbeat(a, "g1", 1, ma) == NONE, "Heartbeat in Stable: NONE")
        check(heartbeat(a, "g1", 7, ma) == ILLEGAL_GENERATION, "Heartbeat of another "
              "generation: ILLEGAL_GENERATION")
        check(heartbeat(a, "g1", 1, "ghost") == UNKNOWN_MEMBER_ID, "Heartbeat of an unknown "
              "member: UNKNOWN_MEMBER_ID")
        d = describe(c, "g1")
        check(d["state"] == "Stable" and d["protocol"] == "range" and len(d["members"]) == 1 and
              d["members"][0][3] == "/127.0.0.1" and d["members"][0][4] == b"all-of-t",
              "DescribeGroups: Stable, range, A with its host and assignment")

        # Offsets while the group has a member.
        r = commit(a, "g1", 1, ma, {("t", 0): (5, "m0"), ("t", 1): (7, "")})
        check(r == {("t", 0): NONE, ("t", 1): NONE}, "OffsetCommit by the member: NONE")
        r = commit(c, "g1", -1, "", {("t", 0): (9, "")})
        check(r == {("t", 0): UNKNOWN_MEMBER_ID}, "an admin commit while the group has "
              "members: UNKNOWN_MEMBER_ID")
        r = commit(a, "g1", 1, ma, {("t", 2): (1, "x" * 5000), ("nope", 0): (1, ""),
                                    ("t", 99): (1, "")})
        check(r == {("t", 2): OFFSET_METADATA_TOO_LARGE, ("nope", 0): UNKNOWN_TOPIC_OR_PARTITION,
                    ("t", 99): UNKNOWN_TOPIC_OR_PARTITION},
              "metadata over offset.metadata.max.bytes, unknown topic and partition: %r" % (r,))
        got, _ = fetch_offsets(c, "g1", {"t": [0, 1, 2]})
        check(got == {("t", 0): (5, "m0", 0), ("t", 1): (7, "", 0), ("t", 2): (-1, "", 0)},
              "OffsetFetch: committed offsets and metadata, -1 where none: %r" % (got,))
        top, per = offset_delete(c, "g1", "t", [0])
        check(top == NONE and per == {("t", 0): GROUP_SUBSCRIBED_TO_TOPIC},
              "OffsetDelete of a subscribed topic: GROUP_SUBSCRIBED_TO_TOPIC")
        check(delete_groups(c, ["g1", "never"]) == {"g1": NON_EMPTY_GROUP,
                                                     "never": GROUP_ID_NOT_FOUND},
              "DeleteGroups: NON_EMPTY_GROUP and GROUP_ID_NOT_FOUND")

        # Member B joins (v3: no handshake): parked until A rejoins.
        bconn = Conn(b.port)
        join_send(bconn, "g1", protocols=(("range", consumer_meta(["t"])),), version=3)
        check(wait_until(lambda: heartbeat(a, "g1", 1, ma) == REBALANCE_IN_PROGRESS, 5),
              "a new member starts a rebalance: A's Heartbeat says REBALANCE_IN_PROGRESS")
        ja = join(a, "g1", member=ma, protocols=(("range", consumer_meta(["t"])),))
        jb = join_recv(bconn, 3)
        check(ja["error"] == NONE and jb["error"] == NONE and ja["generation"] == 2 ==
              jb["generation"], "both joins answered in generation 2")
        check(len(ja["members"]) == 2 and jb["members"] == [] and jb["leader"] == ma,
              "the leader's answer lists both members, the follower's none")
        mb = jb["member"]
        # B syncs first (parks), then A brings the assignment.
        bconn.send(14, 3, string("g1") + s32(2) + string(mb) + string(None) + array([]))
        err, asg = sync(a, "g1", 2, ma, assignments=[(ma, b"A"), (mb, b"B")])
        rb = bconn.recv()
        rb.i32()
        check(err == NONE and asg == b"A" and rb.i16() == NONE and rb.bytes() == b"B",
              "the follower's parked SyncGroup gets its part once the leader's is stored")

        # Session timeout: B stops heartbeating; A keeps going.
        join_deadline = time.monotonic() + 15
        dropped = False
        while time.monotonic() < join_deadline:
            e = heartbeat(a, "g1", 2, ma)
            if e == REBALANCE_IN_PROGRESS:
                dropped = True
                break
            time.sleep(0.1)
        check(dropped and "missed its session timeout" in b.text(),
              "a member that stops heartbeating is dropped after its session timeout")
        ja = join(a, "g1", member=ma, protocols=(("range", consumer_meta(["t"])),))
        check(ja["generation"] == 3 and [m[0] for m in ja["members"]] == [ma],
              "A alone in generation 3")
        sync(a, "g1", 3, ma, assignments=[(ma, b"A")])

        # Static membership.
        s1 = Conn(b.port)
        j = join(s1, "g2", instance="inst-1", session=6000)
        check(j["error"] == NONE and j["generation"] == 1 and j["member"].startswith("inst-1-"),
              "a static member joins without the handshake (generation 1)")
        old = j["member"]
        sync(s1, "g2", 1, old, instance="inst-1", assignments=[(old, b"S")])
        s1.close()
        s1b = Conn(b.port)
        j = join(s1b, "g2", instance="inst-1", session=6000)
        check(j["error"] == NONE and j["generation"] == 1 and j["member"] != old,
              "the same instance restarting gets a new member id and no rebalance")
        err, asg = sync(s1b, "g2", 1, j["member"], instance="inst-1")
        check(err == NONE and asg == b"S", "... and keeps its assignment")
        check(heartbeat(c, "g2", 1, old, instance="inst-1") == FENCED_INSTANCE_ID,
              "the old incarnation is FENCED_INSTANCE_ID")
        top, per = leave(s1b, "g2", [("", "inst-1")])
        check(top == NONE and per[0][2] == NONE, "a static member leaves by instance id")

        # Leave, list, describe, delete.
        top, per = leave(a, "g1", [(ma, None), ("ghost", None)])
        check(top == NONE and [p[2] for p in per] == [NONE, UNKNOWN_MEMBER_ID],
              "batched LeaveGroup: per-member errors")
        check(wait_until(lambda: describe(c, "g1")["state"] == "Empty", 5),
              "the group is Empty after its last member left")
        groups = list_groups(c)
        check(groups.get("g1") == "consumer" and "g2" in groups, "ListGroups: %r" % (groups,))
        r = commit(c, "g1", -1, "", {("t", 3): (11, "admin")})
        check(r == {("t", 3): NONE}, "an admin commit to an Empty group: NONE")
        r = commit(c, "solo", -1, "", {("t", 0): (3, "")})
        check(r == {("t", 0): NONE} and list_groups(c).get("solo") == "",
              "a commit outside group management makes a group with no protocol type")
        top, per = offset_delete(c, "g1", "t", [1])
        check(top == NONE and per == {("t", 1): NONE}, "OffsetDelete on an Empty group: NONE")
        got, _ = fetch_offsets(c, "g1", None)
        check(got == {("t", 0): (5, "m0", 0), ("t", 3): (11, "admin", 0)},
              "OffsetFetch of all partitions (null topics): %r" % (got,))
        many = fetch_offsets_v8(c, ["g1", "solo", "unknown"])
        check(many == {"g1": {("t", 0): 5, ("t", 3): 11}, "solo": {("t", 0): 3}, "unknown": {}},
              "OffsetFetch v8: several groups at once: %r" % (many,))
        check(delete_groups(c, ["g2"]) == {"g2": NONE}, "DeleteGroups of an Empty group: NONE")
        check("g2" not in list_groups(c), "a deleted group is not listed")

        # A restart keeps offsets and groups; the deleted one stays gone.
        for x in (c, a, bconn, s1b):
            x.close()
        b.restart()
        c = Conn(b.port)
        got, _ = fetch_offsets(c, "g1", None)
        check(got == {("t", 0): (5, "m0", 0), ("t", 3): (11, "admin", 0)},
              "committed offsets survive a restart: %r" % (got,))
        groups = list_groups(c)
        check(groups.get("g1") == "consumer" and "solo" in groups and "g2" not in groups,
              "groups survive a restart, the deleted one stays deleted: %r" % (groups,))
        check(describe(c, "g1")["state"] == "Empty", "g1 is loaded Empty")
        check("loaded" in b.text(), "the broker says what it loaded")
        c.close()
        b.stop()
    finally:
        if b.proc and b.proc.poll() is None:
            b.kill()
        if failures:
            print(b.tail(60))
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d FAILED" % len(failures))
        sys.exit(1)
    print("all passed")


main()
