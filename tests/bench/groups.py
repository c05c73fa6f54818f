#!/usr/bin/python3
"""groups.py -- the group coordinator's speed: how fast a group settles, and
how many offset commits per second it sustains.

usage: groups.py --broker PATH [--quick] [--members N] [--partitions N]
                 [--delays MS,MS,...] [--seconds S] [--connections N]
                 [--inflight N] [--per-request N] [--librdkafka]

For each initial delay in --delays (group.initial.rebalance.delay.ms) a
fresh rewind-broker starts on a free port with a temporary data dir, a
topic with --partitions partitions (default 60) is created, and:

  1. settle: --members (default 10) members, each a thread with its own
     connection speaking the classic protocol over raw requests
     (FindCoordinator v1, JoinGroup v5 with the MEMBER_ID_REQUIRED
     handshake, SyncGroup v3, Heartbeat v3 every 100 ms, rejoining on
     REBALANCE_IN_PROGRESS; the leader assigns by range), start together.
     Measured: from the last member's JoinGroup carrying its member id
     (the join the broker waits for) to the moment every member holds an
     assignment of the same generation covering every partition; printed
     beside the configured delay, with the number of generations it took.
     Python's threads and the 100 ms heartbeat are part of the figure: it
     is an upper bound on the broker's own time.
  1b. with --librdkafka, the same group size with confluent-kafka 1.7.0
     consumers (range, then cooperative-sticky; heartbeats every 500 ms),
     from the last subscribe() to every consumer's assignment covering all
     partitions, and how many generations the broker formed for it: what a
     real client adds (its own join timing, and cooperative-sticky's
     second rebalance).
  2. commits: while the group stays Stable, --connections connections
     (default 4) each keep --inflight OffsetCommit v7 requests (default 64)
     in flight for --seconds (default 5), as the group's members (their
     generation and member ids), each request committing --per-request
     partitions (default 1) at increasing offsets. Printed: requests/s and
     offsets/s, and the latency of each request (p50/p99). Afterwards an
     OffsetFetch v5 must return the last offset committed for every
     partition, so the figure counts commits that were applied.

A commit here is answered after its __consumer_offsets record is durable
(written and fdatasync'ed, group commit), so the figure includes the disk.

--quick (what `meson test --suite bench` runs: delays 0 and 300, 1 s of
commits) fails only when something does not work -- an error code, a group
that never settles, an OffsetFetch that disagrees -- never on a figure.
Only brokers this script started are signalled, by PID.
"""
import argparse
import os
import select
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from broker_harness import Broker, BrokerError  # noqa: E402

TOPIC = "bench-groups"
GROUP = "bench-group"
SESSION_MS = 10000
REBALANCE_MS = 10000
HEARTBEAT_S = 0.1

NONE, REBALANCE_IN_PROGRESS, MEMBER_ID_REQUIRED = 0, 27, 79
UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION = 25, 22


class BenchError(Exception):
    pass


# ---- wire encoding (request header v1, non-flexible versions only)

def i8(v): return struct.pack(">b", v)
def i16(v): return struct.pack(">h", v)
def i32(v): return struct.pack(">i", v)
def i64(v): return struct.pack(">q", v)


def kstr(s):
    if s is None:
        return i16(-1)
    b = s.encode()
    return i16(len(b)) + b


def kbytes(b):
    if b is None:
        return i32(-1)
    return i32(len(b)) + b


def karray(items):
    return i32(len(items)) + b"".join(items)


def frame(api_key, version, corr, body, client_id="bench-groups"):
    msg = i16(api_key) + i16(version) + i32(corr) + kstr(client_id) + body
    return i32(len(msg)) + msg


class Reader:
    def __init__(self, b):
        self.b, self.p = b, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.b, self.p)[0]
        self.p += struct.calcsize(fmt)
        return v

    def i16(self): return self.take(">h")
    def i32(self): return self.take(">i")
    def i64(self): return self.take(">q")

    def str(self):
        n = self.i16()
        if n < 0:
            return None
        s = self.b[self.p:self.p + n].decode()
        self.p += n
        return s

    def bytes(self):
        n = self.i32()
        if n < 0:
            return None
        s = self.b[self.p:self.p + n]
        self.p += n
        return s


