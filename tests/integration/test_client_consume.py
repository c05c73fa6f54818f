#!/usr/bin/python3
"""test_client_consume.py BROKER REWIND CASE -- `rewind consume` (client/'s
consumer) against rewind-broker, with kcat (librdkafka 2.0.2) as the
reference producer and consumer. CASE is one of:

  codecs     kcat -P writes keyed records with headers (and null keys and
             values) in every codec; `rewind consume -f FMT` prints exactly
             the bytes `kcat -C -f FMT` prints, for a one-partition topic
             (same order) and a three-partition one (same lines);
  positions  --from beginning, end, an offset, an offset past the end,
             @ms and @ISO-8601 give the records kcat says they should;
             --count and --partition limit what is read;
  group      three `rewind consume --group` members split 6 partitions
             (range: runs, or --assignor roundrobin: dealt), every record is
             read exactly once; one member stops (SIGINT: it commits, leaves,
             says "consumed N records") and the others take its partitions;
             all stop; a new member resumes after the last commits;
  churn      members leave (SIGINT, SIGTERM) and join while records are
             being written: each record is read exactly once; one is then
             SIGKILLed: the others take its partitions when its session
             expires and read what follows exactly once;
  mixed      a `rewind consume` member and a `kcat -G` member in one group,
             with range and with roundrobin: each holds 3 of 6 partitions,
             every record once;
  errors     an unknown topic, an unknown partition, a broker that is not
             there (answered within the connect timeout), bad flags: exit 1
             with a sentence naming the problem;
  restart    the broker restarts (SIGTERM, then SIGKILL) while `rewind
             consume` reads a topic being written, by assignment (every
             record printed once) and as a group member (at least once);
  perf       short functional runs of `rewind perf consume` and `perf e2e`
             (counts and JSON; no figure is judged).

One broker per run on a free port (group.initial.rebalance.delay.ms=0).
Waits poll with deadlines; only processes this script started are
signalled, by PID.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_harness import (Broker, BrokerError, FailFast, free_port, note,  # noqa: E402
                            wait_until)

BROKER, REWIND, CASE = sys.argv[1], sys.argv[2], sys.argv[3]
TMP = tempfile.mkdtemp(prefix="rewind-consume-")
broker = Broker(BROKER, TMP, "num.partitions=1", "group.initial.rebalance.delay.ms=0",
                "offsets.topic.num.partitions=4")
procs = []
FMT = r"%t|%p|%o|%k|%K|%s|%S|%R|%h|%T\n"


def stop_procs():
    """On a failure: ends this script's processes and shows their stderr."""
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
        err = getattr(p, "err_path", None)
        if err and os.path.exists(err):
            sys.stderr.write("---- %s stderr\n%s\n" % (p.name, open(err, errors="replace").read()[-2000:]))


stop = FailFast(broker, TMP, tail=30, before=stop_procs)
fail, check = stop.fail, stop.check


def kcat_produce(topic, lines, *extra, partition=None):
    """Records from lines ("key\\tvalue" each) with kcat -P; acks=all."""
    args = ["kcat", "-b", broker.bootstrap, "-P", "-t", topic, "-K", "\t",
            "-X", "request.required.acks=-1"] + list(extra)
    if partition is not None:
        args += ["-p", str(partition)]
    r = subprocess.run(args, input="".join(l + "\n" for l in lines).encode(),
                       capture_output=True, timeout=60)
    check(r.returncode == 0, "kcat -P %s: %r" % (topic, r.stderr))


def kcat_consume(topic, fmt, *extra):
    r = subprocess.run(["kcat", "-b", broker.bootstrap, "-C", "-t", topic, "-e", "-q",
                        "-f", fmt] + list(extra), capture_output=True, timeout=60)
    check(r.returncode == 0, "kcat -C %s: %r" % (topic, r.stderr))
    return r.stdout


def rewind(*args, timeout=60, bootstrap=True):
    # -b right after the subcommand (and the perf mode), before any option
    # that takes a value.
    k = 2 if args[0] == "perf" else 1
    cmd = [REWIND] + list(args[:k]) + (["-b", broker.bootstrap] if bootstrap else []) + list(args[k:])
    return subprocess.run(cmd, capture_output=True, timeout=timeout)


def consume(topic, *args):
    r = rewind("consume", topic, "-e", *args)
    check(r.returncode == 0, "rewind consume %s %s: status %d: %r" % (topic, args, r.returncode,
                                                                      r.stderr))
    return r.stdout


