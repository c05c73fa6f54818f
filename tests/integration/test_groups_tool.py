#!/usr/bin/python3
"""test_groups_tool.py BROKER REWIND -- `rewind groups` against a real broker
and real group consumers (confluent-kafka 1.7.0, on librdkafka).

One rewind-broker on a free port with a temporary data dir; topic "events"
with 3 partitions, 10 records each with CreateTime T0 + k s (k = 0..9, T0
two hours ago), so times and durations land on known offsets.

  - list on a cluster without groups prints nothing; --help everywhere;
  - a confluent-kafka consumer in group g1 consumes all 30 and commits;
    while it is a member: describe shows state Stable, its client id, host
    and assignment, committed = log end = 10, lag 0; reset-offsets (dry run
    or --execute) is refused with Kafka's "inactive" message; delete is
    refused (NON_EMPTY_GROUP); delete-offsets is refused per partition
    (GROUP_SUBSCRIBED_TO_TOPIC); nothing changed;
  - after it leaves and 5 more records reach partition 0: describe shows
    Empty, lag 5 on partition 0; list and list --state show g1;
  - reset-offsets --to-earliest: the dry run prints the plan and commits
    nothing; --execute commits 0 everywhere; consuming again in g1 replays
    the very same records in the same order per partition (plus the 5 new);
  - --to-datetime T0+3.5 s lands on offset 4 in every partition (same in
    +02:00 notation); a time after every record lands on the log end;
    --by-duration PT1H (after every record) and P1D (before all) likewise;
  - --to-offset clamps to the log end (with a note), --topic T:P limits the
    partitions, --shift-by moves from the committed offset and clamps at
    the log start, --all-topics covers what the group has;
  - delete-offsets for one partition, then delete; describe and list then
    show the group gone;
  - errors: unknown topic, missing partition, shift without a committed
    offset, bad flags, a broker that is not there -- each a non-zero exit
    and a sentence saying what failed and what to try.
Only the broker this script started is signalled, by PID.
"""
import calendar
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_harness import Broker, BrokerError, wait_until  # noqa: E402

import confluent_kafka  # noqa: E402
from confluent_kafka import admin as cadmin  # noqa: E402

BROKER = sys.argv[1]
REWIND = sys.argv[2]
TMP = tempfile.mkdtemp(prefix="rewind-groups-")
broker = Broker(BROKER, TMP, "num.partitions=1", "group.initial.rebalance.delay.ms=0",
                "offsets.topic.num.partitions=4")
TOPIC = "events"
PARTITIONS = 3
PER_PARTITION = 10
# Two hours ago, on a whole second, so --by-duration PT1H is after every
# record and P1D before all of them.
T0 = (int(time.time()) - 7200) * 1000
checks = 0
last = {"args": None, "rc": None, "out": "", "err": ""}


def fail(msg):
    sys.stderr.write("FAIL: %s\n" % msg)
    if last["args"] is not None:
        sys.stderr.write("---- last command: %s (exit %r)\n" % (" ".join(last["args"]), last["rc"]))
        sys.stderr.write("---- its stdout:\n%s\n---- its stderr:\n%s\n" % (last["out"], last["err"]))
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


def groups(*args, bootstrap=None):
    """Runs `rewind groups ARGS --bootstrap B`; returns (rc, stdout, stderr)."""
    argv = [REWIND, "groups"] + list(args) + ["--bootstrap", bootstrap or broker.bootstrap]
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    out, err = p.stdout.decode(), p.stderr.decode()
    last.update(args=argv, rc=p.returncode, out=out, err=err)
    for mark in ("runtime error:", "AddressSanitizer", "LeakSanitizer"):
        check(mark not in err, "rewind groups %s: sanitizer report" % " ".join(args))
    return p.returncode, out, err


def ok(*args):
    rc, out, err = groups(*args)
    check(rc == 0, "rewind groups %s: expected exit 0, got %d" % (" ".join(args), rc))
    return out


def refused(needles, *args, bootstrap=None):
    """Expects exit 1 and every needle in stderr."""
    rc, out, err = groups(*args, bootstrap=bootstrap)
    check(rc == 1, "rewind groups %s: expected exit 1, got %d" % (" ".join(args), rc))
    for n in needles:
        check(n in err, "rewind groups %s: stderr lacks %r" % (" ".join(args), n))
    return out, err


def describe_rows(out):
    """{partition: (current, log_end, lag, consumer_id, host, client_id)} of
    the partition table of `describe` for TOPIC; '-' stays a string."""
    rows = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 8 and f[0] == TOPIC and f[1].isdigit():
            conv = [int(x) if re.fullmatch(r"-?\d+", x) else x for x in f[2:5]]
            rows[int(f[1])] = tuple(conv) + (f[5], f[6], f[7])
    return rows


