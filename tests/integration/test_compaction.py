#!/usr/bin/python3
"""test_compaction.py BROKER REWIND -- log compaction seen through real clients.

One rewind-broker (free port, temporary data dir) with a fast cleaner
(log.cleaner.backoff.ms=50, min.cleanable.dirty.ratio 0.01, small segments):

  - for each codec (none, gzip, snappy, lz4, zstd) confluent-kafka
    (librdkafka) produces 15 versions of 120 keys, every record with a header
    and an explicit timestamp; once the cleaner has passed every closed
    segment (its cleaner-offset-checkpoint reaches the active segment), a
    consumer from the beginning sees: offsets strictly ascending with gaps,
    below the checkpoint exactly one record per key -- its latest version,
    header and timestamp intact -- and the latest version of every key;
    kafka-python reads the same records; offsets_for_times on a timestamp
    whose record was cleaned away names the next record;
  - an idempotent producer whose records are all superseded keeps its last
    batch as an empty batch, which both clients read past;
  - tombstones: deleted keys stay deleted (the tombstone is kept) until
    delete.retention.ms after the cleaner first passed them, then vanish;
  - __consumer_offsets: 300 commits of one group compact down to a few
    records, and the group's offsets survive a restart after cleaning;
  - /metrics shows the cleaner's passes and removed records;
  - `rewind dump-log --records` shows the compaction gaps and delete
    horizons; `rewind topics describe` shows the dirty ratio;
  - after a restart everything reads the same.
Only the broker this script started is signalled, by PID.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_harness import (Broker, BrokerError, FailFast, free_port, note,  # noqa: E402
                            wait_until)

import confluent_kafka  # noqa: E402
from confluent_kafka import admin as cadmin  # noqa: E402
from kafka import KafkaConsumer, TopicPartition as KTP  # noqa: E402

BROKER = sys.argv[1]
REWIND = sys.argv[2]
TMP = tempfile.mkdtemp(prefix="rewind-compaction-")


METRICS_PORT = free_port()
broker = Broker(BROKER, TMP, "num.partitions=1", "log.cleaner.backoff.ms=50",
                "log.cleaner.min.cleanable.ratio=0.01", "offsets.topic.num.partitions=1",
                "offsets.topic.segment.bytes=4096", "group.initial.rebalance.delay.ms=0",
                "metrics.listener=127.0.0.1:%d" % METRICS_PORT)
KEYS = 120
VERSIONS = 15
BASE_TS = 1_600_000_000_000
stop = FailFast(broker, TMP)
fail, check = stop.fail, stop.check


def create(topic, **configs):
    a = cadmin.AdminClient({"bootstrap.servers": broker.bootstrap})
    conf = {"cleanup.policy": "compact", "segment.bytes": "2048",
            "min.cleanable.dirty.ratio": "0.01"}
    conf.update(configs)
    fs = a.create_topics([cadmin.NewTopic(topic, 1, 1, config=conf)])
    fs[topic].result(20)


def ts_of(key, version):
    return BASE_TS + version * 1000 + key


def produce(topic, codec, rounds, keys=range(KEYS), tombstones=(), idempotent=False):
    """rounds: iterable of versions; every key of `keys` gets each version.
    Keys in tombstones get a null value in the last round."""
    p = confluent_kafka.Producer({"bootstrap.servers": broker.bootstrap, "acks": "all",
                                  "compression.type": codec, "linger.ms": 5,
                                  "batch.num.messages": 40,
                                  "enable.idempotence": idempotent})
    errors = []
    rounds = list(rounds)
    for v in rounds:
        for k in keys:
            tomb = k in tombstones and v == rounds[-1]
            p.produce(topic, key=b"key-%d" % k, value=None if tomb else b"key-%d=%d" % (k, v),
                      headers=[("v", b"%d" % v)], timestamp=ts_of(k, v),
                      on_delivery=lambda e, m: e and errors.append(e))
        p.poll(0)
    check(p.flush(30) == 0, "%s: not every record was delivered" % topic)
    check(not errors, "%s: delivery errors: %s" % (topic, errors[:3]))


def consume_all(topic):
    """Every record from the beginning to the high watermark, confluent-kafka."""
    c = confluent_kafka.Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "reader",
                                  "enable.auto.commit": False, "enable.partition.eof": True})
    low, high = c.get_watermark_offsets(confluent_kafka.TopicPartition(topic, 0), timeout=10)
    c.assign([confluent_kafka.TopicPartition(topic, 0, confluent_kafka.OFFSET_BEGINNING)])
    out = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        m = c.poll(1.0)
        if m is None:
            continue
        if m.error():
            if m.error().code() == confluent_kafka.KafkaError._PARTITION_EOF:
                if m.offset() >= high:
                    break
                continue
            fail("%s: consume error %s" % (topic, m.error()))
        out.append(m)
    c.close()
    return out, low, high


def partition_dir(topic):
    return os.path.join(broker.data, "%s-0" % topic)


def checkpoint(topic):
    try:
        with open(os.path.join(broker.data, "cleaner-offset-checkpoint")) as f:
            lines = f.read().split("\n")[2:]
    except OSError:
        return -1
    for line in lines:
        parts = line.split()
        if len(parts) == 3 and parts[0] == topic and parts[1] == "0":
            return int(parts[2])
    return -1


def active_base(topic):
    bases = [int(n[:20]) for n in os.listdir(partition_dir(topic))
             if len(n) == 24 and n.endswith(".log")]
    return max(bases) if bases else -1


def wait_cleaned(topic):
    """Until the cleaner has passed every closed segment of the topic."""
    def done():
        cp = checkpoint(topic)
        return cp > 0 and cp == active_base(topic) and cp
    cp = wait_until(done, timeout=60)
    check(cp, "%s: the cleaner did not reach the active segment (checkpoint %d, active %d)"
          % (topic, checkpoint(topic), active_base(topic)))
    return cp


def parse(m):
    key = int(m.key().decode().split("-")[1])
    if m.value() is None:
        return key, None
    k2, v = m.value().decode().split("=")
    check(k2 == "key-%d" % key, "value %r under key %r" % (m.value(), m.key()))
    return key, int(v)


def verify_compacted(topic, latest, clean_end):
    """latest: key -> version (None = tombstone) expected. Below clean_end
    (the cleaner's checkpoint) a key appears at most once; the last record
    of every key is its latest version; the tail may hold older ones."""
    msgs, low, high = consume_all(topic)
    offsets = [m.offset() for m in msgs]
    check(offsets == sorted(set(offsets)), "%s: offsets not strictly ascending" % topic)
    check(len(offsets) < high - low, "%s: nothing was cleaned (%d records)" % (topic, len(offsets)))
    gaps = sum(1 for a, b in zip(offsets, offsets[1:]) if b > a + 1)
    check(gaps > 0 or (offsets and offsets[0] > low), "%s: no offset gaps" % topic)
    seen_clean = set()
    last = {}
    for m in msgs:
        key, v = parse(m)
        if m.offset() < clean_end:
            check(key not in seen_clean, "%s: key %d twice below the cleaned end %d"
                  % (topic, key, clean_end))
            seen_clean.add(key)
        hdr = dict(m.headers() or [])
        if v is not None:
            check(hdr.get("v") == b"%d" % v, "%s: key %d header %r" % (topic, key, hdr))
            check(m.timestamp()[1] == ts_of(key, v), "%s: key %d timestamp %r, want %d"
                  % (topic, key, m.timestamp(), ts_of(key, v)))
        last[key] = v
    for key, v in latest.items():
        check(last.get(key, "absent") == v or (v is None and key not in last),
              "%s: key %d ends at %r, want %r" % (topic, key, last.get(key, "absent"), v))
    return msgs


def kafka_python_offsets(topic, empty_ends=()):
    """The offsets kafka-python reads from the start. empty_ends: the last
    offsets of the log's empty batches. kafka-python 2.0.2 (Debian's) raises
    IndexError on a fetch answer that holds only an empty batch (its issue
    2132, fixed after 2.0.2 by skipping the batch); a read stops at a
    segment's end, as in Kafka, so that answer comes whenever an empty batch
    ends its segment. Then the read goes on past that batch, as later
    kafka-python does -- and only there: anywhere else it fails."""
    k = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None,
                      auto_offset_reset="earliest", consumer_timeout_ms=3000)
    tp = KTP(topic, 0)
    k.assign([tp])
    k.seek_to_beginning(tp)
    end = k.end_offsets([tp])[tp]
    out = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not out or out[-1] < end - 1):
        at = k.position(tp)
        try:
            polled = k.poll(1000)
        except IndexError:
            past = [e + 1 for e in empty_ends if e >= at]
            check(past, "%s: kafka-python failed at offset %d, not at an empty batch" % (topic, at))
            if not past:
                break
            print("%s: kafka-python 2.0.2 fails on an answer of only an empty batch at %d; "
                  "reading on from %d" % (topic, at, min(past)), flush=True)
            k.seek(tp, min(past))
            continue
        for recs in polled.values():
            out += [r.offset for r in recs]
    k.close()
    return out


def metric(name):
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % METRICS_PORT,
                                  timeout=10).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.split()[-1])
    return total


def main():
    broker.start()
    codecs = ["none", "gzip", "snappy", "lz4", "zstd"]
    expect = {}
    for codec in codecs:
        topic = "compact-" + codec
        create(topic)
        produce(topic, codec, range(VERSIONS))
        expect[topic] = {k: VERSIONS - 1 for k in range(KEYS)}
    for codec in codecs:
        topic = "compact-" + codec
        cp = wait_cleaned(topic)
        msgs = verify_compacted(topic, expect[topic], cp)
        note("%s: %d records left of %d, cleaned up to %d" % (topic, len(msgs),
                                                              KEYS * VERSIONS, cp))
    # kafka-python reads the compacted log alike (gaps, empty batches).
    mine = [m.offset() for m in consume_all("compact-zstd")[0]]
    check(kafka_python_offsets("compact-zstd") == mine, "kafka-python reads other offsets")

    # An idempotent producer whose every record is superseded keeps its last
    # batch as an empty batch (its sequence state); clients read past it.
    topic = "compact-idem"
    create(topic)
    produce(topic, "none", range(2), keys=range(40), idempotent=True)
    produce(topic, "none", range(2, 6), keys=range(40))
    cp = wait_cleaned(topic)
    verify_compacted(topic, {k: 5 for k in range(40)}, cp)
    out = subprocess.run([REWIND, "dump-log", partition_dir(topic)],
                         capture_output=True, text=True, timeout=60)
    check(re.search(r"count: 0 .*producerId: \d+ ", out.stdout),
          "no empty batch kept for the idempotent producer:\n" + out.stdout[-2000:])
    empty_ends = [int(m.group(1)) for m in re.finditer(r"lastOffset: (\d+) count: 0 ", out.stdout)]
    mine = [m.offset() for m in consume_all(topic)[0]]
    check(kafka_python_offsets(topic, empty_ends) == mine,
          "kafka-python reads other offsets past an empty batch")
    note("%s: the producer's last batch stays empty; both clients read past it" % topic)

    # ListOffsets by timestamp: version 0 of key 5 is gone; the first record
    # at or after its timestamp is named.
    c = confluent_kafka.Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "t"})
    got = c.offsets_for_times([confluent_kafka.TopicPartition("compact-none", 0, ts_of(5, 0))],
                              timeout=10)[0].offset
    c.close()
    msgs = consume_all("compact-none")[0]
    want = min(m.offset() for m in msgs if m.timestamp()[1] >= ts_of(5, 0))
    check(got == want, "offsets_for_times gave %d, want %d" % (got, want))

    # Tombstones: kept until delete.retention.ms after the first pass.
    topic = "compact-tomb"
    create(topic, **{"delete.retention.ms": "3000"})
    t0 = time.monotonic()
    produce(topic, "lz4", range(3), keys=range(40), tombstones=range(10))
    produce(topic, "lz4", [5, 6], keys=range(10, 40))        # rolls past the tombstones
    cp = wait_cleaned(topic)
    latest = {k: (None if k < 10 else 6) for k in range(40)}
    msgs = verify_compacted(topic, latest, cp)
    tombs = {parse(m)[0] for m in msgs if m.value() is None}
    out = subprocess.run([REWIND, "dump-log", partition_dir(topic)],
                         capture_output=True, text=True, timeout=60)
    check("deleteHorizonMs:" in out.stdout, "dump-log shows no delete horizon")
    if time.monotonic() - t0 < 2.5:
        check(tombs == set(range(10)), "tombstones gone early: %s" % sorted(tombs))
    # After the horizon, a later pass (more data makes the log dirty) drops them.
    version = [7]

    def tombstones_gone():
        produce(topic, "lz4", [version[0]], keys=range(10, 40))
        version[0] += 1
        ms = consume_all(topic)[0]
        return not any(m.value() is None for m in ms) and ms
    msgs = wait_until(tombstones_gone, timeout=60, step=0.5)
    check(msgs, "tombstones were never removed")
    keys = {parse(m)[0] for m in msgs}
    check(not keys & set(range(10)), "deleted keys came back: %s" % sorted(keys & set(range(10))))
    note("%s: tombstones removed after delete.retention.ms" % topic)

    # __consumer_offsets: many commits of one group compact down.
    group = "g-compact"
    c = confluent_kafka.Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                                  "enable.auto.commit": False})
    for i in range(300):
        c.commit(offsets=[confluent_kafka.TopicPartition("compact-none", 0, i + 1)],
                 asynchronous=False)
    c.close()
    cp = wait_cleaned("__consumer_offsets")
    recs = consume_all("__consumer_offsets")[0]
    below = [m for m in recs if m.offset() < cp]
    keys = [m.key() for m in below]
    check(len(keys) == len(set(keys)), "__consumer_offsets: a key twice below %d" % cp)
    check(len(recs) < 150, "__consumer_offsets kept %d records of 300+ commits" % len(recs))
    note("__consumer_offsets: %d records left after 300 commits" % len(recs))

    # The tools: dump-log shows the gaps, topics describe the dirty ratio.
    out = subprocess.run([REWIND, "dump-log", "--records", partition_dir("compact-none")],
                         capture_output=True, text=True, timeout=60)
    check(out.returncode == 0, "dump-log exit %d: %s" % (out.returncode, out.stderr[-500:]))
    check(re.search(r"^gap: offsets \d+\.\.\d+ absent \(compacted away\)$", out.stdout, re.M),
          "dump-log shows no gap between batches")
    check(re.search(r"offsets absent \(compacted away\)$", out.stdout, re.M),
          "dump-log summary names no absent offsets")
    out = subprocess.run([REWIND, "topics", "describe", "--bootstrap", broker.bootstrap,
                          "compact-none"], capture_output=True, text=True, timeout=60)
    check(out.returncode == 0 and re.search(r"DIRTY", out.stdout) and
          re.search(r"^0\s.*\s[01]\.\d+\s*$", out.stdout, re.M),
          "topics describe shows no dirty ratio:\n%s%s" % (out.stdout, out.stderr))

    check(metric("rewind_log_cleaner_passes_total") > 0, "no cleaner passes in /metrics")
    check(metric("rewind_log_cleaner_records_removed_total") > 0, "no removed records in /metrics")

    broker.restart()
    c = confluent_kafka.Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    committed = c.committed([confluent_kafka.TopicPartition("compact-none", 0)], timeout=20)
    c.close()
    check(committed[0].offset == 300, "committed offset after restart: %d" % committed[0].offset)
    for codec in codecs:
        topic = "compact-" + codec
        verify_compacted(topic, expect[topic], checkpoint(topic))
    broker.stop()
    note("ok: %d checks" % stop.count)


try:
    main()
except BrokerError as e:
    fail(str(e))
finally:
    broker.kill()
shutil.rmtree(TMP, ignore_errors=True)
