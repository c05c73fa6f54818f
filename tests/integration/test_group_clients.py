#!/usr/bin/python3
"""test_group_clients.py BROKER CASE -- consumer groups with real clients.

One rewind-broker on a free port with a temporary data dir
(group.initial.rebalance.delay.ms=0, few __consumer_offsets partitions);
consumers use session.timeout.ms=6000 (the broker's minimum), heartbeats
every 500 ms. CASE picks one scenario, so each is its own meson test:

  cooperative  confluent-kafka 1.7.0 with cooperative-sticky, 6 partitions:
               two members split them 3/3; a third joins and takes 2 by
               incremental revoke/assign (the first two keep the rest and
               are never told to drop everything); one leaves and the other
               two take its partitions back incrementally well within the
               session timeout. Records produced in every phase are consumed
               exactly once across the group.
  range        the same with the eager range assignor: every change revokes
               and reassigns everything; 3/3, then 2/2/2, then 3/3.
  kafka-python kafka-python 2.0.2 KafkaConsumer(group_id=...), two members
               (one thread each: kafka-python rejoins inside poll()), split
               6 partitions; every record once; one closes (LeaveGroup), the
               other takes over all 6 and reads what comes after.
  resume       commit part of what was read (confluent-kafka, and
               kafka-python with commit metadata), read more without
               committing, restart the broker (SIGTERM): the committed
               offsets and metadata are back (OffsetFetch) and a new consumer
               in the group resumes exactly there -- the uncommitted records
               again, nothing skipped, nothing else twice. Then commits
               acknowledged before a SIGKILL of the broker are still there
               after it (later unacknowledged ones may or may not be).
               Commit metadata at offset.metadata.max.bytes is kept, one
               byte more is OFFSET_METADATA_TOO_LARGE.
  static       three confluent-kafka members with group.instance.id; one is
               closed (a static member sends no LeaveGroup) and started again
               within the session timeout: it gets the same partitions, the
               group generation does not change (broker log), the other two
               see no rebalance callback, and records are still read once.
               Then it is closed for good: after the session timeout the
               other two take its partitions over.
  churn        records keep coming (a producer thread) while cooperative-
               sticky members (auto commit) join and leave: every record is
               read, none twice.
  restart-live the broker restarts (SIGTERM) under two live range members:
               it loads the group, the members carry on, records produced
               after the restart are read once.
  mixed        a kafka-python and a confluent-kafka member in one group: the
               broker picks the protocol both offer (range), they split the
               partitions and read every record once.
  fencing      a second consumer with a live member's group.instance.id
               takes its place; the first is fenced (FENCED_INSTANCE_ID).
  admin        kafka-python's KafkaAdminClient and confluent-kafka's
               list_groups on a live group (list, describe with members and
               assignments, every committed offset), DeleteGroups refused
               while it has members and done once it is empty; offsets of a
               deleted topic go at the next check; a group of plain commits
               expires after offsets.retention.ms while the live group's
               offsets stay.
  initial-delay  group.initial.rebalance.delay.ms=2000: three members
               arriving 300 ms apart share the first generation (one
               rebalance), formed after the delay.
  delete-race  DeleteGroups the moment a group's last member left (the
               broker still storing its empty generation), 50 times.

Exactly once is checked by value: every produced value arrives once, and a
drain afterwards brings nothing more. Waits poll with deadlines. Only the
broker this script started is signalled, by PID.
"""
import collections
import os
import re
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_harness import Broker, BrokerError, wait_until  # noqa: E402

import confluent_kafka  # noqa: E402
from confluent_kafka import TopicPartition as CTP  # noqa: E402
from confluent_kafka import admin as cadmin  # noqa: E402

BROKER = sys.argv[1]
CASE = sys.argv[2]
TMP = tempfile.mkdtemp(prefix="rewind-gclients-")
broker = Broker(BROKER, TMP, "num.partitions=1", "group.initial.rebalance.delay.ms=0",
                "offsets.topic.num.partitions=4")
SESSION_MS = 6000
checks = 0
consumers = []     # closed at exit so no librdkafka thread outlives the test


def fail(msg):
    sys.stderr.write("FAIL [%s]: %s\n" % (CASE, msg))
    sys.stderr.write("---- broker log (last start)\n" + broker.tail(60))
    broker.kill()
    shutil.rmtree(TMP, ignore_errors=True)
    os._exit(1)   # consumer threads may still be running


def check(cond, msg):
    global checks
    if not cond:
        fail(msg)
    checks += 1


def note(msg):
    print("[%s] %s" % (CASE, msg), flush=True)


def create_topic(name, partitions):
    a = cadmin.AdminClient({"bootstrap.servers": broker.bootstrap})
    for f in a.create_topics([cadmin.NewTopic(name, partitions, 1)],
                             operation_timeout=30).values():
        f.result(30)


def produce(topic, partitions, per_partition, tag):
    """per_partition records to each partition, values b"TAG|p|i"; waits for
    every ack and returns the set of values."""
    p = confluent_kafka.Producer({"bootstrap.servers": broker.bootstrap, "acks": "all",
                                  "linger.ms": 5})
    errors, values = [], set()
    for part in range(partitions):
        for i in range(per_partition):
            v = b"%s|%d|%d" % (tag.encode(), part, i)
            values.add(v)
            p.produce(topic, value=v, partition=part,
                      on_delivery=lambda e, m: errors.append(e) if e else None)
    left = p.flush(30)
    check(left == 0 and not errors, "produce %s: %d unflushed, errors %r" % (tag, left, errors))
    return values


