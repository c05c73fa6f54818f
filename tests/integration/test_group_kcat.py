#!/usr/bin/python3
"""test_group_kcat.py BROKER [STRATEGY] -- kcat -G (librdkafka's balanced
consumer) groups; STRATEGY is partition.assignment.strategy (default:
librdkafka's, range then roundrobin; or cooperative-sticky, whose
rebalances kcat reports as incremental assignments and revokes).

One rewind-broker on a free port with a temporary data dir
(group.initial.rebalance.delay.ms=0, num.partitions=6); topic "kg" is made
by kcat -P with one record per partition. Three `kcat -G` members
(session.timeout.ms=6000, heartbeats every 500 ms, auto commit every
100 ms), each printing "partition|offset|value" unbuffered; their rebalance
lines on stderr ("assigned: kg [0], ...", "revoked: ...") say what each
holds:

  - the three split the 6 partitions 2/2/2; the first records and 60 more
    are consumed exactly once across the group;
  - one member leaves (SIGTERM: kcat closes its consumer, which sends
    LeaveGroup): the other two hold 3/3 within the session timeout, and 60
    records produced afterwards are all consumed, exactly once;
  - once the group's committed offsets reach the log end (checked with
    confluent-kafka's OffsetFetch), another member is SIGKILLed: nothing is
    sent, so the last one takes its partitions when the session expires
    (not before), and 60 more records are consumed exactly once.

Waits poll with deadlines. Only processes this script started are
signalled, by PID.
"""
import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_harness import Broker, BrokerError, wait_until  # noqa: E402

BROKER = sys.argv[1]
STRATEGY = sys.argv[2] if len(sys.argv) > 2 else None
TOPIC, GROUP, P = "kg", "kg-group", 6
SESSION_MS = 6000
TMP = tempfile.mkdtemp(prefix="rewind-gkcat-")
broker = Broker(BROKER, TMP, "num.partitions=%d" % P, "group.initial.rebalance.delay.ms=0",
                "offsets.topic.num.partitions=4")
checks = 0
members = []


def fail(msg):
    sys.stderr.write("FAIL: %s\n" % msg)
    for m in members:
        sys.stderr.write("---- %s stderr (last lines)\n%s" % (m.name, "".join(
            "  | " + l + "\n" for l in m.err().splitlines()[-15:])))
    sys.stderr.write("---- broker log (last start)\n" + broker.tail(40))
    for m in members:
        m.kill()
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