class Conn:
    """One blocking connection: request() sends one request and returns the
    response body (after the correlation id)."""

    def __init__(self, bootstrap):
        host, port = bootstrap.rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), timeout=30)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.corr = 0

    def recv_exact(self, n):
        out = bytearray()
        while len(out) < n:
            chunk = self.s.recv(n - len(out))
            if not chunk:
                raise BenchError("broker closed the connection")
            out += chunk
        return bytes(out)

    def request(self, api_key, version, body):
        self.corr += 1
        self.s.sendall(frame(api_key, version, self.corr, body))
        size = struct.unpack(">i", self.recv_exact(4))[0]
        resp = self.recv_exact(size)
        corr = struct.unpack_from(">i", resp)[0]
        if corr != self.corr:
            raise BenchError("correlation id %d, expected %d" % (corr, self.corr))
        return Reader(resp[4:])

    def close(self):
        self.s.close()


# ---- consumer protocol (subscription and assignment v0)

def subscription():
    return i16(0) + karray([kstr(TOPIC)]) + kbytes(None)


def assignment(parts):
    return i16(0) + karray([kstr(TOPIC) + karray([i32(p) for p in parts])]) + kbytes(None)


def parse_assignment(b):
    if not b:
        return []
    r = Reader(b)
    r.i16()
    parts = []
    for _ in range(r.i32()):
        r.str()
        parts += [r.i32() for _ in range(r.i32())]
    return parts


# ---- group members

class Member(threading.Thread):
    """A group member: join, sync, heartbeat, rejoin when told to."""

    def __init__(self, idx, bootstrap, partitions, start):
        super().__init__(daemon=True)
        self.idx = idx
        self.bootstrap = bootstrap
        self.partitions = partitions
        self.start_ev = start
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.member_id = ""
        self.generation = -1
        self.parts = None          # assignment of self.generation
        self.join_sent = None      # monotonic time of the first join with a member id
        self.joins = 0
        self.error = None

    def snapshot(self):
        with self.lock:
            return self.generation, self.parts, self.member_id

    def join_group(self, c):
        while True:
            body = (kstr(GROUP) + i32(SESSION_MS) + i32(REBALANCE_MS) + kstr(self.member_id)
                    + kstr(None) + kstr("consumer")
                    + karray([kstr("range") + kbytes(subscription())]))
            if self.member_id and self.join_sent is None:
                self.join_sent = time.monotonic()
            self.joins += 1
            r = c.request(11, 5, body)
            r.i32()
            err, gen, proto, leader, mid = r.i16(), r.i32(), r.str(), r.str(), r.str()
            members = []
            for _ in range(r.i32()):
                m_id = r.str()
                r.str()
                r.bytes()
                members.append(m_id)
            if err == MEMBER_ID_REQUIRED:
                self.member_id = mid
                continue
            if err == UNKNOWN_MEMBER_ID:
                self.member_id = ""
                continue
            if err != NONE:
                raise BenchError("member %d: JoinGroup error %d" % (self.idx, err))
            self.member_id = mid
            return gen, leader == mid, sorted(members)

    def sync_group(self, c, gen, members):
        assigns = []
        if members:
            n = len(members)
            per, extra = divmod(self.partitions, n)
            p = 0
            for i, m in enumerate(members):
                k = per + (1 if i < extra else 0)
                assigns.append(kstr(m) + kbytes(assignment(range(p, p + k))))
                p += k
        body = (kstr(GROUP) + i32(gen) + kstr(self.member_id) + kstr(None) + karray(assigns))
        r = c.request(14, 3, body)
        r.i32()
        err = r.i16()
        return err, parse_assignment(r.bytes())

    def run(self):
        try:
            c = Conn(self.bootstrap)
            r = c.request(10, 1, kstr(GROUP) + i8(0))
            r.i32()
            err = r.i16()
            if err != NONE:
                raise BenchError("FindCoordinator error %d" % err)
            self.start_ev.wait()
            while not self.stop_ev.is_set():
                gen, leader, members = self.join_group(c)
                err, parts = self.sync_group(c, gen, members if leader else [])
                if err == REBALANCE_IN_PROGRESS:
                    continue
                if err != NONE:
                    raise BenchError("member %d: SyncGroup error %d" % (self.idx, err))
                with self.lock:
                    self.generation, self.parts = gen, parts
                # Heartbeat until told to rejoin or stopped.
                while not self.stop_ev.wait(HEARTBEAT_S):
                    r = c.request(12, 3, kstr(GROUP) + i32(gen) + kstr(self.member_id) + kstr(None))
                    r.i32()
                    err = r.i16()
                    if err == REBALANCE_IN_PROGRESS:
                        break
                    if err != NONE:
                        raise BenchError("member %d: Heartbeat error %d" % (self.idx, err))
            r = c.request(13, 3, kstr(GROUP) + karray([kstr(self.member_id) + kstr(None)]))
            c.close()
        except Exception as e:  # noqa: BLE001 -- reported by the main thread
            self.error = e