def create_topic(topic, partitions):
    """A topic with that many partitions (confluent-kafka's AdminClient)."""
    import confluent_kafka.admin as ka
    a = ka.AdminClient({"bootstrap.servers": broker.bootstrap})
    f = a.create_topics([ka.NewTopic(topic, partitions, 1)])
    f[topic].result(30)


# ------------------------------------------------------------------ cases

def case_codecs():
    lines = ["k%d\tvalue %d with\ttab and ünïcödé" % (i, i) for i in range(30)]
    for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
        t = "c-" + codec
        create_topic(t, 1)
        kcat_produce(t, lines[:10], "-z", codec, "-H", "h1=v1", "-H", "h2=")
        # Null key and value: kcat -Z sends empty fields as null.
        kcat_produce(t, ["\t", "knull\t", "\tvalue-null-key"], "-z", codec, "-Z")
        kcat_produce(t, lines[10:], "-z", codec)
        want = kcat_consume(t, FMT, "-o", "beginning")
        got = consume(t, "--from", "beginning", "-f", FMT)
        check(want.count(b"\n") == 33, "%s: kcat read %d records" % (codec, want.count(b"\n")))
        check(got == want, "%s: rewind consume differs from kcat:\n%r\n%r" % (codec, got[:400], want[:400]))
        note("%s: 33 records, byte for byte as kcat" % codec)
    # Three partitions: the same lines, in partition order each.
    create_topic("c-multi", 3)
    for p in range(3):
        kcat_produce("c-multi", lines, "-z", "lz4", "-H", "p=%d" % p, partition=p)
    want = kcat_consume("c-multi", FMT, "-o", "beginning")
    got = consume("c-multi", "--from", "beginning", "-f", FMT)
    check(sorted(got.splitlines()) == sorted(want.splitlines()) and len(got.splitlines()) == 90,
          "three partitions: rewind consume and kcat differ")
    by_part = {}
    for l in got.splitlines():
        f = l.split(b"|")
        by_part.setdefault(f[1], []).append(int(f[2]))
    check(all(v == sorted(v) for v in by_part.values()), "offsets out of order within a partition")
    # The default format is the value and a newline.
    got = consume("c-none", "--from", "beginning", "-c", "2")
    check(got == b"value 0 with\ttab and \xc3\xbcn\xc3\xafc\xc3\xb6d\xc3\xa9\nvalue 1 with\ttab and "
          b"\xc3\xbcn\xc3\xafc\xc3\xb6d\xc3\xa9\n", "default format: %r" % got)
    note("three partitions: same 90 lines; default format ok")


def case_positions():
    t = "pos"
    create_topic(t, 1)
    kcat_produce(t, ["k\t%d" % i for i in range(20)])
    time.sleep(0.02)  # the records below get later timestamps than those above
    kcat_produce(t, ["k\t%d" % i for i in range(20, 40)])
    ts = [int(x) for x in kcat_consume(t, "%T\n", "-o", "beginning").split()]
    check(len(ts) == 40, "kcat read %d records" % len(ts))
    vals = lambda out: [int(x) for x in out.split()]  # noqa: E731
    check(vals(consume(t, "--from", "beginning")) == list(range(40)), "from beginning")
    check(vals(consume(t, "--from", "25")) == list(range(25, 40)), "from offset 25")
    check(vals(consume(t, "--from", "1000")) == [], "from an offset past the end")
    check(vals(consume(t, "-o", "end")) == [], "from end with -e")
    check(vals(consume(t, "--from", "beginning", "--count", "5")) == list(range(5)), "--count 5")
    # A timestamp: the first record at or after it, as kcat finds it.
    at = ts[20]
    want = [int(x) for x in kcat_consume(t, "%s\n", "-o", "s@%d" % at).split()]
    check(vals(consume(t, "--from", "@%d" % at)) == want and want[0] == 20,
          "from @%d: want %r" % (at, want[:3]))
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at // 1000)) + ".%03dZ" % (at % 1000)
    check(vals(consume(t, "--from", "@" + iso)) == want, "from @%s" % iso)
    check(vals(consume(t, "--from", "@%d" % (ts[-1] + 60000))) == [], "from a time after the last")

    # --from end without -e: records produced after the start.
    out = os.path.join(TMP, "end.out")
    with open(out, "wb") as f:
        p = subprocess.Popen([REWIND, "consume", t, "-b", broker.bootstrap, "--from", "end",
                              "--count", "3"], stdout=f, stderr=subprocess.DEVNULL)
    procs.append(p)
    p.name = "from-end"
    # Until the consumer has its position, records may land before it.
    deadline = time.monotonic() + 30
    i = 100
    while p.poll() is None and time.monotonic() < deadline:
        kcat_produce(t, ["k\t%d" % i])
        i += 1
        wait_until(lambda: p.poll() is not None, 0.3)
    check(p.poll() == 0, "--from end --count 3 did not end")
    got = vals(open(out, "rb").read())
    check(len(got) == 3 and all(v >= 100 for v in got), "--from end read %r" % got)

    # --partition on a three-partition topic.
    create_topic("pos3", 3)
    for part in range(3):
        kcat_produce("pos3", ["k\t%d" % (part * 100 + i) for i in range(5)], partition=part)
    check(vals(consume("pos3", "--from", "beginning", "--partition", "1")) == list(range(100, 105)),
          "--partition 1")
    check(sorted(vals(consume("pos3", "--from", "beginning", "-p", "0,2"))) ==
          list(range(0, 5)) + list(range(200, 205)), "-p 0,2")
    note("positions: beginning, end, offsets, times, count, partitions")


