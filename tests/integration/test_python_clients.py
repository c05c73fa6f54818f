#!/usr/bin/python3
"""test_python_clients.py BROKER -- produce and consume with kafka-python and confluent-kafka.

Debian's kafka-python 2.0.2 (pure Python) and confluent-kafka 1.7.0 (on
librdkafka) against one rewind-broker on a free port with a temporary data dir:

  - each client produces to its own two-partition topics, one topic per
    codec it can do (kafka-python: none and gzip always, snappy/lz4/zstd when
    python3-snappy/-lz4/-zstandard are installed; confluent-kafka: all five),
    alternating acks=all and acks=1; records carry binary keys (some null),
    binary values (empty, null, up to 200 KiB), headers (repeated keys, empty
    and -- confluent only, kafka-python cannot send them -- null values) and,
    for most, an explicit CreateTime timestamp;
  - the stored batches carry the codec the client was asked for (read from
    the segment files: records are stored as produced);
  - every acknowledged (partition, offset) is read back by both clients with
    assign + seek (no consumer group: the broker has no group coordinator
    yet; kafka-python uses group_id=None, confluent-kafka a group.id it never
    commits to) and compared byte for byte: key, value, headers, timestamp;
    offsets in a partition are exactly 0..n-1;
  - seeking into the middle of a partition starts exactly there;
  - confluent-kafka offsets_for_times and get_watermark_offsets;
  - the broker is restarted (SIGTERM) between producing and the second
    round of consuming: everything acknowledged is still there;
  - records are validated as Kafka's LogValidator does: a topic with
    message.timestamp.before/after.max.ms refuses records stamped outside
    the window (INVALID_TIMESTAMP, 32) until AlterConfigs widens it, and a
    compacted topic refuses a record without a key (INVALID_RECORD, 87).
Only the broker this script started is signalled, by PID.
"""
import os
import random
import shutil
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_harness import Broker, BrokerError  # noqa: E402

import confluent_kafka  # noqa: E402
from confluent_kafka import admin as cadmin  # noqa: E402
import kafka  # noqa: E402
import kafka.codec  # noqa: E402
from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402

BROKER = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="rewind-pyclients-")
broker = Broker(BROKER, TMP, "num.partitions=2")
PARTITIONS = 2
N = 240                     # records per topic
BASE_TS = 1_600_000_000_000  # explicit CreateTime timestamps start here, 1 s apart
CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
checks = 0


def fail(msg):
    sys.stderr.write("FAIL: %s\n" % msg)
    sys.stderr.write("---- broker log (last start)\n" + broker.tail(60))
    broker.kill()
    shutil.rmtree(TMP, ignore_errors=True)
    sys.exit(1)


def check(cond, msg):
    global checks
    if not cond:
        fail(msg)
    checks += 1


def note(msg):
    print(msg, flush=True)


# ---- the records

def compressible(rnd, n):
    """n bytes: random bytes (every byte value occurs) among repeated text.
    kafka-python sends a batch uncompressed when its codec does not make it
    smaller, so the values must compress for the codec check to mean much."""
    out = bytearray()
    while len(out) < n:
        out += rnd.randbytes(rnd.randrange(0, 16))
        out += b"rewind replays the log from offset 0; " * rnd.randrange(1, 4)
    return bytes(out[:n])


def make_records(seed, null_header_values):
    """N records as dicts: key, value, headers (list of (str, bytes|None)),
    ts (ms or None), partition. Deterministic per seed."""
    rnd = random.Random(seed)
    out = []
    for i in range(N):
        # Every record compresses on its own (a non-null key repeats text; a
        # record without one has a long value): librdkafka, like kafka-python,
        # sends a batch uncompressed when its codec does not make it smaller,
        # and which records share a batch depends on timing.
        key = None if i % 11 == 3 else rnd.randbytes(rnd.randrange(0, 24)) + b"key %d, " % i * 12
        if i % 13 == 5 and key is not None:
            value = None            # a tombstone: null value with a key
        elif i % 17 == 0 and key is not None:
            value = b""
        elif i % 50 == 7:
            value = compressible(rnd, 200 * 1024)
        elif i == 1:
            value = bytes(range(256)) * 4
        else:
            value = compressible(rnd, rnd.randrange(1 if key else 200, 3000))
        headers = []
        if i % 5 != 0:
            headers.append(("h-index", b"%d" % i))
            headers.append(("h-bin", rnd.randbytes(rnd.randrange(0, 64))))
        if i % 7 == 1:
            headers.append(("dup", b"first"))
            headers.append(("dup", b"second"))
            headers.append(("empty", b""))
            headers.append(("utf8-\u00e9\u00fc", "\u00e9 \u00fc \u2603".encode()))
        if null_header_values and i % 9 == 2:
            headers.append(("null", None))
        ts = None if i % 10 == 9 else BASE_TS + i * 1000
        out.append({"key": key, "value": value, "headers": headers, "ts": ts,
                    "partition": i % PARTITIONS})
    return out


