#!/usr/bin/python3
"""test_chaos.py BROKER [SECONDS] -- many clients at once, some of them rude.

One rewind-broker on a free port, and for SECONDS (default 20) these, all at
the same time, each on its own thread:

  - two producers (confluent-kafka, acks=all; one idempotent, one not) write
    numbered records to two stable topics of 4 partitions, and note every
    acknowledged (topic, partition, offset, value);
  - a consumer reads the stable topics from the start as they grow: offsets
    in each partition must come one after the other, without a gap;
  - a churn thread cycles three topics through CreateTopics, a produce,
    CreatePartitions, AlterConfigs (tiny segments and retention),
    DescribeConfigs and DeleteTopics, so topics vanish and come back under
    the same names while others use them;
  - consumer groups join, subscribe to a topic the churn grows partition
    by partition (and to a stable one), commit, and leave, one after
    another. Not to the topics the churn deletes: librdkafka 2.0.2's
    consumer can hang in close() when a subscribed topic is deleted under
    it (its broker handle keeps references with no request outstanding,
    "Handle is terminating ... 0 waitresps"; a client bug, cf. librdkafka
    issue 4362);
  - an observer lists topics and groups;
  - a vandal, over raw sockets: frames cut off, negative and huge sizes,
    garbage, an unknown API, an unsupported version, a batch with a wrong
    CRC (must get CORRUPT_MESSAGE), a Fetch of a churning topic (answered
    whatever the topic's state), an acks=all produce whose client leaves
    before the answer, and a long-poll Fetch whose client leaves while it
    is parked.

The broker has two log dirs. Retention and the cleaner run every 200 ms,
so they race the deletes; the
churn's three topics have cleanup.policy delete, compact and
compact,delete, and get a DeleteRecords each cycle.

Then: every acknowledged record is read back by the live consumer; the
broker still answers and logged no ERROR line nor a file it could not
write; it is killed with SIGKILL and restarted, and a fresh consumer reads
each stable partition whole, offsets 0..end without a gap, every
acknowledged record at its offset with its value, and no record that no
producer wrote (the idempotent producer's values each exactly once); the
recovery logs nothing alarming either; then a clean stop (exit 0, no
sanitizer report, every partition closed with its marker), a restart, and
the same read once more.

The suite runs the short form; `scripts/chaos.sh SECONDS` the long one (with
the AddressSanitizer build). Only the broker this script started is
signalled, by PID.
"""
import os
import faulthandler
import random
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_harness import Broker, BrokerError, note, wait_until  # noqa: E402
from kafka_frames import (closed_by_peer, delete_records_error, delete_records_v0,  # noqa: E402
                          frame, produce_error, produce_v3, recv_frame)

import confluent_kafka  # noqa: E402
from confluent_kafka import admin as cadmin  # noqa: E402

BROKER = sys.argv[1]
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
TMP = tempfile.mkdtemp(prefix="rewind-chaos-")
# Retention and the cleaner look every 200 ms (Kafka: 5 min, 15 s), so they
# race the churn's deletes too.
# Two log dirs: partitions spread over both, and each create and delete
# syncs the dirs it touched.
broker = Broker(BROKER, TMP, "num.partitions=4", "log.retention.check.interval.ms=200",
                "log.cleaner.backoff.ms=200",
                "log.dirs=%s,%s" % (os.path.join(TMP, "dir-a"), os.path.join(TMP, "dir-b")))

STABLE = ["stable-a", "stable-b"]
STABLE_PARTITIONS = 4
# One topic per cleanup.policy; the compacted ones get 20 keys and a low
# dirty ratio, so the cleaner has passes to run while they are deleted.
CHURN = {"churn-0": "delete", "churn-1": "compact", "churn-2": "compact,delete"}
KE_UNKNOWN_TOPIC_OR_PARTITION = 3
KE_OFFSET_OUT_OF_RANGE = 1
GROW = "grow"                # partitions added one per churn cycle, up to GROW_MAX
GROW_MAX = 12
KE_CORRUPT_MESSAGE = 2
# Errors the churn may meet: the topic is there already, is gone, or was
# recreated under the client's feet; a partition count that is already
# reached. Anything else is a failure.
CHURN_OK = {"TOPIC_ALREADY_EXISTS", "UNKNOWN_TOPIC_OR_PART", "INVALID_PARTITIONS",
            "_UNKNOWN_TOPIC", "_UNKNOWN_PARTITION", "UNKNOWN_TOPIC_ID",
            "INCONSISTENT_TOPIC_ID", "NOT_LEADER_FOR_PARTITION", "LEADER_NOT_AVAILABLE",
            "REQUEST_TIMED_OUT", "_MSG_TIMED_OUT", "_TIMED_OUT"}