class Member:
    def __init__(self, name, group, topic, *extra):
        self.name = name
        self.out_path = os.path.join(TMP, name + ".out")
        self.err_path = os.path.join(TMP, name + ".err")
        with open(self.out_path, "wb") as o, open(self.err_path, "wb") as e:
            self.p = subprocess.Popen([REWIND, "consume", topic, "-b", broker.bootstrap,
                                       "--group", group, "--from", "beginning",
                                       "-f", r"%p|%o|%s\n", "-X", "session.timeout.ms=6000",
                                       "-X", "heartbeat.interval.ms=500"] + list(extra),
                                      stdout=o, stderr=e)
        self.p.name = name
        self.p.err_path = self.err_path
        procs.append(self.p)

    def lines(self):
        return open(self.out_path, "rb").read().decode().splitlines()

    def stop(self, sig=signal.SIGINT):
        os.kill(self.p.pid, sig)
        self.p.wait(30)
        return self.p.returncode, open(self.err_path).read()


def describe(group):
    """{member: [partitions]} and the state, from `rewind groups describe`."""
    r = rewind("groups", "describe", group)
    text = r.stdout.decode()
    m = re.search(r"state (\w+)", text)
    members = {}
    lines = text.splitlines()
    head = [i for i, l in enumerate(lines) if re.match(r"CONSUMER-ID\s+GROUP-INSTANCE-ID", l)]
    if head:
        for l in lines[head[0] + 1:]:
            f = l.split()
            if not f:
                continue
            a = re.search(r":([\d,]+)$", l)
            members[f[0]] = sorted(int(x) for x in a.group(1).split(",")) if a else []
    return (m.group(1) if m else "?"), members


def wait_split(group, want, what, timeout=40):
    """Waits for a Stable group whose members hold len(want) partitions
    each (sorted want); returns {member: partitions}."""
    got = [None]

    def ok():
        state, members = describe(group)
        got[0] = (state, members)
        return state == "Stable" and sorted(len(v) for v in members.values()) == sorted(want)
    if not wait_until(ok, timeout, 0.2):
        fail("%s: group is %r" % (what, got[0]))
    return got[0][1]


def all_lines(members):
    out = []
    for m in members:
        out += m.lines()
    return out


def wait_consumed(members, produced, what, timeout=40):
    def done():
        return len(all_lines(members)) >= len(produced)
    wait_until(done, timeout, 0.1)
    got = all_lines(members)
    values = [l.split("|", 2)[2] for l in got]
    dup = sorted(set(v for v in values if values.count(v) > 1))
    check(not dup, "%s: read more than once: %r" % (what, dup[:5]))
    check(sorted(values) == sorted(produced), "%s: %d read, %d produced; missing %r" % (
        what, len(values), len(produced), sorted(set(produced) - set(values))[:5]))


def produce_spread(topic, tag, n, partitions):
    vals = []
    for p in range(partitions):
        v = ["%s-%d-%d" % (tag, p, i) for i in range(n)]
        kcat_produce(topic, ["k\t" + x for x in v], partition=p)
        vals += v
    return vals