# ---- what the segment files hold

def stored_codecs(topic):
    """The set of codec ids of every batch in the topic's segment files,
    read straight from disk (RecordBatch v2: attributes at byte 21)."""
    codecs = set()
    for p in range(PARTITIONS):
        d = os.path.join(broker.data, "%s-%d" % (topic, p))
        for name in sorted(os.listdir(d)):
            if not name.endswith(".log"):
                continue
            with open(os.path.join(d, name), "rb") as f:
                data = f.read()
            pos = 0
            while pos + 23 <= len(data):
                (length,) = struct.unpack_from(">i", data, pos + 8)
                if length <= 0:
                    break
                magic = data[pos + 16]
                (attrs,) = struct.unpack_from(">h", data, pos + 21)
                check(magic == 2, "%s: batch at %d has magic %d" % (name, pos, magic))
                codecs.add(attrs & 7)
                pos += 12 + length
    return codecs


# ---- checking what a consumer read

def compare(client, topic, expected, got, first=None):
    """expected: {(partition, offset): record}; got: {(partition, offset):
    (key, value, headers, ts)}; first: {partition: offset} consumption
    started at (0 when None)."""
    for p in range(PARTITIONS):
        start = (first or {}).get(p, 0)
        want = sorted(o for (pp, o) in expected if pp == p and o >= start)
        have = sorted(o for (pp, o) in got if pp == p)
        check(want == have, "%s %s[%d]: offsets read %s.. (%d) != acknowledged %s.. (%d)" % (
            client, topic, p, have[:5], len(have), want[:5], len(want)))
    for po, rec in expected.items():
        if po[1] < (first or {}).get(po[0], 0):
            continue
        key, value, headers, ts = got[po]
        where = "%s %s[%d]@%d" % (client, topic, po[0], po[1])
        check(key == rec["key"], "%s: key %r != %r" % (where, key, rec["key"]))
        check(value == rec["value"], "%s: value differs (%d vs %d bytes)" % (
            where, -1 if value is None else len(value),
            -1 if rec["value"] is None else len(rec["value"])))
        check(headers == rec["headers"], "%s: headers %r != %r" % (where, headers, rec["headers"]))
        if rec["ts"] is not None:
            check(ts == rec["ts"], "%s: timestamp %r != %r" % (where, ts, rec["ts"]))
        else:
            check(ts is not None and ts > BASE_TS + N * 1000, "%s: no producer timestamp (%r)" % (where, ts))


def check_contiguous(topic, expected):
    for p in range(PARTITIONS):
        offs = sorted(o for (pp, o) in expected if pp == p)
        check(offs == list(range(len(offs))), "%s[%d]: acknowledged offsets are not 0..%d: %s" % (
            topic, p, len(offs) - 1, offs[:10]))


# ---- kafka-python

def kp_codecs():
    have = ["none", "gzip"]
    for name, fn in (("snappy", kafka.codec.has_snappy), ("lz4", kafka.codec.has_lz4),
                     ("zstd", kafka.codec.has_zstd)):
        if fn():
            have.append(name)
        else:
            note("kafka-python: %s not available (python3 module missing): not tested" % name)
    return have