stop = threading.Event()
errors = []                 # (thread, text): failures seen by the workers
errors_lock = threading.Lock()
counts = {}                 # what each worker did, for the summary line


def record_error(who, text):
    with errors_lock:
        errors.append((who, text))
    note("FAIL [%s]: %s" % (who, text))
    stop.set()


def bump(what, n=1):
    with errors_lock:
        counts[what] = counts.get(what, 0) + n


def worker(fn):
    """Runs fn(name) on a thread; an exception is a failure, not a silent
    death of one client."""
    def run():
        try:
            fn(fn.__name__)
        except Exception:
            record_error(fn.__name__, traceback.format_exc())
    t = threading.Thread(target=run, name=fn.__name__, daemon=True)
    t.start()
    return t


def admin():
    return cadmin.AdminClient({"bootstrap.servers": broker.bootstrap})


def wait_futures(futs, who, ok=frozenset(), timeout=30):
    """Waits for admin futures; an error outside ok is a failure."""
    for f in futs.values():
        try:
            f.result(timeout=timeout)
        except confluent_kafka.KafkaException as e:
            name = e.args[0].name()
            if name not in ok:
                record_error(who, "admin call: %s" % e)
            else:
                bump("%s:%s" % (who, name))


# ------------------------------------------------------------- producers

acked = {}                  # (topic, partition, offset) -> value, from both producers
acked_lock = threading.Lock()


def produce_stable(who, idempotent):
    p = confluent_kafka.Producer({"bootstrap.servers": broker.bootstrap, "acks": "all",
                                  "linger.ms": 2, "enable.idempotence": idempotent,
                                  "message.timeout.ms": 120000})
    mine = {}

    def delivered(err, msg):
        if err is not None:
            record_error(who, "delivery to %s-%d failed: %s" % (msg.topic(), msg.partition(), err))
        else:
            mine[(msg.topic(), msg.partition(), msg.offset())] = msg.value()

    seq = 0
    while not stop.is_set():
        value = ("%s-%d" % (who, seq)).encode()
        p.produce(STABLE[seq % 2], value=value, key=b"k%d" % (seq % 16), on_delivery=delivered)
        seq += 1
        p.poll(0)
        if len(p) > 2000:
            p.poll(0.01)
    left = p.flush(120)
    if left:
        record_error(who, "%d records not delivered after 120 s" % left)
    with acked_lock:
        acked.update(mine)
    bump("records acked by " + who, len(mine))


def producer_idempotent(who):
    produce_stable(who, True)


def producer_plain(who):
    produce_stable(who, False)


# ------------------------------------------------------------- live consumer

seen = {}                   # (topic, partition, offset) -> value, read while producing
live_done = threading.Event()


def live_consumer(who):
    c = confluent_kafka.Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "chaos-live",
                                  "enable.auto.commit": False, "enable.partition.eof": False,
                                  "fetch.wait.max.ms": 50})
    c.assign([confluent_kafka.TopicPartition(t, p, confluent_kafka.OFFSET_BEGINNING)
              for t in STABLE for p in range(STABLE_PARTITIONS)])
    nxt = {}
    while not live_done.is_set():
        m = c.poll(0.1)
        if m is None:
            continue
        if m.error():
            record_error(who, "consume: %s" % m.error())
            break
        tp = (m.topic(), m.partition())
        if m.offset() != nxt.get(tp, 0):
            record_error(who, "%s-%d: offset %d after %d" % (tp + (m.offset(), nxt.get(tp, 0) - 1)))
            break
        nxt[tp] = m.offset() + 1
        seen[tp + (m.offset(),)] = m.value()
    c.close()


# ------------------------------------------------------------- churn