def run_group(assignor):
    topic, group = "g-" + assignor, "grp-" + assignor
    create_topic(topic, 6)
    produced = produce_spread(topic, "a", 5, 6)
    members = [Member("%s-m%d" % (assignor, i), group, topic, "--assignor", assignor)
               for i in range(3)]
    split = wait_split(group, [2, 2, 2], "three members")
    shares = sorted(split.values())
    if assignor == "range":
        check(shares == [[0, 1], [2, 3], [4, 5]], "range split %r" % shares)
    else:
        check(shares == [[0, 3], [1, 4], [2, 5]], "roundrobin split %r" % shares)
    produced += produce_spread(topic, "b", 5, 6)
    wait_consumed(members, produced, assignor + ": three members")
    note("%s: three members hold %r; %d records read once" % (assignor, shares, len(produced)))

    # One stops with SIGINT: it commits, leaves and says how many it read.
    n0 = len(members[0].lines())
    rc, err = members[0].stop()
    check(rc == 0, "SIGINT: exit status %d" % rc)
    check("consumed %d record" % n0 in err, "SIGINT: stderr %r" % err)
    wait_split(group, [3, 3], "two members after one left", 20)
    produced += produce_spread(topic, "c", 5, 6)
    wait_consumed(members, produced, assignor + ": after one left")
    note("%s: one left (SIGINT, %d records), the other two took over" % (assignor, n0))

    # Everyone stops; a new member resumes after the commits.
    for m in members[1:]:
        rc, err = m.stop(signal.SIGTERM)
        check(rc == 0 and "consumed" in err, "SIGTERM: status %d, %r" % (rc, err))
    # The coordinator empties the group just after answering LeaveGroup.
    check(wait_until(lambda: describe(group) == ("Empty", {}), 10),
          "group after all stopped: %r" % (describe(group),))
    fresh = produce_spread(topic, "d", 3, 6)
    last = Member("%s-last" % assignor, group, topic, "--assignor", assignor)
    wait_consumed([last], fresh, assignor + ": resume after the commits")
    last.stop()
    note("%s: a new member resumed at the commits (%d new records only)" % (assignor, len(fresh)))


def case_group():
    run_group("range")
    run_group("roundrobin")


def case_churn():
    """Members come and go while records are being written: each record is
    still read exactly once across the group."""
    import threading
    topic, group = "churn", "churn-grp"
    create_topic(topic, 6)
    produced = []
    done = threading.Event()

    def writer():
        for b in range(30):
            v = ["w%d-%d" % (b, i) for i in range(40)]
            kcat_produce(topic, ["k%d\t%s" % (i, x) for i, x in enumerate(v)])
            produced.extend(v)
        done.set()
    members = [Member("churn-m%d" % i, group, topic, "-X", "auto.commit.interval.ms=100")
               for i in range(3)]
    wait_split(group, [2, 2, 2], "three members")
    w = threading.Thread(target=writer)
    w.start()
    wait_until(lambda: len(produced) >= 200, 30)
    rc, _ = members[0].stop()
    check(rc == 0, "churn: SIGINT status %d" % rc)
    members.append(Member("churn-m3", group, topic, "-X", "auto.commit.interval.ms=100"))
    wait_until(lambda: len(produced) >= 600, 30)
    rc, _ = members[1].stop(signal.SIGTERM)
    check(rc == 0, "churn: SIGTERM status %d" % rc)
    check(done.wait(60), "churn: the writer did not finish")
    w.join()
    wait_consumed(members, produced, "churn")
    note("churn: %d records read once while members left and joined" % len(produced))

    # A member killed outright sends nothing: its partitions move when its
    # session (6 s) expires; what comes after is read exactly once.
    # Records it read after its last commit may be read again: only those
    # produced after the kill must be read exactly once.
    live = [m for m in members if m.p.poll() is None]
    os.kill(live[0].p.pid, signal.SIGKILL)
    live[0].p.wait()
    wait_split(group, [3, 3], "the others after a SIGKILL", 30)
    fresh = ["x-%d" % i for i in range(300)]
    kcat_produce(topic, ["k%d\t%s" % (i, x) for i, x in enumerate(fresh)])
    check(wait_until(lambda: set(fresh) <= set(l.split("|", 2)[2] for l in all_lines(members)),
                     30), "records after a SIGKILL not all read")
    values = [l.split("|", 2)[2] for l in all_lines(members)]
    check(all(values.count(x) == 1 for x in fresh), "records after a SIGKILL read twice")
    check(set(values) >= set(produced), "records lost after a SIGKILL")
    note("churn: a SIGKILLed member's partitions moved; %d later records read once" % len(fresh))


def case_mixed():
    for assignor in ("range", "roundrobin"):
        run_mixed(assignor)


