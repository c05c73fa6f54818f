#!/usr/bin/python3
"""test_full_disk.py BROKER -- rewind-broker on a disk that fills up, with
confluent-kafka (librdkafka) producing and consuming.

The broker's log.dirs is a 24 MB tmpfs that also holds a 6 MB ballast file.
A producer (acks=all, not idempotent, no retries) sends 8 KB records
numbered in their first 8 bytes until well past what fits. Then:

  - some records were acknowledged and the rest refused with
    KAFKA_STORAGE_ERROR, and the broker is alive;
  - the broker logged the full disk once per thing that failed, not once
    per failed write (each "No space left on device" line at most once per
    10 s of failures, and a handful of different ones);
  - a consumer reads the partition from offset 0 while the disk is full:
    offsets contiguous, every acknowledged record at the offset its
    delivery report gave, byte for byte, nothing that was not sent;
  - the broker restarts on the full disk and serves the same records, and
    still refuses new ones;
  - CreateTopics of 40 partitions on the full disk is KAFKA_STORAGE_ERROR,
    and after a restart there is no such topic and no directory of it;
  - the ballast is deleted: new records are acknowledged at the next
    offsets without a restart, and the broker says writes work again,
    with how many failed;
  - with space but only 1..9 inodes free, CreateTopics is
    KAFKA_STORAGE_ERROR each time, whichever file it could not make, and
    leaves no directory; after a restart there is no such topic;
  - a last restart recovers every acknowledged record.

The test runs itself again inside a private mount namespace (unshare -m;
without root, inside a user namespace too: unshare -U -r -m), so the tmpfs
goes away with it whatever happens; where neither may be made (a container
that forbids namespaces or mounts) it says why and exits 77 (meson's
"skipped"). Only the broker this test
starts is signalled, by PID.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_harness import Broker, BrokerError, FailFast, note, wait_until  # noqa: E402

NS_MARK = "REWIND_FULL_DISK_NS"
if os.environ.get(NS_MARK) != "1":
    if not shutil.which("unshare") or not shutil.which("mount"):
        print("SKIP: mounting a tmpfs needs unshare(1) and mount(8)")
        sys.exit(77)
    # Root makes a mount namespace; anyone else (or a root that may not)
    # a user namespace with a mount namespace, where Linux lets the
    # namespace's root mount a tmpfs.
    ways = [["unshare", "-m", "--propagation", "private"]] if os.geteuid() == 0 else []
    ways.append(["unshare", "-U", "-r", "-m", "--propagation", "private"])
    why = []
    for way in ways:
        probe = subprocess.run(way + ["true"], capture_output=True, text=True)
        if probe.returncode == 0:
            os.environ[NS_MARK] = "1"
            os.execvp("unshare", way + [sys.executable] + sys.argv)
        why.append("%s: %s" % (" ".join(way[1:]), probe.stderr.strip()))
    print("SKIP: no mount namespace may be made here (a container without "
          "CAP_SYS_ADMIN?): %s" % "; ".join(why))
    sys.exit(77)

from confluent_kafka import (Consumer, KafkaError, KafkaException, Producer,  # noqa: E402
                             TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

BROKER = sys.argv[1]
TOPIC = "full"
RECORD = 8192
DISK_MB, BALLAST_MB = 24, 6


def value(i):
    return b"%08d" % i + bytes([i % 251]) * (RECORD - 8)


def produce(bootstrap, first, count, retries):
    """Sends records first..first+count-1; returns ({i: offset}, {i: error},
    records left unanswered). With retries=0 a refused record fails at once
    with the broker's error, however slow the machine; librdkafka would
    otherwise retry KAFKA_STORAGE_ERROR until message.timeout.ms and report
    _MSG_TIMED_OUT, and on a slow machine could time records out before the
    disk is full at all."""
    acked, failed = {}, {}

    def report(err, msg):
        i = int(msg.value()[:8])
        if err is None:
            acked[i] = msg.offset()
        else:
            failed[i] = err

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                  "enable.idempotence": False, "linger.ms": 5,
                  "message.timeout.ms": 60000, "retries": retries,
                  "retry.backoff.ms": 50})
    for i in range(first, first + count):
        while True:
            try:
                p.produce(TOPIC, value(i), partition=0, on_delivery=report)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    left = p.flush(90)
    return acked, failed, left


def create_error(bootstrap, name, partitions):
    """CreateTopics of one topic: its KafkaError, or None when created. The
    admin client goes with the call, so none is left to reconnect through a
    restart."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])[name].result(30)
        return None
    except KafkaException as e:
        return e.args[0]