def plan_rows(out):
    """{(topic, partition): (current, new)} of a reset-offsets plan."""
    rows = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 4 and f[1].isdigit():
            rows[(f[0], int(f[1]))] = tuple(int(x) if x != "-" else None for x in f[2:4])
    return rows


def iso_utc(ms):
    s, frac = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + ".%03dZ" % frac


def iso_plus2(ms):
    s, frac = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s + 7200)) + ".%03d+02:00" % frac


# ---- clients

def produce(records):
    """records: [(partition, value, timestamp_ms)]; waits for every ack."""
    p = confluent_kafka.Producer({"bootstrap.servers": broker.bootstrap, "acks": "all",
                                  "linger.ms": 0})
    errors = []
    for part, value, ts in records:
        p.produce(TOPIC, value=value, partition=part, timestamp=ts,
                  on_delivery=lambda e, m: errors.append(e) if e else None)
    left = p.flush(30)
    check(left == 0 and not errors, "produce: %d unflushed, errors %r" % (left, errors))


def consumer(group, client_id):
    c = confluent_kafka.Consumer({
        "bootstrap.servers": broker.bootstrap, "group.id": group, "client.id": client_id,
        "auto.offset.reset": "earliest", "enable.auto.commit": False,
        "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
    })
    c.subscribe([TOPIC])
    return c


def consume(c, n, what):
    """Polls until n records arrived (deadline 60 s); returns
    {partition: [(offset, value)]} in arrival order per partition."""
    got = {}
    count = 0
    deadline = time.monotonic() + 60
    while count < n and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        check(m.error() is None, "%s: consumer error %s" % (what, m.error()))
        got.setdefault(m.partition(), []).append((m.offset(), m.value()))
        count += 1
    check(count == n, "%s: consumed %d of %d records within 60 s" % (what, count, n))
    return got


def topic_admin():
    a = cadmin.AdminClient({"bootstrap.servers": broker.bootstrap})
    fs = a.create_topics([cadmin.NewTopic(TOPIC, PARTITIONS, 1)], operation_timeout=30)
    for f in fs.values():
        f.result(30)


def group_state(group):
    rc, out, err = groups("describe", group)
    m = re.search(r"state (\w+)", out)
    return m.group(1) if rc == 0 and m else None


def not_kafka_server():
    """A loopback server answering every connection with an HTTP error, as
    a wrong --bootstrap port might. Returns (socket, port); serves from a
    daemon thread until the socket is closed."""
    import threading
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(4)

    def serve():
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            try:
                c.recv(1024)
                c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            except OSError:
                pass
            c.close()

    threading.Thread(target=serve, daemon=True).start()
    return s, s.getsockname()[1]


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


# ---- the test