def run_mixed(assignor):
    topic, group = "mixed-" + assignor, "mixed-grp-" + assignor
    create_topic(topic, 6)
    produced = produce_spread(topic, "a", 5, 6)
    m = Member("rw-" + assignor, group, topic, "--assignor", assignor)
    kout = os.path.join(TMP, "kcat-%s.out" % assignor)
    with open(kout, "wb") as o, open(os.path.join(TMP, "kcat-%s.err" % assignor), "wb") as e:
        k = subprocess.Popen(["kcat", "-b", broker.bootstrap, "-G", group, topic, "-u", "-q",
                              # Not -o: kcat -G would start every assignment there
                              # instead of at the group's commits.
                              "-f", r"%p|%o|%s\n", "-X", "auto.offset.reset=earliest",
                              "-X", "partition.assignment.strategy=" + assignor,
                              "-X", "session.timeout.ms=6000", "-X", "auto.commit.interval.ms=100"],
                             stdout=o, stderr=e)
    k.name = "kcat"
    procs.append(k)
    split = wait_split(group, [3, 3], "rewind and kcat members")
    want = [[0, 1, 2], [3, 4, 5]] if assignor == "range" else [[0, 2, 4], [1, 3, 5]]
    check(sorted(split.values()) == want, "mixed %s split %r" % (assignor, split))

    class K:
        def lines(self):
            return open(kout, "rb").read().decode().splitlines()
    produced += produce_spread(topic, "b", 5, 6)
    wait_consumed([m, K()], produced, "mixed group")
    note("mixed %s: rewind and kcat hold %r; %d records read once" % (
        assignor, sorted(split.values()), len(produced)))
    m.stop()
    os.kill(k.pid, signal.SIGTERM)
    k.wait(30)


def case_errors():
    create_topic("e", 2)

    def bad(args, what, words, bootstrap=True):
        t0 = time.monotonic()
        r = rewind(*args, bootstrap=bootstrap, timeout=60)
        took = time.monotonic() - t0
        err = r.stderr.decode()
        check(r.returncode == 1, "%s: status %d (%r)" % (what, r.returncode, err))
        for w in words:
            check(w in err, "%s: %r lacks %r" % (what, err, w))
        check(err.startswith("rewind consume: ") or "usage" in err, "%s: %r" % (what, err))
        return took

    bad(["consume", "nope", "-e"], "unknown topic", ["'nope' does not exist",
                                                     "UNKNOWN_TOPIC_OR_PARTITION"])
    bad(["consume", "e", "--partition", "7"], "unknown partition", ["no partition 7"])
    took = bad(["consume", "e", "-b", "127.0.0.1:%d" % free_port()], "broker down",
               ["cannot reach", "Connection refused"], bootstrap=False)
    check(took < 20, "broker down: answered after %.1f s" % took)
    bad(["consume"], "no topic", ["no topic"])
    bad(["consume", "e", "--frm", "x"], "unknown option", ["unknown option '--frm'"])
    bad(["consume", "e", "--from", "yesterday"], "bad --from", ["--from 'yesterday'"])
    bad(["consume", "e", "--from", "@noon"], "bad @time", ["ISO 8601"])
    bad(["consume", "e", "-f", "%s %x"], "bad format", ["'%x'"])
    bad(["consume", "e", "--count"], "missing value", ["--count needs a value"])
    bad(["consume", "e", "--group", "g", "--partition", "0"], "group and partition",
        ["do not go together"])
    bad(["consume", "e", "--group", "g", "--from", "5"], "group and offset", ["reset-offsets"])
    bad(["consume", "e", "--assignor", "sticky"], "bad assignor", ["range or roundrobin"])
    bad(["consume", "e", "-X", "fetch.max.wait.ms=x"], "bad -X", ["fetch.max.wait.ms"])
    bad(["consume", "e", "-X", "what.ever=1"], "unknown -X", ["unknown setting"])
    r = rewind("consume", "--help", bootstrap=False)
    check(r.returncode == 0 and b"--from" in r.stdout, "--help")
    note("errors: unknown topic/partition, broker down (%.1f s), bad flags" % took)


