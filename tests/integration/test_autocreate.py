#!/usr/bin/python3
"""test_autocreate.py BROKER -- Metadata and Produce auto-create topics off the reactor.

With auto.create.topics.enable, a Metadata or Produce request naming
topics that do not exist creates them. Creating writes and fsyncs files,
so the reactor parks the request and the admin thread creates the topics
(api_metadata.c builds its whole answer there; api_produce.c runs its
handler again on the reactor afterwards); the answer must still come back
whole and in request order. Over raw requests on one socket:
  - one new topic: created with num.partitions partitions, no error;
  - three new topics and one existing in one request: all answered;
  - a pipeline of [Metadata creating a topic, ApiVersions, Metadata
    creating another, ApiVersions]: four answers, in request order, with
    their correlation ids (the parked ones hold back what follows);
  - with one network thread and num.partitions=300 (third broker), a
    Metadata creating a topic on one connection, then -- once its first
    partition directory shows the create has begun -- ApiVersions on
    another: the ApiVersions answer arrives while the create is still
    under way (fewer than 300 partition directories) and the Metadata
    answer outstanding -- had the create run on the network thread, the
    second connection would not even have been read (order asserted,
    never a duration, as test_admin_thread.py does for CreateTopics);
  - Produce v3 (acks=-1) to a missing topic: created, appended at offset
    0; and acks=0 to another missing topic: created, nothing answered, the
    record there (a Metadata and ApiVersions after it are answered);
  - the same one-network-thread check with a Produce creating a 300-
    partition topic;
  - with auto.create.topics.enable=false (second broker): the topic is
    UNKNOWN_TOPIC_OR_PARTITION and nothing is created, for Metadata and
    Produce alike.
Processes this test starts are stopped by PID.
"""
import os
import re
import shutil
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_harness import Broker, BrokerError, Checks, RawConn, wait_until  # noqa: E402

BROKER = sys.argv[1]
check = Checks()


def Conn(bootstrap):
    return RawConn(bootstrap, client_id=b"autocreate")


def metadata_v1(names):
    body = struct.pack(">i", len(names))
    for n in names:
        nb = n.encode()
        body += struct.pack(">h", len(nb)) + nb
    return body


def parse_metadata_v1(b):
    """{topic: (error, partition count)}"""
    at = 0
    nb = struct.unpack_from(">i", b, at)[0]
    at += 4
    for _ in range(nb):
        at += 4                                   # node id
        hl = struct.unpack_from(">h", b, at)[0]
        at += 2 + hl + 4                          # host, port
        rl = struct.unpack_from(">h", b, at)[0]
        at += 2 + max(rl, 0)                      # rack
    at += 4                                       # controller id
    nt = struct.unpack_from(">i", b, at)[0]
    at += 4
    out = {}
    for _ in range(nt):
        err, tl = struct.unpack_from(">hh", b, at)
        at += 4
        name = b[at:at + tl].decode()
        at += tl + 1                              # name, is_internal
        np_ = struct.unpack_from(">i", b, at)[0]
        at += 4
        for _ in range(np_):
            at += 2 + 4 + 4                       # error, index, leader
            for _ in range(2):                    # replicas, isr
                n = struct.unpack_from(">i", b, at)[0]
                at += 4 + 4 * n
        out[name] = (err, np_)
    return out


def produce_v3(topic, acks, value=b"x"):
    """Produce v3 body: one record to partition 0 of topic."""
    from kafka.record.default_records import DefaultRecordBatchBuilder
    bb = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False,
                                   producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                   batch_size=1 << 20)
    bb.append(0, timestamp=None, key=None, value=value, headers=[])
    batch = bytes(bb.build())
    tb = topic.encode()
    return (struct.pack(">hhi", -1, acks, 30000) + struct.pack(">i", 1) +
            struct.pack(">h", len(tb)) + tb + struct.pack(">i", 1) +
            struct.pack(">ii", 0, len(batch)) + batch)