def kp_produce(topic, codec, acks, records):
    prod = KafkaProducer(bootstrap_servers=broker.bootstrap, acks=acks,
                         compression_type=None if codec == "none" else codec,
                         linger_ms=10000, batch_size=64 * 1024, max_request_size=1024 * 1024,
                         request_timeout_ms=30000, retries=0)
    futs = []
    for r in records:
        futs.append((r, prod.send(topic, key=r["key"], value=r["value"], headers=r["headers"],
                                  partition=r["partition"], timestamp_ms=r["ts"])))
    prod.flush(timeout=60)
    acked = {}
    for r, f in futs:
        md = f.get(timeout=30)
        check(md.topic == topic and md.partition == r["partition"],
              "kafka-python: acknowledged to %s[%d]" % (md.topic, md.partition))
        check((md.partition, md.offset) not in acked, "kafka-python: offset %d acknowledged twice" % md.offset)
        acked[(md.partition, md.offset)] = r
    prod.close(timeout=30)
    return acked


def kp_consume(topic, expected, seek=None):
    """Reads every partition of topic from its beginning (or from seek
    {partition: offset}) up to the last acknowledged offset."""
    cons = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None,
                         enable_auto_commit=False, auto_offset_reset="none",
                         fetch_max_wait_ms=200, request_timeout_ms=30000,
                         max_partition_fetch_bytes=1024 * 1024)
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    cons.assign(tps)
    if seek is None:
        cons.seek_to_beginning(*tps)
    else:
        for tp in tps:
            cons.seek(tp, seek[tp.partition])
    ends = cons.end_offsets(tps)
    for tp in tps:
        want = 1 + max(o for (p, o) in expected if p == tp.partition)
        check(ends[tp] == want, "kafka-python end_offsets %s[%d] = %d, want %d" % (
            topic, tp.partition, ends[tp], want))
    got = {}
    deadline = time.monotonic() + 60
    while any(cons.position(tp) < ends[tp] for tp in tps):
        check(time.monotonic() < deadline, "kafka-python: %s not read to its end in 60 s (positions %s)" % (
            topic, [cons.position(tp) for tp in tps]))
        for tp, msgs in cons.poll(timeout_ms=500).items():
            for m in msgs:
                check((m.partition, m.offset) not in got, "kafka-python: offset %d read twice" % m.offset)
                check(m.timestamp_type == 0, "kafka-python: timestamp type %d" % m.timestamp_type)
                got[(m.partition, m.offset)] = (m.key, m.value, list(m.headers), m.timestamp)
    cons.close(autocommit=False)
    return got


# ---- confluent-kafka

def ck_produce(topic, codec, acks, records):
    acked = {}
    errors = []

    def on_delivery_of(r):
        def on_delivery(err, msg):
            if err is not None:
                errors.append("%s[%d]: %s" % (msg.topic(), msg.partition(), err))
                return
            po = (msg.partition(), msg.offset())
            if po in acked:
                errors.append("offset %r acknowledged twice" % (po,))
            check(msg.topic() == topic and msg.partition() == r["partition"],
                  "confluent-kafka: acknowledged to %s[%d]" % (msg.topic(), msg.partition()))
            acked[po] = r
        return on_delivery

    prod = confluent_kafka.Producer({"bootstrap.servers": broker.bootstrap, "acks": acks,
                                     "compression.type": codec, "linger.ms": 10000,
                                     "batch.num.messages": 40,
                                     "message.max.bytes": 1000000})
    for r in records:
        kw = {"key": r["key"], "value": r["value"], "partition": r["partition"],
              "headers": r["headers"] or None, "on_delivery": on_delivery_of(r)}
        if r["ts"] is not None:
            kw["timestamp"] = r["ts"]
        prod.produce(topic, **kw)
        prod.poll(0)
    left = prod.flush(60)
    check(left == 0, "confluent-kafka: %d records not delivered in 60 s" % left)
    check(not errors, "confluent-kafka delivery errors: %s" % errors[:5])
    return acked


def ck_headers(m):
    """m.headers() as a list. confluent-kafka 1.7.0 returns a null header
    value as None without taking a reference to it (fixed in later
    releases): each one drops None's refcount, and Python aborts at exit
    with "deallocating None". Give back the missing references."""
    import ctypes
    hs = list(m.headers() or [])
    for _, v in hs:
        if v is None:
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(None))
    return hs


def ck_consumer():
    return confluent_kafka.Consumer({"bootstrap.servers": broker.bootstrap,
                                     "group.id": "rewind-python-clients",
                                     "enable.auto.commit": False,
                                     "enable.auto.offset.store": False,
                                     "enable.partition.eof": True,
                                     "fetch.wait.max.ms": 200,
                                     "fetch.message.max.bytes": 65536})