def case_restart():
    """A reader by assignment and a group member, while the broker restarts
    twice (SIGTERM, then SIGKILL): the reader prints every record once; the
    member every record at least once (a rejoin may replay what came after
    its last commit)."""
    t = "rs"
    create_topic(t, 2)
    out = os.path.join(TMP, "rs.out")
    err = os.path.join(TMP, "rs.err")
    with open(out, "wb") as o, open(err, "wb") as e:
        p = subprocess.Popen([REWIND, "consume", t, "-b", broker.bootstrap, "--from", "beginning",
                              "-f", r"%s\n"], stdout=o, stderr=e)
    p.name = "restart-consumer"
    p.err_path = err
    procs.append(p)
    member = Member("restart-member", "rs-grp", t)
    produced = []

    def lines():
        return open(out, "rb").read().decode().splitlines()

    def member_values():
        return [l.split("|", 2)[2] for l in member.lines()]

    def batch(tag, n):
        v = ["%s-%d" % (tag, i) for i in range(n)]
        for part in (0, 1):
            kcat_produce(t, ["k\t%s-p%d" % (x, part) for x in v], partition=part)
            produced.extend("%s-p%d" % (x, part) for x in v)

    def all_read(what):
        check(wait_until(lambda: len(lines()) >= len(produced) and
                         set(member_values()) >= set(produced), 60),
              "%s: reader %d, member %d of %d" % (what, len(lines()), len(set(member_values())),
                                                  len(produced)))

    batch("before", 200)
    all_read("before the restarts")
    broker.restart()
    batch("after-term", 200)
    all_read("after a SIGTERM restart")
    broker.kill()
    broker.start()
    batch("after-kill", 200)
    all_read("after a SIGKILL restart")
    got = lines()
    check(sorted(got) == sorted(produced), "restart: records lost or repeated (%d vs %d)" % (
        len(got), len(produced)))
    check(p.poll() is None and member.p.poll() is None, "a consumer exited during the restarts")
    os.kill(p.pid, signal.SIGTERM)
    p.wait(30)
    check(p.returncode == 0, "consumer status %d" % p.returncode)
    rc, _ = member.stop()
    check(rc == 0, "group member status %d" % rc)
    note("restart: %d records read once by assignment, %d (%d distinct) by a group member, "
         "across a SIGTERM and a SIGKILL restart" % (len(produced), len(member.lines()),
                                                     len(set(member_values()))))


def case_perf():
    """Short functional runs: the counts are right and the JSON parses;
    no figure is judged (the machine is shared)."""
    import json
    create_topic("perf", 2)
    r = rewind("perf", "produce", "perf", "-n", "5000", "-s", "100", "--json")
    check(r.returncode == 0, "perf produce: %r" % r.stderr)
    r = rewind("perf", "consume", "perf", "--json")
    check(r.returncode == 0, "perf consume: %r" % r.stderr)
    s = json.loads(r.stdout)
    check(s["mode"] == "consume" and s["records"] == 5000 and s["bytes"] == 500000,
          "perf consume summary %r" % s)
    r = rewind("perf", "consume", "perf", "-n", "1000", "--group", "perf-g", "--json")
    check(r.returncode == 0 and json.loads(r.stdout)["records"] >= 1000,
          "perf consume --group: %r %r" % (r.stdout, r.stderr))
    r = rewind("perf", "e2e", "perf-e2e", "-n", "300", "-t", "1000", "--json")
    check(r.returncode == 0, "perf e2e: %r" % r.stderr)
    s = json.loads(r.stdout)
    check(s["mode"] == "e2e" and s["records"] == 300 and s["latency_ms"]["count"] == 300 and
          0 < s["latency_ms"]["p50"] <= s["latency_ms"]["max"], "perf e2e summary %r" % s)
    r = rewind("perf", "consume", "no-such-topic")
    check(r.returncode == 1 and b"does not exist" in r.stderr, "perf consume unknown topic")
    note("perf: consume read 5000 records, e2e measured 300 latencies (p50 %.2f ms)" %
         s["latency_ms"]["p50"])


CASES = {"codecs": case_codecs, "positions": case_positions, "group": case_group,
         "mixed": case_mixed, "errors": case_errors, "restart": case_restart,
         "perf": case_perf, "churn": case_churn}


def main():
    if not shutil.which("kcat"):
        print("SKIP: kcat not installed")
        sys.exit(77)
    broker.start()
    CASES[CASE]()
    for p in procs:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
            p.wait(30)
    broker.stop()
    shutil.rmtree(TMP, ignore_errors=True)
    note("ok: %d checks" % stop.count)


if __name__ == "__main__":
    try:
        main()
    except BrokerError as e:
        fail(str(e))
    except Exception:  # noqa: BLE001 -- any surprise fails, and the processes go
        import traceback
        traceback.print_exc()
        fail("exception")