def settle(bootstrap, n_members, partitions):
    """Starts n_members together; returns (seconds from the last member-id
    JoinGroup to all assigned, generation, members)."""
    start = threading.Event()
    ms = [Member(i, bootstrap, partitions, start) for i in range(n_members)]
    for m in ms:
        m.start()
    start.set()
    deadline = time.monotonic() + 60
    while True:
        errs = [m.error for m in ms if m.error]
        if errs:
            raise BenchError("member failed: %r" % errs[0])
        snaps = [m.snapshot() for m in ms]
        gens = {g for g, _, _ in snaps}
        if len(gens) == 1 and -1 not in gens:
            parts = sorted(p for _, ps, _ in snaps for p in ps)
            if parts == list(range(partitions)) and all(ps for _, ps, _ in snaps):
                t_done = time.monotonic()
                break
        if time.monotonic() > deadline:
            raise BenchError("the group did not settle in 60 s: generations %s" % sorted(gens))
        time.sleep(0.001)
    last_join = max(m.join_sent for m in ms)
    return t_done - last_join, snaps[0][0], ms


# ---- commits

def commit_load(bootstrap, members, partitions, seconds, connections, inflight, per_request):
    """Pipelined OffsetCommit v7 as the group's members; returns (requests,
    offsets, elapsed, latencies, last offset per partition)."""
    stop_at = [None]
    results = []
    last = {}
    lock = threading.Lock()

    def worker(k):
        gen, _, mid = members[k % len(members)].snapshot()
        c = Conn(bootstrap)
        sock = c.s
        sock.setblocking(False)
        corr = 0
        next_off = 1
        sent = {}               # corr -> (send time, [(partition, offset)])
        lat = []
        reqs = 0
        buf = bytearray()
        outbuf = bytearray()
        mine = list(range(k, partitions, connections)) or [k % partitions]
        cursor = 0
        my_last = {}

        def make():
            nonlocal corr, next_off, cursor
            corr += 1
            parts = []
            for _ in range(per_request):
                parts.append((mine[cursor % len(mine)], next_off))
                cursor += 1
            next_off += 1
            body = (kstr(GROUP) + i32(gen) + kstr(mid) + kstr(None)
                    + karray([kstr(TOPIC) + karray([i32(p) + i64(o) + i32(-1) + kstr(None)
                                                    for p, o in parts])]))
            sent[corr] = (time.monotonic(), parts)
            return frame(8, 7, corr, body)

        while stop_at[0] is None:
            time.sleep(0.001)
        for _ in range(inflight):
            outbuf += make()
        while True:
            now = time.monotonic()
            done = now >= stop_at[0]
            if done and not sent:
                break
            want_w = bool(outbuf)
            r, w, _ = select.select([sock], [sock] if want_w else [], [], 1.0)
            if w:
                n = sock.send(outbuf)
                del outbuf[:n]
            if not r:
                continue
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise BenchError("broker closed a commit connection")
            buf += chunk
            while len(buf) >= 4:
                size = struct.unpack_from(">i", buf)[0]
                if len(buf) < 4 + size:
                    break
                resp = Reader(bytes(buf[4:4 + size]))
                del buf[:4 + size]
                rc = resp.i32()
                t_sent, parts = sent.pop(rc)
                resp.i32()
                for _ in range(resp.i32()):
                    resp.str()
                    for _ in range(resp.i32()):
                        p, err = resp.i32(), resp.i16()
                        if err != NONE:
                            raise BenchError("OffsetCommit partition %d: error %d" % (p, err))
                t_now = time.monotonic()
                lat.append(t_now - t_sent)
                reqs += 1
                for p, o in parts:
                    my_last[p] = o
                if t_now < stop_at[0]:
                    outbuf += make()
        c.close()
        with lock:
            results.append((reqs, lat))
            last.update(my_last)

    errors = []

    def guarded(k):
        try:
            worker(k)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=guarded, args=(k,), daemon=True) for k in range(connections)]
    for t in ts:
        t.start()
    t0 = time.monotonic()
    stop_at[0] = t0 + seconds
    for t in ts:
        t.join(seconds + 60)
    elapsed = time.monotonic() - t0
    if errors:
        raise BenchError("commit connection failed: %r" % errors[0])
    reqs = sum(r for r, _ in results)
    lats = sorted(x for _, lat in results for x in lat)
    return reqs, reqs * per_request, elapsed, lats, last