def parse_produce_v3(b):
    """{(topic, partition): (error, base offset)}"""
    at = 0
    nt = struct.unpack_from(">i", b, at)[0]
    at += 4
    out = {}
    for _ in range(nt):
        tl = struct.unpack_from(">h", b, at)[0]
        name = b[at + 2:at + 2 + tl].decode()
        at += 2 + tl
        np_ = struct.unpack_from(">i", b, at)[0]
        at += 4
        for _ in range(np_):
            p, err, base, _ts = struct.unpack_from(">ihqq", b, at)
            at += 4 + 2 + 8 + 8
            out[(name, p)] = (err, base)
    return out


def run_produce(boot):
    c = Conn(boot)
    c.send(0, 3, 21, produce_v3("ac-prod", -1))
    corr, body = c.recv()
    r = parse_produce_v3(body)
    check(corr == 21 and r.get(("ac-prod", 0)) == (0, 0),
          "Produce to a missing topic creates it and appends at offset 0: %r" % (r,))
    # acks=0: no answer; the next requests are answered, and the record
    # is there (high watermark 1 through a raw ListOffsets would need more
    # parsing: a second acks=-1 Produce must land at offset 1 instead).
    c.send(0, 3, 22, produce_v3("ac-prod0", 0))
    c.send(18, 0, 23, b"")
    corr, _ = c.recv()
    check(corr == 23, "acks=0 Produce creating a topic sends nothing; ApiVersions after it is answered")
    c.send(0, 3, 24, produce_v3("ac-prod0", -1))
    corr, body = c.recv()
    r = parse_produce_v3(body)
    check(corr == 24 and r.get(("ac-prod0", 0)) == (0, 1),
          "the acks=0 record is in the created topic (the next lands at offset 1): %r" % (r,))
    c.send(3, 1, 25, metadata_v1(["ac-prod", "ac-prod0"]))
    corr, body = c.recv()
    t = parse_metadata_v1(body)
    check(t.get("ac-prod") == (0, 3) and t.get("ac-prod0") == (0, 3),
          "both produced-to topics exist with num.partitions partitions: %r" % (t,))
    c.close()


def run_enabled(boot):
    c = Conn(boot)
    c.send(3, 1, 1, metadata_v1(["ac-one"]))
    corr, body = c.recv()
    t = parse_metadata_v1(body)
    check(corr == 1 and t.get("ac-one") == (0, 3),
          "a new topic is created with num.partitions=3 partitions: %r" % (t,))

    c.send(3, 1, 2, metadata_v1(["ac-a", "ac-b", "ac-c", "ac-one"]))
    corr, body = c.recv()
    t = parse_metadata_v1(body)
    check(corr == 2 and all(t.get(n) == (0, 3) for n in ("ac-a", "ac-b", "ac-c", "ac-one")),
          "three new topics and an existing one in one request: %r" % (t,))

    # Pipelined: parked Metadata answers hold back what follows them.
    c.send(3, 1, 10, metadata_v1(["ac-p1"]))
    c.send(18, 0, 11, b"")
    c.send(3, 1, 12, metadata_v1(["ac-p2"]))
    c.send(18, 0, 13, b"")
    got = [c.recv() for _ in range(4)]
    check([g[0] for g in got] == [10, 11, 12, 13],
          "pipelined answers come in request order: %r" % ([g[0] for g in got],))
    check(parse_metadata_v1(got[0][1]).get("ac-p1") == (0, 3) and
          parse_metadata_v1(got[2][1]).get("ac-p2") == (0, 3),
          "the pipelined Metadata requests created their topics")
    c.close()