class Member:
    def __init__(self, name):
        self.name = name
        self.out_path = os.path.join(TMP, name + ".out")
        self.err_path = os.path.join(TMP, name + ".err")
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                ["kcat", "-b", broker.bootstrap, "-G", GROUP, TOPIC, "-u",
                 "-f", "%p|%o|%s\\n", "-X", "client.id=" + name,
                 "-X", "auto.offset.reset=earliest",
                 "-X", "session.timeout.ms=%d" % SESSION_MS,
                 "-X", "heartbeat.interval.ms=500",
                 "-X", "auto.commit.interval.ms=100"]
                + (["-X", "partition.assignment.strategy=" + STRATEGY] if STRATEGY else []),
                stdout=out, stderr=err)

    def err(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def records(self):
        """[(partition, offset, value)] printed so far (whole lines only)."""
        with open(self.out_path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        out = []
        for line in text.split("\n")[:-1]:
            p, o, v = line.split("|", 2)
            out.append((int(p), int(o), v))
        return out

    def assigned(self):
        """What the member holds after its last rebalance line; None once its
        process has exited."""
        if self.proc.poll() is not None:
            return None
        held = set()
        for m in re.finditer(r"rebalanced(?: \(memberid [^)]*\))?: (assigned|revoked"
                             r"|incremental assignment|incremental revoke)[^:]*: (.*)", self.err()):
            parts = {int(x) for x in re.findall(r"\[(\d+)\]", m.group(2))}
            kind = m.group(1)
            if kind == "assigned":
                held = parts
            elif kind == "incremental assignment":
                held |= parts
            else:
                held -= parts
        return held

    def stop(self):
        """SIGTERM (kcat closes its consumer: commit, LeaveGroup) and wait."""
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            rc = self.proc.wait(20)
        except subprocess.TimeoutExpired:
            fail("%s did not exit within 20 s of SIGTERM" % self.name)
        check(rc == 0, "%s exited with status %d" % (self.name, rc))

    def kill(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def produce(tag, per_partition):
    """per_partition records to each partition with kcat -P (acks=all);
    returns the values."""
    values = set()
    for p in range(P):
        path = os.path.join(TMP, "in.txt")
        with open(path, "w") as f:
            for i in range(per_partition):
                v = "%s-%d-%d" % (tag, p, i)
                values.add(v)
                f.write(v + "\n")
        r = subprocess.run(["kcat", "-b", broker.bootstrap, "-P", "-t", TOPIC, "-p", str(p),
                            "-X", "acks=all", "-l", path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        check(r.returncode == 0 and not re.search(rb"(?i)error|fail", r.stderr),
              "kcat -P %s partition %d: status %d, %r" % (tag, p, r.returncode, r.stderr))
    return values


def split_is(sizes):
    def fn():
        live = [m.assigned() for m in members if m.proc.poll() is None]
        if any(a is None for a in live):
            return False
        parts = [p for a in live for p in a]
        return sorted(parts) == list(range(P)) and sorted(len(a) for a in live) == sizes
    return fn


def wait_for(fn, timeout, what):
    t0 = time.monotonic()
    for m in members:
        if m.proc.poll() is not None and m.proc.returncode not in (0, -signal.SIGKILL):
            fail("%s exited with status %d" % (m.name, m.proc.returncode))
    if not wait_until(fn, timeout):
        fail("timed out after %.0f s waiting for %s; holdings %s" % (
            timeout, what, {m.name: m.assigned() for m in members}))
    return time.monotonic() - t0


def all_values():
    return [v for m in members for (_, _, v) in m.records()]


def consumed_once(values, what):
    """Waits until every value in values was printed, drains 1 s, and checks
    that every value ever printed was printed once."""
    wait_for(lambda: values <= set(all_values()), 30, "%s: %d records" % (what, len(values)))
    end = time.monotonic() + 1.0
    wait_until(lambda: time.monotonic() >= end, 5)
    seen = collections.Counter(all_values())
    dups = [v for v, n in seen.items() if n > 1]
    check(not dups, "%s: %d records consumed twice, e.g. %r" % (what, len(dups), dups[:3]))
    note("%s: %d records, each once (%s)" % (what, len(values), ", ".join(
        "%s %d" % (m.name, len(m.records())) for m in members)))


def committed_at_end():
    """True when the group's committed offset is the log end everywhere."""
    import confluent_kafka
    from confluent_kafka import TopicPartition as TP
    c = confluent_kafka.Consumer({"bootstrap.servers": broker.bootstrap, "group.id": GROUP})
    try:
        got = c.committed([TP(TOPIC, p) for p in range(P)], timeout=10)
        ends = [c.get_watermark_offsets(TP(TOPIC, p), timeout=10)[1] for p in range(P)]
    finally:
        c.close()
    return [tp.offset for tp in got] == ends


def main():
    if not shutil.which("kcat"):
        print("SKIP: kcat not installed")
        sys.exit(77)
    broker.start()
    produced = set(produce("zero", 1))

    for i in (1, 2, 3):
        members.append(Member("m%d" % i))
    t = wait_for(split_is([2, 2, 2]), 30, "three members to hold 2 partitions each")
    note("three members: %s after %.2f s" % ({m.name: sorted(m.assigned()) for m in members}, t))
    produced |= produce("one", 10)
    consumed_once(produced, "three members")

    # m2 leaves.
    m1, m2, m3 = members
    t0 = time.monotonic()
    m2.stop()
    wait_for(split_is([3, 3]), SESSION_MS / 1000.0, "m1 and m3 to take over within the session")
    took = time.monotonic() - t0
    note("m2 left: m1 %s, m3 %s after %.2f s" % (sorted(m1.assigned()), sorted(m3.assigned()), took))
    produced |= produce("two", 10)
    consumed_once(produced, "after m2 left")

    # m3 is killed once its commits are in: m1 takes over after the session.
    wait_for(committed_at_end, 20, "the group's commits to reach the log end")
    t0 = time.monotonic()
    m3.kill()
    wait_for(split_is([6]), SESSION_MS / 1000.0 + 20, "m1 to take over all 6 after m3's session")
    took = time.monotonic() - t0
    note("m3 killed: m1 holds %s after %.2f s (session timeout %d ms)" % (
        sorted(m1.assigned()), took, SESSION_MS))
    check(took >= SESSION_MS / 1000.0 * 0.8,
          "m3's partitions moved after %.2f s, before its session expired" % took)
    produced |= produce("three", 10)
    consumed_once(produced, "after m3 was killed")

    m1.stop()
    broker.stop()
    shutil.rmtree(TMP, ignore_errors=True)
    note("ok: %d checks" % checks)


if __name__ == "__main__":
    try:
        main()
    except BrokerError as e:
        fail(str(e))
    except Exception:  # noqa: BLE001 -- any surprise fails, and kcat and the broker go
        import traceback
        traceback.print_exc()
        fail("exception")