def churn(who):
    a = admin()
    # Batches of at most 16 KiB: below the tiny segment.bytes set below.
    p = confluent_kafka.Producer({"bootstrap.servers": broker.bootstrap, "acks": 1,
                                  "batch.size": 16384, "message.timeout.ms": 5000})
    failed = []
    i = 0
    while not stop.is_set():
        name = sorted(CHURN)[i % len(CHURN)]
        cfg = {"segment.bytes": "65536", "cleanup.policy": CHURN[name],
               "min.cleanable.dirty.ratio": "0.01"}
        wait_futures(a.create_topics([cadmin.NewTopic(name, 3, 1, config=cfg)]), who, CHURN_OK)
        for n in range(200):
            p.produce(name, value=b"x" * 1024, key=b"%d" % (n % 20),
                      on_delivery=lambda err, msg: err is not None and failed.append(err))
            p.poll(0)
        p.flush(10)
        delete_records(who, name)
        wait_futures(a.create_partitions([cadmin.NewPartitions(name, 5)]), who, CHURN_OK)
        cfg.update({"retention.ms": "200", "segment.bytes": "32768"})
        res = cadmin.ConfigResource("topic", name, set_config=cfg)
        wait_futures(a.alter_configs([res]), who, CHURN_OK)
        wait_futures(a.describe_configs([cadmin.ConfigResource("topic", name)]),
                     who, CHURN_OK)
        if i % 2 == 1:
            # Deleted with records still in flight: each gets an ack or
            # a refusal the client understands, never anything else.
            for n in range(200):
                p.produce(name, value=b"y" * 1024, key=b"%d" % (n % 20),
                          on_delivery=lambda err, msg: err is not None and failed.append(err))
            p.poll(0)
            wait_futures(a.delete_topics([name]), who, CHURN_OK)
            p.flush(10)
        if 2 + i < GROW_MAX:
            wait_futures(a.create_partitions([cadmin.NewPartitions(GROW, 2 + i)]), who)
        for n in range(20):
            p.produce(GROW, value=b"g%d" % n, on_delivery=lambda err, msg: err is not None and failed.append(err))
        p.poll(0)
        i += 1
    bump("churn cycles", i)
    bump("churn deliveries refused (topic gone)", len(failed))
    bad = [e for e in failed if e.name() not in CHURN_OK]
    if bad:
        record_error(who, "churn produce: %s" % bad[0])


def delete_records(who, name):
    """DeleteRecords (raw: confluent-kafka 1.7 has no call for it) below
    offset 5 of partition 0. The topic may be gone or recreated empty."""
    s = connect()
    try:
        s.sendall(frame(21, 0, 1, delete_records_v0(name.encode(), 0, 5)))
        r = recv_frame(s)
    finally:
        s.close()
    err = r is not None and delete_records_error(r)
    if err not in (0, KE_UNKNOWN_TOPIC_OR_PARTITION, KE_OFFSET_OUT_OF_RANGE):
        record_error(who, "DeleteRecords %s: answer %r, error %r" % (name, r and r[:40], err))
    bump("delete-records:%s" % err)


def groups(who):
    n = 0
    while not stop.is_set():
        c = confluent_kafka.Consumer({"bootstrap.servers": broker.bootstrap,
                                      "group.id": "chaos-group-%d" % (n % 2),
                                      "auto.offset.reset": "earliest",
                                      "session.timeout.ms": 6000,
                                      "topic.metadata.refresh.interval.ms": 500,
                                      "enable.partition.eof": False})
        c.subscribe([GROW, STABLE[0]])
        end = time.monotonic() + 1.5
        while time.monotonic() < end and not stop.is_set():
            m = c.poll(0.1)
            if m is not None and not m.error():
                bump("group records")
        try:
            c.commit(asynchronous=False)
        except confluent_kafka.KafkaException:
            pass            # nothing consumed yet, or a rebalance: the broker said so
        c.close()
        n += 1
    bump("group sessions", n)


def observer(who):
    a = admin()
    n = 0
    while not stop.is_set():
        md = a.list_topics(timeout=10)
        for t in STABLE:
            if t not in md.topics or len(md.topics[t].partitions) != STABLE_PARTITIONS:
                record_error(who, "metadata lost %s: %r" % (t, sorted(md.topics)))
        a.list_groups(timeout=10)
        n += 1
        time.sleep(0.05)
    bump("observer rounds", n)


# ------------------------------------------------------------- vandal

def connect():
    return socket.create_connection(("127.0.0.1", broker.port), timeout=10)


def fetch_v4(topic, partition, offset, max_wait_ms, min_bytes):
    t = topic.encode()
    return (struct.pack(">iiiib", -1, max_wait_ms, min_bytes, 1 << 20, 0) +
            struct.pack(">ih", 1, len(t)) + t +
            struct.pack(">iiqi", 1, partition, offset, 1 << 20))


def corrupt_produce(topic):
    body = bytearray(produce_v3(topic, b"bad crc"))
    body[-1] ^= 0xFF            # the record's last byte: the CRC no longer matches
    return bytes(body)