def generations():
    """Generation numbers the broker has logged forming, for every group."""
    return [(g, int(n)) for g, n in re.findall(r"group (\S+): generation (\d+) with", broker.text())]


# ---- confluent-kafka members

class Member:
    """A confluent-kafka group consumer; its rebalance callbacks are logged
    in events as ("assign"|"revoke"|"lost", frozenset of partitions) and
    applied to assigned (incremental for cooperative, whole for eager: an
    eager revoke names everything, so the same two set operations serve)."""

    def __init__(self, name, group, topic, strategy, commit_on_revoke=True, **extra):
        self.name = name
        self.commit_on_revoke = commit_on_revoke
        self.events = []
        self.assigned = set()
        self.got = []                 # (partition, offset, value)
        conf = {"bootstrap.servers": broker.bootstrap, "group.id": group,
                "client.id": name, "auto.offset.reset": "earliest",
                "enable.auto.commit": False, "session.timeout.ms": SESSION_MS,
                "heartbeat.interval.ms": 500, "max.poll.interval.ms": 10000,
                "partition.assignment.strategy": strategy}
        conf.update(extra)
        self.c = confluent_kafka.Consumer(conf)
        consumers.append(self.c)
        self.closed = False
        self.c.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                         on_lost=self._on_lost)

    def _on_assign(self, c, parts):
        s = frozenset(p.partition for p in parts)
        self.events.append(("assign", s))
        self.assigned |= s

    def _on_revoke(self, c, parts):
        s = frozenset(p.partition for p in parts)
        self.events.append(("revoke", s))
        # Commit what was read before the partitions go (the usual pattern;
        # phases here are drained and committed already, so it is a no-op
        # unless a test is about to fail anyway).
        if self.commit_on_revoke:
            self.commit()
        self.assigned -= s

    def _on_lost(self, c, parts):
        s = frozenset(p.partition for p in parts)
        self.events.append(("lost", s))
        self.assigned -= s

    def poll(self, timeout=0.05):
        m = self.c.poll(timeout)
        if m is None:
            return
        if m.error():
            if m.error().code() == confluent_kafka.KafkaError._PARTITION_EOF:
                return
            fail("%s: consumer error %s" % (self.name, m.error()))
        self.got.append((m.partition(), m.offset(), m.value()))

    def commit(self):
        """Commits the positions of the current assignment, synchronously."""
        try:
            self.c.commit(asynchronous=False)
        except confluent_kafka.KafkaException as e:
            if e.args[0].code() != confluent_kafka.KafkaError._NO_OFFSET:
                fail("%s: commit failed: %s" % (self.name, e))

    def close(self):
        self.c.close()
        self.closed = True


def pump(members, until, timeout, what):
    """Polls every open member in turn until until() is true; fails after
    timeout seconds. Returns the seconds it took."""
    t0 = time.monotonic()
    while not until():
        if time.monotonic() - t0 > timeout:
            fail("timed out after %.0f s waiting for %s; assignments %s" % (
                timeout, what, {m.name: sorted(m.assigned) for m in members if not m.closed}))
        for m in members:
            if not m.closed:
                m.poll()
    return time.monotonic() - t0


def covers(members, partitions, sizes=None):
    """True when the open members' assignments are disjoint, cover
    0..partitions-1, and (optionally) have the given sizes, sorted."""
    def fn():
        live = [m for m in members if not m.closed]
        parts = [p for m in live for p in m.assigned]
        if len(parts) != partitions or set(parts) != set(range(partitions)):
            return False
        return sizes is None or sorted(len(m.assigned) for m in live) == sorted(sizes)
    return fn


def consume_all(members, values, what):
    """Pumps until every value in values has arrived across members, then
    drains 1 s more; checks each arrived exactly once and nothing else did.
    Then every member commits."""
    start = {m.name: len(m.got) for m in members}

    def arrived():
        return [v for m in members for (_, _, v) in m.got[start[m.name]:]]
    pump(members, lambda: len(arrived()) >= len(values), 30,
         "%s: %d records" % (what, len(values)))
    drain_end = time.monotonic() + 1.0
    pump(members, lambda: time.monotonic() >= drain_end, 5, "drain")
    got = collections.Counter(arrived())
    dups = [v for v, n in got.items() if n > 1]
    check(not dups, "%s: %d records consumed twice, e.g. %r" % (what, len(dups), dups[:3]))
    check(set(got) == values, "%s: missing %d, unexpected %d" % (
        what, len(values - set(got)), len(set(got) - values)))
    for m in members:
        if not m.closed:
            m.commit()


# ---- cases

