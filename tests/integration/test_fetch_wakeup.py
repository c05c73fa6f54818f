#!/usr/bin/python3
"""test_fetch_wakeup.py BROKER -- a parked long-poll Fetch is woken by data.

A Fetch whose MinBytes are not there waits up to MaxWaitMs; rewind parks it
and answers it when a produce makes enough bytes readable (api_fetch.c's
waiters, woken from storage's writer thread through the reactor's task
queue). A missed wake-up does not lose data -- the timer answers the fetch
at MaxWaitMs -- but stalls consumers for the whole wait, so it hides from
tests that only check records. Here every Fetch waits with MaxWaitMs 10 s,
and must be answered WITH the new records long before that: the deadline
(4 s) is a correctness check, a hundred times what a wake-up takes, not a
timing threshold.

Over raw Fetch v4 requests (one socket per parked fetch; records produced
with kafka-python 2.0.2, acks=all):
  - one partition, parked, then one record: answered with it;
  - 8 partitions of two topics in one Fetch, the record goes to the last
    one (the waiter is found on any of its partitions);
  - 6 fetches parked on the same partition on 6 connections (spread over
    the broker's reactors): one record answers them all;
  - MinBytes above one batch: records until the bytes are there, then
    answered with all of them;
  - a topic with flush.messages=1000 (acknowledged before the fdatasync):
    the readable end moves without a sync and still wakes the fetch;
  - 60 rounds of park-then-produce on one connection, alternating
    partitions, so a race between parking and the writer's wake-up gets
    many chances to show.
Processes this test starts are stopped by PID.
"""
import os
import shutil
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_harness import Broker, BrokerError, Checks, RawConn  # noqa: E402

from kafka import KafkaProducer  # noqa: E402
from kafka.admin import KafkaAdminClient, NewTopic  # noqa: E402

BROKER = sys.argv[1]
WAIT_MS = 10000          # every parked Fetch's MaxWaitMs
ANSWER_S = 4.0           # it must be answered with data well before that
check = Checks()


class FetchConn(RawConn):
    """Fetch v4 requests over one socket, and their answers."""

    def __init__(self, bootstrap):
        super().__init__(bootstrap, client_id=b"wake")
        self.corr = 0

    def send_fetch(self, parts, min_bytes=1, max_wait=WAIT_MS):
        """parts: [(topic, partition, offset)]. Sends, does not wait."""
        self.corr += 1
        by_topic = {}
        for t, p, o in parts:
            by_topic.setdefault(t, []).append((p, o))
        body = struct.pack(">iiiib", -1, max_wait, min_bytes, 50 << 20, 0)
        body += struct.pack(">i", len(by_topic))
        for t, ps in by_topic.items():
            tb = t.encode()
            body += struct.pack(">h", len(tb)) + tb + struct.pack(">i", len(ps))
            for p, o in ps:
                body += struct.pack(">iqi", p, o, 1 << 20)
        self.send(1, 4, self.corr, body)

    def recv_fetch(self):
        """{(topic, partition): (error, high watermark, records bytes)}."""
        corr, b = self.recv()
        assert corr == self.corr, (corr, self.corr)
        _throttle, nt = struct.unpack_from(">ii", b, 0)
        at = 8
        out = {}
        for _ in range(nt):
            tl = struct.unpack_from(">h", b, at)[0]
            topic = b[at + 2:at + 2 + tl].decode()
            at += 2 + tl
            np_ = struct.unpack_from(">i", b, at)[0]
            at += 4
            for _ in range(np_):
                p, err, hw, _lso, na = struct.unpack_from(">ihqqi", b, at)
                at += 4 + 2 + 8 + 8 + 4
                if na > 0:
                    at += 16 * na
                rl = struct.unpack_from(">i", b, at)[0]
                at += 4
                recs = b[at:at + max(rl, 0)]
                at += max(rl, 0)
                out[(topic, p)] = (err, hw, recs)
        return out


def parked(conn, what):
    """The fetch must not be answered yet: a short look, only to be sure
    the produce below is what answers it (an early answer would make the
    check vacuous)."""
    early = conn.ready(0.3)
    check(not early, what + ": the fetch waits while there is nothing to read")
    return not early


def answered(conn, what):
    """Waits up to ANSWER_S for the answer; returns it (or None)."""
    if not conn.ready(ANSWER_S):
        check(False, "%s: answered within %.0f s of the produce (MaxWaitMs %d): "
              "a missed wake-up" % (what, ANSWER_S, WAIT_MS))
        return None
    return conn.recv_fetch()