def read_all(bootstrap):
    """Every record of partition 0 from offset 0 to the high watermark."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "full-disk-check",
                  "enable.auto.commit": False, "enable.partition.eof": True})
    _, high = c.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10)
    c.assign([TopicPartition(TOPIC, 0, 0)])
    out = []
    deadline = time.monotonic() + 60
    while len(out) < high and time.monotonic() < deadline:
        m = c.poll(1.0)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                continue
            raise RuntimeError("consume: %s" % m.error())
        out.append((m.offset(), m.value()))
    c.close()
    return high, out


def main():
    tmp = tempfile.mkdtemp(prefix="rewind-full-disk-")
    mnt = os.path.join(tmp, "mnt")
    os.mkdir(mnt)
    # huge=never: a kernel that gives tmpfs huge pages by default would
    # count space in 2 MB steps, and "two pages free" below would not hold.
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm,huge=never" % DISK_MB,
                              "tmpfs", mnt],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        print("SKIP: no tmpfs may be mounted here: %s" % mounted.stderr.strip())
        shutil.rmtree(tmp, ignore_errors=True)
        sys.exit(77)
    ballast = os.path.join(mnt, "ballast")
    with open(ballast, "wb") as f:
        f.write(b"\0" * (BALLAST_MB << 20))
    b = Broker(BROKER, tmp, "log.segment.bytes=4194304")
    b.data = os.path.join(mnt, "data")       # the broker's own log stays off the tmpfs
    ff = FailFast(b, tmp)
    check = ff.check

    def restart(what):
        try:
            b.restart()
        except BrokerError as e:
            ff.fail("the broker restarts %s: %s" % (what, e))
    b.start()
    try:
        # Fill: ~32 MB of records into the ~18 MB left.
        t0 = time.monotonic()
        acked, failed, left = produce(b.bootstrap, 0, 4000, 0)
        secs = time.monotonic() - t0
        note("full: %d acknowledged, %d failed, %d unanswered in %.1f s; errors %s"
             % (len(acked), len(failed), left, secs,
                sorted({e.name() for e in failed.values()})))
        check(left == 0, "every record got a delivery report")
        check(len(acked) > 1000 and len(failed) > 100,
              "the disk filled: records acknowledged, then refused")
        check({e.code() for e in failed.values()} == {KafkaError.KAFKA_STORAGE_ERROR},
              "every refusal is KAFKA_STORAGE_ERROR")
        check(b.proc.poll() is None, "the broker is alive on the full disk")
        text = b.text()
        # Each thing that failed (the segment write, and when the disk
        # fills at a roll the sealed segment's index, the producer
        # snapshot, the recovery point) is said once per 10 s, not once
        # per refused record: count each distinct message, timestamp cut.
        said = {}
        for line in text.splitlines():
            if "No space left on device" in line:
                msg = line.split(" ", 1)[-1]
                said[msg] = said.get(msg, 0) + 1
        most = max(said.values()) if said else 0
        check(1 <= len(said) <= 6 and most <= 1 + int(secs / 10),
              "the full disk logged %d different line(s), one %d time(s), in %.1f s, "
              "not once per failed write: %s" % (len(said), most, secs, sorted(said)))

        def check_records(high, got, acked, what):
            check([o for o, _ in got] == list(range(high)),
                  "%s: offsets 0..%d contiguous" % (what, high - 1))
            by_offset = dict(got)
            sent = set()
            for o, v in got:
                i = int(v[:8])
                check(v == value(i) and i not in sent,
                      "%s: offset %d holds record %d whole, once" % (what, o, i))
                sent.add(i)
            wrong = [i for i, o in acked.items() if by_offset.get(o) != value(i)]
            check(not wrong, "%s: every acknowledged record at its offset (%d wrong, e.g. %r)"
                  % (what, len(wrong), wrong[:3]))

        high, got = read_all(b.bootstrap)
        note("read on the full disk: high watermark %d, %d records" % (high, len(got)))
        check(high >= len(acked), "the high watermark covers the acknowledged records")
        check_records(high, got, acked, "full disk")

        # A topic the full disk cannot hold is refused, and leaves nothing
        # behind that a restart would take for a topic.
        # (Two pages come off the ballast first: the fill may have left
        # less than that, and then the topup alone could not give them.)
        page = os.sysconf("SC_PAGE_SIZE")
        os.truncate(ballast, os.path.getsize(ballast) - 2 * page)
        topup = os.path.join(mnt, "topup")
        with open(topup, "wb", buffering=0) as f:
            try:
                while f.write(b"\0" * 4096):
                    pass
            except OSError:
                pass
        # Two pages free: room for the topic's properties and one
        # partition's partition.metadata, so the create fails part way,
        # after it has made partition directories.
        os.truncate(topup, os.path.getsize(topup) - 2 * page)
        created = create_error(b.bootstrap, "phantom", 40)
        check(created is not None and created.code() == KafkaError.KAFKA_STORAGE_ERROR,
              "CreateTopics on the full disk: KAFKA_STORAGE_ERROR (%r)" % (created,))
        restart("on the full disk")
        names = AdminClient({"bootstrap.servers": b.bootstrap}).list_topics(timeout=10).topics
        check("phantom" not in names and TOPIC in names,
              "after a restart: no topic 'phantom', '%s' still there" % TOPIC)
        check(not [d for d in os.listdir(b.data) if d.startswith("phantom-")],
              "no directory of 'phantom' left in log.dirs")

        # Still after that restart on the full disk: the same records, and
        # writes still fail.
        high2, got2 = read_all(b.bootstrap)
        check(high2 == high and got2 == got, "after a restart on the full disk: the same %d "
              "records" % high)
        # (Startup may free a little, so offer more than that.)
        after, still, left = produce(b.bootstrap, 5000, 1000, 0)
        check(left == 0 and len(still) > 0, "still full after the restart: %d of 1000 records "
              "refused" % len(still))
        check({e.code() for e in still.values()} == {KafkaError.KAFKA_STORAGE_ERROR},
              "every refusal after the restart is KAFKA_STORAGE_ERROR")
        acked.update(after)
        high, got = read_all(b.bootstrap)
        check_records(high, got, acked, "after the restart on the full disk")

        # Space again, no restart.
        os.unlink(ballast)
        os.unlink(topup)
        more, more_failed, left = produce(b.bootstrap, 10000, 200, 2)
        check(left == 0 and not more_failed and len(more) == 200,
              "after freeing space: 200 more records acknowledged (failed %d)"
              % len(more_failed))
        check(sorted(more.values()) == list(range(high, high + 200)),
              "they take the next offsets, %d..%d" % (high, high + 199))
        m = wait_until(lambda: re.search(r"writes succeed again, after (\d+) failed", b.text()),
                       timeout=10)
        check(m is not None and int(m.group(1)) >= 1,
              "the broker says writes work again, after %s failed writes"
              % (m.group(1) if m else "?"))

        acked.update(more)

        # Out of inodes with space to spare: each CreateTopics below may
        # make only a few more files, so it fails at a different step (the
        # topic's properties, a partition's directory, its lock file, its
        # first segment, its partition.metadata) and must leave nothing.
        inodes = os.statvfs(mnt).f_files
        for spare in range(1, 10):
            st = os.statvfs(mnt)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "remount,nr_inodes=%d"
                            % (st.f_files - st.f_ffree + spare), "tmpfs", mnt], check=True)
            name = "noinode%d" % spare
            said = len(b.text())
            refused = create_error(b.bootstrap, name, 3)
            check(refused is not None and refused.code() == KafkaError.KAFKA_STORAGE_ERROR,
                  "CreateTopics with %d inode(s) free: KAFKA_STORAGE_ERROR (%r)"
                  % (spare, refused))
            # One line says what could not be made, one that the request
            # was refused: not a line from each layer the failure crossed.
            lines = [ln for ln in b.text()[said:].splitlines() if name in ln]
            failed = [ln for ln in lines if " ERROR " in ln]
            refusals = [ln for ln in lines if "CreateTopics %s refused" % name in ln]
            check(len(failed) == 1 and len(refusals) == 1 and len(lines) == 2,
                  "CreateTopics with %d inode(s) free: one ERROR line and the refusal (%r)"
                  % (spare, lines))
            check(not [d for d in os.listdir(b.data) if d.startswith(name + "-")],
                  "no directory of '%s' left in log.dirs" % name)
        # (Type and source named: in a user namespace mount(8) finds no
        # table entry to take them from.)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "remount,nr_inodes=%d" % inodes,
                        "tmpfs", mnt], check=True)

        restart("with space again")
        names = AdminClient({"bootstrap.servers": b.bootstrap}).list_topics(timeout=10).topics
        check(not [n for n in names if n.startswith("noinode")],
              "after the last restart: no topic of a refused CreateTopics (%s)" % sorted(names))
        high3, got3 = read_all(b.bootstrap)
        check(high3 == high + 200, "after the last restart: high watermark %d" % high3)
        check_records(high3, got3, acked, "after the last restart")
        b.stop()
    finally:
        b.kill()
        subprocess.run(["umount", "-l", mnt])
        if os.environ.get("KEEP") is None:
            shutil.rmtree(tmp, ignore_errors=True)
    print("full disk: ok (%d checks)" % ff.count)


main()