def case_group_rebalance(strategy):
    cooperative = strategy == "cooperative-sticky"
    topic, group, P, K = "t-" + strategy, "g-" + strategy, 6, 50
    create_topic(topic, P)
    a = Member("a", group, topic, strategy)
    b = Member("b", group, topic, strategy)
    ms = [a, b]
    t = pump(ms, covers(ms, P, [3, 3]), 30, "two members to split 6 partitions 3/3")
    note("two members: %s / %s after %.2f s" % (sorted(a.assigned), sorted(b.assigned), t))
    consume_all(ms, produce(topic, P, K, "one"), "phase 1 (a, b)")

    # A third member joins.
    held = {m.name: set(m.assigned) for m in ms}
    ev0 = {m.name: len(m.events) for m in ms}
    c = Member("c", group, topic, strategy)
    ms.append(c)
    t = pump(ms, covers(ms, P, [2, 2, 2]), 30, "three members to split 6 partitions 2/2/2")
    note("c joined: a %s, b %s, c %s after %.2f s" % (
        sorted(a.assigned), sorted(b.assigned), sorted(c.assigned), t))
    for m in (a, b):
        evs = m.events[ev0[m.name]:]
        revoked = set().union(*[s for k, s in evs if k == "revoke"]) if evs else set()
        check(not any(k == "lost" for k, _ in evs), "%s: partitions lost on a join: %r" % (m.name, evs))
        if cooperative:
            # Incremental: only what moves to c is revoked; what stays is
            # never revoked, and nothing is assigned to a or b.
            check(revoked == held[m.name] - m.assigned,
                  "%s: cooperative join revoked %s, held %s, keeps %s" % (
                      m.name, sorted(revoked), sorted(held[m.name]), sorted(m.assigned)))
            check(not any(k == "assign" and s for k, s in evs),
                  "%s: cooperative join assigned it partitions: %r" % (m.name, evs))
            check(m.assigned <= held[m.name], "%s: gained partitions on a join" % m.name)
        else:
            check(revoked == held[m.name], "%s: eager join revoked %s of %s" % (
                m.name, sorted(revoked), sorted(held[m.name])))
    consume_all(ms, produce(topic, P, K, "two"), "phase 2 (a, b, c)")

    # b leaves (close sends LeaveGroup): a and c take over, well within the
    # session timeout.
    held = {m.name: set(m.assigned) for m in ms}
    ev0 = {m.name: len(m.events) for m in ms}
    t0 = time.monotonic()
    b.close()
    t = pump(ms, covers(ms, P, [3, 3]), 30, "a and c to take over b's partitions")
    took = time.monotonic() - t0
    note("b left: a %s, c %s after %.2f s" % (sorted(a.assigned), sorted(c.assigned), took))
    check(took < SESSION_MS / 1000.0, "taking over after a LeaveGroup took %.2f s, not within "
          "the session timeout" % took)
    if cooperative:
        for m in (a, c):
            evs = m.events[ev0[m.name]:]
            check(not any(k in ("revoke", "lost") and s for k, s in evs),
                  "%s: a leave in a cooperative group revoked its partitions: %r" % (m.name, evs))
            check(m.assigned >= held[m.name], "%s: lost partitions when b left" % m.name)
    consume_all(ms, produce(topic, P, K, "three"), "phase 3 (a, c)")
    gens = [n for g, n in generations() if g == group]
    note("generations of %s in the broker log: %s" % (group, gens))
    a.close()
    c.close()