def has_records(resp, topic, part):
    e = resp.get((topic, part))
    return e is not None and e[0] == 0 and len(e[2]) > 0


def main():
    tmp = tempfile.mkdtemp(prefix="rewind-wakeup-")
    b = Broker(BROKER, tmp, "num.network.threads=2")
    try:
        b.start()
        run(b.bootstrap)
        b.stop()
    except BrokerError as e:
        check(False, str(e))
    finally:
        b.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    check.exit()


def run(boot):
    admin = KafkaAdminClient(bootstrap_servers=boot, client_id="wakeup")
    admin.create_topics([NewTopic("w1", 1, 1), NewTopic("w8a", 4, 1), NewTopic("w8b", 4, 1),
                         NewTopic("wmany", 1, 1), NewTopic("wmin", 1, 1),
                         NewTopic("wrelaxed", 1, 1, topic_configs={"flush.messages": "1000"}),
                         NewTopic("wloop", 2, 1)])
    admin.close()
    prod = KafkaProducer(bootstrap_servers=boot, acks="all", linger_ms=0)

    def produce(topic, part, value=b"v" * 100):
        prod.send(topic, value=value, partition=part).get(timeout=30)

    def park_produce_answer(what, parts, to):
        """One fetch parked on parts; a record produced to `to`; the answer
        must hold it. Returns the answer (or None)."""
        c = FetchConn(boot)
        c.send_fetch(parts)
        r = None
        if parked(c, what):
            produce(*to)
            r = answered(c, what)
            if r is not None:
                check(has_records(r, *to), what + ": the answer holds the new record")
        c.close()
        return r

    park_produce_answer("one partition", [("w1", 0, 0)], ("w1", 0))
    # Eight partitions over two topics; the record lands on the last.
    r = park_produce_answer("eight partitions",
                            [("w8a", p, 0) for p in range(4)] + [("w8b", p, 0) for p in range(4)],
                            ("w8b", 3))
    if r is not None:
        check(len(r) == 8, "eight partitions: all 8 partitions listed in the answer")

    # Six fetches parked on one partition, on six connections.
    conns = [FetchConn(boot) for _ in range(6)]
    for x in conns:
        x.send_fetch([("wmany", 0, 0)])
    if all(parked(x, "six parked fetches") for x in conns):
        produce("wmany", 0)
        got = [answered(x, "six parked fetches") for x in conns]
        check(all(r is not None and has_records(r, "wmany", 0) for r in got),
              "six parked fetches: one record answers every one of them")
    for x in conns:
        x.close()

    # MinBytes above one batch: answered once enough batches are there.
    c = FetchConn(boot)
    c.send_fetch([("wmin", 0, 0)], min_bytes=1500)
    if parked(c, "MinBytes 1500"):
        sent = 0
        resp = None
        while sent < 12 and resp is None:
            produce("wmin", 0, b"m" * 400)
            sent += 1
            if c.ready(0.05):
                resp = c.recv_fetch()
        if resp is None:
            resp = answered(c, "MinBytes 1500")
        if resp is not None:
            n = len(resp[("wmin", 0)][2])
            check(n >= 1500, "MinBytes 1500: answered holding %d bytes (after %d produces)"
                  % (n, sent))

    # A relaxed flush policy: readable (and acknowledged) before the sync.
    park_produce_answer("flush.messages=1000", [("wrelaxed", 0, 0)], ("wrelaxed", 0))

    # Many rounds on one connection: park, produce, answer.
    c = FetchConn(boot)
    offsets = [0, 0]
    slow = []
    for i in range(60):
        p = i % 2
        c.send_fetch([("wloop", 0, offsets[0]), ("wloop", 1, offsets[1])])
        produce("wloop", p)
        r = answered(c, "round %d" % i)
        if r is None:
            slow.append(i)
            break
        if has_records(r, "wloop", p):
            offsets[p] += 1
            if len(r[("wloop", 1 - p)][2]) > 0:
                offsets[1 - p] += 1
        else:
            # Answered without the record: only the timer answers that way.
            slow.append(i)
            check(False, "round %d: answered without the record just produced" % i)
            break
    check(not slow, "60 rounds of park-then-produce were all answered with their record")
    c.close()
    prod.close()


if __name__ == "__main__":
    main()