def ck_consume(topic, expected, seek=None):
    cons = ck_consumer()
    tps = [confluent_kafka.TopicPartition(topic, p,
                                          confluent_kafka.OFFSET_BEGINNING if seek is None else seek[p])
           for p in range(PARTITIONS)]
    cons.assign(tps)
    for p in range(PARTITIONS):
        lo, hi = cons.get_watermark_offsets(confluent_kafka.TopicPartition(topic, p), timeout=30)
        want = 1 + max(o for (pp, o) in expected if pp == p)
        check((lo, hi) == (0, want), "confluent-kafka watermarks %s[%d] = %r, want (0, %d)" % (
            topic, p, (lo, hi), want))
    got = {}
    eof = set()
    deadline = time.monotonic() + 60
    while len(eof) < PARTITIONS:
        check(time.monotonic() < deadline, "confluent-kafka: %s not read to its end in 60 s" % topic)
        m = cons.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == confluent_kafka.KafkaError._PARTITION_EOF:
                eof.add(m.partition())
                continue
            fail("confluent-kafka consume %s: %s" % (topic, m.error()))
        po = (m.partition(), m.offset())
        check(po not in got, "confluent-kafka: offset %r read twice" % (po,))
        tstype, ts = m.timestamp()
        check(tstype == confluent_kafka.TIMESTAMP_CREATE_TIME, "confluent-kafka: timestamp type %d" % tstype)
        got[po] = (m.key(), m.value(), ck_headers(m), ts)
    cons.close()
    return got


def ck_offsets_for_times(topic, expected):
    cons = ck_consumer()
    for p in range(PARTITIONS):
        # Kafka's answer: the first offset, in log order, whose timestamp is
        # >= t. Records sent without a timestamp carry the producer's clock,
        # later than every explicit one.
        recs = sorted((o, r["ts"] if r["ts"] is not None else float("inf"))
                      for (pp, o), r in expected.items() if pp == p)
        stamped = [(o, ts) for o, ts in recs if ts != float("inf")]
        for o, ts in stamped[::17] + stamped[-1:]:
            for t in (ts, ts - 1, ts + 1):
                want = min((oo for oo, tt in recs if tt >= t), default=-1)
                res = cons.offsets_for_times([confluent_kafka.TopicPartition(topic, p, t)], timeout=30)
                check(res[0].error is None and res[0].offset == want,
                      "offsets_for_times %s[%d] ts %d: %r, want offset %d" % (topic, p, t, res[0], want))
        # Before everything: the first offset; after everything: the end (-1).
        res = cons.offsets_for_times([confluent_kafka.TopicPartition(topic, p, 0)], timeout=30)
        check(res[0].offset == 0, "offsets_for_times ts 0 -> %r" % res[0])
    cons.close()


# ---- raw requests (old Produce versions, ApiVersions)

def raw_request(key, version, body):
    """Sends one request with header v1 and returns the response body (after
    the correlation id)."""
    import socket
    hdr = struct.pack(">hhih", key, version, 4242, 6) + b"rewind"
    s = socket.create_connection(("127.0.0.1", broker.port), timeout=30)
    try:
        s.sendall(struct.pack(">i", len(hdr) + len(body)) + hdr + body)
        buf = b""
        while len(buf) < 4 or len(buf) < 4 + struct.unpack(">i", buf[:4])[0]:
            chunk = s.recv(65536)
            check(chunk, "raw request %d v%d: connection closed" % (key, version))
            buf += chunk
    finally:
        s.close()
    check(struct.unpack(">i", buf[4:8])[0] == 4242, "raw request: correlation id")
    return buf[8:]


def api_versions():
    r = raw_request(18, 0, b"")
    err, n = struct.unpack(">hi", r[:6])
    check(err == 0, "ApiVersions v0 error %d" % err)
    return {k: (lo, hi) for k, lo, hi in (struct.unpack_from(">hhh", r, 6 + 6 * i) for i in range(n))}