def case_kafka_python():
    from kafka import KafkaConsumer
    topic, group, P, K = "t-kpy", "g-kpy", 6, 50
    create_topic(topic, P)
    lock = threading.Lock()

    class KMember(threading.Thread):
        def __init__(self, name):
            super().__init__(daemon=True)
            self.name_ = name
            self.got = []
            self.assigned = set()
            self.stop = threading.Event()
            self.error = None
            self.closed = False
            self.c = KafkaConsumer(
                topic, bootstrap_servers=broker.bootstrap, group_id=group, client_id=name,
                auto_offset_reset="earliest", enable_auto_commit=False,
                session_timeout_ms=SESSION_MS, heartbeat_interval_ms=500,
                max_poll_interval_ms=10000)

        def run(self):
            try:
                while not self.stop.is_set():
                    recs = self.c.poll(timeout_ms=100)
                    with lock:
                        for tp, rs in recs.items():
                            self.got += [(tp.partition, r.offset, r.value) for r in rs]
                        self.assigned = {tp.partition for tp in self.c.assignment()}
                    if recs:
                        self.c.commit()
                self.c.close()     # commits nothing more (auto commit off); LeaveGroup
            except Exception as e:  # noqa: BLE001 -- reported by the main thread
                self.error = e

    def wait(what, fn, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            with lock:
                errs = [m.error for m in ms if m.error]
                if not errs and fn():
                    return
            check(not errs, "kafka-python consumer failed: %r" % errs)
            check(time.monotonic() < deadline, "timed out waiting for %s; assignments %s, "
                  "records read %s" % (what, {m.name_: sorted(m.assigned) for m in ms},
                                       {m.name_: len(m.got) for m in ms}))
            time.sleep(0.05)

    def split(members, sizes):
        parts = [p for m in members for p in m.assigned]
        return (sorted(parts) == list(range(P))
                and sorted(len(m.assigned) for m in members) == sizes)

    def all_once(members, make, what):
        """make() produces the values; the members read in their own
        threads, so what they read is counted from before it."""
        with lock:
            start = {m.name_: len(m.got) for m in members}
        values = make()

        def arrived():
            return [v for m in members for (_, _, v) in m.got[start[m.name_]:]]
        wait("%s: %d records" % (what, len(values)), lambda: len(arrived()) >= len(values))
        end = time.monotonic() + 1.0
        wait("drain", lambda: time.monotonic() >= end)
        with lock:
            got = collections.Counter(arrived())
        dups = [v for v, n in got.items() if n > 1]
        check(not dups, "%s: %d records twice, e.g. %r" % (what, len(dups), dups[:3]))
        check(set(got) == values, "%s: missing %d, unexpected %d" % (
            what, len(values - set(got)), len(set(got) - values)))

    ms = [KMember("k1"), KMember("k2")]
    for m in ms:
        m.start()
    wait("two kafka-python members to split 6 partitions", lambda: split(ms, [3, 3]))
    note("k1 %s, k2 %s" % (sorted(ms[0].assigned), sorted(ms[1].assigned)))
    all_once(ms, lambda: produce(topic, P, K, "one"), "kafka-python phase 1")

    k2 = ms[1]
    t0 = time.monotonic()
    k2.stop.set()
    k2.join(30)
    check(not k2.is_alive() and k2.error is None, "k2 did not close cleanly: %r" % k2.error)
    ms = [ms[0]]
    wait("k1 to take over all 6 partitions", lambda: split(ms, [6]))
    took = time.monotonic() - t0
    note("k2 left; k1 has all 6 after %.2f s" % took)
    check(took < SESSION_MS / 1000.0, "take-over after LeaveGroup took %.2f s" % took)
    all_once(ms, lambda: produce(topic, P, K, "two"), "kafka-python phase 2")
    ms[0].stop.set()
    ms[0].join(30)
    check(ms[0].error is None, "k1: %r" % ms[0].error)


def case_resume():
    from kafka import KafkaConsumer, TopicPartition as KTP
    from kafka.structs import OffsetAndMetadata
    topic, group, P, K = "t-resume", "g-resume", 3, 100
    create_topic(topic, P)
    produce(topic, P, K, "r")
    # Read about half, commit exactly what was read, read more without
    # committing, and go.
    a = Member("a", group, topic, "range", commit_on_revoke=False)
    pump([a], lambda: len(a.got) >= 150, 30, "150 records")
    committed = {}
    for p, o, _ in a.got:
        committed[p] = max(committed.get(p, 0), o + 1)
    for p in range(P):
        committed.setdefault(p, 0)
    a.c.commit(offsets=[CTP(topic, p, o) for p, o in committed.items()], asynchronous=False)
    n_before = len(a.got)
    pump([a], lambda: len(a.got) >= n_before + 30, 30, "30 more records")
    a.close()
    note("committed %s; read %d records" % (committed, len(a.got)))
    # kafka-python commits with metadata into a second group (no
    # membership: commit() with explicit offsets needs only the coordinator).
    k = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="g-resume-meta",
                      enable_auto_commit=False)
    k.commit({KTP(topic, p): OffsetAndMetadata(10 + p, "meta-%d \u00e9" % p) for p in range(P)})
    k.close()
    # offset.metadata.max.bytes (4096 by default): at the limit is fine,
    # one more byte is OFFSET_METADATA_TOO_LARGE and changes nothing.
    import kafka.errors as kerrors
    k = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="g-meta-limit",
                      enable_auto_commit=False)
    k.commit({KTP(topic, 0): OffsetAndMetadata(7, "m" * 4096)})
    try:
        k.commit({KTP(topic, 0): OffsetAndMetadata(8, "m" * 4097)})
        fail("a commit with 4097 bytes of metadata was accepted")
    except kerrors.OffsetMetadataTooLargeError:
        pass
    om = k._coordinator.fetch_committed_offsets([KTP(topic, 0)]).get(KTP(topic, 0))
    check(om is not None and om.offset == 7 and om.metadata == "m" * 4096,
          "after a refused commit: %r" % (om and (om.offset, len(om.metadata)),))
    k.close()

    broker.restart()
    note("broker restarted")

    # OffsetFetch after the restart: confluent-kafka and kafka-python.
    probe = confluent_kafka.Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    consumers.append(probe)
    got = probe.committed([CTP(topic, p) for p in range(P)], timeout=20)
    probe.close()
    check({tp.partition: tp.offset for tp in got} == committed,
          "committed offsets after the restart: %r, want %r" % (
              [(tp.partition, tp.offset) for tp in got], committed))
    k = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="g-resume-meta",
                      enable_auto_commit=False)
    for p in range(P):
        om = k._coordinator.fetch_committed_offsets([KTP(topic, p)]).get(KTP(topic, p))
        check(om is not None and om.offset == 10 + p and om.metadata == "meta-%d \u00e9" % p,
              "kafka-python committed offset + metadata after restart, partition %d: %r" % (p, om))
    k.close()

    # A new member resumes exactly at the committed offsets.
    b = Member("b", group, topic, "range")
    want = {(p, o) for p in range(P) for o in range(committed[p], K)}
    pump([b], lambda: len(b.got) >= len(want), 30, "%d records after the restart" % len(want))
    end = time.monotonic() + 1.0
    pump([b], lambda: time.monotonic() >= end, 5, "drain")
    seen = [(p, o) for p, o, _ in b.got]
    firsts = {}
    for p, o in seen:
        firsts.setdefault(p, o)
    check(len(seen) == len(set(seen)), "records read twice after the restart")
    check(set(seen) == want, "after the restart read %d records, want %d; first offsets %r, "
          "committed %r" % (len(seen), len(want), firsts, committed))
    for p, o, v in b.got:
        check(v == b"r|%d|%d" % (p, o), "partition %d offset %d holds %r" % (p, o, v))
    note("resumed at %r: %d records, the %d read but uncommitted ones again, nothing skipped" % (
        firsts, len(seen), len(a.got) - n_before))

    # Acknowledged commits survive a SIGKILL too: b commits 60 records one
    # by one (synchronously: each acknowledged), the rest asynchronously,
    # closes, and the broker is SIGKILLed.
    for p, o, _ in b.got[:60]:
        b.c.commit(offsets=[CTP(topic, p, o + 1)], asynchronous=False)
    acked = {}
    for p, o, _ in b.got[:60]:
        acked[p] = max(acked.get(p, 0), o + 1)
    for p, o, _ in b.got[60:]:
        b.c.commit(offsets=[CTP(topic, p, o + 1)], asynchronous=True)
    b.close()
    broker.kill()
    broker.start()
    probe = confluent_kafka.Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    consumers.append(probe)
    got = {tp.partition: tp.offset for tp in probe.committed([CTP(topic, p) for p in range(P)],
                                                            timeout=20)}
    probe.close()
    last = {}
    for p, o, _ in b.got:
        last[p] = max(last.get(p, 0), o + 1)
    for p in range(P):
        lo = acked.get(p, committed[p])
        hi = last.get(p, committed[p])
        check(lo <= got[p] <= hi, "after SIGKILL partition %d committed %r: acknowledged %d, "
              "at most %d" % (p, got[p], lo, hi))
    note("after SIGKILL: committed %r (acknowledged %r at least)" % (got, acked))