def main():
    try:
        broker.start()
    except BrokerError as e:
        fail(str(e))
    note("broker on %s" % broker.bootstrap)

    # help and an empty cluster
    rc, out, _ = groups("--help")
    check(rc == 0 and "reset-offsets" in out, "groups --help lists the actions")
    for action in ("list", "describe", "reset-offsets", "delete", "delete-offsets"):
        rc, out, _ = groups(action, "--help")
        check(rc == 0 and out.startswith("usage: rewind groups " + action),
              "%s --help prints its usage" % action)
    rc, out, _ = groups("reset-offsets", "--help")
    check("--to-datetime" in out and "--by-duration" in out and "inactive" in out,
          "reset-offsets --help explains the specs and the inactive rule")
    check(ok("list") == "", "list on a cluster without groups prints nothing")

    topic_admin()
    produce([(p, b"p%d-r%d" % (p, k), T0 + k * 1000)
             for k in range(PER_PARTITION) for p in range(PARTITIONS)])

    # ---- an active member
    c = consumer("g1", "groups-test-consumer")
    first = consume(c, PARTITIONS * PER_PARTITION, "first pass")
    c.commit(asynchronous=False)
    for p in range(PARTITIONS):
        check([o for o, _ in first[p]] == list(range(PER_PARTITION)),
              "first pass reads offsets 0..9 of partition %d in order" % p)

    out = ok("describe", "g1")
    check("state Stable, 1 member" in out, "describe shows a Stable group with one member")
    check("protocol consumer/range" in out or "protocol consumer/" in out,
          "describe shows the consumer protocol and its assignor")
    rows = describe_rows(out)
    check(sorted(rows) == list(range(PARTITIONS)), "describe has a row per partition: %r" % rows)
    for p in range(PARTITIONS):
        cur, leo, lag, member, host, client = rows[p]
        check((cur, leo, lag) == (10, 10, 0), "p%d: committed 10, log end 10, lag 0: %r" % (p, rows[p]))
        check(client == "groups-test-consumer" and "127.0.0.1" in host and member != "-",
              "p%d row names the member, its host and client id" % p)
    check(re.search(r"groups-test-consumer\s+3\s+events:0,1,2", out),
          "members table shows the assignment events:0,1,2")

    refused(["Assignments can only be reset if the group 'g1' is inactive",
             "current state is Stable", "Stop the group's consumers"],
            "reset-offsets", "g1", "--topic", TOPIC, "--to-earliest", "--execute")
    refused(["inactive"], "reset-offsets", "g1", "--topic", TOPIC, "--to-earliest")
    refused(["NON_EMPTY_GROUP", "Stop its consumers"], "delete", "g1")
    out, err = refused(["GROUP_SUBSCRIBED_TO_TOPIC"], "delete-offsets", "g1", "--topic", TOPIC)
    check("GROUP_SUBSCRIBED_TO_TOPIC" in out, "delete-offsets prints each partition's refusal")
    rows = describe_rows(ok("describe", "g1"))
    check(all(rows[p][0] == 10 for p in range(PARTITIONS)), "refusals changed no offset")

    c.close()
    check(wait_until(lambda: group_state("g1") == "Empty", timeout=30),
          "g1 is Empty after its only member left (state %r)" % group_state("g1"))

    # ---- lag
    produce([(0, b"p0-late%d" % k, T0 + (20 + k) * 1000) for k in range(5)])
    out = ok("describe", "g1")
    check("has no active members" in out, "describe says the group has no members")
    rows = describe_rows(out)
    check(rows[0][:3] == (10, 15, 5), "p0: committed 10, log end 15, lag 5: %r" % (rows[0],))
    check(rows[1][:3] == (10, 10, 0) and rows[1][3] == "-", "p1: lag 0, no consumer")
    check(ok("list") == "g1\n", "list prints g1")
    check(re.search(r"^g1\s+Empty\s", ok("list", "--state"), re.M),
          "list --state shows g1 Empty")

    # ---- replay from the earliest offsets
    out = ok("reset-offsets", "g1", "--topic", TOPIC, "--to-earliest")
    check(plan_rows(out) == {(TOPIC, 0): (10, 0), (TOPIC, 1): (10, 0), (TOPIC, 2): (10, 0)},
          "dry-run plan: current 10 -> new 0 everywhere: %r" % plan_rows(out))
    check("Dry run" in out and "--execute" in out, "a dry run says nothing was committed")
    check(describe_rows(ok("describe", "g1"))[0][0] == 10, "a dry run commits nothing")
    out = ok("reset-offsets", "g1", "--topic", TOPIC, "--to-earliest", "--execute")
    check("Committed new offsets for 3 partitions of group 'g1'" in out, "--execute commits")
    rows = describe_rows(ok("describe", "g1"))
    check([rows[p][0] for p in range(PARTITIONS)] == [0, 0, 0], "committed offsets are 0 now")
    check(rows[0][2] == 15, "p0 lag is the whole log (15) after the reset")

    c = consumer("g1", "groups-test-replay")
    again = consume(c, PARTITIONS * PER_PARTITION + 5, "replay")
    c.commit(asynchronous=False)
    c.close()
    for p in range(PARTITIONS):
        check(again[p][:PER_PARTITION] == first[p],
              "replay of partition %d gives the same records in the same order" % p)
    check([v for _, v in again[0][PER_PARTITION:]] == [b"p0-late%d" % k for k in range(5)],
          "replay continues with the records produced later")
    check(wait_until(lambda: group_state("g1") == "Empty", timeout=30), "g1 Empty again")

    # ---- by time
    out = ok("reset-offsets", "g1", "--topic", TOPIC, "--to-datetime", iso_utc(T0 + 3500))
    check({k[1]: v[1] for k, v in plan_rows(out).items()} == {0: 4, 1: 4, 2: 4},
          "--to-datetime T0+3.5s lands on offset 4 (first record at or after): %r" % plan_rows(out))
    out = ok("reset-offsets", "g1", "--topic", TOPIC, "--to-datetime", iso_plus2(T0 + 3000))
    check({k[1]: v[1] for k, v in plan_rows(out).items()} == {0: 3, 1: 3, 2: 3},
          "--to-datetime in +02:00 notation: exactly T0+3s is offset 3: %r" % plan_rows(out))
    out = ok("reset-offsets", "g1", "--topic", TOPIC, "--to-datetime", iso_utc(T0 + 9500))
    check({k[1]: v[1] for k, v in plan_rows(out).items()} == {0: 10, 1: 10, 2: 10},
          "--to-datetime after partition 1/2's records: log end; p0 its late records")
    out = ok("reset-offsets", "g1", "--topic", TOPIC, "--to-datetime", iso_utc(T0 + 3600_000))
    check({k[1]: v[1] for k, v in plan_rows(out).items()} == {0: 15, 1: 10, 2: 10},
          "--to-datetime after every record: the log end: %r" % plan_rows(out))
    out = ok("reset-offsets", "g1", "--topic", TOPIC, "--by-duration", "PT1H")
    check({k[1]: v[1] for k, v in plan_rows(out).items()} == {0: 15, 1: 10, 2: 10},
          "--by-duration PT1H (after every record): the log end: %r" % plan_rows(out))
    out = ok("reset-offsets", "g1", "--topic", TOPIC, "--by-duration", "P1D", "--execute")
    check({k[1]: v[1] for k, v in plan_rows(out).items()} == {0: 0, 1: 0, 2: 0},
          "--by-duration P1D (before every record): offset 0: %r" % plan_rows(out))

    # ---- offsets, shifts, partitions, clamping
    rc, out, err = groups("reset-offsets", "g1", "--topic", TOPIC, "--to-offset", "100", "--execute")
    check(rc == 0 and {k[1]: v[1] for k, v in plan_rows(out).items()} == {0: 15, 1: 10, 2: 10},
          "--to-offset 100 is clamped to each log end")
    check("outside the log" in err, "clamping is noted on stderr")
    out = ok("reset-offsets", "g1", "--topic", TOPIC + ":1", "--to-offset", "5", "--execute")
    check(list(plan_rows(out)) == [(TOPIC, 1)], "--topic events:1 plans partition 1 only")
    out = ok("reset-offsets", "g1", "--topic", TOPIC + ":1,2", "--shift-by", "-3", "--execute")
    check(plan_rows(out) == {(TOPIC, 1): (5, 2), (TOPIC, 2): (10, 7)},
          "--shift-by -3 moves from the committed offsets: %r" % plan_rows(out))
    out = ok("reset-offsets", "g1", "--topic", TOPIC + ":2", "--shift-by", "-100")
    check(plan_rows(out) == {(TOPIC, 2): (7, 0)}, "--shift-by -100 stops at the log start")
    out = ok("reset-offsets", "g1", "--all-topics", "--to-latest")
    check(plan_rows(out) == {(TOPIC, 0): (15, 15), (TOPIC, 1): (2, 10), (TOPIC, 2): (7, 10)},
          "--all-topics --to-latest covers every partition the group has: %r" % plan_rows(out))
    rows = describe_rows(ok("describe", "g1"))
    check([rows[p][0] for p in range(PARTITIONS)] == [15, 2, 7],
          "describe shows the committed offsets the executes left")

    # ---- errors
    refused(["topic 'nope'", "UNKNOWN_TOPIC_OR_PARTITION", "check the name"],
            "reset-offsets", "g1", "--topic", "nope", "--to-earliest")
    refused(["topic 'events' has no partition 9", "0..2"],
            "reset-offsets", "g1", "--topic", TOPIC + ":9", "--to-earliest")
    refused(["cannot shift partition events-0", "no committed offset", "--to-earliest"],
            "reset-offsets", "fresh", "--topic", TOPIC, "--shift-by", "1")
    refused(["unknown option '--to-earliset'", "--help"],
            "reset-offsets", "g1", "--topic", TOPIC, "--to-earliset")
    refused(["not an ISO 8601 time"], "reset-offsets", "g1", "--topic", TOPIC,
            "--to-datetime", "yesterday")
    refused(["does not exist", "rewind groups list"], "describe", "nosuchgroup")
    refused(["does not exist", "GROUP_ID_NOT_FOUND"], "delete", "nosuchgroup")
    s, port = closed_port()
    refused(["cannot reach the cluster", "127.0.0.1:%d" % port, "is the broker running"],
            "list", bootstrap="127.0.0.1:%d" % port)
    s.close()
    refused(["--bootstrap", "bad port"], "list", bootstrap="localhost:99999")
    s, port = not_kafka_server()
    refused(["cannot reach the cluster", "not a Kafka broker?"], "describe", "g1",
            bootstrap="127.0.0.1:%d" % port)
    s.close()

    # ---- delete-offsets, delete
    out = ok("delete-offsets", "g1", "--topic", TOPIC + ":2")
    check(re.search(r"events\s+2\s+Successful", out), "delete-offsets reports partition 2 deleted")
    rows = describe_rows(ok("describe", "g1"))
    check(sorted(rows) == [0, 1], "partition 2 has no committed offset any more: %r" % rows)
    out = ok("delete", "g1")
    check("Deleted consumer group 'g1'" in out, "delete says it deleted g1")
    check("g1" not in ok("list").split(), "list no longer shows g1")
    refused(["does not exist"], "describe", "g1")

    broker.stop()
    shutil.rmtree(TMP, ignore_errors=True)
    note("ok: %d checks" % checks)


if __name__ == "__main__":
    try:
        main()
    finally:
        broker.kill()