def offset_fetch(bootstrap, partitions):
    c = Conn(bootstrap)
    r = c.request(9, 5, kstr(GROUP) + karray([kstr(TOPIC) + karray([i32(p) for p in range(partitions)])]))
    r.i32()
    got = {}
    for _ in range(r.i32()):
        r.str()
        for _ in range(r.i32()):
            p, off = r.i32(), r.i64()
            r.i32()
            r.str()
            err = r.i16()
            if err != NONE:
                raise BenchError("OffsetFetch partition %d: error %d" % (p, err))
            got[p] = off
    err = r.i16()
    c.close()
    if err != NONE:
        raise BenchError("OffsetFetch error %d" % err)
    return got


def create_topic(bootstrap, partitions):
    """CreateTopics v4 (non-flexible)."""
    c = Conn(bootstrap)
    body = karray([kstr(TOPIC) + i32(partitions) + i16(1) + karray([]) + karray([])]) + i32(30000) + i8(0)
    r = c.request(19, 4, body)
    r.i32()
    for _ in range(r.i32()):
        name, err = r.str(), r.i16()
        r.str()
        if err not in (NONE, 36):
            raise BenchError("CreateTopics %s: error %d" % (name, err))
    c.close()


def cpu_seconds(pid):
    """utime + stime of a process, seconds (/proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(xs, q):
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def settle_librdkafka(broker, n_members, partitions, strategy):
    """The same group with confluent-kafka (librdkafka) consumers in one
    thread, heartbeat.interval.ms=500: seconds from the last subscribe()
    to every consumer's assignment covering all partitions, and the
    generations the broker formed."""
    import confluent_kafka
    group = "bench-rdkafka-" + strategy
    held = [set() for _ in range(n_members)]
    cs = []

    def cbs(i):
        def on_assign(c, parts):
            held[i] |= {p.partition for p in parts}

        def on_revoke(c, parts):
            held[i] -= {p.partition for p in parts}
        return on_assign, on_revoke
    try:
        for i in range(n_members):
            c = confluent_kafka.Consumer({
                "bootstrap.servers": broker.bootstrap, "group.id": group,
                "session.timeout.ms": SESSION_MS, "heartbeat.interval.ms": 500,
                "partition.assignment.strategy": strategy, "enable.auto.commit": False})
            cs.append(c)
        for i, c in enumerate(cs):
            a, r = cbs(i)
            c.subscribe([TOPIC], on_assign=a, on_revoke=r)
        t_last = time.monotonic()
        deadline = t_last + 60
        while True:
            parts = sorted(p for h in held for p in h)
            if parts == list(range(partitions)) and all(held):
                break
            if time.monotonic() > deadline:
                raise BenchError("librdkafka group (%s) did not settle in 60 s: %s" % (
                    strategy, [sorted(h) for h in held]))
            for c in cs:
                c.poll(0.01)
        secs = time.monotonic() - t_last
    finally:
        for c in cs:
            c.close()
    gens = [l for l in broker.text().splitlines()
            if "group %s: generation" % group in l and " members, protocol " in l]
    return secs, len(gens)


def run_one(args, delay_ms):
    tmp = tempfile.mkdtemp(prefix="rewind-bench-groups-")
    broker = Broker(args.broker, tmp, "group.initial.rebalance.delay.ms=%d" % delay_ms,
                    "offsets.topic.num.partitions=50")
    ms = []
    try:
        broker.start()
        create_topic(broker.bootstrap, args.partitions)
        secs, gen, ms = settle(broker.bootstrap, args.members, args.partitions)
        print("settle  delay %5d ms: %2d members on %d partitions settled %7.1f ms after the "
              "last JoinGroup (%+.1f ms beyond the delay), generation %d, %d JoinGroups" % (
                  delay_ms, args.members, args.partitions, secs * 1000, secs * 1000 - delay_ms,
                  gen, sum(m.joins for m in ms)), flush=True)
        if args.librdkafka:
            for strategy in ("range", "cooperative-sticky"):
                secs, ngen = settle_librdkafka(broker, args.members, args.partitions, strategy)
                print("settle  delay %5d ms: %2d librdkafka consumers (%s) assigned %7.1f ms after "
                      "the last subscribe(), %d generation(s)" % (
                          delay_ms, args.members, strategy, secs * 1000, ngen), flush=True)
        cpu0 = cpu_seconds(broker.proc.pid)
        reqs, offs, el, lats, last = commit_load(broker.bootstrap, ms, args.partitions,
                                                 args.seconds, args.connections, args.inflight,
                                                 args.per_request)
        cpu = cpu_seconds(broker.proc.pid) - cpu0
        got = offset_fetch(broker.bootstrap, args.partitions)
        for p, o in last.items():
            if got.get(p) != o:
                raise BenchError("OffsetFetch partition %d: %r, last committed %d" % (p, got.get(p), o))
        print("commits delay %5d ms: %d x %d in flight, %d offset(s) per request: %9.0f requests/s "
              "%9.0f offsets/s over %.1f s; latency p50 %.2f ms p99 %.2f ms; broker CPU %.0f%% of a "
              "core; OffsetFetch agrees" % (
                  delay_ms, args.connections, args.inflight, args.per_request, reqs / el,
                  offs / el, el, pct(lats, 0.5) * 1000, pct(lats, 0.99) * 1000,
                  100.0 * cpu / el), flush=True)
        for m in ms:
            m.stop_ev.set()
        for m in ms:
            m.join(10)
        errs = [m.error for m in ms if m.error]
        if errs:
            raise BenchError("member failed: %r" % errs[0])
        broker.stop()
    except Exception as e:  # noqa: BLE001 -- whatever it was, the broker goes
        if not isinstance(e, (BenchError, BrokerError, OSError)):
            import traceback
            traceback.print_exc()
        sys.stderr.write("groups.py: %s\n---- broker log\n%s" % (e, broker.tail(30)))
        for m in ms:
            m.stop_ev.set()
        broker.kill()
        shutil.rmtree(tmp, ignore_errors=True)
        sys.exit(1)
    shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--broker", required=True, help="path of rewind-broker")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--members", type=int, default=10)
    ap.add_argument("--partitions", type=int, default=60)
    ap.add_argument("--delays", default=None, help="initial rebalance delays, ms, comma-separated")
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--inflight", type=int, default=64)
    ap.add_argument("--per-request", type=int, default=1)
    ap.add_argument("--librdkafka", action="store_true",
                    help="also settle a group of confluent-kafka consumers (range, cooperative-sticky)")
    args = ap.parse_args()
    if args.delays is None:
        args.delays = "0,300" if args.quick else "0,3000"
    if args.seconds is None:
        args.seconds = 1.0 if args.quick else 5.0
    if not os.access(args.broker, os.X_OK):
        sys.stderr.write("groups.py: no program at %r; build the tree and pass "
                         "--broker BUILD/broker/rewind-broker\n" % args.broker)
        sys.exit(1)
    for d in args.delays.split(","):
        run_one(args, int(d))
    if args.per_request == 1 and not args.quick:
        # The same with a request committing every partition at once, as a
        # consumer's commit of its whole assignment does.
        args.per_request = args.partitions // args.connections
        run_one(args, int(args.delays.split(",")[0]))


if __name__ == "__main__":
    main()