def vandal(who):
    rnd = random.Random(7)
    n = 0
    while not stop.is_set():
        case = n % 10
        s = connect()
        try:
            if case == 0:       # cut off mid-frame
                s.sendall(struct.pack(">i", 100) + b"\x00\x12\x00")
            elif case == 1:     # negative size
                s.sendall(struct.pack(">i", -7))
                if not closed_by_peer(s):
                    record_error(who, "negative size: not disconnected")
            elif case == 2:     # huge size
                s.sendall(struct.pack(">i", 0x7FFFFFF0))
                if not closed_by_peer(s):
                    record_error(who, "huge size: not disconnected")
            elif case == 3:     # garbage in a well-sized frame
                g = bytes(rnd.getrandbits(8) for _ in range(64))
                s.sendall(struct.pack(">i", len(g)) + g)
                closed_by_peer(s, 2)   # an answer or a disconnect: either is fine
            elif case == 4:     # unknown API, then unsupported ApiVersions version
                s.sendall(frame(9999, 0, 1))
                if not closed_by_peer(s):
                    record_error(who, "unknown API: not disconnected")
                s.close()
                s = connect()
                s.sendall(frame(18, 77, 2))
                if recv_frame(s) is None:
                    record_error(who, "ApiVersions v77: no answer")
            elif case == 5:     # wrong CRC
                s.sendall(frame(0, 3, 3, corrupt_produce(b"vandal")))
                r = recv_frame(s)
                if r is None or produce_error(r) != KE_CORRUPT_MESSAGE:
                    record_error(who, "wrong CRC: answer %r" % (r and r[:40]))
            elif case == 6:     # acks=all produce, then gone before the answer
                s.sendall(frame(0, 3, 4, produce_v3(b"vandal", b"v" * 4000)))
            elif case == 7:     # parked long poll, then gone
                s.sendall(frame(1, 4, 5, fetch_v4("stable-a", rnd.randrange(STABLE_PARTITIONS),
                                                  0, 3000, 1 << 30)))
                time.sleep(0.01)
            elif case == 8:     # read a churning topic: it may be mid-delete
                name = sorted(CHURN)[rnd.randrange(len(CHURN))]
                s.sendall(frame(1, 4, 6, fetch_v4(name, rnd.randrange(3), 0, 100, 1)))
                if recv_frame(s) is None:
                    record_error(who, "Fetch of %s: no answer" % name)
            else:               # connect and leave without a word
                pass
        except OSError:
            pass                # the broker hung up first: allowed for the rude ones
        finally:
            s.close()
        n += 1
        time.sleep(0.005)
    bump("vandal connections", n)


# ------------------------------------------------------------- after

def read_all(c, parts, ends, deadline_s=120):
    """Reads the given partitions from offset 0 to their end offsets;
    returns {(topic, partition, offset): value} and the order failures."""
    c.assign([confluent_kafka.TopicPartition(t, p, 0) for (t, p) in parts])
    got = {}
    nxt = {tp: 0 for tp in parts}
    deadline = time.monotonic() + deadline_s
    while any(nxt[tp] < ends[tp] for tp in parts) and time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            return got, "consume: %s" % m.error()
        tp = (m.topic(), m.partition())
        if m.offset() != nxt[tp]:
            return got, "%s-%d: offset %d where %d was next" % (tp + (m.offset(), nxt[tp]))
        nxt[tp] += 1
        got[tp + (m.offset(),)] = m.value()
    short = [(tp, nxt[tp], ends[tp]) for tp in parts if nxt[tp] < ends[tp]]
    return got, ("stopped short: %r" % short) if short else None


def fail(msg):
    sys.stderr.write("FAIL: %s\n---- broker log (last start)\n%s" % (msg, broker.tail(60)))
    broker.kill()
    if os.environ.get("REWIND_KEEP_TMP"):
        sys.stderr.write("kept: %s\n" % TMP)
    else:
        shutil.rmtree(TMP, ignore_errors=True)
    sys.exit(1)