def raw_produce(version, topic, partition, records, acks=1):
    """Produce v0-v2 (no transactional id): one partition. Returns
    (error code, base offset)."""
    t = topic.encode()
    body = struct.pack(">hii", acks, 30000, 1) + struct.pack(">h", len(t)) + t
    body += struct.pack(">iii", 1, partition, len(records)) + records
    r = raw_request(0, version, body)
    (nt,) = struct.unpack_from(">i", r, 0)
    (tl,) = struct.unpack_from(">h", r, 4)
    check(nt == 1 and r[6:6 + tl] == t, "Produce v%d response names the topic" % version)
    pos = 6 + tl
    np_, part, err, base = struct.unpack_from(">iihq", r, pos)
    pos += 18
    if version >= 2:
        pos += 8          # LogAppendTimeMs
    if version >= 1:
        pos += 4          # ThrottleTimeMs
    check(np_ == 1 and part == partition and pos == len(r),
          "Produce v%d response shape (%d bytes, parsed %d)" % (version, len(r), pos))
    return err, base


def first_batch(topic, partition):
    """The bytes of the first stored batch of a partition."""
    d = os.path.join(broker.data, "%s-%d" % (topic, partition))
    with open(os.path.join(d, "%020d.log" % 0), "rb") as f:
        data = f.read()
    (length,) = struct.unpack_from(">i", data, 8)
    return data[:12 + length]


def test_old_produce_versions(src_topic, expected):
    """Produce v0-v2 carry RecordBatch v2 and are appended; a v0/v1 message
    set is refused with UNSUPPORTED_FOR_MESSAGE_FORMAT (43), appending nothing."""
    batch = first_batch(src_topic, 0)
    (count,) = struct.unpack_from(">i", batch, 57)
    for v in (0, 1, 2):
        err, base = raw_produce(v, "raw-old", 0, batch)
        check(err == 0 and base == v * count, "Produce v%d with a v2 batch: error %d, base offset %d" % (
            v, err, base))
    # A magic 0 message set (offset, size, crc, magic 0, attributes, key,
    # value), longer than a v2 batch header: the magic decides.
    value = b"an old-format message from a client of 2015 " * 3
    msg = struct.pack(">bbi", 0, 0, -1) + struct.pack(">i", len(value)) + value
    import zlib
    msg = struct.pack(">I", zlib.crc32(msg)) + msg
    err, base = raw_produce(0, "raw-old", 0, struct.pack(">qi", 0, len(msg)) + msg)
    check(err == 43 and base == -1, "Produce v0 with a magic 0 message: error %d (want 43)" % err)
    cons = ck_consumer()
    lo, hi = cons.get_watermark_offsets(confluent_kafka.TopicPartition("raw-old", 0), timeout=30)
    check((lo, hi) == (0, 3 * count), "raw-old watermarks %r, want (0, %d)" % ((lo, hi), 3 * count))
    cons.assign([confluent_kafka.TopicPartition("raw-old", 0, 0)])
    got = []
    deadline = time.monotonic() + 30
    while len(got) < 3 * count:
        check(time.monotonic() < deadline, "raw-old not read in 30 s (%d of %d)" % (len(got), 3 * count))
        m = cons.poll(0.5)
        if m is None or (m.error() and m.error().code() == confluent_kafka.KafkaError._PARTITION_EOF):
            continue
        check(not m.error(), "raw-old: %s" % m.error())
        got.append(m)
    cons.close()
    for m in got:
        rec = expected[(0, m.offset() % count)]
        check(m.key() == rec["key"] and m.value() == rec["value"] and
              ck_headers(m) == rec["headers"],
              "raw-old@%d is not %s@%d" % (m.offset(), src_topic, m.offset() % count))


# ---- the run

def ck_deliver_one(topic, key, ts, acks="all"):
    """One record through confluent-kafka; its delivery error code, 0 when
    acknowledged. No retries: a retriable refusal (NOT_ENOUGH_REPLICAS)
    comes back as it is, not after message.timeout.ms."""
    res = []
    prod = confluent_kafka.Producer({"bootstrap.servers": broker.bootstrap, "acks": acks,
                                     "retries": 0})
    kw = {"key": key, "value": b"v", "partition": 0,
          "on_delivery": lambda err, msg: res.append(err)}
    if ts is not None:
        kw["timestamp"] = ts
    prod.produce(topic, **kw)
    left = prod.flush(30)
    check(left == 0 and len(res) == 1, "%s: no delivery report in 30 s" % topic)
    return res[0].code() if res[0] is not None else 0