def case_static():
    topic, group, P, K = "t-static", "g-static", 6, 30
    create_topic(topic, P)

    def member(i):
        return Member("s%d" % i, group, topic, "range", **{"group.instance.id": "inst-%d" % i})
    ms = [member(1), member(2), member(3)]
    pump(ms, covers(ms, P, [2, 2, 2]), 30, "three static members to split 6 partitions")
    consume_all(ms, produce(topic, P, K, "one"), "static phase 1")
    held = {m.name: set(m.assigned) for m in ms}
    gens0 = [n for g, n in generations() if g == group]
    ev0 = {m.name: len(m.events) for m in ms}
    note("assignment %s, generations so far %s" % (
        {k: sorted(v) for k, v in held.items()}, gens0))

    # s2 goes (no LeaveGroup from a static member) and comes back as a new
    # consumer with the same group.instance.id, well within the session.
    old = ms[1]
    t0 = time.monotonic()
    old.close()
    new = member(2)
    ms[1] = new
    pump(ms, lambda: new.assigned == held["s2"], 20,
         "the restarted static member to get its partitions back")
    took = time.monotonic() - t0
    note("s2 restarted: %s after %.2f s" % (sorted(new.assigned), took))
    check(took < SESSION_MS / 1000.0, "static rejoin took %.2f s, past the session timeout" % took)
    consume_all(ms, produce(topic, P, K, "two"), "static phase 2")
    gens1 = [n for g, n in generations() if g == group]
    check(gens1 == gens0, "static rejoin formed a new generation: %s -> %s" % (gens0, gens1))
    check("static member inst-2 rejoined" in broker.text() or "inst-2" in broker.text(),
          "broker log does not mention the static rejoin")
    for m in (ms[0], ms[2]):
        evs = m.events[ev0[m.name]:]
        check(not evs, "%s saw a rebalance when the static member restarted: %r" % (m.name, evs))
        check(m.assigned == held[m.name], "%s: assignment changed" % m.name)

    # s2 goes for good: after the session timeout the others take over.
    t0 = time.monotonic()
    new.close()
    pump(ms, covers(ms, P, [3, 3]), SESSION_MS / 1000.0 + 20,
         "s1 and s3 to take over after s2's session expired")
    took = time.monotonic() - t0
    note("s2 gone: s1 %s, s3 %s after %.2f s (session timeout %d ms)" % (
        sorted(ms[0].assigned), sorted(ms[2].assigned), took, SESSION_MS))
    check(took >= SESSION_MS / 1000.0 * 0.8,
          "s2's partitions moved after %.2f s, before its session timed out" % took)
    consume_all(ms, produce(topic, P, K, "three"), "static phase 3")
    for m in (ms[0], ms[2]):
        m.close()


def case_churn():
    """Records keep coming while members join and leave (cooperative-sticky,
    auto commit, commit on revoke): nothing is lost and nothing is read
    twice."""
    topic, group, P = "t-churn", "g-churn", 6
    create_topic(topic, P)
    produced = []
    stop = threading.Event()
    errors = []

    def producer():
        p = confluent_kafka.Producer({"bootstrap.servers": broker.bootstrap, "acks": "all",
                                      "linger.ms": 5})
        i = 0
        while not stop.is_set():
            v = b"churn|%d" % i
            p.produce(topic, value=v, partition=i % P,
                      on_delivery=lambda e, m: errors.append(e) if e else None)
            produced.append(v)
            i += 1
            p.poll(0)
            stop.wait(0.002)
        left = p.flush(30)
        if left:
            errors.append("%d unflushed" % left)

    def member(name):
        return Member(name, group, topic, "cooperative-sticky",
                      **{"enable.auto.commit": True, "auto.commit.interval.ms": 200})

    def run_for(ms, seconds):
        end = time.monotonic() + seconds
        pump(ms, lambda: time.monotonic() >= end, seconds + 5, "time to pass")

    a, b = member("a"), member("b")
    ms = [a, b]
    pump(ms, covers(ms, P, [3, 3]), 30, "a and b to split the partitions")
    t = threading.Thread(target=producer, daemon=True)
    t.start()
    run_for(ms, 2)
    c = member("c")
    ms.append(c)
    pump(ms, covers(ms, P, [2, 2, 2]), 30, "c to get its share while records flow")
    run_for(ms, 1.5)
    b.close()
    pump(ms, covers(ms, P, [3, 3]), 30, "a and c to take over from b while records flow")
    run_for(ms, 1.5)
    d = member("d")
    ms.append(d)
    pump(ms, covers(ms, P, [2, 2, 2]), 30, "d to get its share while records flow")
    run_for(ms, 1.5)
    stop.set()
    t.join(60)
    check(not errors, "producer errors: %r" % errors[:3])
    want = set(produced)
    note("%d records produced while members joined and left" % len(want))

    def arrived():
        return [v for m in ms for (_, _, v) in m.got]
    pump(ms, lambda: want <= set(arrived()), 30, "every record to be read")
    end = time.monotonic() + 1.0
    pump(ms, lambda: time.monotonic() >= end, 5, "drain")
    got = collections.Counter(arrived())
    dups = sorted(v for v, n in got.items() if n > 1)
    check(not dups, "%d records read twice across cooperative rebalances, e.g. %r" % (
        len(dups), dups[:5]))
    check(set(got) == want, "unexpected records: %r" % list(set(got) - want)[:5])
    note("every record once: %s" % {m.name: len(m.got) for m in ms})
    for m in ms:
        if not m.closed:
            m.close()