def run_wide(boot, data):
    # Produce first: the topic it creates is the 300-partition one.
    slow = Conn(boot)
    quick = Conn(boot)
    slow.send(0, 3, 1, produce_v3("ac-wide-p", -1))
    # Once the create has started (its first directory is there), the
    # broker has read the slow request: the quick one cannot overtake it
    # into the network thread.
    started = wait_until(lambda: any(re.fullmatch(r"ac-wide-p-\d+", d) for d in os.listdir(data)))
    check(started, "the Produce's topic creation started")
    quick.send(18, 0, 2, b"")
    corr, _ = quick.recv()
    made = len([d for d in os.listdir(data) if re.fullmatch(r"ac-wide-p-\d+", d)])
    # (The Produce itself is answered only after its fdatasync, so its
    # answer coming later proves nothing: the create must be unfinished.)
    check(corr == 2 and made < 300,
          "ApiVersions answered while a Produce auto-create of 300 partitions ran "
          "off the network thread (%d partitions made by then)" % made)
    corr, body = slow.recv()
    check(corr == 1 and parse_produce_v3(body).get(("ac-wide-p", 0)) == (0, 0),
          "the Produce that created the wide topic was appended")
    slow.close()
    quick.close()

    slow = Conn(boot)
    quick = Conn(boot)
    slow.send(3, 1, 1, metadata_v1(["ac-wide"]))
    started = wait_until(lambda: any(re.fullmatch(r"ac-wide-\d+", d) for d in os.listdir(data)))
    check(started, "the Metadata's topic creation started")
    quick.send(18, 0, 2, b"")
    corr, _ = quick.recv()
    made = len([d for d in os.listdir(data) if re.fullmatch(r"ac-wide-\d+", d)])
    pending = slow.ready(0)
    check(corr == 2 and not pending and made < 300,
          "ApiVersions answered while a Metadata auto-create of 300 partitions ran "
          "off the network thread (%d partitions made by then)" % made)
    corr, body = slow.recv()
    check(corr == 1 and parse_metadata_v1(body).get("ac-wide") == (0, 300),
          "the wide topic was created and described")
    check(len([d for d in os.listdir(data) if re.fullmatch(r"ac-wide-\d+", d)]) == 300,
          "300 partition directories on disk")
    slow.close()
    quick.close()


def run_disabled(boot, data):
    c = Conn(boot)
    c.send(0, 3, 5, produce_v3("ac-never-p", -1))
    corr, body = c.recv()
    r = parse_produce_v3(body)
    check(corr == 5 and r.get(("ac-never-p", 0), (None,))[0] == 3,
          "auto-create off: Produce gets UNKNOWN_TOPIC_OR_PARTITION: %r" % (r,))
    c.send(3, 1, 1, metadata_v1(["ac-never"]))
    corr, body = c.recv()
    t = parse_metadata_v1(body)
    check(t.get("ac-never") == (3, 0), "auto-create off: UNKNOWN_TOPIC_OR_PARTITION: %r" % (t,))
    check(not any(d.startswith("ac-never") for d in os.listdir(data)),
          "auto-create off: no directory was created")
    c.close()


def main():
    tmp = tempfile.mkdtemp(prefix="rewind-autocreate-")
    on = Broker(BROKER, os.path.join(tmp, "on"), "auto.create.topics.enable=true",
                "num.partitions=3")
    off = Broker(BROKER, os.path.join(tmp, "off"), "auto.create.topics.enable=false")
    wide = Broker(BROKER, os.path.join(tmp, "wide"), "auto.create.topics.enable=true",
                  "num.partitions=300", "num.network.threads=1")
    for b in (on, off, wide):
        os.makedirs(b.tmp)
    try:
        on.start()
        run_enabled(on.bootstrap)
        run_produce(on.bootstrap)
        on.stop()
        wide.start()
        run_wide(wide.bootstrap, wide.data)
        wide.stop()
        off.start()
        run_disabled(off.bootstrap, off.data)
        off.stop()
    except (BrokerError, EOFError, OSError) as e:
        check(False, str(e))
    finally:
        for b in (on, off, wide):
            b.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    check.exit()


if __name__ == "__main__":
    main()