def test_record_validation(ca):
    hour = 3600 * 1000
    futs = ca.create_topics([
        cadmin.NewTopic("ts-window", 1, 1, config={"message.timestamp.before.max.ms": str(hour),
                                                   "message.timestamp.after.max.ms": "60000"}),
        cadmin.NewTopic("keys-only", 1, 1, config={"cleanup.policy": "compact"}),
        cadmin.NewTopic("min-isr-2", 1, 1, config={"min.insync.replicas": "2"})])
    for f in futs.values():
        f.result(timeout=30)
    now = int(time.time() * 1000)
    for ts, want, what in [(now - 2 * hour, 32, "2 h old"), (now + hour, 32, "1 h ahead"),
                           (now - hour // 2, 0, "30 min old"), (None, 0, "stamped by the client")]:
        got = ck_deliver_one("ts-window", b"k", ts)
        check(got == want, "ts-window, record %s: error %d, want %d" % (what, got, want))
    res = cadmin.ConfigResource(cadmin.ConfigResource.Type.TOPIC, "ts-window")
    cfg = ca.describe_configs([res])[res].result(timeout=30)
    check(cfg["message.timestamp.before.max.ms"].value == str(hour) and
          cfg["message.timestamp.after.max.ms"].value == "60000",
          "ts-window: DescribeConfigs shows %s / %s" % (cfg["message.timestamp.before.max.ms"].value,
                                                       cfg["message.timestamp.after.max.ms"].value))
    # AlterConfigs (not incremental) sets before.max.ms and resets after.max.ms.
    res = cadmin.ConfigResource(cadmin.ConfigResource.Type.TOPIC, "ts-window",
                                set_config={"message.timestamp.before.max.ms": str(48 * hour)})
    ca.alter_configs([res])[res].result(timeout=30)
    for ts, what in [(now - 2 * hour, "2 h old"), (now + hour, "1 h ahead")]:
        got = ck_deliver_one("ts-window", b"k", ts)
        check(got == 0, "ts-window after AlterConfigs, record %s: error %d" % (what, got))
    # The deprecated difference.max.ms (Kafka before 3.6) gives the window
    # on the side whose own key is not set: here the future side.
    res = cadmin.ConfigResource(cadmin.ConfigResource.Type.TOPIC, "ts-window",
                                set_config={"message.timestamp.before.max.ms": str(48 * hour),
                                            "message.timestamp.difference.max.ms": "60000"})
    ca.alter_configs([res])[res].result(timeout=30)
    for ts, want, what in [(now - 2 * hour, 0, "2 h old"), (now + hour, 32, "1 h ahead")]:
        got = ck_deliver_one("ts-window", b"k", ts)
        check(got == want, "ts-window with difference.max.ms, record %s: error %d, want %d"
              % (what, got, want))
    res = cadmin.ConfigResource(cadmin.ConfigResource.Type.TOPIC, "ts-window")
    diff = ca.describe_configs([res])[res].result(timeout=30)["message.timestamp.difference.max.ms"]
    check(diff.value == "60000" and not diff.is_default,
          "ts-window: DescribeConfigs shows difference.max.ms %s (default %s)"
          % (diff.value, diff.is_default))
    note("ok: message.timestamp.before/after.max.ms refuse out-of-window records (32), "
         "AlterConfigs applies at once, and difference.max.ms covers an unset side")
    got = ck_deliver_one("keys-only", None, None)
    check(got == 87, "keys-only: a keyless record got error %d, want 87 (INVALID_RECORD)" % got)
    got = ck_deliver_one("keys-only", b"k", None)
    check(got == 0, "keys-only: a keyed record got error %d" % got)
    note("ok: a compacted topic refuses a record without a key (87)")
    # One node has one replica in sync: acks=all cannot get two.
    got = ck_deliver_one("min-isr-2", b"k", None)
    check(got == 19, "min-isr-2: acks=all got error %d, want 19 (NOT_ENOUGH_REPLICAS)" % got)
    got = ck_deliver_one("min-isr-2", b"k", None, acks="1")
    check(got == 0, "min-isr-2: acks=1 got error %d" % got)
    note("ok: min.insync.replicas=2 refuses acks=all (19) and takes acks=1")


def main():
    try:
        broker.start()
    except BrokerError as e:
        fail(str(e))
    note("broker on %s; kafka-python %s, confluent-kafka %s on librdkafka %s" % (
        broker.bootstrap, kafka.__version__, confluent_kafka.version()[0], confluent_kafka.libversion()[0]))
    ca = cadmin.AdminClient({"bootstrap.servers": broker.bootstrap})

    # librdkafka (before 2.4) turns the lz4 codec off unless the broker
    # advertises FindCoordinator v0 (its "LZ4" feature dates brokers by the
    # group coordinator): until the broker has one, its lz4 batches go
    # uncompressed. gzip and snappy need Produce v0 in the range.
    apis = api_versions()
    ck_stored = dict(CODEC_IDS)
    if 10 not in apis or apis[10][0] > 0:
        ck_stored["lz4"] = CODEC_IDS["none"]
        note("note: no FindCoordinator v0 advertised: librdkafka sends lz4 uncompressed")

    plan = []   # (client, topic, codec, acks)
    for i, codec in enumerate(kp_codecs()):
        plan.append(("kafka-python", "kp-%s" % codec, codec, "all" if i % 2 == 0 else 1))
    for i, codec in enumerate(["none", "gzip", "snappy", "lz4", "zstd"]):
        plan.append(("confluent-kafka", "ck-%s" % codec, codec, "all" if i % 2 == 1 else "1"))
    futs = ca.create_topics([cadmin.NewTopic(t, PARTITIONS, 1) for (_, t, _, _) in plan])
    for t, f in futs.items():
        f.result(timeout=30)

    acked = {}
    for n, (client, topic, codec, acks) in enumerate(plan):
        records = make_records(n, client == "confluent-kafka")
        if client == "kafka-python":
            acked[topic] = kp_produce(topic, codec, acks, records)
        else:
            acked[topic] = ck_produce(topic, codec, acks, records)
        check(len(acked[topic]) == N, "%s: %d of %d records acknowledged" % (topic, len(acked[topic]), N))
        check_contiguous(topic, acked[topic])
        got = stored_codecs(topic)
        want = ck_stored[codec] if client == "confluent-kafka" else CODEC_IDS[codec]
        check(got == {want}, "%s: stored batches have codecs %s, produced %s (want %d)" % (
            topic, got, codec, want))
        note("ok: %s produced %d records to %s (%s, acks=%s), stored with codec %d" % (
            client, N, topic, codec, acks, want))

    test_old_produce_versions("kp-none", acked["kp-none"])
    note("ok: Produce v0-v2 append v2 batches; a magic 0 message set is refused (43)")

    # Before the restart: each client reads what it produced.
    for client, topic, _, _ in plan:
        if client == "kafka-python":
            compare(client, topic, acked[topic], kp_consume(topic, acked[topic]))
        else:
            compare(client, topic, acked[topic], ck_consume(topic, acked[topic]))
        note("ok: %s read back %s byte for byte" % (client, topic))

    try:
        broker.restart()
    except BrokerError as e:
        fail(str(e))
    note("ok: broker restarted on %s" % broker.bootstrap)

    # After the restart: both clients read every topic, from the beginning
    # and from the middle.
    for _, topic, _, _ in plan:
        exp = acked[topic]
        compare("kafka-python", topic, exp, kp_consume(topic, exp))
        compare("confluent-kafka", topic, exp, ck_consume(topic, exp))
        mid = {p: (len([1 for (pp, _) in exp if pp == p]) * 2) // 3 for p in range(PARTITIONS)}
        compare("kafka-python", topic, exp, kp_consume(topic, exp, seek=mid), first=mid)
        compare("confluent-kafka", topic, exp, ck_consume(topic, exp, seek=mid), first=mid)
        note("ok: after restart both clients read %s (from 0 and from %s)" % (topic, mid))

    for client, topic, _, _ in plan:
        ck_offsets_for_times(topic, acked[topic])
    note("ok: offsets_for_times on every topic")

    test_record_validation(ca)

    try:
        broker.stop()
    except BrokerError as e:
        fail(str(e))
    shutil.rmtree(TMP, ignore_errors=True)
    print("python clients: %d checks passed" % checks)


if __name__ == "__main__":
    try:
        main()
    finally:
        broker.kill()