def case_restart_live():
    """The broker restarts (SIGTERM) under two live members: they carry on
    in the group it loaded, and what comes after is read once."""
    topic, group, P, K = "t-live", "g-live", 6, 30
    create_topic(topic, P)
    ms = [Member("a", group, topic, "range"), Member("b", group, topic, "range")]
    pump(ms, covers(ms, P, [3, 3]), 30, "a and b to split the partitions")
    consume_all(ms, produce(topic, P, K, "one"), "before the restart")
    gens0 = [n for g, n in generations() if g == group]
    broker.restart()
    note("broker restarted under the group (generations before: %s)" % gens0)
    # The groups thread loads __consumer_offsets after the listener is up
    # (requests wait for it), so the line may come a moment later.
    check(wait_until(lambda: re.search(r"loaded \d+ groups", broker.text()), 30),
          "the restarted broker's log says nothing about loading groups")
    consume_all(ms, produce(topic, P, K, "two"), "after the restart")
    pump(ms, covers(ms, P, [3, 3]), 30, "a and b to hold 3/3 again")
    note("after the restart: a %s, b %s; generations since: %s" % (
        sorted(ms[0].assigned), sorted(ms[1].assigned),
        [n for g, n in generations() if g == group]))
    for m in ms:
        m.close()


def case_mixed():
    """kafka-python and confluent-kafka members in one group: both offer
    range, so the broker picks it, and they share the partitions."""
    from kafka import KafkaConsumer
    topic, group, P, K = "t-mixed", "g-mixed", 6, 30
    create_topic(topic, P)
    lock = threading.Lock()
    kgot, kassigned, kerr = [], [set()], []
    kstop = threading.Event()
    kc = KafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id=group,
                       client_id="kpy", auto_offset_reset="earliest",
                       enable_auto_commit=False, session_timeout_ms=SESSION_MS,
                       heartbeat_interval_ms=500, max_poll_interval_ms=10000)

    def krun():
        try:
            while not kstop.is_set():
                recs = kc.poll(timeout_ms=100)
                with lock:
                    for tp, rs in recs.items():
                        kgot.extend(r.value for r in rs)
                    kassigned[0] = {tp.partition for tp in kc.assignment()}
                if recs:
                    kc.commit()
            kc.close()
        except Exception as e:  # noqa: BLE001
            kerr.append(e)

    kt = threading.Thread(target=krun, daemon=True)
    kt.start()
    c = Member("c", group, topic, "range")

    def split():
        with lock:
            k = set(kassigned[0])
        return (not kerr and len(k) == 3 and len(c.assigned) == 3
                and k | c.assigned == set(range(P)))
    pump([c], split, 30, "kafka-python and confluent-kafka to split the partitions")
    check(not kerr, "kafka-python member failed: %r" % kerr)
    note("kafka-python %s, confluent-kafka %s" % (sorted(kassigned[0]), sorted(c.assigned)))
    want = produce(topic, P, K, "mixed")

    def arrived():
        with lock:
            return kgot + [v for (_, _, v) in c.got]
    pump([c], lambda: len(arrived()) >= len(want), 30, "every record")
    end = time.monotonic() + 1.0
    pump([c], lambda: time.monotonic() >= end, 5, "drain")
    got = collections.Counter(arrived())
    check(all(n == 1 for n in got.values()) and set(got) == want,
          "mixed group: %d distinct of %d, %d twice" % (
              len(set(got) & want), len(want), sum(1 for n in got.values() if n > 1)))
    check(re.search(r"group g-mixed: generation \d+ with 2 members, protocol range", broker.text()),
          "the broker did not choose range for the mixed group")
    kstop.set()
    kt.join(30)
    c.close()


def case_fencing():
    """A second consumer with a live member's group.instance.id takes its
    place; the first is fenced (FENCED_INSTANCE_ID, fatal in librdkafka)."""
    topic, group, P = "t-fence", "g-fence", 4
    create_topic(topic, P)
    old = Member("old", group, topic, "range", **{"group.instance.id": "inst-x"})
    pump([old], covers([old], P, [4]), 30, "the first member to hold everything")
    new = Member("new", group, topic, "range", **{"group.instance.id": "inst-x"})
    fenced = []

    def poll_old():
        m = old.c.poll(0.05)
        if m is not None and m.error():
            fenced.append(m.error())

    t0 = time.monotonic()
    while not (new.assigned == set(range(P)) and fenced):
        check(time.monotonic() - t0 < 30, "timed out: new holds %s, old saw %r" % (
            sorted(new.assigned), fenced))
        new.poll()
        poll_old()
    e = fenced[0]
    check(e.code() == confluent_kafka.KafkaError.FENCED_INSTANCE_ID or
          (e.code() == confluent_kafka.KafkaError._FATAL and "fenced" in e.str().lower()),
          "the first member saw %r, not FENCED_INSTANCE_ID" % e)
    note("new holds %s; old got %s" % (sorted(new.assigned), e.str()))
    consume_all([new], produce(topic, P, 10, "fence"), "after fencing")
    new.close()
    old.close()