def main():
    broker.start()
    note("broker on %s; %g s of chaos" % (broker.bootstrap, SECONDS))
    a = admin()
    wait_futures(a.create_topics([cadmin.NewTopic(t, STABLE_PARTITIONS, 1) for t in STABLE] +
                                 [cadmin.NewTopic("vandal", 1, 1), cadmin.NewTopic(GROW, 1, 1)]), "setup")
    if errors:
        fail("set-up: %s" % errors)

    producers = [worker(producer_idempotent), worker(producer_plain)]
    live = worker(live_consumer)
    others = [worker(churn), worker(groups), worker(observer), worker(vandal)]
    stop.wait(SECONDS)
    stop.set()
    for t in producers + others:
        t.join(120)
        if t.is_alive():
            faulthandler.dump_traceback(all_threads=True)
            fail("%s did not finish within 120 s of the stop" % t.name)
    note("clients stopped: %s" % ", ".join("%s %d" % kv for kv in sorted(counts.items())))
    if errors:
        fail("%d failure(s) while the clients ran; first: [%s] %s" % ((len(errors),) + errors[0]))
    if broker.proc.poll() is not None:
        fail("the broker died (status %r)" % broker.proc.returncode)
    if len(acked) < 100:
        fail("only %d records acknowledged in %g s" % (len(acked), SECONDS))

    # The live consumer catches up with everything acknowledged.
    caught_up = wait_until(lambda: all(k in seen for k in acked), timeout=120)
    live_done.set()
    live.join(30)
    if errors:
        fail("live consumer: [%s] %s" % errors[0])
    if not caught_up:
        missing = [k for k in acked if k not in seen]
        fail("live consumer never saw %d acknowledged records, e.g. %r" % (len(missing), missing[:3]))
    wrong = [k for k in acked if seen[k] != acked[k]]
    if wrong:
        fail("live consumer read other values at %r" % wrong[:3])
    note("ok: the live consumer read all %d acknowledged records, in order" % len(acked))

    # Still serving: ApiVersions on a new connection.
    s = connect()
    s.sendall(frame(18, 0, 99))
    r = recv_frame(s)
    s.close()
    if r is None or r[:4] != struct.pack(">i", 99):
        fail("ApiVersions after the chaos: %r" % r)

    # Nothing in the run was a fault of the broker's disk or data: topics
    # deleted under load, retention and rolls racing the deletes, rude
    # clients. An ERROR line, or a file the broker could not write, would
    # send an operator looking for one.
    check_quiet("the run")

    # kill -9: an acks=all answer left after its fsync, so everything
    # acknowledged survives; the restart also finishes whatever delete,
    # roll or compaction the kill cut short.
    broker.kill()
    broker.start()
    verify_stable("after kill -9 and a restart")
    check_quiet("the recovery")
    try:
        broker.stop()
    except BrokerError as e:
        fail("stop: %s" % e)
    if "all partitions closed cleanly" not in broker.text():
        fail("the stop did not close every partition cleanly")
    note("ok: clean stop, exit 0, no sanitizer report")
    broker.start()
    verify_stable("after a clean restart")
    try:
        broker.stop()
    except BrokerError as e:
        fail("last stop: %s" % e)
    shutil.rmtree(TMP, ignore_errors=True)
    note("all checks passed")


def check_quiet(what):
    """No ERROR line, no file the broker could not write and no failed
    compaction pass (retention and deletes racing it are not failures) in
    this start's log."""
    alarming = [l for l in broker.text().splitlines()
                if " ERROR " in l or "cannot write" in l or "offline" in l or "cleaning failed" in l]
    if alarming:
        fail("%s: %d alarming log line(s), e.g.:\n  %s"
             % (what, len(alarming), "\n  ".join(alarming[:5])))
    note("ok: %s logged no ERROR line and no file it could not write" % what)


def verify_stable(when):
    """Every stable partition read whole by a fresh consumer: offsets 0..end
    without a gap, every acknowledged record at its offset, nothing else."""
    c = confluent_kafka.Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "chaos-after",
                                  "enable.auto.commit": False, "enable.partition.eof": False})
    parts = [(t, p) for t in STABLE for p in range(STABLE_PARTITIONS)]
    ends = {}
    for (t, p) in parts:
        lo, hi = c.get_watermark_offsets(confluent_kafka.TopicPartition(t, p), timeout=10)
        if lo != 0:
            fail("%s: %s-%d starts at %d" % (when, t, p, lo))
        ends[(t, p)] = hi
    got, err = read_all(c, parts, ends)
    c.close()
    if err:
        fail("%s: %s" % (when, err))
    missing = [k for k in acked if got.get(k) != acked[k]]
    if missing:
        fail("%s, %d acknowledged records are not where they were, e.g. %r"
             % (when, len(missing), missing[:3]))
    foreign = [k for k, v in got.items() if not v.startswith((b"producer_idempotent-", b"producer_plain-"))]
    if foreign:
        fail("%s: records no producer wrote at %r" % (when, foreign[:3]))
    idem = [v for v in got.values() if v.startswith(b"producer_idempotent-")]
    if len(idem) != len(set(idem)):
        fail("%s: the idempotent producer's records are stored more than once" % when)
    note("ok: %s all %d records of %d partitions are there, 0..end without a gap"
         % (when, len(got), len(parts)))

if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except BaseException:
        traceback.print_exc()
        broker.kill()
        shutil.rmtree(TMP, ignore_errors=True)
        sys.exit(1)
