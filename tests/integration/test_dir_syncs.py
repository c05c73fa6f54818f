#!/usr/bin/python3
"""test_dir_syncs.py BROKER SHIM -- the broker makes new partition
directories durable before it answers, seen through sync_shim.c (an
LD_PRELOAD library that logs mkdir() and fsync() calls and can fail an
fsync).

  - CreateTopics of 4 partitions (confluent-kafka's AdminClient) makes four
    partition directories in log.dirs and then syncs log.dirs itself;
    CreatePartitions to 6 does the same for the two new ones;
  - with every fsync of log.dirs failing (EIO), CreateTopics and
    CreatePartitions are KAFKA_STORAGE_ERROR, no directory of the refused
    partitions is left, the broker says so in one ERROR line each time, and
    after a restart the topics are as they were before the refusals;
  - the broker keeps serving: a record produced after the refusals reads
    back.

Only the broker this test starts is signalled, by PID.
"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_harness import Broker, FailFast, note  # noqa: E402

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic  # noqa: E402

BROKER, SHIM = sys.argv[1], sys.argv[2]


def shim_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n").split(" ", 1) for line in f]


def kafka_error(future):
    """The KafkaError an admin future ends with, or None."""
    try:
        future.result(30)
        return None
    except Exception as e:  # noqa: BLE001 -- confluent-kafka raises KafkaException
        return e.args[0] if e.args else e


def main():
    tmp = tempfile.mkdtemp(prefix="rewind-dir-syncs-")
    log = os.path.join(tmp, "shim.log")
    arm = os.path.join(tmp, "armed")
    b = Broker(BROKER, tmp)
    data = os.path.realpath(b.data)
    os.environ["LD_PRELOAD"] = SHIM
    os.environ["REWIND_SHIM_LOG"] = log
    os.environ["REWIND_SHIM_FAIL_FSYNC"] = data
    os.environ["REWIND_SHIM_ARM"] = arm
    # Under AddressSanitizer the shim comes before its runtime; allow it.
    os.environ["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"
    ff = FailFast(b, tmp)
    check = ff.check
    try:
        b.start()
        admin = AdminClient({"bootstrap.servers": b.bootstrap})

        def made_then_synced(what, names):
            """Each of names was made in log.dirs, and log.dirs was synced
            after the last of them."""
            lines = shim_lines(log)
            made = [i for i, (op, path) in enumerate(lines)
                    if op == "mkdir" and os.path.dirname(os.path.realpath(path)) == data
                    and os.path.basename(path) in names]
            check(len(made) == len(names), "%s: %d partition directories made (%d)"
                  % (what, len(names), len(made)))
            synced = [i for i, (op, path) in enumerate(lines)
                      if op == "fsync" and path == data and made and i > max(made)]
            check(synced, "%s: log.dirs synced after its partition directories" % what)

        err = kafka_error(admin.create_topics([NewTopic("durable", 4, 1)])["durable"])
        check(err is None, "CreateTopics durable: created (%r)" % (err,))
        made_then_synced("CreateTopics", ["durable-%d" % i for i in range(4)])
        os.truncate(log, 0)
        err = kafka_error(admin.create_partitions([NewPartitions("durable", 6)])["durable"])
        check(err is None, "CreatePartitions durable 4 -> 6: done (%r)" % (err,))
        made_then_synced("CreatePartitions", ["durable-4", "durable-5"])

        # Every sync of log.dirs fails from here on.
        open(arm, "w").close()
        said = len(b.text())
        err = kafka_error(admin.create_topics([NewTopic("doomed", 3, 1)])["doomed"])
        check(err is not None and err.code() == KafkaError.KAFKA_STORAGE_ERROR,
              "CreateTopics with log.dirs unsyncable: KAFKA_STORAGE_ERROR (%r)" % (err,))
        err = kafka_error(admin.create_partitions([NewPartitions("durable", 8)])["durable"])
        check(err is not None and err.code() == KafkaError.KAFKA_STORAGE_ERROR,
              "CreatePartitions with log.dirs unsyncable: KAFKA_STORAGE_ERROR (%r)" % (err,))
        left = sorted(d for d in os.listdir(data)
                      if d.startswith("doomed-") or d in ("durable-6", "durable-7"))
        check(not left, "no directory of a refused partition is left (%r)" % left)
        errors = [ln for ln in b.text()[said:].splitlines()
                  if " ERROR " in ln and "cannot sync its new partition directories" in ln]
        check(len(errors) == 2, "one ERROR line per refused request (%r)" % errors)
        topics = admin.list_topics(timeout=10).topics
        check("doomed" not in topics and len(topics["durable"].partitions) == 6,
              "metadata: no 'doomed', 'durable' still has 6 partitions")

        # Still serving.
        os.unlink(arm)
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all"})
        p.produce("durable", b"after", partition=5)
        check(p.flush(30) == 0, "a record to durable-5 after the refusals is delivered")
        b.restart()
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        topics = admin.list_topics(timeout=10).topics
        check("doomed" not in topics and len(topics["durable"].partitions) == 6,
              "after a restart: no 'doomed', 'durable' has 6 partitions")
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "dir-syncs",
                      "enable.auto.commit": False})
        c.assign([TopicPartition("durable", 5, 0)])
        m = c.poll(20)
        check(m is not None and m.error() is None and m.value() == b"after",
              "after a restart the record reads back (%r)" % (m and (m.error(), m.value()),))
        c.close()
        b.stop()
    finally:
        b.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    note("dir syncs: ok (%d checks)" % ff.count)


main()