def case_admin():
    """Admin clients on groups: kafka-python's KafkaAdminClient
    (ListGroups, DescribeGroups, OffsetFetch of every partition,
    DeleteGroups) and confluent-kafka's list_groups, against a live group,
    a group of plain commits, a deleted topic and offsets retention (this
    case's broker: offsets.retention.ms=6000, checked every 300 ms)."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition as KTP
    from kafka.structs import OffsetAndMetadata
    from kafka.coordinator.protocol import ConsumerProtocolMemberAssignment
    import kafka.errors as kerrors
    retention_s = 6.0
    create_topic("t-adm", 4)
    create_topic("t-del", 2)
    ka = KafkaAdminClient(bootstrap_servers=broker.bootstrap, client_id="kadmin")

    ms = [Member("a", "g-adm", "t-adm", "range"), Member("b", "g-adm", "t-adm", "range")]
    pump(ms, covers(ms, 4, [2, 2]), 30, "a and b to split t-adm")
    consume_all(ms, produce("t-adm", 4, 10, "adm"), "g-adm")

    listed = set(ka.list_consumer_groups())
    check(("g-adm", "consumer") in listed, "list_consumer_groups: %r" % listed)
    d = ka.describe_consumer_groups(["g-adm"])[0]
    check(d.error_code == 0 and d.state == "Stable" and d.protocol_type == "consumer"
          and d.protocol == "range", "describe g-adm: %r" % (d,))
    check(sorted(m.client_id for m in d.members) == ["a", "b"],
          "describe g-adm members: %r" % (d.members,))
    parts = []
    for m in d.members:
        a = m.member_assignment
        if isinstance(a, bytes):
            a = ConsumerProtocolMemberAssignment.decode(a)
        parts += [p for t, ps in a.assignment for p in ps if t == "t-adm"]
    check(sorted(parts) == [0, 1, 2, 3], "describe g-adm assignments: %r" % parts)
    offs = ka.list_consumer_group_offsets("g-adm")
    check({tp.partition: om.offset for tp, om in offs.items() if tp.topic == "t-adm"}
          == {p: 10 for p in range(4)}, "list_consumer_group_offsets g-adm: %r" % offs)
    cl = cadmin.AdminClient({"bootstrap.servers": broker.bootstrap}).list_groups("g-adm", timeout=10)
    check(len(cl) == 1 and cl[0].state == "Stable" and len(cl[0].members) == 2,
          "confluent list_groups g-adm: %r" % [(g.id, g.state, len(g.members)) for g in cl])
    note("g-adm listed, described (Stable, range, a and b), offsets 10 x 4")

    # Plain commits (no members) to a topic that is then deleted.
    k = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="g-simple",
                      enable_auto_commit=False)
    k.commit({KTP("t-adm", 0): OffsetAndMetadata(5, ""), KTP("t-del", 0): OffsetAndMetadata(1, ""),
              KTP("t-del", 1): OffsetAndMetadata(2, "")})
    k.close()
    t_commit = time.monotonic()
    res = ka.delete_consumer_groups(["g-adm"])
    check(len(res) == 1 and res[0][1] is kerrors.NonEmptyGroupError,
          "deleting the live group g-adm: %r, want NON_EMPTY_GROUP" % res)
    ka.delete_topics(["t-del"])

    def simple():
        return {(tp.topic, tp.partition): om.offset
                for tp, om in ka.list_consumer_group_offsets("g-simple").items()}
    ok = False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not ok:
        got = simple()
        ok = got == {("t-adm", 0): 5}
        if not ok:
            check(set(got) >= {("t-adm", 0)}, "g-simple lost t-adm 0 early: %r" % got)
            time.sleep(0.1)
    check(ok, "offsets of the deleted topic t-del are still there: %r" % simple())
    t_del = time.monotonic() - t_commit
    check(t_del < retention_s, "t-del's offsets went only after %.1f s (retention %.0f s)" % (
        t_del, retention_s))
    note("t-del deleted: g-simple keeps only t-adm 0 (after %.1f s)" % t_del)

    # g-simple's last offset expires after the retention; g-adm's, whose
    # members are alive, do not.
    while simple():
        check(time.monotonic() - t_commit < retention_s + 10,
              "g-simple's offsets did not expire within %.0f s" % (retention_s + 10))
        pump(ms, lambda: True, 1, "heartbeats")   # keeps a and b polled
        time.sleep(0.1)
    t_exp = time.monotonic() - t_commit
    check(t_exp >= retention_s * 0.8, "g-simple's offsets expired after %.1f s, retention %.0f s"
          % (t_exp, retention_s))
    offs = ka.list_consumer_group_offsets("g-adm")
    check(len(offs) == 4, "g-adm (Stable) lost offsets to retention: %r" % offs)
    note("g-simple expired after %.1f s; g-adm (live) keeps its 4 offsets" % t_exp)

    # Once empty, g-adm can be deleted.
    for m in ms:
        m.close()
    res = ka.delete_consumer_groups(["g-adm"])
    check(len(res) == 1 and res[0][1] is kerrors.NoError, "deleting empty g-adm: %r" % res)
    check(("g-adm", "consumer") not in set(ka.list_consumer_groups()), "g-adm still listed")
    check(not ka.list_consumer_group_offsets("g-adm"), "g-adm still has offsets")
    note("g-adm deleted once empty")
    ka.close()


def case_initial_delay():
    """group.initial.rebalance.delay.ms=2000 (this case's broker): three
    confluent-kafka members arriving 300 ms apart share the first
    generation -- one rebalance, no second -- formed no sooner than the
    delay after the first join and no later than twice the delay plus
    slack after the last (Kafka's window re-arms once while members
    keep arriving)."""
    topic, group, P = "t-delay", "g-delay", 6
    delay_s = 2.0
    create_topic(topic, P)
    ms = []
    t_first = time.monotonic()
    for i in range(3):
        ms.append(Member("d%d" % i, group, topic, "range"))
        if i < 2:
            end = time.monotonic() + 0.3       # the arrival spacing under test
            pump(ms, lambda: time.monotonic() >= end, 5, "spacing")
    t_last = time.monotonic()
    pump(ms, covers(ms, P, [2, 2, 2]), 30, "three members to share the first generation")
    t_done = time.monotonic()
    formed = re.findall(r"group g-delay: generation (\d+) with (\d+) members", broker.text())
    note("settled %.2f s after the first join, %.2f s after the last; generations %s" % (
        t_done - t_first, t_done - t_last, formed))
    check(formed == [("1", "3")], "expected one generation of 3 members, got %r" % formed)
    check(t_done - t_first >= delay_s * 0.9, "the first generation formed %.2f s after the first "
          "join, before the %.1f s delay" % (t_done - t_first, delay_s))
    check(t_done - t_last <= 2 * delay_s + 3, "settled %.2f s after the last join" % (t_done - t_last))
    consume_all(ms, produce(topic, P, 10, "delay"), "after the delayed first rebalance")
    for m in ms:
        m.close()


RACE_ROUNDS = 50


def case_delete_race():
    """DeleteGroups (kafka-python) the moment a group's last member left,
    while the broker is still storing the group's empty generation, 50
    times: every delete is answered (NONE, or NON_EMPTY_GROUP / a retriable
    error and then NONE), the group is gone, and the broker lives on."""
    from kafka import KafkaAdminClient
    import kafka.errors as kerrors
    create_topic("t-race", 2)
    ka = KafkaAdminClient(bootstrap_servers=broker.bootstrap, client_id="kadmin")
    for it in range(RACE_ROUNDS):
        g = "g-race-%d" % it
        m = Member("m%d" % it, g, "t-race", "range")
        pump([m], covers([m], 2, [2]), 30, "%s to form" % g)
        m.c.commit(offsets=[CTP("t-race", p, 1) for p in range(2)], asynchronous=False)
        m.close()
        deadline = time.monotonic() + 10
        while True:
            try:
                res = ka.delete_consumer_groups([g])
            except kerrors.KafkaError as e:
                fail("%s: DeleteGroups right after the last member left: %r (broker %s)" % (
                    g, e, "alive" if broker.proc.poll() is None else
                    "exited with %r" % broker.proc.poll()))
            err = res[0][1]
            if err is kerrors.NoError:
                break
            # The LeaveGroup of close() may not be through yet: until the
            # group is Empty, NON_EMPTY_GROUP is right.
            check((err is kerrors.NonEmptyGroupError or getattr(err, "retriable", False))
                  and time.monotonic() < deadline, "%s: DeleteGroups answered %r" % (g, err))
            time.sleep(0.002)
        check(broker.proc.poll() is None, "the broker exited after deleting %s" % g)
    listed = {x for x, _ in ka.list_consumer_groups()}
    check(not any(x.startswith("g-race-") for x in listed), "deleted groups still listed: %r" % listed)
    note("%d groups deleted as their last member left; broker alive" % RACE_ROUNDS)
    ka.close()


CASES = {
    "cooperative": lambda: case_group_rebalance("cooperative-sticky"),
    "range": lambda: case_group_rebalance("range"),
    "kafka-python": case_kafka_python,
    "resume": case_resume,
    "static": case_static,
    "churn": case_churn,
    "restart-live": case_restart_live,
    "mixed": case_mixed,
    "fencing": case_fencing,
    "admin": case_admin,
    "delete-race": case_delete_race,
    "initial-delay": case_initial_delay,
}
# Broker settings a case needs beyond the common ones.
CASE_SETS = {
    "initial-delay": ["group.initial.rebalance.delay.ms=2000"],
    "admin": ["offsets.retention.ms=6000", "offsets.retention.check.interval.ms=300"],
}


def main():
    if CASE not in CASES:
        sys.stderr.write("unknown case %r; cases: %s\n" % (CASE, ", ".join(CASES)))
        sys.exit(2)
    broker.sets += CASE_SETS.get(CASE, [])
    try:
        broker.start()
    except BrokerError as e:
        sys.stderr.write("FAIL: %s\n" % e)
        shutil.rmtree(TMP, ignore_errors=True)
        sys.exit(1)
    t0 = time.monotonic()
    try:
        CASES[CASE]()
        broker.stop()
    except BrokerError as e:
        fail(str(e))
    except Exception:  # noqa: BLE001 -- any surprise fails the test, with the log
        import traceback
        traceback.print_exc()
        fail("exception")
    shutil.rmtree(TMP, ignore_errors=True)
    note("ok: %d checks in %.1f s" % (checks, time.monotonic() - t0))


if __name__ == "__main__":
    main()
